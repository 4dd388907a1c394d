"""Seasonal-naive forecaster with empirical quantiles: the baseline every model must beat.

The point forecast of time ``t`` is the newest known value at the same position in the season
(``t - k * season`` for the smallest ``k`` whose value is known at the issue time): with a
one-day season that is "same time yesterday", the persistence baseline of load and renewable
forecasting; with a one-week season, the weekly naive of price forecasting. The quantiles add
the empirical quantiles of the one-season-ahead errors ``y[t] - y[t - season]`` seen in the
training history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from openvpp.forecasting.protocol import (
    QUANTILES,
    TARGET,
    ModelKind,
    check_history,
    quantile_frame,
)

__all__ = ["SeasonalNaiveForecaster", "infer_step"]


def infer_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The most common spacing of ``index`` (the series' step)."""
    if len(index) < 2:
        raise ValueError("history needs at least two times to tell its step")
    diffs = pd.Series(index[1:] - index[:-1])
    return pd.Timedelta(diffs.mode().iloc[0])


@dataclass(slots=True)
class SeasonalNaiveForecaster:
    """Seasonal naive with empirical quantiles (see the module docstring).

    kind : what the series is (any :class:`ModelKind`; the method does not care).
    season_hours : season length [h], e.g. 24 (daily) or 168 (weekly).
    """

    kind: ModelKind = ModelKind.LOAD
    season_hours: int = 24
    step: pd.Timedelta | None = None
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(len(QUANTILES)))

    def __post_init__(self) -> None:
        if not 1 <= self.season_hours <= 24 * 366:
            raise ValueError(f"season_hours must be 1..8784, got {self.season_hours}")

    @property
    def season(self) -> pd.Timedelta:
        return pd.Timedelta(hours=self.season_hours)

    def fit(self, history: pd.DataFrame) -> SeasonalNaiveForecaster:
        """Learn the step and the error quantiles from ``history[target]``."""
        check_history(history)
        y = history[TARGET].astype(float).dropna()
        if len(y) < 2:
            raise ValueError("history has fewer than two known target values")
        self.step = infer_step(pd.DatetimeIndex(y.index))
        lagged = y.reindex(pd.DatetimeIndex(y.index) - self.season)
        errors = y.to_numpy() - lagged.to_numpy()
        errors = errors[np.isfinite(errors)]
        if errors.size == 0:
            raise ValueError(
                f"history spans less than one season ({self.season_hours} h): no errors to learn"
            )
        median = float(np.median(errors))
        # centre on the point forecast: the quantiles are offsets around the naive value
        self.offsets = np.quantile(errors, QUANTILES) - median
        return self

    def predict(self, history: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
        """``p10``/``p50``/``p90`` for ``index`` from the target values known in ``history``."""
        if self.step is None:
            raise ValueError("the forecaster is not fitted")
        check_history(history)
        known = history[TARGET].astype(float).dropna()
        if known.empty:
            raise ValueError("history has no known target value")
        last = known.index[-1]
        if len(index) and index[0] <= last:
            raise ValueError("forecast times must come after the last known target value")
        seasons = np.ceil((index - last) / self.season).to_numpy().astype(np.int64)
        point = np.full(len(index), np.nan)
        # walk back whole seasons until a known value is found (at most 8 seasons)
        for extra in range(8):
            missing = np.isnan(point)
            if not missing.any():
                break
            back = pd.to_timedelta((seasons[missing] + extra) * self.season_hours, unit="h")
            source = index[missing] - back
            point[missing] = known.reindex(source).to_numpy()
        if np.isnan(point).any():
            raise ValueError("history has no value one to eight seasons before some forecast times")
        return quantile_frame(index, point[:, None] + self.offsets[None, :])
