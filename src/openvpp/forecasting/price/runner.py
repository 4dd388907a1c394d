"""Rolling day-ahead benchmark on the epftoolbox protocol.

The last ``test_days`` days of the data are the test period. For each test day D the model is
recalibrated on data up to D-1 and forecasts the 24 prices of D; exogenous columns are
day-ahead forecasts, so those of D may be used. Leak-free by construction: the regressors of
day D only hold prices of D-1 and earlier (``build_features`` asserts every price lag >= 1), the
training targets for D are the rows strictly before D (``forecast_window`` asserts it), and the
last day's price, which no fit needs, is replaced by NaN so any leak shows as a NaN forecast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.forecasting.price.data import DayMatrix, load_day_matrix, to_day_matrix
from openvpp.forecasting.price.lear import MAX_LAG, LearConfig, forecast_days

__all__ = ["BenchmarkResult", "run_benchmark"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BenchmarkResult:
    """Forecasts and real prices of the test period.

    forecasts, actual : ``(n_test_days, 24)`` [currency/MWh].
    dates : ``(n_test_days,)`` delivery days.
    per_window : forecasts of each calibration window [currency/MWh], keyed by window [days].
    wall_time_s : wall-clock time of the rolling run [s].
    """

    forecasts: FloatArray
    actual: FloatArray
    dates: NDArray[np.datetime64]
    per_window: dict[int, FloatArray]
    wall_time_s: float


def run_benchmark(
    data: str | Path | pd.DataFrame | DayMatrix,
    *,
    model: Literal["lear"] = "lear",
    test_days: int = 728,
    config: LearConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> BenchmarkResult:
    """Forecast the last ``test_days`` days of ``data`` with daily recalibration.

    data : an epftoolbox-layout CSV path, frame, or a ``DayMatrix``.
    progress : called with each finished day index (only when ``config.n_jobs == 1``;
        with worker processes it is called once per finished window).
    """
    if model != "lear":
        raise ValueError(f"unknown model {model!r}; available: 'lear'")
    if isinstance(data, DayMatrix):
        dm = data
    elif isinstance(data, pd.DataFrame):
        dm = to_day_matrix(data)
    else:
        dm = load_day_matrix(data)
    first = dm.n_days - test_days
    if test_days < 1 or first < MAX_LAG + 2:
        raise ValueError(
            f"test_days={test_days} leaves {first} training days; need at least {MAX_LAG + 2}"
        )
    cfg = config or LearConfig()
    prices = dm.prices.copy()
    days = range(first, dm.n_days)
    # Day D+1's fit needs D's price; the last test day's price is never needed, so hide it.
    prices[-1] = np.nan
    start = time.perf_counter()
    forecasts, per_window = forecast_days(
        prices,
        dm.exogenous,
        dm.day_of_week,
        days,
        cfg,
        progress if cfg.n_jobs == 1 else None,
    )
    wall = time.perf_counter() - start
    if progress is not None and cfg.n_jobs != 1:
        for _ in per_window:
            progress(dm.n_days - 1)
    if not np.all(np.isfinite(forecasts)):
        raise RuntimeError("non-finite forecast: a test price leaked into a feature row")
    return BenchmarkResult(
        forecasts=forecasts,
        actual=dm.prices[first:].copy(),
        dates=dm.dates[first:].copy(),
        per_window=per_window,
        wall_time_s=wall,
    )
