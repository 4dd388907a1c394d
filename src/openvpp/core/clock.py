"""Time source. Code asks a :class:`Clock` for "now" so that tests and backtests control time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, tz-aware [UTC]."""
        ...


class SystemClock:
    """Wall-clock time in UTC, truncated to microseconds (what every database stores)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` converted to UTC; refuse naive datetimes (their meaning is unknown)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a UTC offset")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC equivalent
        raise ValueError("timestamp is out of range") from None
