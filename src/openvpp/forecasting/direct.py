"""Direct multi-horizon quantile forecasting on (issue time, target time) pairs.

Every forecast is a pair: an issue time ``T`` (the newest time whose measured values are
known) and a target time ``t > T``. One gradient-boosted model per quantile covers all leads
``t - T`` at once (the lead is a feature), so the same model serves intraday and day-ahead
questions. Features of a pair read measured values at positions ``<= T`` only; the helpers
below work on integer positions of a regular time grid and are vectorized over pairs:

- ``known_lag``: the value at ``t - k * period`` for the smallest ``k`` with
  ``t - k * period <= T`` (e.g. "same time on the newest known day");
- ``trailing_mean``: the mean of the finite values in the ``window`` steps ending at ``T``;
- ``last_known``: the newest finite value at or before ``T``.

``DirectQuantileModel`` is the shared engine of the load, PV and wind forecasters: subclasses
say which columns are measured (masked after the issue time), how to derive model columns from
the grid, the features of a pair, the label and how a label quantile maps to the output.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from openvpp.forecasting.protocol import QUANTILES, ModelKind, check_history, quantile_frame

__all__ = [
    "BoostingParams",
    "DirectQuantileModel",
    "QuantileBoost",
    "known_lag",
    "last_known",
    "regular_grid",
    "trailing_mean",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def known_lag(
    values: FloatArray, issue_pos: IntArray, target_pos: IntArray, period: int
) -> FloatArray:
    """Value at ``target - k * period`` for the smallest ``k >= 1`` that is ``<= issue``.

    values : the measured series on the grid (NaN where unknown).
    issue_pos, target_pos : positions of the pairs, ``target > issue``.
    period : the season [steps], e.g. 24 for "same hour of the newest known day" on hourly data.
    NaN where that position is before the series' start or the value is missing.
    """
    lead = target_pos - issue_pos
    k = np.maximum(1, -(-lead // period))  # ceil(lead / period)
    pos = target_pos - k * period
    out = np.full(pos.shape, np.nan)
    ok = pos >= 0
    out[ok] = values[pos[ok]]
    return out


def trailing_mean(values: FloatArray, issue_pos: IntArray, window: int) -> FloatArray:
    """Mean of the finite values among the ``window`` steps ending at (and including) each
    issue position; NaN when there are none."""
    finite = np.isfinite(values)
    csum = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    ccnt = np.concatenate([[0], np.cumsum(finite)])
    hi = issue_pos + 1
    lo = np.maximum(hi - window, 0)
    count = ccnt[hi] - ccnt[lo]
    total = csum[hi] - csum[lo]
    out = np.full(hi.shape, np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out


def last_known(values: FloatArray, issue_pos: IntArray) -> tuple[FloatArray, FloatArray]:
    """The newest finite value at or before each issue position and its age [steps]
    (NaN and NaN when nothing is known yet)."""
    pos = np.arange(values.size)
    newest = np.maximum.accumulate(np.where(np.isfinite(values), pos, -1))
    at = newest[issue_pos]
    ok = at >= 0
    value = np.full(issue_pos.shape, np.nan)
    age = np.full(issue_pos.shape, np.nan)
    value[ok] = values[at[ok]]
    age[ok] = (issue_pos - at)[ok]
    return value, age


def regular_grid(index: pd.DatetimeIndex, step: pd.Timedelta | None = None) -> pd.DatetimeIndex:
    """The regular UTC grid from ``index[0]`` to ``index[-1]`` on ``step`` (default: the most
    common spacing); raises ``ValueError`` when a time of ``index`` is off that grid."""
    if len(index) < 2 and step is None:
        raise ValueError("need at least two times to tell the step")
    if step is None:
        step = pd.Timedelta(pd.Series(index[1:] - index[:-1]).mode().iloc[0])
    utc = index.tz_convert("UTC")
    grid = pd.date_range(utc[0], utc[-1], freq=step)
    if len(grid.get_indexer(utc)) and (grid.get_indexer(utc) < 0).any():
        raise ValueError(f"history times are not on a regular {step} grid")
    return grid


@dataclass(frozen=True)
class BoostingParams:
    """Settings of the per-quantile ``HistGradientBoostingRegressor`` models."""

    max_iter: int = 150
    learning_rate: float = 0.08
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    random_state: int = 0
    threads: int = 1  # OpenMP threads; more spin and slow down badly on a busy machine


class QuantileBoost:
    """One gradient-boosted regressor per level of ``QUANTILES`` (pinball loss)."""

    def __init__(self, params: BoostingParams) -> None:
        self.params = params
        self.models: list[HistGradientBoostingRegressor] = []

    def fit(self, x: FloatArray, y: FloatArray) -> QuantileBoost:
        p = self.params
        with threadpool_limits(p.threads, user_api="openmp"):
            self.models = self._fit(x, y)
        return self

    def _fit(self, x: FloatArray, y: FloatArray) -> list[HistGradientBoostingRegressor]:
        p = self.params
        return [
            HistGradientBoostingRegressor(
                loss="quantile",
                quantile=q,
                max_iter=p.max_iter,
                learning_rate=p.learning_rate,
                max_leaf_nodes=p.max_leaf_nodes,
                min_samples_leaf=p.min_samples_leaf,
                early_stopping=False,
                random_state=p.random_state,
            ).fit(x, y)
            for q in QUANTILES
        ]

    def predict(self, x: FloatArray) -> FloatArray:
        """Quantiles ``(n, 3)``, sorted per row so they never cross."""
        if not self.models:
            raise RuntimeError("the model is not fitted")
        with threadpool_limits(self.params.threads, user_api="openmp"):
            cols = [np.asarray(m.predict(x), dtype=np.float64) for m in self.models]
        return np.sort(np.column_stack(cols), axis=1)


class DirectQuantileModel(ABC):
    """Shared fit/predict of the direct forecasters (see the module docstring).

    horizon, min_lead : the longest and shortest lead trained on.
    issue_hour : local hour of the training issue times (e.g. 10.0 for day-ahead bids);
        ``None`` takes issue times every ``issue_every``.
    max_train_rows : pairs kept for training per model (evenly thinned, newest kept).
    max_lead_models : with at most this many leads, one model per lead (the classic direct
        strategy: short leads stay close to persistence); otherwise one model for all leads,
        the lead being a feature.
    train_leads : train on these leads only (default: every step from ``min_lead`` to
        ``horizon``); other leads use the nearest trained one's model.
    """

    kind: ModelKind
    measured: tuple[str, ...] = ("target",)

    def __init__(
        self,
        *,
        tz: str,
        horizon: pd.Timedelta,
        min_lead: pd.Timedelta,
        issue_hour: float | None,
        issue_every: pd.Timedelta,
        max_train_rows: int,
        boosting: BoostingParams,
        max_lead_models: int = 12,
        train_leads: tuple[pd.Timedelta, ...] = (),
    ) -> None:
        if not pd.Timedelta(0) < min_lead <= horizon:
            raise ValueError(f"need 0 < min_lead <= horizon, got {min_lead} and {horizon}")
        self.tz = tz
        self.horizon = pd.Timedelta(horizon)
        self.min_lead = pd.Timedelta(min_lead)
        self.issue_hour = issue_hour
        self.issue_every = pd.Timedelta(issue_every)
        self.max_train_rows = max_train_rows
        self.boosting = boosting
        self.step: pd.Timedelta | None = None
        self.exogenous: tuple[str, ...] = ()
        self.max_lead_models = max_lead_models
        self.train_leads = tuple(pd.Timedelta(t) for t in train_leads)
        self.per_lead = False
        self.models: dict[int, QuantileBoost] = {}

    # --- hooks -------------------------------------------------------------------------------
    @abstractmethod
    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Model columns derived row by row from ``frame`` (a regular UTC grid)."""

    @abstractmethod
    def _features(self, prep: pd.DataFrame, issue: IntArray, target: IntArray) -> FloatArray:
        """Features ``(n, k)`` of the pairs; measured values at positions ``<= issue`` only."""

    @abstractmethod
    def _label(self, prep: pd.DataFrame, issue: IntArray, target: IntArray) -> FloatArray:
        """The modelled quantity of the pairs (NaN: not a training row)."""

    @abstractmethod
    def _output(
        self, prep: pd.DataFrame, issue: IntArray, target: IntArray, q: FloatArray
    ) -> FloatArray:
        """The forecast ``(n, 3)`` in the target unit from label quantiles ``q``."""

    def _calibrate(self, prep: pd.DataFrame) -> bool:
        """Fit constants from the training grid; ``True`` when ``_prepare`` must be redone
        with them (default: none, ``False``)."""
        return False

    # --- shared ------------------------------------------------------------------------------
    def _grid(self, history: pd.DataFrame, until: pd.Timestamp | None = None) -> pd.DataFrame:
        index = pd.DatetimeIndex(history.index)
        grid = regular_grid(index, self.step)
        if until is not None and until > grid[-1]:
            assert self.step is not None
            grid = pd.date_range(grid[0], until, freq=self.step)
        frame = history.copy()
        frame.index = index.tz_convert("UTC")
        return frame.reindex(grid)

    def _issue_positions(self, grid: pd.DatetimeIndex) -> IntArray:
        assert self.step is not None
        if self.issue_hour is None:
            every = max(1, int(self.issue_every / self.step))
            return np.arange(0, len(grid), every, dtype=np.int64)
        local = grid.tz_convert(self.tz)
        hour = np.asarray(local.hour + local.minute / 60.0, dtype=np.float64)
        return np.flatnonzero(np.isclose(hour, self.issue_hour)).astype(np.int64)

    def fit(self, history: pd.DataFrame) -> DirectQuantileModel:
        """Train on ``history`` (UTC index, regular step; columns per the subclass)."""
        check_history(history, need_target=self.measured[0] == "target")
        self.step = None
        frame = self._grid(history)
        self.step = pd.Timedelta(frame.index[1] - frame.index[0])
        self.exogenous = tuple(c for c in history.columns if c not in self.measured)
        prep = self._prepare(frame)
        if self._calibrate(prep):
            prep = self._prepare(frame)
        lo, hi = int(self.min_lead / self.step), int(self.horizon / self.step)
        leads = np.arange(max(lo, 1), hi + 1, dtype=np.int64)
        if self.train_leads:
            leads = np.unique([max(1, int(lead / self.step)) for lead in self.train_leads])
        issues = self._issue_positions(pd.DatetimeIndex(frame.index))
        issue = np.repeat(issues, leads.size)
        target = issue + np.tile(leads, issues.size)
        keep = target < len(frame)
        issue, target = issue[keep], target[keep]
        y = self._label(prep, issue, target)
        ok = np.isfinite(y)
        issue, target, y = issue[ok], target[ok], y[ok]
        if y.size < 50:
            raise ValueError(f"only {y.size} training pairs; give a longer history")
        self.per_lead = leads.size <= self.max_lead_models
        key = target - issue if self.per_lead else np.zeros_like(target)
        self.models = {}
        for k in np.unique(key):
            sel = np.flatnonzero(key == k)
            if sel.size > self.max_train_rows:
                sel = sel[np.linspace(0, sel.size - 1, self.max_train_rows).round().astype(int)]
            x = self._features(prep, issue[sel], target[sel])
            self.models[int(k)] = QuantileBoost(self.boosting).fit(x, y[sel])
        return self

    def _predict_models(self, x: FloatArray, lead: IntArray) -> FloatArray:
        """Quantiles from the model of each row's lead (the nearest trained lead)."""
        keys = np.asarray(sorted(self.models), dtype=np.int64)
        if not self.per_lead:
            return self.models[int(keys[0])].predict(x)
        near = keys[np.abs(lead[:, None] - keys[None, :]).argmin(axis=1)]
        out = np.empty((len(lead), len(QUANTILES)))
        for k in np.unique(near):
            sel = near == k
            out[sel] = self.models[int(k)].predict(x[sel])
        return out

    def predict_pairs(
        self, history: pd.DataFrame, issued: pd.DatetimeIndex, times: pd.DatetimeIndex
    ) -> FloatArray:
        """Forecasts ``(n, 3)`` of target ``times`` issued at ``issued`` (pairwise, UTC).

        Measured columns after the newest issue time are dropped first; each pair's features
        read measured values up to its own issue time only.
        """
        if not self.models or self.step is None:
            raise RuntimeError("the forecaster is not fitted; call fit first")
        if len(issued) != len(times) or not (times > issued).all():
            raise ValueError("every target time must come after its issue time")
        frame = self._grid(history, until=times.max())
        newest = issued.max()
        measured = [c for c in self.measured if c in frame.columns]
        frame.loc[frame.index > newest, measured] = np.nan
        missing = [c for c in self.exogenous if c not in frame.columns]
        if missing:
            raise ValueError(f"history lacks the exogenous columns {missing} seen in fit")
        prep = self._prepare(frame)
        grid = pd.DatetimeIndex(frame.index)
        issue = grid.get_indexer(issued.tz_convert("UTC")).astype(np.int64)
        target = grid.get_indexer(times.tz_convert("UTC")).astype(np.int64)
        if (issue < 0).any() or (target < 0).any():
            raise ValueError(f"issue and target times must lie on the {self.step} grid")
        q = self._predict_models(self._features(prep, issue, target), target - issue)
        return self._output(prep, issue, target, q)

    def issue_time(self, history: pd.DataFrame) -> pd.Timestamp:
        """The newest time with a known value of the first measured column [UTC]."""
        col = self.measured[0]
        if col not in history.columns:
            raise ValueError(f"history has no {col!r} column")
        known = history.index[history[col].notna().to_numpy()]
        if len(known) == 0:
            raise ValueError(f"history has no known {col!r} value")
        return pd.Timestamp(known[-1]).tz_convert("UTC")

    def predict(
        self,
        history: pd.DataFrame,
        index: pd.DatetimeIndex,
        *,
        issued_at: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Quantile forecasts ``p10``/``p50``/``p90`` for ``index`` (UTC), issued at
        ``issued_at`` (default: the newest known measured value); measured values after the
        issue time are ignored."""
        check_history(history, need_target=False)
        issue = self.issue_time(history) if issued_at is None else pd.Timestamp(issued_at)
        times = pd.DatetimeIndex(index).tz_convert("UTC")
        issued = pd.DatetimeIndex([issue.tz_convert("UTC")] * len(times))
        values = self.predict_pairs(history, issued, times)
        return quantile_frame(pd.DatetimeIndex(index), values)


def local_calendar(times: pd.DatetimeIndex, tz: str) -> dict[str, FloatArray]:
    """Local hour of day [h], weekday (0 = Monday) and day of year as cyclic pair, per time."""
    local = times.tz_convert(tz)
    doy = np.asarray(local.dayofyear, dtype=np.float64)
    return {
        "hour": np.asarray(local.hour + local.minute / 60.0, dtype=np.float64),
        "weekday": np.asarray(local.dayofweek, dtype=np.float64),
        "doy_sin": np.sin(2 * np.pi * doy / 365.25),
        "doy_cos": np.cos(2 * np.pi * doy / 365.25),
    }
