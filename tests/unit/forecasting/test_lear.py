"""LEAR day-ahead price model: day-matrix loading, leakage, a small end-to-end run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openvpp.forecasting.price import (
    DayMatrix,
    LearConfig,
    build_features,
    forecast_day,
    load_day_matrix,
    run_benchmark,
    to_day_matrix,
)

SAMPLE = Path(__file__).parents[2] / "data" / "forecasting" / "np_excerpt_120d.csv"
SMALL = LearConfig(windows=(28, 42), select_every=7, n_jobs=1)


@pytest.fixture(scope="module")
def sample() -> DayMatrix:
    return load_day_matrix(SAMPLE)


def _frame(n_hours: int, start: str = "2020-01-01 00:00") -> pd.DataFrame:
    t = pd.date_range(start, periods=n_hours, freq="h")
    return pd.DataFrame({"Date": t, " Price": np.arange(n_hours, dtype=float), " Load": 1.0})


# --- loading ---------------------------------------------------------------------------------


def test_sample_loads_as_day_matrix(sample: DayMatrix) -> None:
    assert sample.prices.shape == (120, 24)
    assert sample.exogenous.shape == (120, 24, 2)
    assert sample.exogenous_names == ("Grid load forecast", "Wind power forecast")
    assert str(sample.dates[0]) == "2018-08-27"
    assert sample.day_of_week[0] == 0  # 2018-08-27 was a Monday
    assert sample.prices[0, 0] == 50.02


def test_datetime_index_frame_is_accepted() -> None:
    f = _frame(48).set_index("Date")
    dm = to_day_matrix(f)
    assert dm.prices.shape == (2, 24)
    assert dm.exogenous.shape == (2, 24, 1)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (_frame(47), "not whole days"),
        (_frame(48, "2020-01-01 01:00"), "first row must be at 00:00"),
        (_frame(48).drop(index=5).pipe(lambda f: pd.concat([f, f.tail(1)])), "one hour"),
        (_frame(48).assign(**{" Price": np.nan}), "missing"),
        (_frame(48).assign(Date="not a date"), "not a date"),
        (_frame(48)[["Date"]], "price column"),
        (_frame(0), "no rows"),
    ],
)
def test_bad_files_are_refused(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_day_matrix(frame)


# --- features and leakage --------------------------------------------------------------------


def test_features_use_only_past_prices(sample: DayMatrix) -> None:
    x = build_features(sample.prices, sample.exogenous, sample.day_of_week)
    assert x.shape == (120, 24 * (4 + 3 * 2) + 7)
    assert np.isnan(x[:7]).all() and np.isfinite(x[7:]).all()
    d = 50
    np.testing.assert_array_equal(x[d, :24], sample.prices[d - 1])
    np.testing.assert_array_equal(x[d, 72:96], sample.prices[d - 7])
    np.testing.assert_array_equal(x[d, 96:120], sample.exogenous[d, :, 0])
    assert x[d, -7:].sum() == 1


def test_forecast_for_day_d_ignores_data_after_d_minus_1(sample: DayMatrix) -> None:
    d = 116
    base = forecast_day(
        sample.prices[:d], sample.exogenous[: d + 1], sample.day_of_week[: d + 1], 42
    )
    # Alter every price from D on and every exogenous value after D, then run the rolling
    # benchmark over a period that contains D: its forecast of D must not move.
    prices = sample.prices.copy()
    exo = sample.exogenous.copy()
    prices[d:] *= 3.0
    exo[d + 1 :] *= -2.0
    altered = DayMatrix(prices, exo, sample.dates, sample.exogenous_names)
    cfg = LearConfig(windows=(42,), n_jobs=1)
    res_a = run_benchmark(sample, test_days=120 - d + 1, config=cfg)
    res_b = run_benchmark(altered, test_days=120 - d + 1, config=cfg)
    i = 1  # day D is the second test day
    assert res_a.dates[i] == sample.dates[d]
    np.testing.assert_array_equal(res_a.forecasts[i], res_b.forecasts[i])
    np.testing.assert_array_equal(res_a.forecasts[: i + 1], res_b.forecasts[: i + 1])
    assert not np.array_equal(res_a.forecasts[i + 1], res_b.forecasts[i + 1])
    # The one-shot forecast agrees with the rolling one up to the warm-start tolerance.
    np.testing.assert_allclose(base, res_a.forecasts[i], atol=0.05 * np.abs(base).mean())


def test_test_period_too_long_is_refused(sample: DayMatrix) -> None:
    with pytest.raises(ValueError, match="training days"):
        run_benchmark(sample, test_days=115, config=SMALL)
    with pytest.raises(ValueError, match="unknown model"):
        run_benchmark(sample, model="dnn", config=SMALL)  # type: ignore[arg-type]


# --- end to end ------------------------------------------------------------------------------


def test_small_run_beats_weekly_naive_and_is_deterministic(sample: DayMatrix) -> None:
    calls: list[int] = []
    res = run_benchmark(SAMPLE, test_days=28, config=SMALL, progress=calls.append)
    assert res.forecasts.shape == res.actual.shape == (28, 24)
    assert set(res.per_window) == {28, 42}
    assert len(calls) == 2 * 28
    np.testing.assert_array_equal(res.actual, sample.prices[-28:])
    mae = float(np.mean(np.abs(res.forecasts - res.actual)))
    naive = float(np.mean(np.abs(sample.prices[-35:-7] - res.actual)))
    assert mae < 0.8 * naive, (mae, naive)
    again = run_benchmark(SAMPLE, test_days=28, config=SMALL)
    np.testing.assert_array_equal(res.forecasts, again.forecasts)


def test_worker_processes_give_the_same_forecasts(sample: DayMatrix) -> None:
    one = run_benchmark(sample, test_days=5, config=SMALL)
    two = run_benchmark(
        sample, test_days=5, config=LearConfig(windows=(28, 42), select_every=7, n_jobs=2)
    )
    np.testing.assert_array_equal(one.forecasts, two.forecasts)
