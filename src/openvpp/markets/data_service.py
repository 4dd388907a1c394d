"""Market data: import of parsed files (and of values fetched from venues) into the history
tables, the catalog of stored series, and queries by market, area, product, series, range,
resolution and "as known at"."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock, ensure_utc
from openvpp.core.errors import ValidationFailed
from openvpp.core.ids import new_id
from openvpp.markets.connectors.protocol import ImbalanceResult, MarketDataPoint
from openvpp.markets.data import (
    CODE_RE,
    COLUMNS,
    FORMATS,
    SERIES_RE,
    MarketDataError,
    ParseReport,
    detect_format,
    parse_market_data,
)
from openvpp.markets.presets import load_presets
from openvpp.markets.records import MarketDataImport, SeriesInfo, SeriesKey
from openvpp.markets.series import RESOLUTIONS_MIN, latest_known, resample
from openvpp.ports import UnitOfWork

__all__ = [
    "MAX_QUERY_DAYS",
    "MAX_QUERY_POINTS",
    "ImportOutcome",
    "MarketDataService",
    "SeriesData",
    "venue_points_frame",
]

MAX_QUERY_DAYS = 400
"""Longest range one query may span [days]."""
MAX_QUERY_POINTS = 50_000
"""Most points one query may return (choose a coarser resolution beyond)."""
_KEY = ["market", "area", "product", "series"]
_UNIT_RE = re.compile(r"^[A-Za-z0-9/%._ -]{1,32}$")
_SAME = 5e-7  # values are stored with 6 decimals: closer than half a unit of the 6th is equal
_CONFLICT_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What an import did: the record (with counts) and the series it touched."""

    record: MarketDataImport
    series: list[dict[str, Any]]
    conflict_examples: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class SeriesData:
    """One series over a range: ``points`` has ``start``, ``end`` [UTC], ``value``,
    ``known_at`` [UTC] and, when resampled, ``coverage`` (0..1]."""

    key: SeriesKey
    unit: str | None
    period_min: int | None
    resolution_min: int | None
    as_of: datetime | None
    points: pd.DataFrame


def _check_frame(frame: pd.DataFrame) -> None:
    """Refuse a frame that does not fit the history table: missing columns, codes that are not
    ``A-Z 0-9 _ -`` (up to 32), series names that are not lower-case (up to 64), units longer
    than 32 characters. (The parsers guarantee this; venue data and callers may not.)"""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"market data frame lacks columns {missing}")
    rules = (
        ("market", CODE_RE),
        ("area", CODE_RE),
        ("product", CODE_RE),
        ("series", SERIES_RE),
        ("unit", _UNIT_RE),
    )
    for column, pattern in rules:
        text = frame[column].astype(str)
        bad = ~text.str.fullmatch(pattern)
        if bool(bad.any()):
            raise ValidationFailed(
                f"{column} {text[bad].iloc[0][:80]!r} does not match {pattern.pattern}",
                field=column,
            )


def _series_summary(frame: pd.DataFrame) -> list[dict[str, Any]]:
    grouped = frame.groupby(_KEY, sort=True).agg(
        unit=("unit", "first"),
        values=("value", "size"),
        first_start=("start", "min"),
        last_start=("start", "max"),
    )
    return [
        {
            **dict(zip(_KEY, (str(k) for k in key), strict=True)),
            "unit": str(unit),
            "values": int(values),
            "first_start": first.to_pydatetime(),
            "last_start": last.to_pydatetime(),
        }
        for key, unit, values, first, last in zip(
            grouped.index,
            grouped["unit"],
            grouped["values"],
            grouped["first_start"],
            grouped["last_start"],
            strict=True,
        )
    ]


SYNC_MAX_DAYS = 31
_SYNC_KEYS = ("connection_id", "market", "product", "area", "start", "end")


