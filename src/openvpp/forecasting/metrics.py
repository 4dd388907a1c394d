"""Forecast accuracy metrics, as the electricity price forecasting literature defines them
(the epftoolbox benchmark: Lago, Marcjasz, De Schutter, Weron, 2021).

Pure numpy on arrays of equal shape; prices in [currency/MWh], errors in the same unit, sMAPE
and MAPE in [%]. ``day_ahead`` arrays are ``(n_days, 24)`` (one row per delivery day); any
other shape is flattened where the metric does not need days.

rMAE divides the forecast's MAE (over all given days) by the MAE of a naive forecast built
from the real prices themselves, over the days the naive can be built for (from the 8th day):

- ``weekly``: the price of the same hour a week earlier;
- ``standard``: the EPF standard naive - Monday, Saturday and Sunday take the same hour a week
  earlier, Tuesday to Friday the day before.

Quantile forecasts: ``pinball`` is the pinball (quantile) loss averaged over the levels, in the
unit of the values; ``coverage`` the share of actual values inside a band [-].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Naive",
    "coverage",
    "mae",
    "mape",
    "naive_forecast",
    "pinball",
    "rmae",
    "rmse",
    "smape",
    "summary",
]

FloatArray = NDArray[np.float64]
Naive = Literal["weekly", "standard"]


def _pair(actual: ArrayLike, forecast: ArrayLike) -> tuple[FloatArray, FloatArray]:
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    if a.shape != f.shape:
        raise ValueError(f"actual {a.shape} and forecast {f.shape} must have the same shape")
    if a.size == 0:
        raise ValueError("no values to compare")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(f))):
        raise ValueError("actual and forecast must be finite")
    return a, f


def mae(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Mean absolute error [unit of the values]."""
    a, f = _pair(actual, forecast)
    return float(np.mean(np.abs(a - f)))


