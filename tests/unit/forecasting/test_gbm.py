"""LightGBM day-ahead model, the ensemble runner and quantiles: leakage, determinism, a small
end-to-end run on the shipped NP excerpt, and a short real-data run on each benchmark market."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openvpp.forecasting.metrics import coverage, naive_forecast, pinball
from openvpp.forecasting.price import DayMatrix, LearConfig, load_day_matrix
from openvpp.forecasting.price.gbm import GbmConfig, build_gbm_features, forecast_days_gbm
from openvpp.forecasting.price.quantiles import DEFAULT_LEVELS, quantile_forecasts
from openvpp.forecasting.price.runner import ENSEMBLE_GBM_WEIGHT, progress_steps, run_benchmark

SAMPLE = Path(__file__).parents[2] / "data" / "forecasting" / "np_excerpt_120d.csv"
SHARED = Path(__file__).resolve().parents[4] / "shared" / "data" / "epftoolbox" / "datasets"
SMALL_GBM = GbmConfig(window=56, n_trees=60, retrain_every=7)
SMALL_LEAR = LearConfig(windows=(28, 42), select_every=7, n_jobs=1)


@pytest.fixture(scope="module")
def sample() -> DayMatrix:
    return load_day_matrix(SAMPLE)


def test_features_of_day_d_use_only_earlier_prices(sample: DayMatrix) -> None:
    x, level = build_gbm_features(sample.prices, sample.exogenous, sample.day_of_week)
    assert x.shape == (120, 24, 10 + 7 * 2)
    assert np.isnan(x[:7]).all() and np.isfinite(x[7:]).all()
    d = 60
    assert level[d] == pytest.approx(sample.prices[d - 1].mean())
    np.testing.assert_allclose(x[d, :, 3], sample.prices[d - 1] - level[d])
    np.testing.assert_array_equal(x[d, :, 0], np.arange(24))
    altered = sample.prices.copy()
    altered[d:] = -1000.0
    x2, level2 = build_gbm_features(altered, sample.exogenous, sample.day_of_week)
    np.testing.assert_array_equal(x2[: d + 1], x[: d + 1])
    np.testing.assert_array_equal(level2[: d + 1], level[: d + 1])


def test_gbm_forecast_of_d_ignores_prices_from_d_on_and_is_deterministic(
    sample: DayMatrix,
) -> None:
    days = list(range(100, 110))
    base = forecast_days_gbm(sample.prices, sample.exogenous, sample.day_of_week, days, SMALL_GBM)
    again = forecast_days_gbm(sample.prices, sample.exogenous, sample.day_of_week, days, SMALL_GBM)
    np.testing.assert_array_equal(base, again)
    d = 104
    prices = sample.prices.copy()
    prices[d:] *= 5.0
    prices[-1] = np.nan
    moved = forecast_days_gbm(prices, sample.exogenous, sample.day_of_week, days, SMALL_GBM)
    np.testing.assert_array_equal(moved[: d - 100 + 1], base[: d - 100 + 1])
    assert not np.array_equal(moved[d - 100 + 1 :], base[d - 100 + 1 :])


def test_gbm_refuses_unknown_prices_in_features(sample: DayMatrix) -> None:
    prices = sample.prices.copy()
    prices[100] = np.nan
    with pytest.raises((ValueError, RuntimeError), match="finite"):
        forecast_days_gbm(prices, sample.exogenous, sample.day_of_week, [101], SMALL_GBM)


def test_quantiles_use_only_past_errors_and_are_monotone() -> None:
    rng = np.random.default_rng(3)
    actual = rng.normal(40, 10, (60, 24))
    forecast = actual + rng.normal(0, 3, (60, 24))
    q = quantile_forecasts(forecast, actual, warmup=20, window=14)
    assert q.shape == (40, 24, 3)
    assert np.all(np.diff(q, axis=2) >= 0)
    np.testing.assert_array_equal(q[:, :, 1], forecast[20:])
    changed = actual.copy()
    changed[35:] += 50.0  # day 35 and later: the quantiles of day 35 must not move
    q2 = quantile_forecasts(forecast, changed, warmup=20, window=14)
    np.testing.assert_array_equal(q2[: 35 - 20 + 1], q[: 35 - 20 + 1])
    assert not np.array_equal(q2[35 - 20 + 1 :], q[35 - 20 + 1 :])
    # errors N(0, 3): the p10-p90 band should hold about 80 % of the actual values
    assert 0.65 < coverage(actual[20:], q[..., 0], q[..., 2]) < 0.92
    with pytest.raises(ValueError, match="warmup"):
        quantile_forecasts(forecast, actual, warmup=0)


def test_small_ensemble_run_beats_naive_and_combines_members(sample: DayMatrix) -> None:
    calls: list[int] = []
    res = run_benchmark(
        sample,
        model="ensemble",
        test_days=21,
        config=SMALL_LEAR,
        gbm_config=SMALL_GBM,
        warmup=14,
        progress=calls.append,
    )
    assert len(calls) == progress_steps(21, "ensemble", SMALL_LEAR) == 3 * 21
    assert res.forecasts.shape == (21, 24) and res.quantiles.shape == (21, 24, 3)
    assert set(res.per_model) == {"lear", "gbm"}
    w = ENSEMBLE_GBM_WEIGHT
    np.testing.assert_allclose(
        res.forecasts, (1 - w) * res.per_model["lear"] + w * res.per_model["gbm"]
    )
    np.testing.assert_array_equal(res.quantiles[:, :, 1], res.forecasts)
    assert np.all(np.diff(res.quantiles, axis=2) >= 0)
    naive = float(np.mean(np.abs(sample.prices[-28:-7] - res.actual)))
    for f in (res.forecasts, res.per_model["gbm"]):
        assert float(np.mean(np.abs(f - res.actual))) < 0.8 * naive
    gbm_only = run_benchmark(
        sample, model="gbm", test_days=21, config=SMALL_LEAR, gbm_config=SMALL_GBM, warmup=14
    )
    np.testing.assert_array_equal(gbm_only.forecasts, res.per_model["gbm"])
    assert gbm_only.per_window == {}


@pytest.mark.slow
@pytest.mark.parametrize("market", ["NP", "PJM", "BE"])
def test_real_market_short_window(market: str) -> None:
    path = SHARED / f"{market}.csv"
    if not path.exists():
        pytest.skip(f"{path} not present (the shared epftoolbox data sets are not on this machine)")
    dm = load_day_matrix(path)
    # 14 days from the start of the published test period (the last 728 days).
    dm = dm.head(dm.n_days - 728 + 14)
    res = run_benchmark(
        dm, model="ensemble", test_days=14, config=LearConfig(select_every=7), warmup=14
    )
    _, target = naive_forecast(dm.prices, dm.dates, "weekly")
    weekly = dm.prices[target - 7][-14:]
    mae = float(np.mean(np.abs(res.forecasts - res.actual)))
    assert mae < 0.8 * float(np.mean(np.abs(weekly - res.actual))), market
    loss = pinball(res.actual, res.quantiles, DEFAULT_LEVELS)
    assert loss < mae  # the pinball loss of a sensible band is below the MAE
    assert 0.4 < coverage(res.actual, res.quantiles[..., 0], res.quantiles[..., 2]) <= 1.0