def check_sync_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters of a ``market.sync`` job, checked: connection id, market, product, area
    (default ``ALL``) and an ISO range ``[start, end)`` with offsets, at most 31 days."""
    params = {"area": "ALL", **params}
    unknown = sorted(set(params) - set(_SYNC_KEYS))
    if unknown:
        raise ValidationFailed(f"unknown parameters {unknown}", field=f"params.{unknown[0]}")
    for key in _SYNC_KEYS:
        value = params.get(key)
        if not isinstance(value, str) or not 0 < len(value) <= 64:
            raise ValidationFailed(f"{key} must be a non-empty string", field=f"params.{key}")
    for key in ("market", "product", "area"):
        if not CODE_RE.fullmatch(params[key]):
            raise ValidationFailed(
                f"{key} must be a code of A-Z, 0-9, '_' and '-' (up to 32 characters)",
                field=f"params.{key}",
            )
    bounds: dict[str, datetime] = {}
    for key in ("start", "end"):
        try:
            bounds[key] = ensure_utc(datetime.fromisoformat(params[key]))
        except ValueError:
            raise ValidationFailed(
                f"{key} must be an ISO 8601 timestamp with an offset", field=f"params.{key}"
            ) from None
    span = bounds["end"] - bounds["start"]
    if not timedelta(0) < span <= timedelta(days=SYNC_MAX_DAYS):
        raise ValidationFailed(
            f"end must be after start, at most {SYNC_MAX_DAYS} days", field="params.end"
        )
    return {**params, "start": bounds["start"].isoformat(), "end": bounds["end"].isoformat()}


_LIST_OPTIONS = frozenset({"exog_series", "areas"})
_INT_OPTIONS = frozenset({"period_min"})


def typed_options(fmt: str | None, given: Mapping[str, str | None]) -> dict[str, Any]:
    """Parser options given as text (query parameters, ``--set NAME=VALUE``), typed: the
    comma-separated lists and whole minutes the parsers take. An option the format does not
    take, or a bad number, is a ``ValidationFailed`` naming it."""
    options: dict[str, Any] = {}
    for name, raw in given.items():
        if raw is None:
            continue
        if fmt is not None and name not in FORMATS[fmt].options:
            raise ValidationFailed(
                f"format {fmt!r} takes no option {name!r}; it takes {list(FORMATS[fmt].options)}",
                field=name,
            )
        if name in _LIST_OPTIONS:
            options[name] = [part.strip() for part in raw.split(",") if part.strip()]
        elif name in _INT_OPTIONS:
            if not (raw.isascii() and raw.isdigit()):
                raise ValidationFailed(f"{name} must be a whole number of minutes", field=name)
            options[name] = int(raw)
        else:
            options[name] = raw
    return options


def report_view(report: ParseReport) -> dict[str, Any]:
    """A parse report as stored with the import and returned to the client."""
    return {
        "repaired": dict(report.repaired),
        "rejected": dict(report.rejected),
        "skipped": dict(report.skipped),
        "examples": [
            {"kind": e.kind, "reason": e.reason, "line": e.line, "detail": e.detail[:200]}
            for e in report.examples[:20]
        ],
    }


class MarketDataService:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def import_file(
        self,
        uow: UnitOfWork,
        organization_id: str,
        data: bytes,
        *,
        fmt: str | None,
        options: dict[str, Any],
        source: str,
        actor: str | None,
    ) -> ImportOutcome:
        """Parse a file (format sniffed when ``fmt`` is ``None``) and store its values as one
        import (:meth:`store`). A file that cannot be parsed stores nothing: 422 naming the
        line, column or option."""
        try:
            fmt = fmt or detect_format(data, source)
            parsed = parse_market_data(data, fmt, **options)
        except MarketDataError as exc:
            raise ValidationFailed(str(exc), field="file") from None
        return self.store(
            uow,
            organization_id,
            parsed.frame,
            fmt=fmt,
            source=source,
            data=data,
            rows_read=parsed.report.rows_read,
            report=report_view(parsed.report),
            actor=actor,
        )

    def store(
        self,
        uow: UnitOfWork,
        organization_id: str,
        frame: pd.DataFrame,
        *,
        fmt: str,
        source: str,
        data: bytes,
        rows_read: int,
        report: dict[str, Any],
        actor: str | None,
    ) -> ImportOutcome:
        """Store a parsed frame (columns :data:`COLUMNS`) as one import, in one
        transaction with one audit row. A value stored already with the same key, start and
        known-at time counts as a duplicate when equal and as a conflict when different; a
        conflict never overwrites the stored value (a revision needs a later known-at)."""
        _check_frame(frame)
        now = self._clock.now()
        record = MarketDataImport(
            id=new_id(),
            organization_id=organization_id,
            format=fmt,
            source=source[:255],
            sha256=hashlib.sha256(data).hexdigest(),
            rows_read=rows_read,
            values_parsed=len(frame),
            values_stored=0,
            duplicates=0,
            conflicts=0,
            report=report,
            imported_at=now,
            imported_by=actor,
        )
        with uow:
            new, duplicates, conflicts, examples = self._screen(uow, organization_id, frame)
            uow.market_imports.add(record)
            stored = uow.market_data.add_many(organization_id, record.id, new)
            # a concurrent import may have stored some of ``new`` first: those are duplicates
            duplicates += len(new) - stored
            uow.market_imports.set_counts(
                record.id, stored=stored, duplicates=duplicates, conflicts=conflicts
            )
            record = replace(
                record, values_stored=stored, duplicates=duplicates, conflicts=conflicts
            )
            series = _series_summary(frame) if len(frame) else []
            uow.record(
                AuditEvent(
                    action="market_data.import",
                    object_type="market_data_import",
                    object_id=record.id,
                    after={
                        "format": fmt,
                        "source": record.source,
                        "sha256": record.sha256,
                        "values_parsed": len(frame),
                        "values_stored": stored,
                        "duplicates": duplicates,
                        "conflicts": conflicts,
                        "series": [{k: s[k] for k in (*_KEY, "values")} for s in series[:20]],
                    },
                )
            )
            uow.commit()
        return ImportOutcome(record, series, examples)

    @staticmethod
    def _screen(
        uow: UnitOfWork, organization_id: str, frame: pd.DataFrame
    ) -> tuple[pd.DataFrame, int, int, list[dict[str, Any]]]:
        """Split ``frame`` into rows to store, a duplicate count, a conflict count and a few
        conflicting values as examples. A row is a duplicate when the newest stored vintage
        known at or before its ``known_at`` has the same value (re-importing, or a venue
        re-publishing an unchanged value, stores nothing new); a conflict when a vintage with
        the same ``known_at`` holds another value; otherwise it is stored (a new value or a
        revision)."""
        if frame.empty:
            return frame, 0, 0, []
        fresh: list[pd.DataFrame] = []
        duplicates = conflicts = 0
        examples: list[dict[str, Any]] = []
        frame = frame.astype({"start": "datetime64[ns, UTC]", "known_at": "datetime64[ns, UTC]"})
        for key, part in frame.groupby(_KEY, sort=True):
            skey = SeriesKey(*(str(k) for k in key))
            stored = uow.market_data.stored(
                organization_id,
                skey,
                part["start"].min().to_pydatetime(),
                part["start"].max().to_pydatetime(),
            )
            if stored.empty:
                fresh.append(part)
                continue
            # each row against the newest stored vintage known at or before it
            earlier = (
                stored[["start", "known_at", "value"]]
                .astype({"start": "datetime64[ns, UTC]", "known_at": "datetime64[ns, UTC]"})
                .rename(columns={"known_at": "known_stored", "value": "value_stored"})
            )
            merged = pd.merge_asof(
                part.sort_values("known_at", kind="stable"),
                earlier.sort_values("known_stored", kind="stable"),
                left_on="known_at",
                right_on="known_stored",
                by="start",
                direction="backward",
            )
            has_earlier = merged["known_stored"].notna().to_numpy()
            same = has_earlier & (
                np.abs(merged["value"].to_numpy() - merged["value_stored"].to_numpy()) <= _SAME
            )
            exact = has_earlier & (merged["known_stored"] == merged["known_at"]).to_numpy()
            differs = exact & ~same
            duplicates += int(same.sum())
            conflicts += int(differs.sum())
            fresh.append(merged.loc[~same & ~exact, list(part.columns)])
            room = _CONFLICT_EXAMPLES - len(examples)
            for row in merged[differs].head(max(room, 0)).itertuples():
                examples.append(
                    {
                        **dict(zip(_KEY, key, strict=True)),
                        "start": row.start.to_pydatetime(),
                        "known_at": row.known_at.to_pydatetime(),
                        "value": float(row.value),
                        "stored_value": float(row.value_stored),
                    }
                )
        new = pd.concat(fresh, ignore_index=True) if fresh else frame.iloc[0:0]
        return new, duplicates, conflicts, examples

    def catalog(
        self, uow: UnitOfWork, organization_id: str, market: str | None = None
    ) -> list[SeriesInfo]:
        with uow:
            return uow.market_data.catalog(organization_id, market)

    def imports(
        self, uow: UnitOfWork, organization_id: str, limit: int, offset: int
    ) -> list[MarketDataImport]:
        with uow:
            return uow.market_imports.page(organization_id, limit, offset)

    def series(
        self,
        uow: UnitOfWork,
        organization_id: str,
        key: SeriesKey,
        start: datetime,
        end: datetime,
        *,
        resolution_min: int | None = None,
        as_of: datetime | None = None,
    ) -> SeriesData:
        """Values of ``key`` for intervals starting in ``[start, end)`` [UTC], each the newest
        vintage known at ``as_of`` (default: now), optionally resampled to
        ``resolution_min`` (time-weighted mean; days in the market's time zone)."""
        if end <= start:
            raise ValidationFailed("end must be after start", field="end")
        if end - start > timedelta(days=MAX_QUERY_DAYS):
            raise ValidationFailed(f"the range may span at most {MAX_QUERY_DAYS} days", field="end")
        if resolution_min is not None and resolution_min not in RESOLUTIONS_MIN:
            raise ValidationFailed(
                f"resolution must be one of {list(RESOLUTIONS_MIN)} minutes", field="resolution"
            )
        as_of = as_of or self._clock.now()
        with uow:
            # an interval starting before ``start`` may overlap it (daily products last up to
            # 25 hours); resampling needs those
            stored = uow.market_data.stored(organization_id, key, start - timedelta(days=2), end)
        frame = latest_known(stored, as_of)
        ends = frame["start"] + pd.to_timedelta(frame["period_min"], unit="min")
        frame = frame[(ends > pd.Timestamp(start)) & (frame["start"] < pd.Timestamp(end))]
        unit = str(frame["unit"].iloc[0]) if len(frame) else None
        native = int(frame["period_min"].iloc[0]) if len(frame) else None
        if resolution_min is None:
            frame = frame[frame["start"] >= pd.Timestamp(start)]  # intervals starting in range
            points = pd.DataFrame(
                {
                    "start": frame["start"],
                    "end": frame["start"] + pd.to_timedelta(frame["period_min"], unit="min"),
                    "value": frame["value"],
                    "known_at": frame["known_at"],
                }
            ).reset_index(drop=True)
        else:
            market = load_presets().get(key.market)
            zone = market.time_zone if market is not None else "UTC"
            points = resample(frame, resolution_min, zone)
            points = points[
                (points["start"] >= pd.Timestamp(start)) & (points["start"] < pd.Timestamp(end))
            ].reset_index(drop=True)
        if len(points) > MAX_QUERY_POINTS:
            raise ValidationFailed(
                f"the query returns {len(points)} points, more than {MAX_QUERY_POINTS}; "
                "narrow the range or choose a coarser resolution",
                field="resolution",
            )
        return SeriesData(key, unit, native, resolution_min, as_of, points)


def venue_points_frame(
    points: Sequence[MarketDataPoint], *, area: str, currency: str, known_at: datetime
) -> pd.DataFrame:
    """Venue market data as a market data frame: series ``price`` [currency/MWh] and
    ``volume`` [MW], known at ``known_at`` (the fetch time: the venue had published them)."""
    rows: list[dict[str, Any]] = []
    for p in points:
        minutes = int((p.delivery_end - p.delivery_start).total_seconds() // 60)
        base = {
            "market": p.market,
            "area": area,
            "product": p.product,
            "start": p.delivery_start,
            "period_min": minutes,
            "known_at": known_at,
        }
        if p.price is not None:
            rows.append(
                {**base, "series": "price", "value": float(p.price), "unit": f"{currency}/MWh"}
            )
        rows.append({**base, "series": "volume", "value": float(p.volume_mw), "unit": "MW"})
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("start", "known_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def venue_imbalance_frame(
    results: Sequence[ImbalanceResult], *, area: str, currency: str, known_at: datetime
) -> pd.DataFrame:
    """Imbalance prices from a venue as a market data frame, product ``IMB`` on the settlement
    grid: series ``imbalance_short`` and ``imbalance_long`` [currency/MWh] (equal under single
    pricing), and ``system_imbalance`` [MW] when reported; known at ``known_at``."""
    rows: list[dict[str, Any]] = []
    for result in results:
        for p in result.periods:
            base = {
                "market": result.market,
                "area": area,
                "product": "IMB",
                "start": p.delivery_start,
                "period_min": int((p.delivery_end - p.delivery_start).total_seconds() // 60),
                "known_at": known_at,
            }
            price_unit = f"{currency}/MWh"
            rows.append(
                {
                    **base,
                    "series": "imbalance_short",
                    "value": float(p.short_price),
                    "unit": price_unit,
                }
            )
            rows.append(
                {
                    **base,
                    "series": "imbalance_long",
                    "value": float(p.long_price),
                    "unit": price_unit,
                }
            )
            if p.system_imbalance_mw is not None:
                rows.append(
                    {
                        **base,
                        "series": "system_imbalance",
                        "value": float(p.system_imbalance_mw),
                        "unit": "MW",
                    }
                )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("start", "known_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame
