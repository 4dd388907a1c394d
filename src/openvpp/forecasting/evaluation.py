"""Rolling-origin evaluation of direct forecasters, leak-free, and its scores.

Protocol: the forecast pairs (issue time ``T``, target time ``t``) of a test period are
grouped into blocks of ``refit_every``; before each block the model is refitted on the
history up to the block's start ``R`` (rows after ``R`` are cut off, so no training label
or feature comes from later), and the block's forecasts read measured values up to their
own issue time only (``DirectQuantileModel.predict_pairs``). The first block starts
``min_train`` after the history's start (expanding window).

Scores: MAE and RMSE of the ``p50`` and of each baseline, skill ``1 - RMSE / RMSE_baseline``,
the mean pinball loss of the three quantiles and the coverage of the ``p10``-``p90`` band.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.forecasting.direct import DirectQuantileModel, FloatArray
from openvpp.forecasting.metrics import mae, quantile_scores, rmse
from openvpp.forecasting.protocol import QUANTILES

__all__ = [
    "Pairs",
    "day_ahead_pairs",
    "intraday_pairs",
    "rolling_origin",
    "score",
    "skill",
]


@dataclass(frozen=True)
class Pairs:
    """Forecast questions: target ``times`` issued at ``issued`` (UTC, pairwise)."""

    issued: pd.DatetimeIndex
    times: pd.DatetimeIndex
    lead: pd.TimedeltaIndex = field(init=False)

    def __post_init__(self) -> None:
        if len(self.issued) != len(self.times):
            raise ValueError("issued and times must have the same length")
        object.__setattr__(self, "lead", pd.TimedeltaIndex(self.times - self.issued))

    def __len__(self) -> int:
        return len(self.issued)

    def select(self, mask: NDArray[np.bool_]) -> Pairs:
        return Pairs(self.issued[mask], self.times[mask])


def intraday_pairs(
    grid: pd.DatetimeIndex, leads: Sequence[pd.Timedelta], start: pd.Timestamp
) -> Pairs:
    """Issues at every time of ``grid`` from ``start`` on, each for ``leads`` ahead (targets
    kept only when on the grid)."""
    issue = grid[grid >= start]
    issued = issue.repeat(len(leads))
    times = issued + pd.TimedeltaIndex(list(leads) * len(issue))
    keep = times <= grid[-1]
    return Pairs(pd.DatetimeIndex(issued[keep]), pd.DatetimeIndex(times[keep]))


def day_ahead_pairs(
    grid: pd.DatetimeIndex, tz: str, start: pd.Timestamp, issue_hour: float = 10.0
) -> Pairs:
    """For each local day ``D`` whose issue time (``issue_hour`` local on ``D - 1``) is on
    ``grid`` at or after ``start``: every grid time of ``D`` (local midnight to midnight)."""
    local = grid.tz_convert(tz)
    day = local.normalize()
    issue_local = (day - pd.Timedelta(days=1)).tz_localize(None) + pd.to_timedelta(
        issue_hour, unit="h"
    )
    issued = (
        pd.DatetimeIndex(issue_local)
        .tz_localize(tz, nonexistent="NaT", ambiguous="NaT")
        .tz_convert("UTC")
    )
    keep = np.asarray(issued.notna()) & np.asarray(issued.isin(grid))
    keep &= np.asarray(issued >= start)
    return Pairs(pd.DatetimeIndex(issued[keep]), pd.DatetimeIndex(grid[keep]))


def rolling_origin(
    model: DirectQuantileModel,
    history: pd.DataFrame,
    pairs: Pairs,
    *,
    refit_every: pd.Timedelta,
    progress: Callable[[int, int], None] | None = None,
) -> FloatArray:
    """Forecasts ``(len(pairs), 3)`` of the pairs, refitting ``model`` before each block of
    ``refit_every`` on the history up to the block's start (see the module docstring)."""
    out = np.full((len(pairs), len(QUANTILES)), np.nan)
    if len(pairs) == 0:
        return out
    first = pairs.issued.min()
    block = np.asarray((pairs.issued - first) // refit_every, dtype=np.int64)
    blocks = np.unique(block)
    for n, b in enumerate(blocks):
        start = first + int(b) * refit_every
        model.fit(history.loc[history.index <= start])
        sel = block == b
        sub = pairs.select(sel)
        out[sel] = model.predict_pairs(history, sub.issued, sub.times)
        if progress is not None:
            progress(n + 1, len(blocks))
    return out


def skill(model_rmse: float, baseline_rmse: float) -> float:
    """Skill score ``1 - RMSE_model / RMSE_baseline`` [-]: positive beats the baseline."""
    if baseline_rmse <= 0:
        raise ValueError("the baseline is perfect: skill is undefined")
    return 1.0 - model_rmse / baseline_rmse


def score(
    actual: FloatArray,
    forecast: FloatArray,
    baselines: Mapping[str, FloatArray],
    mask: NDArray[np.bool_] | None = None,
) -> dict[str, float]:
    """Scores of quantile ``forecast`` ``(n, 3)`` against ``actual`` and each baseline,
    over the rows where ``mask`` holds and every value is finite.

    Keys: ``n``, ``mae``, ``rmse``, ``pinball``, ``coverage_80`` (share of actuals within
    ``p10``-``p90``), and per baseline ``<name>_mae``, ``<name>_rmse``, ``skill_<name>``.
    """
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(f).all(axis=1)
    for b in baselines.values():
        ok &= np.isfinite(b)
    if mask is not None:
        ok &= np.asarray(mask, dtype=bool)
    if not ok.any():
        raise ValueError("no pair with finite actual, forecast and baselines to score")
    a, f = a[ok], f[ok]
    out: dict[str, float] = {"n": float(ok.sum()), **quantile_scores(a, f)}
    for name, b in baselines.items():
        base = np.asarray(b, dtype=np.float64)[ok]
        out[f"{name}_mae"] = mae(a, base)
        out[f"{name}_rmse"] = rmse(a, base)
        out[f"skill_{name}"] = skill(out["rmse"], out[f"{name}_rmse"])
    return out
