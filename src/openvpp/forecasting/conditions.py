"""Market-condition analysis: indicators a trading decision looks at before bidding.

Pure pandas/numpy over a day-ahead price matrix ``(n_days, n_intervals)`` [currency/MWh]
indexed by delivery day. Every indicator of day D uses prices of days up to and including D
only, and the regime thresholds come from the ``lookback`` days *before* D, so a value is
known once D's prices are (leak-free for a decision about D+1).

Per day:

- ``spread``: highest minus lowest price of the day [currency/MWh] (what a storage cycle can
  earn at most, before losses);
- ``mean``: mean price of the day [currency/MWh];
- ``volatility``: standard deviation of interval-to-interval price changes over the trailing
  ``window`` days [currency/MWh];
- ``regime``: ``low``, ``normal`` or ``high`` volatility: ``volatility`` against the 20th and
  80th percentiles of the same indicator over the previous ``lookback`` days (``normal``
  until ``min_history`` days of history exist);
- ``scarcity``: share of the day's intervals priced above the 95th percentile of the previous
  ``lookback`` days' prices [0..1] (0 until ``min_history`` days exist), a sign of tight supply;
- ``negative``: share of the day's intervals with a negative price [0..1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = ["ConditionParams", "market_conditions"]


@dataclass(frozen=True, slots=True)
class ConditionParams:
    """``window`` [days] of the volatility, ``lookback`` [days] of the regime thresholds and
    the scarcity level, ``min_history`` [days] before regimes and scarcity are judged."""

    window: int = 7
    lookback: int = 90
    min_history: int = 28
    low_quantile: float = 0.2
    high_quantile: float = 0.8
    scarcity_quantile: float = 0.95

    def __post_init__(self) -> None:
        if not 1 <= self.window <= self.lookback:
            raise ValueError("window must be between 1 and lookback days")
        if not 1 <= self.min_history <= self.lookback:
            raise ValueError("min_history must be between 1 and lookback days")
        if not 0 < self.low_quantile < self.high_quantile < 1:
            raise ValueError("quantiles must satisfy 0 < low < high < 1")
        if not 0 < self.scarcity_quantile < 1:
            raise ValueError("scarcity_quantile must be between 0 and 1")


def market_conditions(
    prices: ArrayLike, days: ArrayLike, params: ConditionParams | None = None
) -> pd.DataFrame:
    """Indicators per delivery day (see the module docstring), indexed by ``days``.

    prices : ``(n_days, n_intervals)`` day-ahead prices [currency/MWh], finite.
    days : the ``n_days`` delivery dates, ascending.
    """
    p = params or ConditionParams()
    matrix = np.asarray(prices, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] < 2:
        raise ValueError(f"prices must be (n_days, n_intervals >= 2), got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("prices must be finite")
    index = pd.DatetimeIndex(pd.to_datetime(np.asarray(days)))
    if len(index) != matrix.shape[0]:
        raise ValueError(f"{len(index)} days for {matrix.shape[0]} rows of prices")
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise ValueError("days must be ascending and distinct")

    daily = pd.DataFrame(index=index)
    daily["spread"] = matrix.max(axis=1) - matrix.min(axis=1)
    daily["mean"] = matrix.mean(axis=1)
    daily["negative"] = (matrix < 0).mean(axis=1)
    # interval-to-interval changes (the first interval of a day follows the previous day's
    # last), their standard deviation over the trailing window, read at each day's end
    k = matrix.shape[1]
    changes = pd.Series(matrix.ravel()).diff()
    rolling = changes.rolling(p.window * k, min_periods=2).std().to_numpy()
    daily["volatility"] = np.nan_to_num(rolling[k - 1 :: k], nan=0.0)

    # thresholds from the previous ``lookback`` days only (shifted by one day)
    history = daily["volatility"].shift(1).rolling(p.lookback, min_periods=p.min_history)
    low = history.quantile(p.low_quantile)
    high = history.quantile(p.high_quantile)
    regime = np.where(
        daily["volatility"] > high, "high", np.where(daily["volatility"] < low, "low", "normal")
    )
    daily["regime"] = np.where(low.isna(), "normal", regime)

    level = _trailing_quantile(matrix, p.lookback, p.min_history, p.scarcity_quantile)
    above = matrix > level[:, None]
    daily["scarcity"] = np.where(np.isnan(level), 0.0, above.mean(axis=1))
    return daily[["spread", "mean", "volatility", "regime", "scarcity", "negative"]]


def _trailing_quantile(matrix: np.ndarray, lookback: int, min_history: int, q: float) -> np.ndarray:
    """The ``q`` quantile of all prices of the previous ``lookback`` days, per day (NaN until
    ``min_history`` days of history exist)."""
    n = matrix.shape[0]
    out = np.full(n, np.nan)
    for d in range(min_history, n):  # a loop over days, each a vectorized quantile
        out[d] = np.quantile(matrix[max(0, d - lookback) : d], q)
    return out
