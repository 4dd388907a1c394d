"""Wind power forecasting: forecast the wind speed, scale it to hub height, run it through
the turbine's power curve.

History for ``WindForecaster``: ``wind_speed`` = measured wind speed [m/s] at
``measurement_height_m`` (required; its newest known value sets the issue time); optional
``target`` = measured power [kW] of the turbine (used only to calibrate ``loss_factor``,
the ratio of measured energy to the power curve's energy over the training history);
optional ``wind_speed_forecast`` [m/s] at the measurement height over the horizon (an NWP
forecast known at the issue time) and other exogenous columns, read at the target time.

Hub height: the logarithmic wind profile with roughness length ``roughness_length_m``
(``resources.models.wind.hub_wind_speed``). Power: the library curve of ``turbine_type``
(windpowerlib's OEDB snapshot) or a given ``PowerCurve``, linear between its points and zero
outside them (below cut-in, above cut-out). The speed quantiles map to power quantiles
through the curve, exact where the curve is monotone (up to cut-out); the result is sorted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from openvpp.forecasting.direct import (
    BoostingParams,
    DirectQuantileModel,
    FloatArray,
    IntArray,
    known_lag,
    last_known,
    local_calendar,
    regular_grid,
    trailing_mean,
)
from openvpp.forecasting.evaluation import Pairs, day_ahead_pairs, intraday_pairs, rolling_origin
from openvpp.forecasting.evaluation import score as score_pairs
from openvpp.forecasting.protocol import TARGET, ModelKind
from openvpp.resources.models.wind import PowerCurve, hub_wind_speed, power_curve

__all__ = ["WIND_SPEED", "WindForecaster", "curve_power_kw", "evaluate_wind"]

WIND_SPEED = "wind_speed"
INTRADAY_LEADS = tuple(pd.Timedelta(minutes=30) * k for k in (1, 2, 4, 8, 12))


def curve_power_kw(hub_speed_ms: FloatArray, curve: PowerCurve) -> FloatArray:
    """Power [kW] of one turbine at hub-height wind speeds [m/s]: linear between the curve's
    points, 0 below its first and above its last speed, never above the curve's maximum."""
    speed = np.asarray(hub_speed_ms, dtype=np.float64)
    watts = np.interp(speed, curve.wind_speed_ms, curve.power_w, left=0.0, right=0.0)
    return np.where(np.isfinite(speed), watts / 1e3, np.nan)


