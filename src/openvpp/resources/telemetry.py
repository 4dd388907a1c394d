"""Telemetry rules (pure): which points are accepted and why others are rejected, the CSV
format, the status a reading implies, and resampling into time buckets."""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from operator import attrgetter
from typing import Any, Literal, Protocol

import pandas as pd

from openvpp.core.clock import ensure_utc
from openvpp.core.errors import ValidationFailed
from openvpp.resources.model import Resource, ResourceStatus
from openvpp.resources.models.wind import power_curve
from openvpp.resources.templates import ResourceType

FUTURE_TOLERANCE = timedelta(minutes=5)  # device clocks may run this far ahead
LATE_TOLERANCE = timedelta(hours=24)
"""A reading this much older than its resource's newest one is still stored (a late delivery,
e.g. a device sending again what a broker crash lost); an older one is ``out_of_order``."""
MAX_EXAMPLES = 20  # rejections explained per result
PLAUSIBLE_FACTOR = 1.2  # |power| beyond this multiple of the capacity is a bad reading
SOC_BAND_TOLERANCE = 0.01  # a battery soc this far outside [soc_min, soc_max] is a fault
MAX_BATCH_POINTS = 50_000  # points per ingest call through the API (JSON or CSV)
DEFAULT_STALE_AFTER = timedelta(seconds=900)  # silent this long: OFFLINE


