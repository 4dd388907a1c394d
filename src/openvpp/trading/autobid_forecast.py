"""The fallback price forecast of automatic bidding (pure): seasonal naive from stored prices.

For each delivery interval the p50 is the price of the same **local** time 7 days before (the
weekly pattern), or 1 day before when that is missing. The p10/p90 are the p50 plus the 10th
and 90th percentiles of the weekly-naive errors (``price(t) - price(t - 7 local days)``) over
the last ``spread_days`` days of history, clipped so that p10 <= p50 <= p90. Fewer than
``MIN_ERRORS`` errors: no spread (p10 = p50 = p90), said in the report.

Prices [currency/MWh]; times [UTC].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

__all__ = ["MIN_ERRORS", "NaiveForecast", "same_local_time", "seasonal_naive"]

MIN_ERRORS = 24
LAGS_DAYS = (7, 1)


def same_local_time(ts: datetime, days: int, zone: ZoneInfo) -> datetime:
    """``ts`` moved ``days`` calendar days back at the same local wall time [UTC]."""
    local = ts.astimezone(zone)
    earlier = datetime.combine(local.date() - timedelta(days=days), local.timetz())
    return earlier.astimezone(UTC)


@dataclass(frozen=True)
class NaiveForecast:
    """(T, 3) p10/p50/p90 [currency/MWh] (NaN where no lag had a price), the lag used per
    interval (7, 1 or 0 for none) and the error percentiles added to the p50."""

    quantiles: NDArray[np.float64]
    lags_days: list[int]
    error_p10: float
    error_p90: float
    errors: int

    @property
    def missing(self) -> int:
        return int(np.isnan(self.quantiles[:, 1]).sum())

    def report(self) -> dict[str, Any]:
        return {
            "lags_days": self.lags_days,
            "error_p10": round(self.error_p10, 4),
            "error_p90": round(self.error_p90, 4),
            "errors": self.errors,
            "spread": "naive errors" if self.errors >= MIN_ERRORS else "none (too few errors)",
        }


def seasonal_naive(
    history: Mapping[datetime, float],
    starts: Sequence[datetime],
    time_zone: str,
    *,
    spread_days: int = 28,
) -> NaiveForecast:
    """The forecast of the intervals starting at ``starts`` from ``history`` (price per
    interval start [UTC], as known when the forecast is made)."""
    zone = ZoneInfo(time_zone)
    p50 = np.full(len(starts), np.nan)
    lags = [0] * len(starts)
    for i, start in enumerate(starts):
        for days in LAGS_DAYS:
            value = history.get(same_local_time(start, days, zone))
            if value is not None and np.isfinite(value):
                p50[i], lags[i] = value, days
                break
    first = min(starts) if starts else datetime.now(UTC)
    recent = [t for t in history if first - timedelta(days=spread_days) <= t < first]
    errors = np.array(
        [
            history[t] - lagged
            for t in recent
            if (lagged := history.get(same_local_time(t, 7, zone))) is not None
        ],
        dtype=np.float64,
    )
    errors = errors[np.isfinite(errors)]
    lo = hi = 0.0
    if len(errors) >= MIN_ERRORS:
        q10, q90 = np.quantile(errors, [0.1, 0.9])
        lo, hi = min(float(q10), 0.0), max(float(q90), 0.0)
    quantiles = np.stack([p50 + lo, p50, p50 + hi], axis=1)
    return NaiveForecast(quantiles, lags, lo, hi, len(errors))