class WindForecaster(DirectQuantileModel):
    """Wind speed quantile forecaster with a power-curve output [kW] (see the module
    docstring).

    Features of a forecast of ``t`` issued at ``T``: lead [h]; the newest speed and its age
    [h], the mean speed over the 1 h, 3 h, 6 h and 24 h up to ``T``, the speed at the same
    time of the newest known day; local hour and day of year of ``t``; exogenous columns
    (``wind_speed_forecast``) at ``t``. By default one model per lead of ``train_leads``
    (30 min, 1, 2, 4 and 6 h; others use the nearest); pass ``train_leads=()`` to train on
    every step from ``min_lead`` to ``horizon``.
    """

    kind = ModelKind.WIND
    measured = (WIND_SPEED, TARGET)

    def __init__(
        self,
        turbine_type: str | None = "E-101/3050",
        *,
        curve: PowerCurve | None = None,
        hub_height_m: float = 100.0,
        measurement_height_m: float = 10.0,
        roughness_length_m: float = 0.15,
        loss_factor: float = 1.0,
        tz: str = "UTC",
        horizon: pd.Timedelta = pd.Timedelta(hours=6),
        min_lead: pd.Timedelta = pd.Timedelta(minutes=30),
        issue_hour: float | None = None,
        issue_every: pd.Timedelta = pd.Timedelta(minutes=30),
        max_train_rows: int = 30_000,
        boosting: BoostingParams = BoostingParams(),
        train_leads: tuple[pd.Timedelta, ...] = INTRADAY_LEADS,
    ) -> None:
        super().__init__(
            train_leads=train_leads,
            tz=tz,
            horizon=horizon,
            min_lead=min_lead,
            issue_hour=issue_hour,
            issue_every=issue_every,
            max_train_rows=max_train_rows,
            boosting=boosting,
        )
        if curve is None:
            if turbine_type is None:
                raise ValueError("give a turbine_type or a power curve")
            curve = power_curve(turbine_type)
        self.turbine_type = turbine_type
        self.curve = curve
        self.hub_height_m = hub_height_m
        self.measurement_height_m = measurement_height_m
        self.roughness_length_m = roughness_length_m
        self.loss_factor = loss_factor

    def power_kw(self, speed_ms: FloatArray) -> FloatArray:
        """Power [kW] for wind speeds [m/s] at the measurement height, times ``loss_factor``."""
        speed = np.clip(np.asarray(speed_ms, dtype=np.float64), 0.0, None)
        hub = hub_wind_speed(
            speed, self.measurement_height_m, self.hub_height_m, self.roughness_length_m
        )
        return curve_power_kw(hub, self.curve) * self.loss_factor

    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        if WIND_SPEED not in frame.columns:
            raise ValueError(f"history has no {WIND_SPEED!r} column")
        keep = [WIND_SPEED, *(c for c in (TARGET, *self.exogenous) if c in frame.columns)]
        return frame[keep].astype(np.float64)

    def _calibrate(self, prep: pd.DataFrame) -> bool:
        if TARGET not in prep.columns:
            return False
        self.loss_factor = 1.0
        curve = self.power_kw(prep[WIND_SPEED].to_numpy(dtype=np.float64))
        measured = prep[TARGET].to_numpy(dtype=np.float64)
        ok = np.isfinite(curve) & np.isfinite(measured)
        if ok.sum() >= 50 and curve[ok].sum() > 0:
            self.loss_factor = float(measured[ok].sum() / curve[ok].sum())
        return False

    def _features(self, prep: pd.DataFrame, issue: IntArray, target: IntArray) -> FloatArray:
        assert self.step is not None
        v = prep[WIND_SPEED].to_numpy(dtype=np.float64)
        hour = pd.Timedelta(hours=1) / self.step
        cal = local_calendar(pd.DatetimeIndex(prep.index[target]), self.tz)
        held, age = last_known(v, issue)
        cols = [
            (target - issue) / hour,
            held,
            age / hour,
            *(trailing_mean(v, issue, max(1, round(h * hour))) for h in (1, 3, 6, 24)),
            known_lag(v, issue, target, round(24 * hour)),
            cal["hour"],
            cal["doy_sin"],
            cal["doy_cos"],
        ]
        cols += [prep[c].to_numpy(dtype=np.float64)[target] for c in self.exogenous]
        return np.column_stack(cols)

    def _label(self, prep: pd.DataFrame, issue: IntArray, target: IntArray) -> FloatArray:
        return prep[WIND_SPEED].to_numpy(dtype=np.float64)[target]

    def _output(
        self, prep: pd.DataFrame, issue: IntArray, target: IntArray, q: FloatArray
    ) -> FloatArray:
        return np.sort(self.power_kw(q.ravel()).reshape(q.shape), axis=1)


def evaluate_wind(
    history: pd.DataFrame,
    model: WindForecaster,
    *,
    day_ahead: bool,
    min_train: pd.Timedelta = pd.Timedelta(days=59),
    refit_every: pd.Timedelta = pd.Timedelta(days=30),
    leads: tuple[pd.Timedelta, ...] = INTRADAY_LEADS,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, float]]:
    """The documented wind evaluation on a ``wind_speed`` series: rolling origin from
    ``min_train`` after the start, refitted every ``refit_every``, intraday (issues at every
    step, for each of ``leads``) or day-ahead (issued at ``model.issue_hour`` local for the
    next local day). The truth is the power curve applied to the measured speed (no measured
    power); the baseline is persistence of that power at the issue time. Keys: ``all`` and,
    intraday, each lead [min]."""
    grid = regular_grid(pd.DatetimeIndex(history.index))
    frame = history[[WIND_SPEED]].reindex(grid)
    start = grid[0] + min_train
    pairs: Pairs = (
        day_ahead_pairs(grid, model.tz, start, model.issue_hour or 10.0)
        if day_ahead
        else intraday_pairs(grid, leads, start)
    )
    forecast = rolling_origin(model, frame, pairs, refit_every=refit_every, progress=progress)
    power = model.power_kw(frame[WIND_SPEED].to_numpy(dtype=np.float64))
    issue, target = grid.get_indexer(pairs.issued), grid.get_indexer(pairs.times)
    held, _ = last_known(power, issue)
    baselines = {"persistence": held}
    out = {"all": score_pairs(power[target], forecast, baselines)}
    if not day_ahead:
        minutes = np.asarray(pairs.lead / pd.Timedelta(minutes=1))
        for lead in leads:
            m = int(lead / pd.Timedelta(minutes=1))
            out[f"{m}min"] = score_pairs(power[target], forecast, baselines, minutes == m)
    return out
