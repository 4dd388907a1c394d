"""Execution monitoring (pure): metered versus scheduled power per interval and per resource,
deviation and data-quality alerts, and a live estimate of the interval in progress.

Sign convention: power [MW] positive = injection (generation, discharge), negative =
withdrawal; energy [MWh] the same way; instants tz-aware UTC; interval grids are the starts
of equally long delivery intervals (15 or 60 min). Deviation = metered - scheduled, so a
positive deviation is more injection (or less withdrawal) than scheduled.

Metering from irregular power samples is time-weighted sample-and-hold: a sample's power
holds from its instant until the next sample of the same resource, but for at most
``max_gap``; time no sample covers is a *gap*. Gaps are counted (coverage, number of gaps),
never filled: energies cover only the metered time, and the interval's average power is the
average over that time. See ``docs/monitoring.md`` for the formulas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.core.clock import ensure_utc
from openvpp.core.errors import ValidationFailed
from openvpp.dispatch.protocol import TelemetrySample
from openvpp.ops.model import Severity
from openvpp.resources.telemetry import TelemetryPoint

__all__ = [
    "VPP",
    "AlertKind",
    "DeviationAlert",
    "DeviationThresholds",
    "LiveEstimate",
    "Metered",
    "MonitoringFrame",
    "SeverityLevel",
    "alerts",
    "compare",
    "live_estimate",
    "metered_energy",
    "thresholds_from",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Sample = TelemetrySample | TelemetryPoint

VPP = "VPP"  # the subject of the VPP rows of a MonitoringFrame
DEFAULT_MAX_GAP = timedelta(minutes=5)
SOURCE = "dispatch.monitoring"
_US_PER_H = 3_600_000_000.0


# --------------------------------------------------------------------------- metering


@dataclass(frozen=True)
class Metered:
    """Metered values per resource (rows, in ``resource_ids`` order) and interval (columns).

    ``energy_mwh`` is the energy of the metered time only; ``power_mw`` the average power over
    the metered time (NaN where nothing was metered); ``coverage`` the metered fraction of the
    interval [0..1]; ``gaps`` the number of uncovered stretches touching the interval;
    ``samples`` the number of samples taken inside it.
    """

    resource_ids: tuple[str, ...]
    index: pd.DatetimeIndex  # interval starts [UTC]
    interval: timedelta
    power_mw: FloatArray
    energy_mwh: FloatArray
    coverage: FloatArray
    gaps: IntArray
    samples: IntArray

    @property
    def interval_h(self) -> float:
        """Interval length [h]."""
        return self.interval / timedelta(hours=1)

    @property
    def estimated_mwh(self) -> FloatArray:
        """The interval energy with the gaps at the metered average power [MWh] (NaN where
        nothing was metered)."""
        return self.power_mw * self.interval_h


def _interval_of(index: pd.DatetimeIndex, interval: timedelta | None) -> timedelta:
    if interval is not None:
        if interval <= timedelta(0):
            raise ValueError(f"interval must be positive, got {interval}")
        return interval
    if len(index) >= 2:
        steps = np.diff(index.as_unit("us").asi8)
        if np.all(steps == steps[0]):
            return timedelta(microseconds=int(steps[0]))
    if isinstance(index.freq, pd.offsets.Tick):
        return pd.Timedelta(index.freq).to_pytimedelta()
    raise ValueError("interval: pass it explicitly (the index has no regular frequency)")


def _utc_index(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    if index.tz is None:
        raise ValueError("index must be tz-aware (UTC interval starts)")
    if len(index) == 0:
        raise ValueError("index must hold at least one interval")
    return index.tz_convert("UTC")


def _columns(samples: Sequence[Sample]) -> tuple[list[str], list[datetime], FloatArray]:
    ids = [s.resource_id for s in samples]
    times = [s.at if isinstance(s, TelemetrySample) else s.ts for s in samples]
    power = np.fromiter(
        (s.p_mw if isinstance(s, TelemetrySample) else s.power_mw for s in samples),
        dtype=np.float64,
        count=len(samples),
    )
    return ids, times, power


def metered_energy(
    samples: Sequence[Sample],
    index: pd.DatetimeIndex,
    *,
    resource_ids: Sequence[str] | None = None,
    interval: timedelta | None = None,
    max_gap: timedelta = DEFAULT_MAX_GAP,
    until: datetime | None = None,
) -> Metered:
    """Metered average power [MW] and energy [MWh] per resource and interval.

    samples : power readings (:class:`TelemetrySample` or stored :class:`TelemetryPoint`) in
        any order; include the last one before the first interval, it holds into it. A
        non-finite power is a missing reading: it ends the previous hold and covers nothing.
    index : interval starts [UTC]; ``interval`` their length (default: the index frequency).
    resource_ids : the rows, in order (default: the resources of the samples, sorted);
        samples of other resources are ignored.
    max_gap : the longest a sample's power is held [s]; longer silences are gaps.
    until : the instant data is known to (now, for the interval in progress); no sample is
        held beyond it. Default: the end of the last interval.

    Vectorized over all resources at once: each resource's held segments are laid on one
    time axis (resource ``r`` shifted by ``r`` strides), and the integral of power and of
    coverage up to every interval edge is read with one ``searchsorted``.
    """
    idx = _utc_index(index)
    step = _interval_of(idx, interval)
    if max_gap <= timedelta(0):
        raise ValueError(f"max_gap must be positive, got {max_gap}")
    ids_all, times, power_all = _columns(samples)
    rows = tuple(sorted(set(ids_all))) if resource_ids is None else tuple(resource_ids)
    if len(set(rows)) != len(rows):
        raise ValueError("resource_ids must be unique")
    row_of = {rid: i for i, rid in enumerate(rows)}
    n = len(rows)
    step_us = step // timedelta(microseconds=1)
    gap_us = max_gap // timedelta(microseconds=1)
    starts_us = idx.as_unit("us").asi8  # [us since the epoch]
    origin = int(starts_us[0])
    edges = (starts_us - origin).astype(np.int64)
    edges = np.append(edges, edges[-1] + step_us)
    horizon_end = int(edges[-1])
    stop = horizon_end if until is None else _us(until) - origin
    stop = min(stop, horizon_end)

    stop = max(stop, 0)
    keep = [i for i, rid in enumerate(ids_all) if rid in row_of]
    row = np.fromiter((row_of[ids_all[i]] for i in keep), dtype=np.int64, count=len(keep))
    at = np.fromiter((_us(times[i]) - origin for i in keep), dtype=np.int64, count=len(keep))
    p = power_all[keep]
    # A sample more than one hold before the grid, or after it, covers nothing inside it:
    # clamping keeps every resource's samples within one stride of the shared axis below.
    at = np.clip(at, -gap_us - 1, horizon_end)
    order = np.lexsort((at, row))
    row, at, p = row[order], at[order], p[order]

    # Segment i holds p_i on [start_i, end_i): to the next sample, max_gap, or ``stop``.
    same = np.zeros(at.shape, dtype=bool)
    same[:-1] = row[1:] == row[:-1]
    end = np.minimum(at + gap_us, stop)
    end[:-1] = np.where(same[:-1], np.minimum(end[:-1], at[1:]), end[:-1])
    start = np.maximum(at, 0)  # nothing before the grid counts
    finite = np.isfinite(p)
    length = np.where(finite, np.clip(end - start, 0, None), 0)
    value = np.where(finite, p, 0.0)

    # One axis for all resources: resource r lives on [r*stride, r*stride + horizon_end].
    stride = horizon_end + gap_us + 2
    a = start + row * stride
    grid = edges[None, :] + (np.arange(n, dtype=np.int64) * stride)[:, None]  # (n, T+1)
    if len(a):
        cum_e = np.concatenate(([0.0], np.cumsum(value * length)))  # [MW us]
        cum_c = np.concatenate(([0], np.cumsum(length)))  # [us]
        k = np.searchsorted(a, grid, side="right")  # segments starting at or before an edge
        last = np.maximum(k - 1, 0)
        part = np.clip(grid - a[last], 0, length[last])
        e_at = np.where(k > 0, cum_e[last] + value[last] * part, 0.0)
        c_at = np.where(k > 0, cum_c[last] + part, 0)
    else:
        e_at = np.zeros(grid.shape)
        c_at = np.zeros(grid.shape, dtype=np.int64)
    energy = np.diff(e_at, axis=1) / _US_PER_H
    covered_us = np.diff(c_at, axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(covered_us > 0, energy / (covered_us / _US_PER_H), np.nan)
    counts = _sample_counts(row, at, edges, n)
    gaps = _gap_counts(row, start, start + length, edges, n, stop)
    return Metered(
        resource_ids=rows,
        index=idx,
        interval=step,
        power_mw=np.asarray(avg, dtype=np.float64),
        energy_mwh=np.asarray(energy, dtype=np.float64),
        coverage=covered_us / step_us,
        gaps=gaps,
        samples=counts,
    )


def _us(at: datetime) -> int:
    """Microseconds since the epoch (exact, no float)."""
    return (ensure_utc(at) - _EPOCH) // timedelta(microseconds=1)


_EPOCH = pd.Timestamp(0, tz="UTC").to_pydatetime()


def _sample_counts(row: IntArray, at: IntArray, edges: IntArray, n: int) -> IntArray:
    col = np.searchsorted(edges, at, side="right") - 1
    inside = (col >= 0) & (col < len(edges) - 1)
    counts = np.zeros((n, len(edges) - 1), dtype=np.int64)
    np.add.at(counts, (row[inside], col[inside]), 1)
    return counts


def _gap_counts(
    row: IntArray, seg_start: IntArray, seg_end: IntArray, edges: IntArray, n: int, stop: int
) -> IntArray:
    """Uncovered stretches touching each interval, per resource: the complement of its
    (sorted, disjoint) covered segments within ``[edges[0], stop)``; time after ``stop`` is
    not known yet, so not a gap."""
    covered = seg_end > seg_start
    r, s, e = row[covered], seg_start[covered], seg_end[covered]
    head = np.ones(r.shape, dtype=bool)  # the first segment of its resource
    head[1:] = r[1:] != r[:-1]
    tail = np.ones(r.shape, dtype=bool)  # the last one
    tail[:-1] = head[1:]
    inner = ~head[1:]  # consecutive segments of one resource
    silent = np.setdiff1d(np.arange(n, dtype=np.int64), r)
    rows = np.concatenate([r[1:][inner], r[head], r[tail], silent])
    lo = np.concatenate([e[:-1][inner], np.zeros(head.sum(), np.int64), e[tail], 0 * silent])
    hi = np.concatenate([s[1:][inner], s[head], np.full(tail.sum() + len(silent), stop)])
    real = hi > lo
    rows, lo, hi = rows[real], lo[real], hi[real]
    t = len(edges) - 1
    first_col = np.searchsorted(edges, lo, side="right") - 1
    last_col = np.searchsorted(edges, hi, side="left") - 1
    diff = np.zeros((n, t + 1), dtype=np.int64)
    np.add.at(diff, (rows, first_col), 1)
    np.add.at(diff, (rows, last_col + 1), -1)
    return np.asarray(np.cumsum(diff[:, :t], axis=1), dtype=np.int64)


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class MonitoringFrame:
    """Scheduled versus metered per subject (rows: the resources, then :data:`VPP`) and
    interval (columns). Powers [MW] are interval averages; energies [MWh] per interval.

    ``metered_mw`` is the metered average over the metered time; the VPP's is the sum of its
    resources' (NaN when any resource has no metered time in the interval), its coverage the
    lowest of its resources'. ``scheduled_mw`` is NaN where no schedule was given.
    """

    subjects: tuple[str, ...]
    index: pd.DatetimeIndex
    interval: timedelta
    scheduled_mw: FloatArray
    metered_mw: FloatArray
    coverage: FloatArray

    @property
    def interval_h(self) -> float:
        """Interval length [h]."""
        return self.interval / timedelta(hours=1)

    @property
    def deviation_mw(self) -> FloatArray:
        """Metered minus scheduled average power [MW]; positive = more injection."""
        return self.metered_mw - self.scheduled_mw

    @property
    def deviation_mwh(self) -> FloatArray:
        """Deviation energy of the interval [MWh], gaps at the metered average."""
        return self.deviation_mw * self.interval_h

    @property
    def relative_deviation(self) -> FloatArray:
        """Deviation over |scheduled| [fraction]; NaN where nothing was scheduled."""
        s = np.abs(self.scheduled_mw)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(s > 0, self.deviation_mw / s, np.nan)

    def row(self, subject: str) -> int:
        """The row of a resource id or of :data:`VPP`."""
        try:
            return self.subjects.index(subject)
        except ValueError:
            raise KeyError(f"no subject {subject!r} in the monitoring frame") from None

    def to_frame(self) -> pd.DataFrame:
        """Long records for storage: one row per (subject, interval_start)."""
        m, t = self.scheduled_mw.shape
        h = self.interval_h
        return pd.DataFrame(
            {
                "subject": np.repeat(np.asarray(self.subjects, dtype=object), t),
                "interval_start": np.tile(self.index.to_numpy(), m),
                "scheduled_mw": self.scheduled_mw.ravel(),
                "metered_mw": self.metered_mw.ravel(),
                "deviation_mw": self.deviation_mw.ravel(),
                "scheduled_mwh": (self.scheduled_mw * h).ravel(),
                "metered_mwh": (self.metered_mw * h).ravel(),
                "deviation_mwh": self.deviation_mwh.ravel(),
                "relative_deviation": self.relative_deviation.ravel(),
                "coverage": self.coverage.ravel(),
            }
        )


def compare(scheduled: FloatArray, metered: Metered) -> MonitoringFrame:
    """Scheduled against metered, per resource and for the VPP.

    scheduled : ``(n, T)`` per-resource schedule [MW] in ``metered.resource_ids`` order (the
        VPP schedule is its column sum), or ``(T,)`` the VPP schedule only (the resources'
        rows then carry no schedule).
    """
    s = np.asarray(scheduled, dtype=np.float64)
    n, t = metered.power_mw.shape
    if s.shape == (n, t):
        per_resource, vpp = s, s.sum(axis=0)
    elif s.shape == (t,):
        per_resource, vpp = np.full((n, t), np.nan), s
    else:
        raise ValueError(f"scheduled must have shape ({n}, {t}) or ({t},), got {s.shape}")
    vpp_metered = metered.power_mw.sum(axis=0) if n else np.full(t, np.nan)
    vpp_coverage = metered.coverage.min(axis=0) if n else np.zeros(t)
    return MonitoringFrame(
        subjects=(*metered.resource_ids, VPP),
        index=metered.index,
        interval=metered.interval,
        scheduled_mw=np.vstack([per_resource, vpp[None, :]]),
        metered_mw=np.vstack([metered.power_mw, vpp_metered[None, :]]),
        coverage=np.vstack([metered.coverage, vpp_coverage[None, :]]),
    )


# --------------------------------------------------------------------------- alerts


class AlertKind(StrEnum):
    DEVIATION = "deviation"  # metered differs from scheduled beyond the thresholds
    DATA_QUALITY = "data_quality"  # too little metered time to judge the interval


@dataclass(frozen=True, slots=True)
class SeverityLevel:
    """A deviation reaches a level when ``|deviation| >= abs_mw`` [MW] **and**
    ``|deviation| >= rel_pct`` [%] of ``|scheduled|`` (with nothing scheduled, ``abs_mw``
    alone decides)."""

    abs_mw: float
    rel_pct: float


@dataclass(frozen=True, slots=True)
class DeviationThresholds:
    """When a deviation is alerted.

    The tolerance band ``max(tolerance_mw, tolerance_pct % x |scheduled|)`` counts as on
    schedule (as in markets' deviation assessment); outside it, a deviation reaching
    ``warning`` (``critical``) for ``consecutive`` intervals in a row raises one warning
    (critical) alert per streak. An interval whose coverage is below ``min_coverage`` is not
    judged: it breaks deviation streaks, and the first interval of each run of such intervals
    raises a data-quality alert of severity ``data_quality``.
    """

    warning: SeverityLevel = SeverityLevel(abs_mw=0.1, rel_pct=5.0)
    critical: SeverityLevel = SeverityLevel(abs_mw=0.5, rel_pct=20.0)
    tolerance_mw: float = 0.0
    tolerance_pct: float = 0.0
    min_coverage: float = 0.8
    consecutive: int = 1
    data_quality: Severity = Severity.WARNING

    def __post_init__(self) -> None:
        if self.consecutive < 1:
            raise ValueError(f"consecutive must be at least 1, got {self.consecutive}")
        if not 0.0 <= self.min_coverage <= 1.0:
            raise ValueError(f"min_coverage must lie in [0, 1], got {self.min_coverage}")
        if self.tolerance_mw < 0 or self.tolerance_pct < 0:
            raise ValueError("tolerance_mw and tolerance_pct must not be negative")
        w, c = self.warning, self.critical
        if c.abs_mw < w.abs_mw or c.rel_pct < w.rel_pct:
            raise ValueError("critical thresholds must not be below the warning thresholds")


_KEYS = frozenset(
    {
        "warning_mw",
        "warning_pct",
        "critical_mw",
        "critical_pct",
        "tolerance_mw",
        "tolerance_pct",
        "min_coverage",
        "consecutive",
    }
)


def thresholds_from(
    values: Mapping[str, float], base: DeviationThresholds | None = None
) -> DeviationThresholds:
    """Thresholds from a settings mapping (keys as in :data:`_KEYS`; missing keys keep
    ``base``'s values, by default :class:`DeviationThresholds`' defaults). Raises
    ValidationFailed naming a bad key."""
    unknown = sorted(set(values) - _KEYS)
    if unknown:
        raise ValidationFailed(f"unknown threshold {unknown[0]!r}", field="monitoring_thresholds")
    d = base or DeviationThresholds()
    try:
        return DeviationThresholds(
            warning=SeverityLevel(
                float(values.get("warning_mw", d.warning.abs_mw)),
                float(values.get("warning_pct", d.warning.rel_pct)),
            ),
            critical=SeverityLevel(
                float(values.get("critical_mw", d.critical.abs_mw)),
                float(values.get("critical_pct", d.critical.rel_pct)),
            ),
            tolerance_mw=float(values.get("tolerance_mw", d.tolerance_mw)),
            tolerance_pct=float(values.get("tolerance_pct", d.tolerance_pct)),
            min_coverage=float(values.get("min_coverage", d.min_coverage)),
            consecutive=int(values.get("consecutive", d.consecutive)),
        )
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="monitoring_thresholds") from exc


@dataclass(frozen=True, slots=True)
class DeviationAlert:
    """One alert: maps onto an ops :class:`~openvpp.ops.model.Alert` through ``severity``,
    ``source``, ``title`` and ``message``. ``run_intervals`` is the streak length that raised
    it. Values [MW] are interval averages, ``deviation_mwh`` the interval's energy."""

    kind: AlertKind
    subject: str
    interval_start: datetime
    severity: Severity
    scheduled_mw: float
    metered_mw: float
    deviation_mw: float
    deviation_mwh: float
    coverage: float
    run_intervals: int
    title: str
    message: str
    source: str = SOURCE


def _run_length(flag: NDArray[np.bool_]) -> IntArray:
    """Length of the run of True ending at each column, per row (0 where False)."""
    c = np.cumsum(flag, axis=1)
    reset = np.maximum.accumulate(np.where(flag, 0, c), axis=1)
    return np.asarray(c - reset, dtype=np.int64)


def _reaches(level: SeverityLevel, dev: FloatArray, sched: FloatArray) -> NDArray[np.bool_]:
    return (dev >= level.abs_mw) & (dev >= level.rel_pct / 100.0 * sched)


def alerts(frame: MonitoringFrame, thresholds: DeviationThresholds) -> list[DeviationAlert]:
    """Deviation and data-quality alerts of a frame, by interval then subject."""
    th = thresholds
    dev = np.abs(frame.deviation_mw)
    sched = np.abs(frame.scheduled_mw)
    judged = (frame.coverage >= th.min_coverage) & np.isfinite(dev)
    band = np.maximum(th.tolerance_mw, th.tolerance_pct / 100.0 * np.nan_to_num(sched))
    outside = judged & (dev > band)
    warn = outside & _reaches(th.warning, dev, np.nan_to_num(sched))
    crit = outside & _reaches(th.critical, dev, np.nan_to_num(sched))
    warn_run, crit_run = _run_length(warn), _run_length(crit)
    low = frame.coverage < th.min_coverage
    low_run = _run_length(low)
    raised: list[tuple[int, int, DeviationAlert]] = []
    for r, c in zip(*np.nonzero(crit_run == th.consecutive), strict=True):
        raised.append((c, r, _deviation(frame, r, c, Severity.CRITICAL, th.consecutive)))
    only_warn = (warn_run == th.consecutive) & (crit_run < th.consecutive)
    for r, c in zip(*np.nonzero(only_warn), strict=True):
        raised.append((c, r, _deviation(frame, r, c, Severity.WARNING, th.consecutive)))
    for r, c in zip(*np.nonzero(low_run == 1), strict=True):
        raised.append((c, r, _quality(frame, r, c, th)))
    raised.sort(key=lambda x: (x[0], x[1], x[2].kind.value))
    return [a for _, _, a in raised]


def _deviation(
    frame: MonitoringFrame, r: int, c: int, severity: Severity, run: int
) -> DeviationAlert:
    subject, start = frame.subjects[r], frame.index[c].to_pydatetime()
    s, m = float(frame.scheduled_mw[r, c]), float(frame.metered_mw[r, c])
    d, h = m - s, frame.interval_h
    word = "over" if d > 0 else "under"
    rel = f" ({d / abs(s):+.1%} of schedule)" if s != 0 else ""
    who = "VPP" if subject == VPP else f"resource {subject}"
    minutes = round(h * 60)
    return DeviationAlert(
        kind=AlertKind.DEVIATION,
        subject=subject,
        interval_start=start,
        severity=severity,
        scheduled_mw=s,
        metered_mw=m,
        deviation_mw=d,
        deviation_mwh=d * h,
        coverage=float(frame.coverage[r, c]),
        run_intervals=run,
        title=f"{who} {word}-delivering",
        message=(
            f"{who}, {minutes}-min interval from {start.isoformat()}: metered {m:.3f} MW "
            f"against {s:.3f} MW scheduled, deviation {d:+.3f} MW = {d * h:+.4f} MWh{rel}; "
            f"{run} interval(s) in a row"
        ),
    )


def _quality(frame: MonitoringFrame, r: int, c: int, th: DeviationThresholds) -> DeviationAlert:
    subject, start = frame.subjects[r], frame.index[c].to_pydatetime()
    cov = float(frame.coverage[r, c])
    who = "VPP" if subject == VPP else f"resource {subject}"
    s, m = float(frame.scheduled_mw[r, c]), float(frame.metered_mw[r, c])
    return DeviationAlert(
        kind=AlertKind.DATA_QUALITY,
        subject=subject,
        interval_start=start,
        severity=th.data_quality,
        scheduled_mw=s,
        metered_mw=m,
        deviation_mw=m - s,
        deviation_mwh=(m - s) * frame.interval_h,
        coverage=cov,
        run_intervals=1,
        title=f"{who}: telemetry incomplete",
        message=(
            f"{who}, interval from {start.isoformat()}: telemetry covers {cov:.0%} of the "
            f"interval (minimum {th.min_coverage:.0%}); deviation not assessed"
        ),
    )


# --------------------------------------------------------------------------- live estimate


@dataclass(frozen=True)
class LiveEstimate:
    """The interval in progress at ``now``, per resource (``resource_ids`` order) and for the
    VPP (the sums).

    delivered_mwh : energy so far, the elapsed gaps at the metered average [MWh]
    current_mw : the latest sample's power when at most ``max_gap`` old, else the average
        so far [MW] (NaN: nothing metered)
    projected_mwh : delivered + current power held to the interval's end [MWh]
    deviation_mwh : projected - scheduled [MWh]
    to_cancel_mw : the extra power over the remaining time that cancels the deviation
        (``-deviation_mwh / remaining_h``) [MW]; NaN when no time remains
    """

    resource_ids: tuple[str, ...]
    interval_start: datetime
    elapsed: float  # fraction of the interval gone [0..1]
    remaining_h: float
    coverage: FloatArray  # metered fraction of the elapsed time [0..1]
    delivered_mwh: FloatArray
    current_mw: FloatArray
    projected_mwh: FloatArray
    scheduled_mwh: FloatArray
    vpp_scheduled_mwh: float

    @property
    def deviation_mwh(self) -> FloatArray:
        """Projected minus scheduled energy per resource [MWh]."""
        return self.projected_mwh - self.scheduled_mwh

    @property
    def vpp_delivered_mwh(self) -> float:
        return float(self.delivered_mwh.sum())

    @property
    def vpp_projected_mwh(self) -> float:
        return float(self.projected_mwh.sum())

    @property
    def vpp_deviation_mwh(self) -> float:
        """Projected minus scheduled VPP energy [MWh]."""
        return self.vpp_projected_mwh - self.vpp_scheduled_mwh

    @property
    def vpp_to_cancel_mw(self) -> float:
        """Extra VPP power over the remaining time that cancels the deviation [MW]."""
        if self.remaining_h <= 0:
            return math.nan
        return -self.vpp_deviation_mwh / self.remaining_h


def live_estimate(
    samples: Sequence[Sample],
    interval_start: datetime,
    interval: timedelta,
    now: datetime,
    scheduled_mw: FloatArray | float,
    *,
    resource_ids: Sequence[str] | None = None,
    max_gap: timedelta = DEFAULT_MAX_GAP,
) -> LiveEstimate:
    """The projected energy of the interval in progress and the deviation left to cancel.

    scheduled_mw : ``(n,)`` per resource [MW], or the VPP's schedule as a number (spread
        over no resource: the resources' ``scheduled_mwh`` are then NaN).
    Samples after ``now`` are ignored.
    """
    start = ensure_utc(interval_start)
    now_utc = ensure_utc(now)
    if not start <= now_utc <= start + interval:
        raise ValueError(f"now {now_utc.isoformat()} is outside the interval from {start}")
    seen = [s for s in samples if (s.at if isinstance(s, TelemetrySample) else s.ts) <= now_utc]
    idx = pd.DatetimeIndex([start])
    m = metered_energy(
        seen, idx, resource_ids=resource_ids, interval=interval, max_gap=max_gap, until=now_utc
    )
    h = m.interval_h
    elapsed = (now_utc - start) / interval
    elapsed_h, remaining_h = elapsed * h, (1.0 - elapsed) * h
    avg = m.power_mw[:, 0]
    delivered = np.where(np.isfinite(avg), avg * elapsed_h, 0.0)  # nothing metered: 0
    current = _current_power(seen, m.resource_ids, now_utc, max_gap, avg)
    projected = delivered + current * remaining_h
    sched = np.asarray(scheduled_mw, dtype=np.float64)
    n = len(m.resource_ids)
    if sched.ndim == 0:
        per, vpp = np.full(n, np.nan), float(sched) * h
    elif sched.shape == (n,):
        per, vpp = sched * h, float(sched.sum()) * h
    else:
        raise ValueError(f"scheduled_mw must be a number or have shape ({n},)")
    return LiveEstimate(
        resource_ids=m.resource_ids,
        interval_start=start,
        elapsed=float(elapsed),
        remaining_h=float(remaining_h),
        coverage=m.coverage[:, 0] / elapsed if elapsed > 0 else np.zeros(n),
        delivered_mwh=np.asarray(delivered, dtype=np.float64),
        current_mw=current,
        projected_mwh=np.asarray(projected, dtype=np.float64),
        scheduled_mwh=per,
        vpp_scheduled_mwh=vpp,
    )


def _current_power(
    samples: Sequence[Sample],
    rows: tuple[str, ...],
    now: datetime,
    max_gap: timedelta,
    average: FloatArray,
) -> FloatArray:
    ids, times, power = _columns(samples)
    latest: dict[str, tuple[datetime, float]] = {}
    for rid, at, p in zip(ids, times, power.tolist(), strict=True):
        if math.isfinite(p) and (rid not in latest or at >= latest[rid][0]):
            latest[rid] = (at, p)
    out = average.copy()
    for i, rid in enumerate(rows):
        hit = latest.get(rid)
        if hit is not None and now - hit[0] <= max_gap:
            out[i] = hit[1]
    return out
