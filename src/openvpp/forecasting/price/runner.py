"""Rolling day-ahead benchmark on the epftoolbox protocol.

The last ``test_days`` days of the data are the test period. For each test day D the models are
recalibrated on data up to D-1 and forecast the 24 prices of D; exogenous columns are
day-ahead forecasts, so those of D may be used. Leak-free by construction: the regressors of
day D only hold prices of D-1 and earlier (``build_features`` asserts every price lag >= 1), the
training targets for D are the rows strictly before D (``forecast_window`` asserts it), and the
last day's price, which no fit needs, is replaced by NaN so any leak shows as a NaN forecast.

Models: ``lear`` (LEAR, daily recalibration, the mean over its calibration windows), ``gbm``
(LightGBM, retrained every ``GbmConfig.retrain_every`` days) and ``ensemble``, the weighted
mean ``(1 - w) LEAR + w GBM`` with ``w = ENSEMBLE_GBM_WEIGHT`` (fixed, the same for every
market). Quantiles ``p10``/``p50``/``p90`` come from the errors of the days before D
(:mod:`~openvpp.forecasting.price.quantiles`); to seed them, ``warmup`` days before the test
period are forecast the same way and not scored.

The work is cut into chunks (one calibration window or the booster over a block of days) that
run in ``n_jobs`` worker processes (live progress, balanced load). Chunk lengths are multiples
of the penalty re-selection and retraining periods, so those days do not depend on the
chunking; LEAR's warm start restarts at each chunk (the same optimum within the solver
tolerance).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.forecasting.price.data import DayMatrix, load_day_matrix, to_day_matrix
from openvpp.forecasting.price.gbm import GbmConfig, forecast_days_gbm
from openvpp.forecasting.price.lear import MAX_LAG, LearConfig, build_features, forecast_window
from openvpp.forecasting.price.quantiles import DEFAULT_LEVELS, quantile_forecasts

__all__ = [
    "ENSEMBLE_GBM_WEIGHT",
    "MODELS",
    "BenchmarkResult",
    "PriceModel",
    "combine",
    "rolling_forecasts",
    "run_benchmark",
]

FloatArray = NDArray[np.float64]
PriceModel = Literal["lear", "gbm", "ensemble"]
MODELS: tuple[str, ...] = ("lear", "gbm", "ensemble")
ENSEMBLE_GBM_WEIGHT = 0.4
CHUNK_DAYS = 56
# Lags (7 days), 2 training days, 1 warm-up day to seed the quantiles.
MIN_TRAIN_DAYS = MAX_LAG + 3


@dataclass(frozen=True, slots=True)
class BenchmarkResult:
    """Forecasts and real prices of the test period.

    forecasts, actual : ``(n_test_days, 24)`` [currency/MWh].
    quantiles : ``(n_test_days, 24, 3)`` p10/p50/p90 [currency/MWh].
    dates : ``(n_test_days,)`` delivery days.
    per_window : LEAR forecasts of each calibration window [currency/MWh], keyed by window
        [days] (empty for ``gbm``).
    per_model : point forecasts of each model run (``lear``, ``gbm``) [currency/MWh].
    wall_time_s : wall-clock time of the rolling run [s].
    quantiles_per_model : p10/p50/p90 of each model run, from its own errors [currency/MWh].
    """

    forecasts: FloatArray
    actual: FloatArray
    dates: NDArray[np.datetime64]
    per_window: dict[int, FloatArray]
    wall_time_s: float
    quantiles: FloatArray = field(default_factory=lambda: np.empty((0, 24, 3)))
    per_model: dict[str, FloatArray] = field(default_factory=dict)
    quantiles_per_model: dict[str, FloatArray] = field(default_factory=dict)


def combine(per_model: dict[str, FloatArray], model: str) -> FloatArray:
    """The point forecast of ``model`` from the forecasts of its members [currency/MWh]."""
    if model == "ensemble":
        w = ENSEMBLE_GBM_WEIGHT
        return (1.0 - w) * per_model["lear"] + w * per_model["gbm"]
    return per_model[model]


def _chunks(days: list[int], size: int) -> list[list[int]]:
    return [days[i : i + size] for i in range(0, len(days), size)]


def _run_chunk(
    kind: str, arg: int, days: list[int], inputs: dict[str, Any]
) -> tuple[str, int, list[int], FloatArray]:
    """One unit of work: LEAR window ``arg`` or the booster over ``days``.

    BLAS runs on one thread, in a worker process or not, so the forecasts do not depend on
    ``n_jobs`` (summation order)."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=1):
        return _run_chunk_inner(kind, arg, days, inputs)


