"""Validation of risk figures: VaR backtests (Kupiec) and Brier scores of spike forecasts.

Kupiec's proportion-of-failures test (Kupiec 1995): over ``n`` days a VaR at level ``alpha``
should be exceeded ``x ~ Binomial(n, p)`` times, ``p = 1 - alpha``. The likelihood ratio of
the observed rate ``x / n`` against ``p``::

    LR = -2 * [(n - x) ln(1 - p) + x ln p - (n - x) ln(1 - x / n) - x ln(x / n)]

is asymptotically chi-square with one degree of freedom (``0 ln 0 = 0``); a small p-value
(e.g. < 0.05) rejects the VaR as mis-calibrated (too many or too few exceedances).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openvpp.forecasting.risk.historical import historical_pnl_scenarios
from openvpp.forecasting.risk.measures import decay_weights, var_cvar

__all__ = [
    "KupiecResult",
    "RollingVar",
    "brier_score",
    "brier_skill_score",
    "kupiec_test",
    "rolling_historical_var",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class KupiecResult:
    """Kupiec test: ``n`` days, ``exceedances`` observed, ``expected = n * (1 - alpha)``,
    observed ``rate`` [-], likelihood ratio ``lr`` [-] and its chi-square(1) ``p_value``."""

    n: int
    exceedances: int
    expected: float
    rate: float
    lr: float
    p_value: float


def _xlogy(x: float, y: float) -> float:
    return 0.0 if x == 0 else x * math.log(y)


def kupiec_test(exceeded: ArrayLike, alpha: float) -> KupiecResult:
    """Kupiec proportion-of-failures test of boolean ``exceeded (n,)`` (loss > VaR per day)
    for a VaR at confidence ``alpha``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    flags = np.asarray(exceeded)
    if flags.ndim != 1 or flags.size == 0 or flags.dtype != np.bool_:
        raise ValueError("exceeded must be a non-empty 1-D boolean array")
    n, x = int(flags.size), int(flags.sum())
    p, rate = 1 - alpha, x / n
    null = _xlogy(n - x, 1 - p) + _xlogy(x, p)
    fitted = _xlogy(n - x, 1 - rate) + _xlogy(x, rate)
    lr = max(-2 * (null - fitted), 0.0)
    # survival function of chi-square with one degree of freedom
    return KupiecResult(n, x, n * p, rate, lr, math.erfc(math.sqrt(lr / 2)))


@dataclass(frozen=True, slots=True)
class RollingVar:
    """One-day risk of a schedule over test days: ``var`` and ``cvar`` ``(n_test, n_alpha)``
    [currency] for ``alphas``; the realised ``loss`` ``(n_test,)`` [currency] measured from
    the same reference (the scenarios' weighted mean P&L); ``days`` the row indices of the
    test days in the input matrices."""

    alphas: tuple[float, ...]
    var: FloatArray
    cvar: FloatArray
    loss: FloatArray
    days: NDArray[np.int64]

    def kupiec(self) -> list[KupiecResult]:
        """Kupiec test per level (exceedance: realised loss above VaR)."""
        return [kupiec_test(self.loss > self.var[:, i], a) for i, a in enumerate(self.alphas)]


def rolling_historical_var(
    volumes_mwh: ArrayLike,
    prices: ArrayLike,
    forecasts: ArrayLike | None = None,
    *,
    window: int = 365,
    alphas: tuple[float, ...] = (0.95, 0.99),
    half_life_days: float | None = None,
    first_day: int | None = None,
) -> RollingVar:
    """Backtest historical-simulation VaR: day ``D``'s VaR from the ``window`` days before it.

    volumes_mwh : ``(n,)`` the daily schedule [MWh], the same every day.
    prices : ``(n_days, n)`` realised prices [currency/MWh].
    forecasts : ``(n_days, n)`` the price forecast known before each day [currency/MWh]; the
        scenarios are then ``forecast[D] + (price[d] - forecast[d])`` for the window days
        ``d``. Without it the scenarios are the past prices themselves.
    first_day : the first test day (default: ``window``, the first with a full window).
    """
    p = np.asarray(prices, dtype=np.float64)
    f = None if forecasts is None else np.asarray(forecasts, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"prices must be (n_days, n_intervals), got shape {p.shape}")
    if f is not None and f.shape != p.shape:
        raise ValueError(f"forecasts {f.shape} and prices {p.shape} must have the same shape")
    if window < 2:
        raise ValueError(f"window must be at least 2 days, got {window}")
    start = window if first_day is None else first_day
    if not window <= start < p.shape[0]:
        raise ValueError(f"first_day must be in [{window}, {p.shape[0]}), got {start}")
    vol = np.asarray(volumes_mwh, dtype=np.float64)
    days = np.arange(start, p.shape[0], dtype=np.int64)
    weights = decay_weights(window, half_life_days)
    var = np.empty((days.size, len(alphas)))
    cvar = np.empty_like(var)
    loss = np.empty(days.size)
    for i, d in enumerate(days):  # one vectorized historical simulation per test day
        past = slice(d - window, d)
        if f is None:
            pnl = historical_pnl_scenarios(vol, p[past])
        else:
            pnl = historical_pnl_scenarios(vol, p[past], f[d], forecast_history=f[past])
        reference = float(weights @ pnl)
        loss[i] = reference - float(vol @ p[d])
        for j, a in enumerate(alphas):
            var[i, j], cvar[i, j] = var_cvar(pnl, a, weights=weights, expected=reference)
    return RollingVar(tuple(alphas), var, cvar, loss, days)


def brier_score(probability: ArrayLike, outcome: ArrayLike) -> float:
    """Mean squared difference between forecast probabilities [0..1] and 0/1 outcomes."""
    prob = np.asarray(probability, dtype=np.float64)
    obs = np.asarray(outcome, dtype=np.float64)
    if prob.shape != obs.shape or prob.size == 0:
        raise ValueError(f"probability {prob.shape} and outcome {obs.shape} must match")
    if not (np.all((prob >= 0) & (prob <= 1)) and np.all((obs == 0) | (obs == 1))):
        raise ValueError("probabilities must be in [0, 1] and outcomes 0 or 1")
    return float(np.mean((prob - obs) ** 2))


def brier_skill_score(probability: ArrayLike, outcome: ArrayLike, reference: ArrayLike) -> float:
    """``1 - BS(probability) / BS(reference)`` [-]: above 0 beats the reference forecast
    (e.g. climatology, the constant base rate of the training period)."""
    ref = np.broadcast_to(np.asarray(reference, dtype=np.float64), np.shape(outcome))
    base = brier_score(ref, outcome)
    if base == 0:
        raise ValueError("the reference forecast is perfect: the skill score is undefined")
    return 1 - brier_score(probability, outcome) / base
