"""Load forecasting: gradient-boosted quantiles on calendar and lag features, baselines, and
the turning of cumulative meter readings into interval power.

History for ``LoadForecaster``: ``target`` = the load [kW], positive = consumption as the
meter measures it (for a household with PV behind the meter, the grid import); the value of
a row is the mean power over the interval that starts at its timestamp. Any other column is
an exogenous input read at the target time and must extend over the horizon (e.g. ``bdew``,
the BDEW standard-profile shape from ``bdew_column``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
from openvpp.forecasting.evaluation import day_ahead_pairs, rolling_origin, score
from openvpp.forecasting.protocol import TARGET, ModelKind
from openvpp.resources.models.load import bdew_shape

__all__ = [
    "LoadForecaster",
    "MeterIntervals",
    "bdew_baseline",
    "bdew_column",
    "evaluate_load",
    "load_persistence",
    "meter_to_intervals",
    "read_opsd_household",
]

DAY = pd.Timedelta(days=1)
WEEK = pd.Timedelta(days=7)


@dataclass(frozen=True)
class MeterIntervals:
    """Interval values from cumulative readings (see ``meter_to_intervals``)."""

    energy_kwh: pd.Series  # per interval, labelled by its start [kWh]
    power_kw: pd.Series  # mean power over the interval [kW]
    missing: int  # intervals without a value because a reading is missing
    gaps: int  # runs of such intervals
    resets: int  # negative steps (meter reset or replacement), left without a value


def meter_to_intervals(readings: pd.Series, step: pd.Timedelta | None = None) -> MeterIntervals:
    """Interval energy [kWh] and mean power [kW] from cumulative meter readings [kWh].

    The reading at time ``t`` is the meter's count at ``t``, so the interval ``[t, t + step)``
    got ``reading(t + step) - reading(t)``, labelled ``t``. The readings are first put on
    their regular grid (absent rows count as missing). An interval with a missing reading at
    either end has no value (NaN, counted in ``missing``; consecutive ones make one gap);
    the energy of a gap is not spread over it. A negative step is a reset or a meter swap:
    that interval has no value (counted in ``resets``) and the count continues from the new
    reading.
    """
    index = pd.DatetimeIndex(readings.index)
    if index.tz is None:
        raise ValueError("readings need a tz-aware DatetimeIndex")
    grid = regular_grid(index.sort_values(), step)
    step = pd.Timedelta(grid[1] - grid[0])
    ordered = readings.sort_index().set_axis(index.sort_values().tz_convert("UTC"))
    r = ordered.reindex(grid).to_numpy(dtype=np.float64)
    diff = r[1:] - r[:-1]
    reset = np.isfinite(diff) & (diff < 0)
    missing = ~np.isfinite(diff)
    diff[reset] = np.nan
    starts = missing & ~np.concatenate([[False], missing[:-1]])
    energy = pd.Series(diff, index=grid[:-1], name="energy_kwh")
    return MeterIntervals(
        energy_kwh=energy,
        power_kw=(energy / (step / pd.Timedelta(hours=1))).rename("power_kw"),
        missing=int(missing.sum()),
        gaps=int(starts.sum()),
        resets=int(reset.sum()),
    )


def read_opsd_household(
    path: Path, meter: str = "grid_import"
) -> tuple[pd.DataFrame, MeterIntervals]:
    """An OPSD household file (``utc_timestamp`` and cumulative meter columns [kWh]) as a
    history frame with ``target`` = the mean power [kW] of the column ending in ``meter``."""
    raw = pd.read_csv(path, index_col="utc_timestamp")
    cols = [c for c in raw.columns if c.endswith(f"_{meter}")]
    if len(cols) != 1:
        raise ValueError(f"{path.name}: no single column ending in {meter!r}")
    index = pd.DatetimeIndex(pd.to_datetime(raw.index, utc=True))
    meter_data = meter_to_intervals(pd.Series(raw[cols[0]].to_numpy(float), index=index))
    return meter_data.power_kw.rename(TARGET).to_frame(), meter_data


def bdew_column(index: pd.DatetimeIndex, profile: str = "H25") -> pd.Series:
    """The BDEW standard-profile shape [0-1] on ``index`` (see ``bdew_shape``), an exogenous
    column known for any future time."""
    return pd.Series(bdew_shape(profile, index), index=index, name="bdew")


def load_persistence(
    values: FloatArray, issue: IntArray, target: IntArray, step: pd.Timedelta
) -> dict[str, FloatArray]:
    """Persistence baselines [kW]: the same time one day and one week earlier, taking the
    newest such value known at the issue time (two days back where yesterday's is not)."""
    return {
        "persistence_day": known_lag(values, issue, target, int(DAY / step)),
        "persistence_week": known_lag(values, issue, target, int(WEEK / step)),
    }


def bdew_baseline(
    values: FloatArray, shape: FloatArray, issue: IntArray, target: IntArray, window: int
) -> FloatArray:
    """The BDEW profile scaled to the household's energy [kW]: ``shape[t]`` times the mean
    load over the ``window`` steps up to the issue time divided by the mean shape over the
    same (known) steps. With ``window`` one year, this is the profile scaled to the annual
    energy; with less history known, to the energy of what is known."""
    known_shape = np.where(np.isfinite(values), shape, np.nan)
    scale = trailing_mean(values, issue, window) / trailing_mean(known_shape, issue, window)
    return np.asarray(scale * shape[target], dtype=np.float64)


class LoadForecaster(DirectQuantileModel):
    """Direct quantile load forecaster (gradient boosting, one model for all leads).

    Features of a forecast of time ``t`` issued at ``T``: lead [h]; local hour, weekday,
    weekend and day of year of ``t`` (no holiday calendar); the load at the same time on the
    newest known day and week; the mean of the same hour over the newest seven known days;
    the last load and the mean load over the 24 h and 7 days up to ``T``; exogenous columns
    at ``t``. Quantiles are clipped at zero when ``nonnegative``.

    tz : time zone of the calendar features.
    horizon, min_lead : range of leads trained on (default 14 h to 38 h, for day-ahead
        forecasts issued at 10:00 local for the next local day).
    issue_hour : local hour of the training issue times (``None``: every ``issue_every``).
    """

    kind = ModelKind.LOAD
    measured = (TARGET,)

    def __init__(
        self,
        *,
        tz: str = "Europe/Berlin",
        horizon: pd.Timedelta = pd.Timedelta(hours=38),
        min_lead: pd.Timedelta = pd.Timedelta(hours=13),
        issue_hour: float | None = 10.0,
        issue_every: pd.Timedelta = pd.Timedelta(hours=1),
        nonnegative: bool = True,
        max_train_rows: int = 40_000,
        boosting: BoostingParams = BoostingParams(),
    ) -> None:
        super().__init__(
            tz=tz,
            horizon=horizon,
            min_lead=min_lead,
            issue_hour=issue_hour,
            issue_every=issue_every,
            max_train_rows=max_train_rows,
            boosting=boosting,
        )
        self.nonnegative = nonnegative

    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame

    def _features(self, prep: pd.DataFrame, issue: IntArray, target: IntArray) -> FloatArray:
        assert self.step is not None
        y = prep[TARGET].to_numpy(dtype=np.float64)
        day, week = int(DAY / self.step), int(WEEK / self.step)
        times = pd.DatetimeIndex(prep.index[target])
        cal = local_calendar(times, self.tz)
        lag_day = known_lag(y, issue, target, day)
        k = np.maximum(1, -(-(target - issue) // day))
        back = np.stack([target - (k + j) * day for j in range(7)])
        seen = np.where(back >= 0, y[np.maximum(back, 0)], np.nan)
        n_seen = np.isfinite(seen).sum(axis=0)
        hour_mean = np.divide(
            np.nansum(seen, axis=0), n_seen, out=np.full(n_seen.shape, np.nan), where=n_seen > 0
        )
        last, _ = last_known(y, issue)
        cols = [
            (target - issue) * (self.step / pd.Timedelta(hours=1)),
            cal["hour"],
            cal["weekday"],
            (cal["weekday"] >= 5).astype(np.float64),
            cal["doy_sin"],
            cal["doy_cos"],
            lag_day,
            known_lag(y, issue, target, week),
            hour_mean,
            last,
            trailing_mean(y, issue, day),
            trailing_mean(y, issue, week),
        ]
        cols += [prep[c].to_numpy(dtype=np.float64)[target] for c in self.exogenous]
        return np.column_stack(cols)

    def _label(self, prep: pd.DataFrame, issue: IntArray, target: IntArray) -> FloatArray:
        return prep[TARGET].to_numpy(dtype=np.float64)[target]

    def _output(
        self, prep: pd.DataFrame, issue: IntArray, target: IntArray, q: FloatArray
    ) -> FloatArray:
        return np.clip(q, 0.0, None) if self.nonnegative else q


def evaluate_load(
    history: pd.DataFrame,
    *,
    profile: str = "H25",
    min_train: pd.Timedelta = pd.Timedelta(days=182),
    refit_every: pd.Timedelta = pd.Timedelta(days=7),
    model: LoadForecaster | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """The documented day-ahead evaluation of ``LoadForecaster`` on ``history`` (``target``
    [kW] on a regular grid): forecasts issued at 10:00 local for the next local day, from
    ``min_train`` after the start, refitted every ``refit_every`` (``rolling_origin``), with
    the BDEW ``profile`` shape as exogenous column ``bdew``. Scored against the day and week
    persistence and the BDEW profile scaled to the trailing year's energy (``score``)."""
    model = model or LoadForecaster()
    grid = regular_grid(pd.DatetimeIndex(history.index))
    frame = history.reindex(grid)
    frame["bdew"] = bdew_column(grid, profile)
    step = pd.Timedelta(grid[1] - grid[0])
    pairs = day_ahead_pairs(grid, model.tz, grid[0] + min_train, model.issue_hour or 10.0)
    forecast = rolling_origin(model, frame, pairs, refit_every=refit_every, progress=progress)
    y = frame[TARGET].to_numpy(dtype=np.float64)
    issue, target = grid.get_indexer(pairs.issued), grid.get_indexer(pairs.times)
    baselines = load_persistence(y, issue, target, step)
    baselines["bdew"] = bdew_baseline(
        y,
        frame["bdew"].to_numpy(dtype=np.float64),
        issue,
        target,
        int(pd.Timedelta(days=365) / step),
    )
    figures = score(y[target], forecast, baselines)
    figures["days"] = float(len(np.unique(pairs.issued)))
    return figures