def _run_chunk_inner(
    kind: str, arg: int, days: list[int], inputs: dict[str, Any]
) -> tuple[str, int, list[int], FloatArray]:
    if kind == "lear":
        cfg: LearConfig = inputs["lear_config"]
        out = forecast_window(inputs["features"], inputs["prices"], days, arg, cfg)
    else:
        out = forecast_days_gbm(
            inputs["prices"], inputs["exogenous"], inputs["dow"], days, inputs["gbm_config"]
        )
    return kind, arg, days, out


def rolling_forecasts(
    dm: DayMatrix,
    days: list[int],
    model: str = "ensemble",
    lear_config: LearConfig | None = None,
    gbm_config: GbmConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, FloatArray], dict[int, FloatArray]]:
    """Daily forecasts of ``days`` (consecutive day indices of ``dm``) by every member of
    ``model``: ``({"lear": ..., "gbm": ...}, LEAR per window)``, each ``(len(days), 24)``
    [currency/MWh]. Day D's forecast reads prices of days < D only. ``progress`` is called
    once per member (each LEAR window, the booster) and forecast day.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; available: {', '.join(MODELS)}")
    lcfg = lear_config or LearConfig()
    gcfg = gbm_config or GbmConfig()
    use_lear, use_gbm = model in ("lear", "ensemble"), model in ("gbm", "ensemble")
    inputs: dict[str, Any] = {
        "prices": dm.prices,
        "exogenous": dm.exogenous,
        "dow": dm.day_of_week,
        "lear_config": lcfg,
        "gbm_config": gcfg,
    }
    if use_lear:
        inputs["features"] = build_features(dm.prices, dm.exogenous, dm.day_of_week)
    # Chunk lengths are multiples of both periods, so the penalty selection and retraining
    # days do not depend on the chunking.
    period = math.lcm(lcfg.select_every, gcfg.retrain_every)
    size = period * max(1, -(-CHUNK_DAYS // period))
    tasks: list[tuple[str, int, list[int]]] = []
    for chunk in _chunks(days, size):
        # The long windows cost most: start them first, the short ones fill in behind.
        if use_lear:
            tasks += [("lear", w, chunk) for w in sorted(lcfg.windows, reverse=True)]
        if use_gbm:
            tasks.append(("gbm", 0, chunk))
    results: list[tuple[str, int, list[int], FloatArray]] = []
    if lcfg.n_jobs == 1:
        for kind, arg, chunk in tasks:
            results.append(_run_chunk(kind, arg, chunk, inputs))
            _report(progress, chunk)
    else:
        from joblib import Parallel, delayed, parallel_config

        # One BLAS/OpenMP thread per worker: the workers already fill the cores.
        with parallel_config(backend="loky", inner_max_num_threads=1):
            jobs = Parallel(n_jobs=lcfg.n_jobs, return_as="generator_unordered")(
                delayed(_run_chunk)(kind, arg, chunk, inputs) for kind, arg, chunk in tasks
            )
            for res in jobs:
                results.append(res)
                _report(progress, res[2])
    return _assemble(results, days, lcfg, use_lear, use_gbm)


def _report(progress: Callable[[int], None] | None, days: list[int]) -> None:
    if progress is not None:
        for d in days:
            progress(d)


def _assemble(
    results: list[tuple[str, int, list[int], FloatArray]],
    days: list[int],
    lcfg: LearConfig,
    use_lear: bool,
    use_gbm: bool,
) -> tuple[dict[str, FloatArray], dict[int, FloatArray]]:
    pos = {d: i for i, d in enumerate(days)}
    per_window = {w: np.full((len(days), 24), np.nan) for w in lcfg.windows} if use_lear else {}
    gbm = np.full((len(days), 24), np.nan)
    for kind, arg, chunk, out in results:
        rows = [pos[d] for d in chunk]
        (per_window[arg] if kind == "lear" else gbm)[rows] = out
    per_model: dict[str, FloatArray] = {}
    if use_lear:
        per_model["lear"] = np.mean(np.stack(list(per_window.values())), axis=0)
    if use_gbm:
        per_model["gbm"] = gbm
    return per_model, per_window


def run_benchmark(
    data: str | Path | pd.DataFrame | DayMatrix,
    *,
    model: PriceModel = "lear",
    test_days: int = 728,
    config: LearConfig | None = None,
    gbm_config: GbmConfig | None = None,
    warmup: int = 28,
    quantile_window: int = 56,
    progress: Callable[[int], None] | None = None,
) -> BenchmarkResult:
    """Forecast the last ``test_days`` days of ``data`` with daily recalibration.

    data : an epftoolbox-layout CSV path, frame, or a ``DayMatrix``.
    warmup : days before the test period forecast only to seed the quantiles [days]
        (shortened when the data has fewer; at least 1).
    quantile_window : past days whose errors set the quantiles [days].
    progress : called once per member (each LEAR window, the booster) and test day
        (``progress_steps`` gives the total).
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; available: {', '.join(MODELS)}")
    if isinstance(data, DayMatrix):
        dm = data
    elif isinstance(data, pd.DataFrame):
        dm = to_day_matrix(data)
    else:
        dm = load_day_matrix(data)
    first = dm.n_days - test_days
    if test_days < 1 or first < MIN_TRAIN_DAYS:
        raise ValueError(
            f"test_days={test_days} leaves {first} training days; need at least {MIN_TRAIN_DAYS}"
        )
    warm = effective_warmup(dm.n_days, test_days, warmup)
    prices = dm.prices.copy()
    # Day D+1's fit needs D's price; the last test day's price is never needed, so hide it.
    prices[-1] = np.nan
    hidden = DayMatrix(prices, dm.exogenous, dm.dates, dm.exogenous_names)
    days = list(range(first - warm, dm.n_days))
    start = time.perf_counter()

    def step(d: int) -> None:
        if progress is not None and d >= first:
            progress(d)

    per_model, per_window = rolling_forecasts(hidden, days, model, config, gbm_config, step)
    point = combine(per_model, model)
    wall = time.perf_counter() - start
    if not np.all(np.isfinite(point)):
        raise RuntimeError("non-finite forecast: a test price leaked into a feature row")
    actual = dm.prices[first - warm :]
    quantiles = quantile_forecasts(point, actual, warm, quantile_window, DEFAULT_LEVELS)
    members = {
        k: quantile_forecasts(f, actual, warm, quantile_window, DEFAULT_LEVELS)
        for k, f in per_model.items()
    }
    return BenchmarkResult(
        forecasts=point[warm:],
        actual=dm.prices[first:].copy(),
        dates=dm.dates[first:].copy(),
        per_window={w: f[warm:] for w, f in per_window.items()},
        wall_time_s=wall,
        quantiles=quantiles,
        per_model={k: f[warm:] for k, f in per_model.items()},
        quantiles_per_model=members,
    )


def effective_warmup(n_days: int, test_days: int, warmup: int) -> int:
    """Warm-up days actually used: ``warmup`` shortened to leave ``MAX_LAG + 2`` training
    days before it, at least 1 [days]."""
    return max(1, min(warmup, n_days - test_days - (MAX_LAG + 2)))


def progress_steps(test_days: int, model: str, config: LearConfig | None = None) -> int:
    """Number of ``progress`` calls ``run_benchmark`` makes."""
    members = (len((config or LearConfig()).windows) if model != "gbm" else 0) + (
        1 if model != "lear" else 0
    )
    return members * test_days
