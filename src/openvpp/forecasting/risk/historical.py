"""Historical simulation: each past day is one scenario of the prices a schedule will meet.

Arrays are day matrices: ``(n_days, n)`` with one row per past delivery day (oldest first) and
one column per delivery interval of the schedule, prices in [currency/MWh]; a schedule is
``volumes_mwh (n,)`` [MWh], positive = sale / injection. The P&L of scenario ``d`` is
``sum_t v_t * price[d, t]`` [currency].

Three ways to turn a past day into a price scenario for the schedule:

1. ``expected_prices=None``: the past day's prices themselves (the risk of the price level);
2. ``expected_prices`` and ``forecast_history``: today's expectation plus the past day's
   forecast error, ``expected_t + (price[d, t] - forecast[d, t])`` - the risk of deviating
   from the forecast, which is what a position bought on a forecast is exposed to;
3. ``expected_prices`` alone: today's expectation plus the past day's deviation from the
   sample's mean price of that interval (the spread of prices, re-centred on today).

Spike frequencies are counted over *previous* days only (leak-free for a decision about the
day they are reported for).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openvpp.forecasting.risk.measures import normalise_weights

__all__ = [
    "empirical_max_spike_probability",
    "empirical_spike_probability",
    "historical_pnl_scenarios",
    "historical_price_scenarios",
    "scenario_spike_probability",
]

FloatArray = NDArray[np.float64]


def _matrix(name: str, x: ArrayLike, n: int | None = None) -> FloatArray:
    m = np.asarray(x, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] == 0 or (n is not None and m.shape[1] != n):
        want = f"(n_days, {n})" if n is not None else "(n_days, n_intervals)"
        raise ValueError(f"{name} must have shape {want}, got {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} must be finite")
    return m


def _vector(name: str, x: ArrayLike, n: int | None = None) -> FloatArray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or (n is not None and v.size != n):
        raise ValueError(f"{name} must be a 1-D array of {n or 'some'} values, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite")
    return v


def historical_price_scenarios(
    price_history: ArrayLike,
    expected_prices: ArrayLike | None = None,
    *,
    forecast_history: ArrayLike | None = None,
) -> FloatArray:
    """Price scenarios ``(n_days, n)`` [currency/MWh], one per past day (module docstring)."""
    prices = _matrix("price_history", price_history)
    n = prices.shape[1]
    if expected_prices is None:
        if forecast_history is not None:
            raise ValueError("forecast_history needs expected_prices (today's forecast)")
        return prices
    expected = _vector("expected_prices", expected_prices, n)
    if forecast_history is None:
        return np.asarray(expected + (prices - prices.mean(axis=0)), dtype=np.float64)
    forecasts = _matrix("forecast_history", forecast_history, n)
    if forecasts.shape != prices.shape:
        raise ValueError(
            f"forecast_history {forecasts.shape} and price_history {prices.shape} differ"
        )
    return np.asarray(expected + (prices - forecasts), dtype=np.float64)


def historical_pnl_scenarios(
    volumes_mwh: ArrayLike,
    price_history: ArrayLike,
    expected_prices: ArrayLike | None = None,
    *,
    forecast_history: ArrayLike | None = None,
) -> FloatArray:
    """P&L ``(n_days,)`` [currency] of the schedule ``volumes_mwh (n,)`` [MWh] in each past
    day's scenario; weight them (e.g. ``decay_weights``) and pass them to ``var_cvar``."""
    scenarios = historical_price_scenarios(
        price_history, expected_prices, forecast_history=forecast_history
    )
    vol = _vector("volumes_mwh", volumes_mwh, scenarios.shape[1])
    return np.asarray(scenarios @ vol, dtype=np.float64)


def scenario_spike_probability(
    price_scenarios: ArrayLike, threshold: float, weights: ArrayLike | None = None
) -> tuple[FloatArray, float]:
    """Weighted share of scenarios above ``threshold`` [currency/MWh]: per interval ``(n,)``
    and for the maximum over the intervals (the probability that any interval spikes)."""
    prices = _matrix("price_scenarios", price_scenarios)
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    w = normalise_weights(weights, prices.shape[0])
    above = prices > threshold
    return np.asarray(w @ above, dtype=np.float64), float(w @ above.any(axis=1))


def _trailing_counts(flags: NDArray[np.bool_], window: int | None) -> tuple[FloatArray, FloatArray]:
    """Counts of true flags over the previous ``window`` days (all previous days when None),
    per day, and the number of those days; rows are days."""
    n = flags.shape[0]
    if window is not None and window < 1:
        raise ValueError(f"window must be at least 1 day, got {window}")
    cum = np.concatenate([np.zeros((1, *flags.shape[1:])), np.cumsum(flags, axis=0)])
    day = np.arange(n)
    start = np.zeros(n, dtype=np.int64) if window is None else np.maximum(day - window, 0)
    return cum[day] - cum[start], (day - start).astype(np.float64)


def empirical_spike_probability(
    price_history: ArrayLike,
    threshold: float,
    *,
    window: int | None = None,
    prior_days: float = 10.0,
) -> FloatArray:
    """Leak-free probability that each interval of each day is priced above ``threshold``.

    For day ``d`` and interval ``t`` (e.g. the hour of day): the share of the previous
    ``window`` days (all previous days when ``None``; a window of about 90 days follows the
    season) on which interval ``t`` exceeded the threshold, smoothed towards the share over
    all intervals of those days with the weight of ``prior_days`` days::

        p[d, t] = (k[d, t] + prior_days * pooled[d]) / (n[d] + prior_days)

    Returns ``(n_days, n_intervals)`` [0..1]; the first day (no history) is NaN.
    """
    prices = _matrix("price_history", price_history)
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    if not prior_days >= 0:
        raise ValueError(f"prior_days must be non-negative, got {prior_days!r}")
    counts, days = _trailing_counts(prices > threshold, window)
    pooled = np.divide(counts.mean(axis=1), days, out=np.full(days.size, np.nan), where=days > 0)
    denom = days + prior_days
    p = (counts + prior_days * pooled[:, None]) / np.where(denom > 0, denom, 1)[:, None]
    p[days == 0] = np.nan
    return np.asarray(p, dtype=np.float64)


def empirical_max_spike_probability(
    price_history: ArrayLike, threshold: float, *, window: int | None = None
) -> FloatArray:
    """Leak-free probability that a day's highest price exceeds ``threshold``: the share of
    the previous ``window`` days whose maximum did, with half a day of prior on each side
    (``(k + 0.5) / (n + 1)``, never exactly 0 or 1). ``(n_days,)`` [0..1]; day 0 is NaN."""
    prices = _matrix("price_history", price_history)
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    counts, days = _trailing_counts(prices.max(axis=1) > threshold, window)
    p = (counts + 0.5) / (days + 1)
    p[days == 0] = np.nan
    return np.asarray(p, dtype=np.float64)
