"""Stored market records: series keys, imports of market data, venue connections and their
health checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "ConnectionCheck",
    "ConnectionStatus",
    "MarketConnection",
    "MarketDataImport",
    "SeriesInfo",
    "SeriesKey",
]


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """What a market data value is: market, area (bidding zone or control area), product and
    series (``price``, ``capacity_price``, ``demand``, ...)."""

    market: str
    area: str
    product: str
    series: str


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    key: SeriesKey
    unit: str
    period_min: int
    values: int
    first_start: datetime
    last_start: datetime
    last_known_at: datetime


@dataclass(frozen=True, slots=True)
class MarketDataImport:
    """One import of a file or a sync from a connection, with its counts and parse report."""

    id: str
    organization_id: str
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

    def row(self) -> dict[str, Any]:
        return asdict(self)


class ConnectionStatus(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class MarketConnection:
    """A configured venue connection. ``credentials`` is the encrypted token; the clear values
    never leave the service that uses them."""

    id: str
    organization_id: str
    name: str
    kind: str
    base_url: str | None
    markets: list[str]
    options: dict[str, Any]
    credentials: str = field(repr=False)
    enabled: bool
    status: str
    status_changed_at: datetime | None
    last_checked_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    def row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    id: str
    connection_id: str
    checked_at: datetime
    status: str
    latency_ms: float | None
    error: str | None

    def row(self) -> dict[str, Any]:
        return asdict(self)
