"""PV forecasting: a clear-sky reference times a forecast clear-sky index (CSI).

History for ``PvForecaster``: ``target`` = PV power [kW] or global horizontal irradiance
[W/m²] (any unit: the forecast comes back in it); optional ``clear_sky`` = the clear-sky value
of the target in the same unit, known for future times too (e.g. a satellite product's
clear-sky GHI). Without it the reference is pvlib's Ineichen clear-sky GHI at the site -
through the PV chain of ``resources.models.pv`` when a ``PvSpec`` plant is given - scaled in
``fit`` so that clear moments have a CSI near 1. Other columns are exogenous, read at the
target time.

The CSI ``target / clear_sky`` is defined with the sun above ``min_elevation_deg`` and
clipped to ``[0, CSI_MAX]``. The model forecasts the quantiles of the change of the CSI from
the newest known one (smart persistence's CSI), so a model that learned nothing is smart
persistence; the output is ``CSI quantile x clear_sky``, zero with the sun below the horizon.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib

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
from openvpp.resources.models.pv import PvSpec, pv_power_mw

__all__ = [
    "CSI_MAX",
    "NSRDB_TZ",
    "PvForecaster",
    "evaluate_pv",
    "read_nsrdb",
    "smart_persistence",
]

CSI_MAX = 1.5
NSRDB_TZ = "Etc/GMT+7"  # the shared NSRDB file's local standard time, UTC-7 (no DST)
INTRADAY_LEADS = tuple(pd.Timedelta(minutes=30) * k for k in range(1, 9))  # 30 min to 4 h


def read_nsrdb(path: Path, tz: str = NSRDB_TZ) -> pd.DataFrame:
    """An NSRDB PSM CSV (Year, Month, Day, Hour, Minute in local standard time ``tz``) as a
    UTC-indexed frame: ``target`` = GHI [W/m²], ``clear_sky`` = clear-sky GHI [W/m²],
    ``wind_speed`` [m/s], ``temp_air`` [°C]."""
    raw = pd.read_csv(path)
    parts = raw[["Year", "Month", "Day", "Hour", "Minute"]].rename(columns=str.lower)
    index = pd.DatetimeIndex(pd.to_datetime(parts)).tz_localize(tz).tz_convert("UTC")
    names = {
        "GHI": TARGET,
        "Clearsky GHI": "clear_sky",
        "Wind Speed": "wind_speed",
        "Temperature": "temp_air",
    }
    frame = raw[list(names)].rename(columns=names).astype(np.float64)
    return frame.set_axis(index)


def smart_persistence(
    csi: FloatArray, clear_sky: FloatArray, issue: IntArray, target: IntArray
) -> FloatArray:
    """Smart persistence [target unit]: the newest clear-sky index known at the issue time
    (the last daylight value when issued at night) times the target's clear-sky value."""
    held, _ = last_known(csi, issue)
    return np.asarray(held * clear_sky[target], dtype=np.float64)