def rmse(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Root mean squared error [unit of the values]."""
    a, f = _pair(actual, forecast)
    return float(np.sqrt(np.mean((a - f) ** 2)))


def smape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Symmetric mean absolute percentage error [%]: mean of ``|a - f| / ((|a| + |f|) / 2)``;
    a pair of zeros counts as no error."""
    a, f = _pair(actual, forecast)
    scale = (np.abs(a) + np.abs(f)) / 2
    ratio = np.divide(np.abs(a - f), scale, out=np.zeros_like(a), where=scale > 0)
    return float(100 * np.mean(ratio))


def mape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Mean absolute percentage error [%] over the values whose actual is not zero."""
    a, f = _pair(actual, forecast)
    nonzero = a != 0
    if not nonzero.any():
        raise ValueError("MAPE needs at least one non-zero actual value")
    return float(100 * np.mean(np.abs(a[nonzero] - f[nonzero]) / np.abs(a[nonzero])))


def pinball(actual: ArrayLike, quantiles: ArrayLike, levels: Sequence[float]) -> float:
    """Pinball loss averaged over values and quantile levels [unit of the values].

    actual : values of any shape ``S``.
    quantiles : forecasts of shape ``S + (len(levels),)``, one per level.
    levels : quantile levels in (0, 1), e.g. ``(0.1, 0.5, 0.9)``.

    For level ``q`` and error ``u = a - f`` the loss is ``q u`` if ``u >= 0`` else
    ``(q - 1) u``; at ``q = 0.5`` it is half the absolute error.
    """
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(quantiles, dtype=np.float64)
    q = np.asarray(levels, dtype=np.float64)
    if q.ndim != 1 or q.size == 0 or np.any((q <= 0) | (q >= 1)):
        raise ValueError(f"levels must be a non-empty sequence in (0, 1), got {levels!r}")
    if f.shape != (*a.shape, q.size):
        raise ValueError(f"quantiles {f.shape} must have shape {(*a.shape, q.size)}")
    a, _ = _pair(a, f[..., 0])
    if not np.all(np.isfinite(f)):
        raise ValueError("actual and forecast must be finite")
    u = a[..., None] - f
    return float(np.mean(np.maximum(q * u, (q - 1.0) * u)))


def coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of actual values with ``lower <= actual <= upper`` [-]."""
    a, lo = _pair(actual, lower)
    _, hi = _pair(actual, upper)
    return float(np.mean((lo <= a) & (a <= hi)))


def quantile_scores(actual: ArrayLike, quantiles: ArrayLike) -> dict[str, float]:
    """Scores of a p10/p50/p90 forecast ``(n, 3)`` [unit of the values]: ``mae`` and ``rmse``
    of the median, mean ``pinball`` loss over the three levels, and ``coverage_80``, the share
    of actual values within ``[p10, p90]`` (ideal 0.8)."""
    a = np.asarray(actual, dtype=np.float64)
    q = np.asarray(quantiles, dtype=np.float64)
    if q.ndim != 2 or q.shape != (a.size, 3):
        raise ValueError(f"quantiles {q.shape} must have shape ({a.size}, 3)")
    return {
        "mae": mae(a, q[:, 1]),
        "rmse": rmse(a, q[:, 1]),
        "pinball": pinball(a, q, (0.1, 0.5, 0.9)),
        "coverage_80": coverage(a, q[:, 0], q[:, 2]),
    }


def naive_forecast(
    prices: ArrayLike, days: ArrayLike, kind: Naive = "weekly"
) -> tuple[FloatArray, NDArray[np.int64]]:
    """The naive forecast of each day that has one, from the prices themselves.

    prices : ``(n_days, 24)`` real prices [currency/MWh].
    days : the ``n_days`` delivery dates (consecutive days).
    Returns the naive prices ``(n, 24)`` and the indices of the days they forecast (from the
    8th day on).
    """
    p = np.asarray(prices, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"prices must be (n_days, hours), got shape {p.shape}")
    dates = pd.DatetimeIndex(pd.to_datetime(np.asarray(days)))
    if len(dates) != p.shape[0]:
        raise ValueError(f"{len(dates)} days for {p.shape[0]} rows of prices")
    steps = dates.normalize()[1:] - dates.normalize()[:-1]
    if len(dates) > 1 and not bool((steps == pd.Timedelta(days=1)).all()):
        raise ValueError("days must be consecutive")
    target = np.arange(7, p.shape[0])
    if kind == "weekly":
        lag = np.full(target.size, 7)
    elif kind == "standard":
        weekday = dates.day_of_week.to_numpy()[target]
        lag = np.where(np.isin(weekday, (0, 5, 6)), 7, 1)
    else:
        raise ValueError(f"naive kind must be 'weekly' or 'standard', got {kind!r}")
    return p[target - lag], target.astype(np.int64)


def rmae(actual: ArrayLike, forecast: ArrayLike, days: ArrayLike, kind: Naive = "weekly") -> float:
    """Relative MAE [-]: the forecast's MAE over all days divided by the naive forecast's MAE
    over the days it exists for (from the 8th). Below 1 beats the naive."""
    a, f = _pair(actual, forecast)
    naive, target = naive_forecast(a, days, kind)
    if target.size == 0:
        raise ValueError("rMAE needs more than 7 days")
    scale = float(np.mean(np.abs(a[target] - naive)))
    if scale == 0:
        raise ValueError("the naive forecast is perfect: rMAE is undefined")
    return mae(a, f) / scale


def summary(actual: ArrayLike, forecast: ArrayLike, days: ArrayLike) -> dict[str, float]:
    """MAE, rMAE (weekly and standard naive), sMAPE, RMSE and MAPE of day-ahead forecasts
    ``(n_days, 24)``."""
    a, f = _pair(actual, forecast)
    return {
        "mae": mae(a, f),
        "rmae_weekly": rmae(a, f, days, "weekly"),
        "rmae_standard": rmae(a, f, days, "standard"),
        "smape": smape(a, f),
        "rmse": rmse(a, f),
        "mape": mape(a, f),
    }
