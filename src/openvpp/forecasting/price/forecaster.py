"""Day-ahead price forecaster for the model registry (:mod:`openvpp.forecasting.protocol`).

``DayAheadPriceForecaster`` wraps the LEAR and LightGBM day-ahead models and their ensemble
(:mod:`~openvpp.forecasting.price.runner`) behind ``fit``/``predict``:

- the history frame (UTC index, ``target`` = price [currency/MWh], other columns exogenous
  day-ahead forecasts) becomes local-day matrices in the market time zone ``tz``
  (:mod:`~openvpp.forecasting.price.local_days`: a 23-hour day interpolates the skipped hour,
  a 25-hour day averages the repeated hour);
- ``fit`` first forecasts the last ``calibration_days`` days of the history the rolling,
  leak-free way to collect out-of-sample errors (they set the p10/p90 quantiles, as in the
  benchmark), then calibrates every model on the whole history and keeps the fitted
  coefficients and booster on the object (picklable; joblib round trips are exact);
- ``predict`` forecasts the local days covering the requested times from the prices known in
  the history it is given; days between the last full day of prices and the requested days
  are forecast first and their ``p50`` used as prices (at most ``MAX_HORIZON_DAYS`` days past
  the last full day of prices). The quantiles come from day-ahead errors, so for those later
  days they are too narrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.forecasting.price.data import DayMatrix
from openvpp.forecasting.price.gbm import (
    MAX_LAG,
    GbmConfig,
    GbmModel,
    build_gbm_features,
    fit_gbm,
)
from openvpp.forecasting.price.lear import (
    DEFAULT_WINDOWS,
    LearConfig,
    WindowState,
    build_features,
    fit_predict,
)
from openvpp.forecasting.price.local_days import LocalDays, to_local_days, values_at
from openvpp.forecasting.price.quantiles import error_quantiles
from openvpp.forecasting.price.runner import MODELS, combine, rolling_forecasts
from openvpp.forecasting.protocol import (
    QUANTILES,
    TARGET,
    ModelKind,
    check_history,
    quantile_frame,
)

__all__ = ["MAX_HORIZON_DAYS", "MIN_FIT_DAYS", "DayAheadPriceForecaster"]

FloatArray = NDArray[np.float64]
HOURS = 24
MAX_HORIZON_DAYS = 7
# 7 lag days, 2 training days, 1 day of out-of-sample error for the quantiles.
MIN_FIT_DAYS = MAX_LAG + 3


@dataclass(frozen=True, slots=True)
class _LearFit:
    """One LEAR calibration window's fitted transform and coefficients."""

    med_x: FloatArray
    mad_x: FloatArray
    x_mean: FloatArray
    coef: FloatArray
    y_mean: FloatArray
    med_y: FloatArray
    mad_y: FloatArray

    def predict(self, x_row: FloatArray) -> FloatArray:
        """The 24 prices [currency/MWh] for one LEAR feature row."""
        nf = self.med_x.size
        xs = x_row.copy()
        xs[:nf] = np.arcsinh((x_row[:nf] - self.med_x) / self.mad_x)
        z = self.y_mean + (xs - self.x_mean) @ self.coef
        return np.asarray(self.med_y + self.mad_y * np.sinh(z), dtype=np.float64)


def _fit_lear(x: FloatArray, y: FloatArray, config: LearConfig) -> _LearFit:
    """LEAR fitted on features ``x`` and prices ``y`` of one window (the same estimator as
    the rolling benchmark: LARS-AIC penalty per hour, then a LASSO refit)."""
    state = WindowState()
    fit_predict(x, y, x[-1], state, select=True, config=config)
    assert state.coef is not None
    assert state.scaling is not None
    med_x, mad_x, x_mean, y_mean, med_y, mad_y = state.scaling
    return _LearFit(med_x, mad_x, x_mean, state.coef, y_mean, med_y, mad_y)


