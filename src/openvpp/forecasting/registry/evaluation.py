"""Leak-free rolling evaluation of a forecaster on a history.

The forecaster is fitted once on the history before ``start`` as known at ``start``; then,
for each issue time ``T`` in ``[start, end)`` (every ``issue_every``), it is asked for the
next ``horizon`` from the history as known at ``T`` (every vintage published later is left
out), with the measured values (the target, and what the model declares ``measured``, e.g.
a measured wind speed) at and after ``T`` hidden; other exogenous columns stay: they are
forecasts known before delivery. The forecasts are scored against the newest known values
and against the seasonal-naive baseline (same time one day earlier) asked the same way.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from openvpp.forecasting.baseline import SeasonalNaiveForecaster, infer_step
from openvpp.forecasting.metrics import quantile_scores
from openvpp.forecasting.protocol import (
    QUANTILE_COLUMNS,
    TARGET,
    Forecaster,
    check_history,
)

__all__ = [
    "EvaluationResult",
    "lead_window",
    "measured_columns",
    "rolling_forecasts",
    "score",
]


def measured_columns(model: object, history: pd.DataFrame) -> list[str]:
    """The columns of ``history`` that are measurements, hidden from the issue time on: the
    model's ``measured`` attribute (e.g. ``wind_speed`` besides ``target``), else
    ``target`` alone. Other columns are forecasts known before delivery."""
    names = getattr(model, "measured", (TARGET,))
    return [c for c in history.columns if c in names or c == TARGET]


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """Scores of the model and of the baseline over the same intervals."""

    metrics: dict[str, Any]
    forecasts: pd.DataFrame
    """``p10``/``p50``/``p90`` and ``actual`` per evaluated interval [UTC]."""


def lead_window(
    model: object, step: pd.Timedelta, issue_every: pd.Timedelta, horizon: pd.Timedelta
) -> tuple[pd.Timedelta, pd.Timedelta, pd.Timedelta]:
    """(first lead, issue period, span) of the evaluation. A model that declares the leads
    it was trained for (``min_lead``, ``horizon``, e.g. day-ahead load at 13 to 38 h, PV at
    30 min to 4 h) is asked for those leads, at most one day of them, issued every span;
    others for ``[T, T + horizon)`` every ``issue_every``."""
    low, high = getattr(model, "min_lead", None), getattr(model, "horizon", None)
    if isinstance(low, pd.Timedelta) and isinstance(high, pd.Timedelta):
        low = max(step, step * math.ceil(low / step))  # issue times stay on the data's grid
        span = max(step, min(high - low + step, pd.Timedelta(days=1)))
        return low, span, span
    return pd.Timedelta(0), issue_every, horizon


History = pd.DataFrame | Callable[[pd.Timestamp | None], pd.DataFrame]
"""A history frame, or a function giving the frame as known at an instant (``None``: the
newest knowledge, whose target values are the truth the forecasts are scored against)."""


def _as_known(history: History) -> Callable[[pd.Timestamp | None], pd.DataFrame]:
    if isinstance(history, pd.DataFrame):
        frame = history
        return lambda _when: frame
    return history


DAY = pd.Timedelta(days=1)


def _windows(
    start: pd.Timestamp,
    end: pd.Timestamp,
    first_lead: pd.Timedelta,
    issue_every: pd.Timedelta,
    horizon: pd.Timedelta,
    tz: str,
) -> list[tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]]:
    """(issue time, first and end of the forecast intervals) of each evaluated forecast.
    Day-ahead forecasts (no lead, daily) follow the calendar days of ``tz`` (23 or 25 hours on
    DST days), issued at each local midnight, so that a forecaster of local days is never
    asked for a day whose inputs were not published yet."""
    if first_lead == pd.Timedelta(0) and issue_every == horizon == DAY:
        local = pd.date_range(
            pd.Timestamp(start).tz_convert(tz).normalize(),
            pd.Timestamp(end).tz_convert(tz),
            freq="D",
        )
        bounds = local.tz_convert("UTC")
        if len(bounds) == 0 or bounds[-1] < end:
            extra = bounds[-1] + DAY if len(bounds) else end
            bounds = pd.DatetimeIndex([*bounds, extra])
        return [(a, max(a, start), b) for a, b in itertools.pairwise(bounds)]
    issues = pd.date_range(start - first_lead, end - first_lead, freq=issue_every, inclusive="left")
    return [(t, t + first_lead, t + first_lead + horizon) for t in issues]


def rolling_forecasts(
    model: Forecaster,
    history: History,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    issue_every: pd.Timedelta = pd.Timedelta(days=1),
    horizon: pd.Timedelta = pd.Timedelta(days=1),
    progress: Callable[[float], None] | None = None,
    first_lead: pd.Timedelta | None = None,
    tz: str = "UTC",
) -> pd.DataFrame:
    """Forecasts of a fitted ``model`` issued every ``issue_every``, each for ``[T, T +
    horizon)`` (or the model's own leads, :func:`lead_window`) from the history as known at
    ``T`` with the measured values hidden from ``T`` on, covering the intervals of
    ``[start, end)``. Returns ``p10``/``p50``/``p90`` and ``actual`` (the newest knowledge)
    per interval; intervals whose actual value is unknown are left out."""
    known_at = _as_known(history)
    latest = known_at(None)
    check_history(latest)
    step = infer_step(pd.DatetimeIndex(latest.index))
    if first_lead is None:
        first_lead, issue_every, horizon = lead_window(model, step, issue_every, horizon)
    windows = _windows(start, end, first_lead, issue_every, horizon, tz)
    target = latest[TARGET]
    hidden = measured_columns(model, latest)
    parts: list[pd.DataFrame] = []
    for i, (issued, lo, hi) in enumerate(windows):
        index = pd.date_range(lo, min(hi, end), freq=step, inclusive="left")
        then = known_at(issued)
        known = then[then.index < hi].copy()
        known.loc[known.index >= issued, hidden] = np.nan
        if index.empty or known[TARGET].notna().sum() < 2:
            continue
        frame = model.predict(known, index)[list(QUANTILE_COLUMNS)]
        frame["actual"] = target.reindex(index).to_numpy()
        parts.append(frame)
        if progress is not None:
            progress((i + 1) / len(windows))
    if not parts:
        raise ValueError("no forecast could be made in the evaluation period")
    out = pd.concat(parts)
    return out[out["actual"].notna()]


def score(
    factory: Callable[[], Forecaster],
    history: History,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    issue_every: pd.Timedelta = pd.Timedelta(days=1),
    horizon: pd.Timedelta = pd.Timedelta(days=1),
    progress: Callable[[float], None] | None = None,
    tz: str = "UTC",
) -> EvaluationResult:
    """Fit ``factory()`` on the history before ``start`` as known at ``start``, forecast
    ``[start, end)`` rolling (:func:`rolling_forecasts`) and score it against the daily
    seasonal-naive baseline asked the same way: ``mae``, ``rmse``, ``pinball``,
    ``coverage_80``, the baseline's ``baseline_mae`` and ``baseline_rmse``, and
    ``skill_mae`` / ``skill_rmse`` = 1 - model / baseline."""
    known_at = _as_known(history)
    then = known_at(start)
    train = then[then.index < start]
    if train[TARGET].notna().sum() < 2:
        raise ValueError("no training data before the evaluation period")
    model = factory().fit(train)
    step = infer_step(pd.DatetimeIndex(then.index))
    # the baseline is asked at the same issue times for the same intervals
    lead, every, span = lead_window(model, step, issue_every, horizon)
    forecasts = rolling_forecasts(
        model, known_at, start, end,
        issue_every=every, horizon=span, first_lead=lead, progress=progress, tz=tz,
    )  # fmt: skip
    baseline = SeasonalNaiveForecaster(season_hours=24).fit(train)
    naive = rolling_forecasts(
        baseline, known_at, start, end, issue_every=every, horizon=span, first_lead=lead, tz=tz
    )
    common = forecasts.index.intersection(naive.index)
    if common.empty:
        raise ValueError("the model and the baseline have no evaluated interval in common")
    f, n = forecasts.loc[common], naive.loc[common]
    actual = f["actual"].to_numpy()
    mine = quantile_scores(actual, f[list(QUANTILE_COLUMNS)].to_numpy())
    base = quantile_scores(actual, n[list(QUANTILE_COLUMNS)].to_numpy())
    metrics: dict[str, Any] = {
        **mine,
        "baseline": "seasonal_naive_24h",
        "baseline_mae": base["mae"],
        "baseline_rmse": base["rmse"],
        "skill_mae": 1.0 - mine["mae"] / base["mae"] if base["mae"] > 0 else None,
        "skill_rmse": 1.0 - mine["rmse"] / base["rmse"] if base["rmse"] > 0 else None,
        "intervals": len(common),
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    return EvaluationResult(metrics, forecasts.loc[common])