@dataclass(frozen=True, slots=True)
class TelemetryPoint:
    resource_id: str
    ts: datetime  # tz-aware [UTC]
    power_mw: float  # injection positive
    soc: float | None = None  # state of charge [fraction], storage only
    fault: bool = False  # the device reports a fault


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)  # the first few rejections, explained

    def reject(self, reason: str, detail: str) -> None:
        self.rejected[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(detail)

    def merge(self, other: IngestResult) -> None:
        """Add ``other``'s counts (and examples, up to ``MAX_EXAMPLES``) to these."""
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.update(other.rejected)
        self.examples.extend(other.examples[: max(0, MAX_EXAMPLES - len(self.examples))])


class Parameterized(Protocol):
    """Anything with a resource type and its parameters (a resource, an aggregation unit)."""

    @property
    def resource_type(self) -> ResourceType: ...
    @property
    def parameters(self) -> dict[str, Any]: ...


def capacity_mw(resource: Parameterized) -> float:
    """The largest power a resource can inject or draw [MW], from its parameters."""
    p: dict[str, Any] = resource.parameters
    match resource.resource_type:
        case ResourceType.PV:
            return float(p["ac_capacity_mw"])
        case ResourceType.WIND:
            return float(p["turbines"]) * power_curve(str(p["turbine_type"])).max_power_mw
        case ResourceType.BATTERY:
            return max(float(p["p_charge_max_mw"]), float(p["p_discharge_max_mw"]))
        case ResourceType.CURTAILABLE_LOAD:
            return float(p["peak_mw"])
        case ResourceType.SHIFTABLE_LOAD:
            return float(p["power_mw"])
        case ResourceType.EV_FLEET:
            return float(p["chargers"]) * float(p["charger_power_kw"]) / 1000.0
        case ResourceType.GENSET:
            return float(p["p_max_mw"])
        case ResourceType.HEAT_PUMP:
            return float(p["p_el_max_mw"])


_BY_TIME = attrgetter("ts")
_BY_RESOURCE = attrgetter("resource_id")


StoredLookup = Callable[[Sequence[TelemetryPoint]], set[tuple[str, datetime]]]
"""Which (resource, ts) keys among some points are stored already."""


def screen(
    points: Sequence[TelemetryPoint],
    resources: dict[str, Resource],
    stored: StoredLookup | None = None,
    not_after: datetime | None = None,
) -> tuple[list[TelemetryPoint], IngestResult]:
    """Split a batch into points to store (sorted by resource, then time) and counted
    rejections: unknown resource, not finite, out of range, in the future (after
    ``not_after``: a device clock running ahead would otherwise pin the resource online and
    shut out its correct readings), out of order (older than what the resource already
    reported by more than ``LATE_TOLERANCE``), and duplicates of a stored or an earlier point.

    A point at or before the resource's newest reading is a duplicate when ``stored`` finds it
    stored already (a re-sent batch, a re-run import); otherwise it is late: kept when within
    ``LATE_TOLERANCE`` of the newest reading, else out of order. Points newer than the newest
    reading cannot be stored yet, so only the late ones are looked up.

    One pass with the per-resource facts looked up once: this runs for every point ingested.
    """
    result = IngestResult()
    facts = {
        rid: (capacity_mw(r) * PLAUSIBLE_FACTOR, r.last_seen_at) for rid, r in resources.items()
    }
    isfinite = math.isfinite
    seen: set[tuple[str, datetime]] = set()
    keep: list[TelemetryPoint] = []
    late: list[tuple[int, TelemetryPoint]] = []
    for i, point in enumerate(points):
        rid = point.resource_id
        known = facts.get(rid)
        if known is None:
            result.reject("unknown_resource", f"points[{i}]: unknown resource")
            continue
        limit, last = known
        power, soc = point.power_mw, point.soc
        if not isfinite(power) or (soc is not None and not isfinite(soc)):
            result.reject("not_finite", f"points[{i}]: NaN or infinite value")
            continue
        if abs(power) > limit or (soc is not None and not 0 <= soc <= 1):
            result.reject(
                "out_of_range",
                f"points[{i}]: power_mw {power} beyond +/-{limit:g} MW or soc outside [0, 1]",
            )
            continue
        ts = point.ts
        if not_after is not None and ts > not_after:
            result.reject("in_future", f"points[{i}]: timestamp {ts} is after {not_after}")
            continue
        if last is not None and ts <= last:
            if ts == last:
                result.duplicates += 1
            else:
                late.append((i, point))
            continue
        key = (rid, ts)
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        keep.append(point)
    if late:
        found = stored([p for _, p in late]) if stored is not None else set()
        for i, point in late:
            key = (point.resource_id, point.ts)
            last = facts[point.resource_id][1]
            if key in found or key in seen:
                result.duplicates += 1
            elif last is not None and point.ts < last - LATE_TOLERANCE:
                result.reject(
                    "out_of_order",
                    f"points[{i}]: more than {LATE_TOLERANCE} older than the latest reading {last}",
                )
            else:
                seen.add(key)
                keep.append(point)
    # Two stable sorts (time, then resource) order by (resource, time) several times faster
    # than one sort on a tuple key; the database inserts the rows in index order.
    keep.sort(key=_BY_TIME)
    keep.sort(key=_BY_RESOURCE)
    result.accepted = len(keep)
    return keep, result


# --------------------------------------------------------------------------- status


def reading_is_fault(resource: Resource, point: TelemetryPoint) -> bool:
    """A reading shows a fault when the device flags one, or when a battery reports a state of
    charge more than ``SOC_BAND_TOLERANCE`` outside its configured [soc_min, soc_max] band
    (its management system should never let that happen)."""
    if point.fault:
        return True
    if resource.resource_type is ResourceType.BATTERY and point.soc is not None:
        p = resource.parameters
        low = float(p.get("soc_min", 0.0)) - SOC_BAND_TOLERANCE
        high = float(p.get("soc_max", 1.0)) + SOC_BAND_TOLERANCE
        return not low <= point.soc <= high
    return False


@dataclass(frozen=True, slots=True)
class LatestReading:
    """A resource's newest reading after an ingest, and the status it implies."""

    resource_id: str
    ts: datetime
    status: ResourceStatus


def is_stale(seen: datetime | None, now: datetime, stale_after: timedelta) -> bool:
    """Whether a resource last heard from at ``seen`` counts as silent at ``now``."""
    return seen is None or now - seen > stale_after


def derive_status(
    resource: Resource, latest: TelemetryPoint, now: datetime, stale_after: timedelta
) -> ResourceStatus:
    """The status the newest reading ``latest`` implies at ``now``.

    MAINTENANCE is set by operators and kept; a reading older than ``stale_after`` means
    OFFLINE; a faulty reading (:func:`reading_is_fault`) means FAULT; anything else ONLINE.
    """
    if resource.status is ResourceStatus.MAINTENANCE:
        return ResourceStatus.MAINTENANCE
    if is_stale(latest.ts, now, stale_after):
        return ResourceStatus.OFFLINE
    if reading_is_fault(resource, latest):
        return ResourceStatus.FAULT
    return ResourceStatus.ONLINE


def went_silent_at(
    last_seen_at: datetime | None, status_changed_at: datetime, stale_after: timedelta
) -> datetime:
    """When a silent resource went offline: its newest reading plus ``stale_after``."""
    if last_seen_at is None:
        return status_changed_at
    return max(status_changed_at, last_seen_at + stale_after)


def current_status(resource: Resource, now: datetime, stale_after: timedelta) -> Resource:
    """``resource`` as it stands at ``now``: ONLINE or FAULT turn OFFLINE once the newest
    reading is older than ``stale_after``, whether or not the refresh job recorded it yet."""
    if resource.status in (ResourceStatus.ONLINE, ResourceStatus.FAULT) and is_stale(
        resource.last_seen_at, now, stale_after
    ):
        return replace(
            resource,
            status=ResourceStatus.OFFLINE,
            status_changed_at=went_silent_at(
                resource.last_seen_at, resource.status_changed_at, stale_after
            ),
        )
    return resource


# --------------------------------------------------------------------------- CSV

CSV_COLUMNS = ("resource_id", "ts", "power_mw", "soc", "fault")
CSV_REQUIRED = ("resource_id", "ts", "power_mw")
_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n", ""})


class CsvFormatError(ValidationFailed):
    """The CSV is malformed at ``line`` (1 = the header) and ``column``."""

    def __init__(self, line: int, column: str | None, problem: str) -> None:
        where = f"line {line}" + (f", column {column}" if column else "")
        super().__init__(
            f"CSV {where}: {problem}", field=f"body.line_{line}" + (f".{column}" if column else "")
        )
        self.line = line
        self.column = column


def iter_csv(lines: Iterable[str], *, max_points: int | None = None) -> Iterator[TelemetryPoint]:
    """Points from CSV text with the header ``resource_id,ts,power_mw[,soc][,fault]`` (columns in
    any order). ``ts`` is ISO 8601 with an offset; an empty ``soc`` is null; ``fault`` is
    true/false/1/0/yes/no (empty: false). Raises :class:`CsvFormatError` naming the line and
    column of the first structural problem. Blank lines are skipped. Values that parse but are
    implausible (NaN, out of range) are left to :func:`screen`, which counts them."""
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CsvFormatError(reader.line_num or 1, None, str(exc)) from None
    if header is None:
        raise CsvFormatError(1, None, "empty; expected the header resource_id,ts,power_mw")
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    for name in names:
        if name not in CSV_COLUMNS:
            raise CsvFormatError(1, name, f"unknown column; allowed: {', '.join(CSV_COLUMNS)}")
    if len(set(names)) != len(names):
        raise CsvFormatError(1, None, "a column is named twice")
    for name in CSV_REQUIRED:
        if name not in names:
            raise CsvFormatError(1, name, "missing column")
    width = len(names)
    i_rid, i_ts, i_power = (names.index(n) for n in CSV_REQUIRED)
    i_soc = names.index("soc") if "soc" in names else None
    i_fault = names.index("fault") if "fault" in names else None
    count = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvFormatError(reader.line_num, None, str(exc)) from None
        if not row:
            continue
        line = reader.line_num
        if len(row) != width:
            column = names[len(row)] if len(row) < width else None
            raise CsvFormatError(line, column, f"expected {width} fields, got {len(row)}")
        count += 1
        if max_points is not None and count > max_points:
            raise CsvFormatError(line, None, f"more than {max_points} points in one batch")
        rid = row[i_rid].strip()
        if not rid or len(rid) > 36:
            raise CsvFormatError(line, "resource_id", "must be 1 to 36 characters")
        yield TelemetryPoint(
            rid,
            _csv_ts(row[i_ts], line),
            _csv_float(row[i_power], line, "power_mw"),
            None if i_soc is None else _csv_soc(row[i_soc], line),
            False if i_fault is None else _csv_bool(row[i_fault], line),
        )


def parse_csv(text: str, *, max_points: int | None = MAX_BATCH_POINTS) -> list[TelemetryPoint]:
    """All points of a CSV document (see :func:`iter_csv`)."""
    return list(iter_csv(io.StringIO(text, newline=""), max_points=max_points))


def _csv_ts(raw: str, line: int) -> datetime:
    value = raw.strip()
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise CsvFormatError(line, "ts", f"not an ISO 8601 timestamp: {value[:40]!r}") from None
    try:
        return ensure_utc(ts)
    except ValueError as exc:  # no offset, or out of range
        raise CsvFormatError(line, "ts", f"{exc}: {value[:40]!r}") from None


def _csv_float(raw: str, line: int, column: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise CsvFormatError(line, column, f"not a number: {raw.strip()[:40]!r}") from None


def _csv_soc(raw: str, line: int) -> float | None:
    return None if not raw.strip() else _csv_float(raw, line, "soc")


def _csv_bool(raw: str, line: int) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CsvFormatError(line, "fault", f"not a boolean (true/false, 1/0): {raw.strip()[:40]!r}")


# --------------------------------------------------------------------------- resampling

Resolution = Literal["15min", "1h", "1d"]
RESOLUTIONS: dict[str, timedelta] = {
    "15min": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}
MAX_BUCKETS = 10_000  # buckets one resampled query may span
RESAMPLE_MAX_ROWS = 100_000  # raw readings one resampled query may read


@dataclass(frozen=True)
class TelemetryBucket:
    start: datetime  # UTC
    end: datetime  # UTC, exclusive; a local day may be 23 or 25 hours long
    power_mw_mean: float
    power_mw_min: float
    power_mw_max: float
    soc_last: float | None  # the last non-null soc in the bucket
    count: int
    fault: bool  # any reading in the bucket flagged a fault


def check_bucket_span(start: datetime, end: datetime, resolution: Resolution) -> None:
    """Refuse a range that is empty or would span more than ``MAX_BUCKETS`` buckets."""
    if end <= start:
        raise ValidationFailed("end must be after start", field="end")
    if (end - start) / RESOLUTIONS[resolution] > MAX_BUCKETS:
        raise ValidationFailed(
            f"the range spans more than {MAX_BUCKETS} buckets of {resolution}; "
            "narrow it or choose a coarser resolution",
            field="resolution",
        )


def _local_day_start(day: pd.Timestamp, tz: tzinfo) -> datetime:
    """The first instant of the local calendar ``day`` in ``tz``, in UTC. Where midnight does
    not exist (a DST change at 00:00) the day starts at the first valid local time."""
    local = datetime(day.year, day.month, day.day, tzinfo=tz)
    return local.astimezone(UTC)


def resample(
    points: Sequence[TelemetryPoint], resolution: Resolution, tz: tzinfo = UTC
) -> list[TelemetryBucket]:
    """Buckets with at least one reading, oldest first: mean, min and max power, the last soc,
    the count and whether any reading flagged a fault. 15min and 1h buckets are aligned to the
    UTC epoch; 1d buckets are the local calendar days of ``tz`` (23 or 25 hours across a DST
    change). Bucket bounds are returned in UTC."""
    if not points:
        return []
    index = pd.DatetimeIndex([p.ts for p in points]).tz_convert("UTC")
    frame = pd.DataFrame(
        {
            "power": [p.power_mw for p in points],
            "soc": [math.nan if p.soc is None else p.soc for p in points],
            "fault": [p.fault for p in points],
        }
    )
    if resolution == "1d":
        keys = index.tz_convert(tz).tz_localize(None).floor("D")  # local midnights, naive
    else:
        keys = index.tz_localize(None).floor(resolution)  # UTC, aligned to the epoch
    agg = frame.groupby(keys.to_numpy(), sort=True).agg(
        p_mean=("power", "mean"),
        p_min=("power", "min"),
        p_max=("power", "max"),
        n=("power", "size"),
        soc=("soc", "last"),  # skips nulls
        fault=("fault", "any"),
    )
    step = RESOLUTIONS[resolution]
    buckets: list[TelemetryBucket] = []
    for key, p_mean, p_min, p_max, n, soc, fault in zip(
        agg.index,
        agg["p_mean"].tolist(),
        agg["p_min"].tolist(),
        agg["p_max"].tolist(),
        agg["n"].tolist(),
        agg["soc"].tolist(),
        agg["fault"].tolist(),
        strict=True,
    ):
        stamp = pd.Timestamp(key)
        if resolution == "1d":
            start = _local_day_start(stamp, tz)
            end = _local_day_start(stamp + pd.Timedelta(days=1), tz)
        else:
            start = stamp.tz_localize("UTC").to_pydatetime()
            end = start + step
        buckets.append(
            TelemetryBucket(
                start=start,
                end=end,
                power_mw_mean=float(p_mean),
                power_mw_min=float(p_min),
                power_mw_max=float(p_max),
                soc_last=None if math.isnan(soc) else float(soc),
                count=int(n),
                fault=bool(fault),
            )
        )
    return buckets