class DayAheadPriceForecaster:
    """Day-ahead price forecaster: LEAR, LightGBM or their ensemble, with p10/p50/p90.

    model : ``"lear"``, ``"gbm"`` or ``"ensemble"``.
    tz : the market's time zone (IANA name); delivery days are local days there.
    windows : LEAR calibration windows [days] (shortened to the history available).
    select_every : LEAR penalty re-selection period in the calibration backtest [days].
    gbm : LightGBM settings (``window`` [days] is shortened to the history available).
    calibration_days : days at the end of the history forecast out of sample in ``fit`` to
        set the quantiles [days].
    n_jobs : worker processes for the calibration backtest.
    """

    kind: ModelKind = ModelKind.PRICE

    def __init__(
        self,
        model: str = "ensemble",
        tz: str = "UTC",
        windows: tuple[int, ...] = DEFAULT_WINDOWS,
        select_every: int = 7,
        gbm: GbmConfig | None = None,
        calibration_days: int = 28,
        n_jobs: int = 1,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"tz {tz!r} is not a known time zone") from exc
        if calibration_days < 1:
            raise ValueError(f"calibration_days must be >= 1, got {calibration_days}")
        self.model = model
        self.tz = tz
        self.lear_config = LearConfig(
            windows=tuple(windows), select_every=select_every, n_jobs=n_jobs
        )
        self.gbm_config = gbm or GbmConfig()
        self.calibration_days = calibration_days
        self.lear_: dict[int, _LearFit] = {}
        self.gbm_: GbmModel | None = None
        self.errors_: FloatArray | None = None
        self.exogenous_: tuple[str, ...] = ()

    # --- fit -----------------------------------------------------------------------------

    def fit(self, history: pd.DataFrame) -> DayAheadPriceForecaster:
        """Calibrate on every full local day of prices in ``history`` (at least
        ``MIN_FIT_DAYS`` consecutive days); returns ``self``."""
        check_history(history)
        exo = tuple(str(c) for c in history.columns if c != TARGET)
        days = to_local_days(history, self.tz)
        complete = np.flatnonzero(np.isfinite(days.prices).all(axis=1))
        if complete.size == 0:
            raise ValueError("history has no full local day of target prices")
        lo, hi = int(complete[0]), int(complete[-1]) + 1
        _require_finite(days, lo, hi, exo, prices=True)
        n = hi - lo
        if n < MIN_FIT_DAYS:
            raise ValueError(
                f"history has {n} full local days of prices; need at least {MIN_FIT_DAYS}"
            )
        dm = DayMatrix(days.prices[lo:hi], days.exogenous[lo:hi], days.dates[lo:hi], exo)
        cal = min(self.calibration_days, n - (MAX_LAG + 2))
        per_model, _ = rolling_forecasts(
            dm, list(range(n - cal, n)), self.model, self.lear_config, self.gbm_config
        )
        self.errors_ = dm.prices[n - cal :] - combine(per_model, self.model)
        self.lear_, self.gbm_ = {}, None
        if self.model != "gbm":
            x = build_features(dm.prices, dm.exogenous, dm.day_of_week)
            for w in self.lear_config.windows:
                start = max(MAX_LAG, n - w)
                self.lear_[w] = _fit_lear(x[start:], dm.prices[start:], self.lear_config)
        if self.model != "lear":
            xg, level = build_gbm_features(dm.prices, dm.exogenous, dm.day_of_week)
            start = max(MAX_LAG, n - self.gbm_config.window)
            self.gbm_ = fit_gbm(xg[start:], level[start:], dm.prices[start:], self.gbm_config)
        self.exogenous_ = exo
        return self

    # --- predict -------------------------------------------------------------------------

    def predict(self, history: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
        """p10/p50/p90 [currency/MWh] at the UTC times ``index``, all after the last known
        price of ``history``; the ``MAX_LAG`` local days before them must have full prices
        (or lie within ``MAX_HORIZON_DAYS`` days after the last full day)."""
        if self.errors_ is None:
            raise ValueError("the forecaster is not fitted: call fit first")
        check_history(history)
        if not isinstance(index, pd.DatetimeIndex) or index.tz is None or len(index) == 0:
            raise ValueError("index must be a non-empty tz-aware DatetimeIndex")
        exo = tuple(str(c) for c in history.columns if c != TARGET)
        if set(exo) != set(self.exogenous_):
            raise ValueError(
                f"history exogenous columns {list(exo)} differ from those fitted "
                f"{list(self.exogenous_)}"
            )
        history = history[[TARGET, *self.exogenous_]]
        known = np.flatnonzero(history[TARGET].notna().to_numpy())
        if known.size == 0:
            raise ValueError("history has no known target price")
        last_known = history.index[int(known[-1])]
        if index.min() <= last_known:
            raise ValueError(
                f"index starts at {index.min()}, not after the last known price {last_known}"
            )
        first_local = history.index[0].tz_convert(self.tz).normalize().tz_localize(None)
        last_local = index.max().tz_convert(self.tz).normalize().tz_localize(None)
        hist_last = history.index[-1].tz_convert(self.tz).normalize().tz_localize(None)
        days = to_local_days(history, self.tz, extra_days=max(0, (last_local - hist_last).days))
        g = (last_local - first_local).days
        f = (index.min().tz_convert(self.tz).normalize().tz_localize(None) - first_local).days
        full = np.isfinite(days.prices[:f]).all(axis=1)
        if not full.any():
            raise ValueError("history has no full local day of prices before the index")
        last_full = int(np.flatnonzero(full)[-1])
        if last_full < MAX_LAG - 1:
            raise ValueError(f"need {MAX_LAG} full local days of prices before the index")
        if g - last_full > MAX_HORIZON_DAYS:
            raise ValueError(
                f"index reaches {g - last_full} days past the last full day of prices "
                f"({days.dates[last_full]}); at most {MAX_HORIZON_DAYS}"
            )
        _require_finite(days, last_full + 1 - MAX_LAG, last_full + 1, self.exogenous_, True)
        _require_finite(days, last_full + 1 - MAX_LAG, g + 1, self.exogenous_, False)
        return self._forecast(days, last_full, g, index)

    def _forecast(
        self, days: LocalDays, last_full: int, g: int, index: pd.DatetimeIndex
    ) -> pd.DataFrame:
        assert self.errors_ is not None
        prices = days.prices[: g + 1].copy()
        dow = days.day_of_week
        spread = error_quantiles(self.errors_, QUANTILES)
        out = np.full((g + 1, HOURS, len(QUANTILES)), np.nan)
        for d in range(last_full + 1, g + 1):
            lo = d - MAX_LAG
            p, e, w = prices[lo:d], days.exogenous[lo : d + 1], dow[lo : d + 1]
            per_model: dict[str, FloatArray] = {}
            if self.lear_:
                row = build_features(p, e, w)[MAX_LAG]
                fits = [self.lear_[k].predict(row) for k in self.lear_config.windows]
                per_model["lear"] = np.mean(fits, axis=0)[None, :]
            if self.gbm_ is not None:
                xg, level = build_gbm_features(p, e, w)
                per_model["gbm"] = self.gbm_.predict(xg[MAX_LAG:], level[MAX_LAG:])
            point = combine(per_model, self.model)[0]
            prices[d] = point
            out[d] = point[:, None] + spread
        values = values_at(index.tz_convert("UTC"), self.tz, days.dates[: g + 1], out)
        if not np.all(np.isfinite(values)):
            raise ValueError("a requested time falls on a day before the forecast days")
        return quantile_frame(index, values)


def _require_finite(
    days: LocalDays, lo: int, hi: int, names: tuple[str, ...], prices: bool
) -> None:
    """Raise ``ValueError`` naming the first missing value of days ``[lo, hi)``."""
    lo = max(lo, 0)
    if prices:
        bad = np.flatnonzero(~np.isfinite(days.prices[lo:hi]).all(axis=1))
        if bad.size:
            raise ValueError(
                f"{TARGET!r} has missing prices on local day {days.dates[lo + bad[0]]}"
            )
    for j, name in enumerate(names):
        bad = np.flatnonzero(~np.isfinite(days.exogenous[lo:hi, :, j]).all(axis=1))
        if bad.size:
            raise ValueError(
                f"exogenous column {name!r} is missing values on local day "
                f"{days.dates[lo + bad[0]]}"
            )
