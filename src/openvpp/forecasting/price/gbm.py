"""Gradient-boosted day-ahead price model (LightGBM), leak-free on the epftoolbox protocol.

One model for all 24 hours: each training row is one (day D, hour h) pair, with the hour as a
feature. The regressors follow LEAR's information set (prices of D-1, D-2, D-3, D-7; the
exogenous day-ahead forecasts of D, D-1 and D-7; the day of the week) in a form trees use
well:

- the price level ``L`` = mean price of D-1 and the prices of hour h on D-1, D-2, D-3, D-7
  relative to ``L``; the minimum, maximum and last hour of D-1 relative to ``L``;
- per exogenous column: hour h on D, D-1 and D-7, the daily mean on D and D-1, and the change
  from D-1 to D (hour h and daily mean);
- hour, day of week.

Trees cannot extrapolate, so the target is made translation-free and variance-stabilised: the
price of (D, h) minus ``L``, divided by the median absolute deviation of that difference over
the training window and passed through ``asinh`` (the transform LEAR uses). The forecast is
``L + s * sinh(prediction)``.

Recalibration: the booster is retrained every ``retrain_every`` days on the last ``window``
days before the retraining day, with a fixed number of trees (no early stopping, so no
validation data is needed and the run is deterministic). Between retrainings the same booster
forecasts each day from that day's own features (prices up to D-1), so the protocol stays
leak-free. ``retrain_every=1`` is daily recalibration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = [
    "GbmConfig",
    "GbmModel",
    "build_gbm_features",
    "fit_gbm",
    "forecast_days_gbm",
]

FloatArray = NDArray[np.float64]
HOURS = 24
MAX_LAG = 7
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True, slots=True)
class GbmConfig:
    """LightGBM settings.

    window : training window [days] before the (re)training day.
    retrain_every : retrain the booster every this many test days [days].
    n_trees, learning_rate, num_leaves, min_data_in_leaf, feature_fraction, bagging_fraction,
        lambda_l2 : LightGBM hyper-parameters (fixed, the same for every market).
    n_jobs : LightGBM threads.
    seed : random seed (bagging, feature sampling).
    """

    window: int = 1092
    retrain_every: int = 7
    n_trees: int = 400
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 40
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    n_jobs: int = 1
    seed: int = 7

    def __post_init__(self) -> None:
        if self.window < 14:
            raise ValueError(f"window must be at least 14 days, got {self.window}")
        if self.retrain_every < 1:
            raise ValueError(f"retrain_every must be >= 1, got {self.retrain_every}")
        if self.n_trees < 1 or self.n_jobs < 1:
            raise ValueError("n_trees and n_jobs must be >= 1")

    def params(self) -> dict[str, Any]:
        """LightGBM parameters; deterministic for a given number of threads."""
        return {
            "objective": "regression",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "num_threads": self.n_jobs,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }


def build_gbm_features(
    prices: FloatArray, exogenous: FloatArray, day_of_week: NDArray[np.int64]
) -> tuple[FloatArray, FloatArray]:
    """Regressors of every (day, hour) and the price level of every day.

    prices : ``(n_days, 24)`` [currency/MWh]; may be one day shorter than ``exogenous`` (the
        forecast day), since day D only uses prices of D-1 and earlier.
    exogenous : ``(n_days, 24, k)`` day-ahead forecasts [column units].
    day_of_week : ``(n_days,)``, Monday = 0.

    Returns ``x`` ``(n_days, 24, 10 + 7 k)`` and the level ``(n_days,)`` [currency/MWh] (mean
    price of the day before). Days before day 7 are NaN.
    """
    n_days = exogenous.shape[0]
    if prices.shape[0] not in (n_days, n_days - 1):
        raise ValueError(f"prices cover {prices.shape[0]} days, exogenous {n_days}")
    k = exogenous.shape[2]
    n_feat = 10 + 7 * k
    x = np.full((n_days, HOURS, n_feat), np.nan)
    level = np.full(n_days, np.nan)
    t = np.arange(MAX_LAG, n_days)
    if t.size == 0:
        return x, level
    p1 = prices[t - 1]
    lvl = p1.mean(axis=1)
    level[t] = lvl
    ones = np.ones((t.size, HOURS))
    cols = [
        np.broadcast_to(np.arange(HOURS, dtype=np.float64), (t.size, HOURS)),
        ones * day_of_week[t, None],
        ones * lvl[:, None],
        p1 - lvl[:, None],
        prices[t - 2] - lvl[:, None],
        prices[t - 3] - lvl[:, None],
        prices[t - 7] - lvl[:, None],
        ones * (p1.min(axis=1) - lvl)[:, None],
        ones * (p1.max(axis=1) - lvl)[:, None],
        ones * (p1[:, -1] - lvl)[:, None],
    ]
    for j in range(k):
        e0, e1, e7 = exogenous[t, :, j], exogenous[t - 1, :, j], exogenous[t - 7, :, j]
        m0, m1 = e0.mean(axis=1)[:, None], e1.mean(axis=1)[:, None]
        cols += [e0, e1, e7, ones * m0, ones * m1, e0 - e1, ones * (m0 - m1)]
    x[t] = np.stack(cols, axis=2)
    return x, level


@dataclass(frozen=True, slots=True)
class GbmModel:
    """A trained booster and its target scale.

    booster : the LightGBM booster (pickles as its model text: exact round trip).
    scale : MAD of the training targets ``price - level`` [currency/MWh].
    """

    booster: lgb.Booster
    scale: float

    def predict(self, x: FloatArray, level: FloatArray) -> FloatArray:
        """Forecast prices [currency/MWh] for features ``x`` ``(n, 24, f)`` and levels ``(n,)``."""
        z = self.booster.predict(x.reshape(-1, x.shape[2]), num_threads=1)
        z = np.asarray(z, dtype=np.float64).reshape(x.shape[0], HOURS)
        return np.asarray(level[:, None] + self.scale * np.sinh(z), dtype=np.float64)


def fit_gbm(x: FloatArray, level: FloatArray, prices: FloatArray, config: GbmConfig) -> GbmModel:
    """Train on features ``x`` ``(n, 24, f)``, levels ``(n,)`` and prices ``(n, 24)`` of the
    same ``n`` training days [currency/MWh]."""
    import lightgbm as lgb

    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(prices))):
        raise ValueError("training features and prices must be finite (days >= 7, known prices)")
    diff = prices - level[:, None]
    mad = float(np.median(np.abs(diff - np.median(diff)))) * MAD_TO_SIGMA
    scale = mad if mad > 0 else 1.0
    y = np.arcsinh(diff / scale).reshape(-1)
    data = lgb.Dataset(
        x.reshape(-1, x.shape[2]),
        label=y,
        params={"max_bin": 255, "verbosity": -1},
        categorical_feature=[0, 1],
        free_raw_data=True,
    )
    booster = lgb.train(config.params(), data, num_boost_round=config.n_trees)
    return GbmModel(booster=booster, scale=scale)


def forecast_days_gbm(
    prices: FloatArray,
    exogenous: FloatArray,
    day_of_week: NDArray[np.int64],
    test_days: Sequence[int],
    config: GbmConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> FloatArray:
    """Rolling LightGBM forecasts for ``test_days`` ``(len(test_days), 24)`` [currency/MWh].

    The booster used for day D was trained on days strictly before the retraining day
    ``R <= D``; day D's features only hold prices of D-1 and earlier. ``progress`` is called
    with each finished day index.
    """
    cfg = config or GbmConfig()
    x, level = build_gbm_features(prices, exogenous, day_of_week)
    days = list(test_days)
    out = np.empty((len(days), HOURS))
    model: GbmModel | None = None
    for i, d in enumerate(days):
        if model is None or i % cfg.retrain_every == 0:
            lo = max(MAX_LAG, d - cfg.window)
            if d - lo < 2:
                raise ValueError(f"day {d}: fewer than 2 training days after the {MAX_LAG}-day lag")
            # Leak guard: training targets end strictly before the forecast day.
            assert lo + prices[lo:d].shape[0] == d, "training rows must end at D-1"
            model = fit_gbm(x[lo:d], level[lo:d], prices[lo:d], cfg)
        if not np.all(np.isfinite(x[d])):
            raise RuntimeError(f"day {d}: non-finite feature (an unknown price was used)")
        out[i] = model.predict(x[d : d + 1], level[d : d + 1])[0]
        if progress is not None:
            progress(d)
    return out
