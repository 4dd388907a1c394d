"""Quantile forecasts of day-ahead prices from recent out-of-sample errors (split conformal).

For delivery day D and hour h, the quantile ``q`` of the price is the point forecast plus the
empirical ``q``-quantile of the out-of-sample errors ``actual - forecast`` of the last
``window`` days before D, at hours h-1, h and h+1 (pooled for more samples; clipped at the
ends of the day). Only errors of days before D are used, so the quantiles are leak-free as
long as the point forecasts are. The errors adapt to the market's current volatility; no
distribution is assumed. The median level keeps the point forecast (so ``p50`` has the
point forecast's MAE); the lower levels are never above it, the upper never below.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["DEFAULT_LEVELS", "error_quantiles", "quantile_forecasts"]

FloatArray = NDArray[np.float64]
DEFAULT_LEVELS: tuple[float, ...] = (0.1, 0.5, 0.9)


def error_quantiles(errors: FloatArray, levels: Sequence[float]) -> FloatArray:
    """Quantiles of past errors per hour, ``(24, len(levels))`` [currency/MWh].

    errors : ``(n_days, 24)`` out-of-sample errors ``actual - forecast``; ``n_days >= 1``.
    The median level is 0 (the point forecast is kept as the median), levels below it are
    at most 0 and levels above it at least 0.
    """
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] < 1:
        raise ValueError(f"errors must be (n_days >= 1, hours), got shape {e.shape}")
    hours = e.shape[1]
    # Hour h pools hours h-1, h, h+1 (clipped): (n_days * 3, hours) samples per hour.
    idx = np.clip(np.arange(hours)[None, :] + np.array([-1, 0, 1])[:, None], 0, hours - 1)
    pooled = e[:, idx].reshape(-1, hours)
    q = np.asarray(levels, dtype=np.float64)
    out = np.quantile(pooled, q, axis=0).T
    # Keep the point forecast as the median and the band around it (monotone quantiles even
    # when the recent errors are all of one sign).
    out[:, q < 0.5] = np.minimum(out[:, q < 0.5], 0.0)
    out[:, q == 0.5] = 0.0
    out[:, q > 0.5] = np.maximum(out[:, q > 0.5], 0.0)
    return np.asarray(out, dtype=np.float64)


def quantile_forecasts(
    forecasts: FloatArray,
    actual: FloatArray,
    warmup: int,
    window: int = 56,
    levels: Sequence[float] = DEFAULT_LEVELS,
) -> FloatArray:
    """Quantile forecasts of the days after ``warmup``, ``(n - warmup, 24, len(levels))``.

    forecasts : ``(n, 24)`` point forecasts of consecutive days [currency/MWh].
    actual : ``(n, 24)`` real prices; the row of day i is only read for the days after i.
    warmup : leading days whose errors seed the first quantiles (>= 1); they get no quantiles.
    window : number of past days whose errors set each day's quantiles [days].

    Non-decreasing across levels when ``levels`` is sorted.
    """
    f = np.asarray(forecasts, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if f.shape != a.shape or f.ndim != 2:
        raise ValueError(f"forecasts {f.shape} and actual {a.shape} must be equal (n, hours)")
    if not 1 <= warmup < f.shape[0]:
        raise ValueError(f"warmup must be in [1, {f.shape[0] - 1}], got {warmup}")
    if window < 1:
        raise ValueError(f"window must be >= 1 day, got {window}")
    errors = a - f
    out = np.empty((f.shape[0] - warmup, f.shape[1], len(levels)))
    for i, d in enumerate(range(warmup, f.shape[0])):
        # Leak guard: only errors of days strictly before d.
        past = errors[max(0, d - window) : d]
        out[i] = f[d][:, None] + error_quantiles(past, levels)
    return out
