"""Schemas of market rules and calendars, market data and venue connections."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field, field_validator, model_validator

from openvpp.api.schemas.common import In, Out, UTCDatetime
from openvpp.markets.calendar import DeliveryInterval
from openvpp.markets.connections import KindInfo
from openvpp.markets.data_service import ImportOutcome, SeriesData
from openvpp.markets.model import Market
from openvpp.markets.records import (
    ConnectionCheck,
    MarketConnection,
    MarketDataImport,
    SeriesInfo,
)

CODE = r"^[A-Z0-9][A-Z0-9_-]{0,31}$"
"""Market, area and product codes (as the parsers and the presets write them)."""
SERIES = r"^[a-z][a-z0-9_]{0,63}$"
"""Series names (``price``, ``capacity_price``, ``imbalance_short``, ...)."""
NAME = r"^[^\x00-\x1f]{1,100}$"


class MarketSummaryOut(Out):
    code: str
    name: str
    venue: str
    time_zone: str
    currency: str
    pricing: str
    products: list[str]

    @classmethod
    def of(cls, m: Market) -> MarketSummaryOut:
        return cls(
            code=m.code,
            name=m.name,
            venue=m.venue.value,
            time_zone=m.time_zone,
            currency=m.currency,
            pricing=m.pricing.value,
            products=[p.code for p in m.products],
        )


class IntervalOut(Out):
    start: datetime = Field(description="[UTC]")
    end: datetime = Field(description="[UTC]")
    start_local: datetime = Field(description="in the market's time zone, with its offset")
    minutes: int
    gate_opening: datetime | None = Field(description="[UTC]; null: no opening rule")
    gate_closure: datetime = Field(description="[UTC]")

    @classmethod
    def of(cls, i: DeliveryInterval, opening: datetime | None, closure: datetime) -> IntervalOut:
        return cls(
            start=i.start_utc,
            end=i.end_utc,
            start_local=i.start_local,
            minutes=i.minutes,
            gate_opening=opening,
            gate_closure=closure,
        )


class CalendarOut(Out):
    market: str
    product: str
    day: date
    time_zone: str
    intervals: list[IntervalOut] = Field(description="92, 96 or 100 quarter-hours on DST days")


class GateOut(Out):
    market: str
    product: str
    at: datetime = Field(description="the instant asked about [UTC]")
    next_gate_closure: datetime = Field(description="[UTC]")
    first_interval_start: datetime = Field(description="first interval it closes [UTC]")
    open_for_first_interval: bool


class MarketPointOut(Out):
    start: datetime
    end: datetime
    value: float
    known_at: datetime = Field(description="when the value became known [UTC]")
    coverage: float | None = Field(
        default=None, description="share of the bucket with data (resampled queries)"
    )


class MarketDataOut(Out):
    market: str
    area: str
    product: str
    series: str
    unit: str | None
    period_min: int | None = Field(description="native interval length of the stored values")
    resolution_min: int | None
    as_of: datetime | None = Field(description="values known at or before this instant [UTC]")
    points: list[MarketPointOut]

    @classmethod
    def of(cls, d: SeriesData) -> MarketDataOut:
        p = d.points
        has_coverage = "coverage" in p.columns
        points = [
            MarketPointOut(
                start=s.to_pydatetime(),
                end=e.to_pydatetime(),
                value=round(float(v), 6),
                known_at=k.to_pydatetime(),
                coverage=round(float(c), 6) if has_coverage else None,
            )
            for s, e, v, k, c in zip(
                p["start"],
                p["end"],
                p["value"],
                p["known_at"],
                p["coverage"] if has_coverage else [None] * len(p),
                strict=True,
            )
        ]
        return cls(
            market=d.key.market,
            area=d.key.area,
            product=d.key.product,
            series=d.key.series,
            unit=d.unit,
            period_min=d.period_min,
            resolution_min=d.resolution_min,
            as_of=d.as_of,
            points=points,
        )


class SeriesInfoOut(Out):
    market: str
    area: str
    product: str
    series: str
    unit: str
    period_min: int
    values: int
    first_start: datetime
    last_start: datetime
    last_known_at: datetime

    @classmethod
    def of(cls, s: SeriesInfo) -> SeriesInfoOut:
        return cls(
            market=s.key.market,
            area=s.key.area,
            product=s.key.product,
            series=s.key.series,
            unit=s.unit,
            period_min=s.period_min,
            values=s.values,
            first_start=s.first_start,
            last_start=s.last_start,
            last_known_at=s.last_known_at,
        )


class ImportOut(Out):
    id: str
    format: str
    source: str
    sha256: str
    rows_read: int
    values_parsed: int
    values_stored: int
    duplicates: int
    conflicts: int
    report: dict[str, Any]
    imported_at: datetime
    imported_by: str | None
    series: list[dict[str, Any]] = Field(default_factory=list)
    conflict_examples: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def of(cls, r: MarketDataImport) -> ImportOut:
        return cls.model_validate(r)

    @classmethod
    def of_outcome(cls, o: ImportOutcome) -> ImportOut:
        return cls(
            **cls.of(o.record).model_dump(exclude={"series", "conflict_examples"}),
            series=o.series,
            conflict_examples=o.conflict_examples,
        )


class SyncIn(In):
    connection_id: str = Field(min_length=1, max_length=36)
    market: str = Field(pattern=CODE)
    product: str = Field(pattern=CODE)
    area: str = Field(default="ALL", pattern=CODE, description="area the values are stored under")
    start: UTCDatetime = Field(description="first delivery interval start [UTC]")
    end: UTCDatetime = Field(description="end of the range (exclusive) [UTC], at most 31 days")


class ConnectionIn(In):
    name: str = Field(pattern=NAME)
    kind: str = Field(min_length=1, max_length=40)
    base_url: str | None = Field(default=None, max_length=500)
    markets: list[str] = Field(min_length=1, max_length=50)
    credentials: dict[str, str] = Field(
        default_factory=dict,
        max_length=20,
        description="secret values (e.g. api_key); encrypted at rest, never returned",
    )
    options: dict[str, Any] = Field(default_factory=dict, max_length=50)
    enabled: bool = True

    @field_validator("markets")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        for code in value:
            if len(code) > 32:
                raise ValueError(f"market code {code[:40]!r} is longer than 32 characters")
        return value


class ConnectionUpdateIn(In):
    """Fields to change; ``base_url: null`` removes the URL, ``null`` is refused elsewhere."""

    name: str | None = Field(default=None, pattern=NAME)
    base_url: str | None = Field(default=None, max_length=500)
    markets: list[str] | None = Field(default=None, min_length=1, max_length=50)
    credentials: dict[str, str] | None = Field(default=None, max_length=20)
    options: dict[str, Any] | None = Field(default=None, max_length=50)
    enabled: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("name", "markets", "credentials", "options", "enabled"):
                if key in data and data[key] is None:
                    raise ValueError(f"{key} may not be null; leave it out to keep it")
        return data


class ConnectionOut(Out):
    id: str
    name: str
    kind: str
    base_url: str | None
    markets: list[str]
    options: dict[str, Any]
    credential_keys: list[str] = Field(description="names of the stored secrets (never values)")
    enabled: bool
    status: str
    status_changed_at: datetime | None
    last_checked_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: MarketConnection, credential_keys: list[str]) -> ConnectionOut:
        return cls(
            id=c.id,
            name=c.name,
            kind=c.kind,
            base_url=c.base_url,
            markets=c.markets,
            options=c.options,
            credential_keys=credential_keys,
            enabled=c.enabled,
            status=c.status,
            status_changed_at=c.status_changed_at,
            last_checked_at=c.last_checked_at,
            last_error=c.last_error,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


class ConnectionCheckOut(Out):
    checked_at: datetime
    status: str
    latency_ms: float | None
    error: str | None

    @classmethod
    def of(cls, c: ConnectionCheck) -> ConnectionCheckOut:
        return cls.model_validate(c)


class KindOut(Out):
    name: str
    needs_url: bool
    required_credentials: list[str]
    description: str

    @classmethod
    def of(cls, k: KindInfo) -> KindOut:
        return cls(
            name=k.name,
            needs_url=k.needs_url,
            required_credentials=list(k.required_credentials),
            description=k.description,
        )


class ConditionOut(Out):
    day: date = Field(description="delivery day in the market's time zone")
    spread: float = Field(description="highest minus lowest price of the day [currency/MWh]")
    mean: float = Field(description="mean price of the day [currency/MWh]")
    volatility: float = Field(
        description="std of hour-to-hour price changes over the trailing 7 days [currency/MWh]"
    )
    regime: str = Field(description="low / normal / high volatility against the last 90 days")
    scarcity: float = Field(
        description="share of hours above the 95th percentile of the last 90 days [0..1]"
    )
    negative: float = Field(description="share of hours with a negative price [0..1]")