class PvForecaster(DirectQuantileModel):
    """Clear-sky index forecaster (see the module docstring).

    Features of a forecast of ``t`` issued at ``T``: lead [h]; sun elevation and azimuth at
    ``t``, local hour and day of year of ``t``; sun elevation at ``T``; the newest known CSI
    and its age [h]; the mean CSI over the 1 h, 3 h and 24 h up to ``T``; the CSI at the same
    time of the newest known day; exogenous columns at ``t``.

    latitude, longitude [deg], altitude_m [m] : the site.
    plant : PV plant for a clear-sky power reference [kW] (else clear-sky GHI, scaled).
    tz : time zone of the calendar features (and of ``issue_hour``).
    horizon, min_lead, issue_hour, issue_every, train_leads : see ``DirectQuantileModel``
        (default intraday: 30 min to 4 h, issues every 30 min, one model per lead).
    """

    kind = ModelKind.PV
    measured = (TARGET,)

    def __init__(
        self,
        latitude: float,
        longitude: float,
        altitude_m: float = 0.0,
        *,
        plant: PvSpec | None = None,
        tz: str = "UTC",
        horizon: pd.Timedelta = pd.Timedelta(hours=4),
        min_lead: pd.Timedelta = pd.Timedelta(minutes=30),
        issue_hour: float | None = None,
        issue_every: pd.Timedelta = pd.Timedelta(minutes=30),
        min_elevation_deg: float = 5.0,
        max_train_rows: int = 40_000,
        boosting: BoostingParams = BoostingParams(),
        train_leads: tuple[pd.Timedelta, ...] = (),
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
        self.latitude, self.longitude, self.altitude_m = latitude, longitude, altitude_m
        self.plant = plant
        self.min_elevation_deg = min_elevation_deg
        self.scale = 1.0

    def clear_sky_reference(self, times: pd.DatetimeIndex) -> FloatArray:
        """The unscaled model clear-sky reference at ``times``: Ineichen GHI [W/m²], or the
        plant's clear-sky AC power [kW] when a plant is set."""
        site = pvlib.location.Location(self.latitude, self.longitude, altitude=self.altitude_m)
        sky = site.get_clearsky(times, model="ineichen")
        if self.plant is None:
            return np.asarray(sky["ghi"].fillna(0.0), dtype=np.float64)
        weather = sky.fillna(0.0).assign(temp_air=20.0)
        return np.asarray(pv_power_mw(self.plant, weather), dtype=np.float64) * 1e3

    def _sun(self, times: pd.DatetimeIndex) -> pd.DataFrame:
        sun: pd.DataFrame = pvlib.solarposition.get_solarposition(
            times, self.latitude, self.longitude, altitude=self.altitude_m
        )
        return sun

    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        times = pd.DatetimeIndex(frame.index)
        sun = self._sun(times)
        if "clear_sky" in frame.columns:
            cs = frame["clear_sky"].to_numpy(dtype=np.float64)
        else:
            cs = self.clear_sky_reference(times) * self.scale
        elevation = sun["apparent_elevation"].to_numpy(dtype=np.float64)
        y = frame[TARGET].to_numpy(dtype=np.float64)
        day = (elevation > self.min_elevation_deg) & (cs > 0)
        csi = np.full(y.shape, np.nan)
        np.divide(y, cs, out=csi, where=day & np.isfinite(y))
        csi[~day] = np.nan
        prep = pd.DataFrame(
            {
                "ratio": csi,
                "csi": np.clip(csi, 0.0, CSI_MAX),
                "clear_sky": np.nan_to_num(cs),
                "elevation": elevation,
                "azimuth": sun["azimuth"].to_numpy(dtype=np.float64),
            },
            index=times,
        )
        for c in self.exogenous:
            if c != "clear_sky":
                prep[c] = frame[c].to_numpy(dtype=np.float64)
        return prep

    def fit(self, history: pd.DataFrame) -> PvForecaster:
        """Train on ``history`` (see the module docstring)."""
        self.scale = 1.0
        super().fit(history)
        return self

    def _calibrate(self, prep: pd.DataFrame) -> bool:
        if "clear_sky" in self.exogenous:
            return False
        ratio = prep["ratio"].to_numpy(dtype=np.float64)
        ratio = ratio[np.isfinite(ratio) & (prep["elevation"].to_numpy() > 20.0)]
        if ratio.size < 20:
            return False
        # the 95th percentile of target / reference is a clear moment: make its CSI 1
        self.scale = max(float(np.quantile(ratio, 0.95)), 1e-9)
        return True

    def _features(self, prep: pd.DataFrame, issue: IntArray, target: IntArray) -> FloatArray:
        assert self.step is not None
        csi = prep["csi"].to_numpy(dtype=np.float64)
        elevation = prep["elevation"].to_numpy(dtype=np.float64)
        hour = pd.Timedelta(hours=1) / self.step
        cal = local_calendar(pd.DatetimeIndex(prep.index[target]), self.tz)
        held, age = last_known(csi, issue)
        cols = [
            (target - issue) / hour,
            elevation[target],
            prep["azimuth"].to_numpy(dtype=np.float64)[target],
            cal["hour"],
            cal["doy_sin"],
            cal["doy_cos"],
            elevation[issue],
            held,
            age / hour,
            trailing_mean(csi, issue, max(1, round(hour))),
            trailing_mean(csi, issue, max(1, round(3 * hour))),
            trailing_mean(csi, issue, max(1, round(24 * hour))),
            known_lag(csi, issue, target, round(24 * hour)),
        ]
        cols += [
            prep[c].to_numpy(dtype=np.float64)[target] for c in self.exogenous if c != "clear_sky"
        ]
        return np.column_stack(cols)

    @staticmethod
    def _anchor(prep: pd.DataFrame, issue: IntArray) -> FloatArray:
        """Smart persistence's CSI (1 before any daylight value is known)."""
        held, _ = last_known(prep["csi"].to_numpy(dtype=np.float64), issue)
        return np.where(np.isfinite(held), held, 1.0)

    def _label(self, prep: pd.DataFrame, issue: IntArray, target: IntArray) -> FloatArray:
        # the change of CSI from smart persistence's: no learned change is persistence
        return prep["csi"].to_numpy(dtype=np.float64)[target] - self._anchor(prep, issue)

    def _output(
        self, prep: pd.DataFrame, issue: IntArray, target: IntArray, q: FloatArray
    ) -> FloatArray:
        cs = prep["clear_sky"].to_numpy(dtype=np.float64)[target]
        up = prep["elevation"].to_numpy(dtype=np.float64)[target] > 0.0
        csi = q + self._anchor(prep, issue)[:, None]
        out = np.clip(csi, 0.0, CSI_MAX) * cs[:, None]
        return np.where(up[:, None], out, 0.0)


def evaluate_pv(
    history: pd.DataFrame,
    model: PvForecaster,
    *,
    day_ahead: bool,
    min_train: pd.Timedelta = pd.Timedelta(days=59),
    refit_every: pd.Timedelta = pd.Timedelta(days=30),
    leads: tuple[pd.Timedelta, ...] = INTRADAY_LEADS,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, float]]:
    """The documented PV evaluation: rolling origin (``rolling_origin``) from ``min_train``
    after the start, refitted every ``refit_every``; intraday (issues at every step, for
    each of ``leads``) or day-ahead (issued at ``model.issue_hour`` local for the next local
    day). Scored on daylight targets (sun above the horizon) against smart persistence,
    overall (key ``all``) and per lead [min] (intraday) - see ``evaluation.score``."""
    grid = regular_grid(pd.DatetimeIndex(history.index))
    frame = history.reindex(grid)
    start = grid[0] + min_train
    pairs: Pairs = (
        day_ahead_pairs(grid, model.tz, start, model.issue_hour or 10.0)
        if day_ahead
        else intraday_pairs(grid, leads, start)
    )
    forecast = rolling_origin(model, frame, pairs, refit_every=refit_every, progress=progress)
    prep = model._prepare(frame)
    issue, target = grid.get_indexer(pairs.issued), grid.get_indexer(pairs.times)
    base = smart_persistence(
        prep["csi"].to_numpy(dtype=np.float64),
        prep["clear_sky"].to_numpy(dtype=np.float64),
        issue,
        target,
    )
    actual = frame[TARGET].to_numpy(dtype=np.float64)[target]
    daylight = prep["elevation"].to_numpy(dtype=np.float64)[target] > 0.0
    baselines = {"smart_persistence": base}
    out = {"all": score_pairs(actual, forecast, baselines, daylight)}
    if not day_ahead:
        minutes = np.asarray(pairs.lead / pd.Timedelta(minutes=1))
        for lead in leads:
            m = int(lead / pd.Timedelta(minutes=1))
            out[f"{m}min"] = score_pairs(actual, forecast, baselines, daylight & (minutes == m))
    return out
