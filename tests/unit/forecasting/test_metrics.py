"""Forecast metrics: hand-computed values, and the published accuracy of the official
epftoolbox forecasts (real data, when ``../shared/data`` exists)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openvpp.forecasting.metrics import (
    coverage,
    mae,
    mape,
    naive_forecast,
    pinball,
    quantile_scores,
    rmae,
    rmse,
    smape,
    summary,
)

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data" / "epftoolbox"


def test_hand_computed_errors() -> None:
    actual = [10.0, -20.0, 0.0, 40.0]
    forecast = [12.0, -18.0, 0.0, 30.0]
    assert mae(actual, forecast) == pytest.approx((2 + 2 + 0 + 10) / 4)
    assert rmse(actual, forecast) == pytest.approx(np.sqrt((4 + 4 + 0 + 100) / 4))
    # |a-f| / ((|a|+|f|)/2): 2/11, 2/19, 0 (both zero), 10/35
    assert smape(actual, forecast) == pytest.approx(100 * (2 / 11 + 2 / 19 + 0 + 10 / 35) / 4)
    assert mape(actual, forecast) == pytest.approx(100 * (2 / 10 + 2 / 20 + 10 / 40) / 3)


def test_hand_computed_pinball_and_coverage() -> None:
    actual = [10.0, 20.0]
    # levels 0.1 / 0.5 / 0.9; per value the three quantile forecasts
    quantiles = [[8.0, 11.0, 12.0], [21.0, 22.0, 30.0]]
    # value 10: u = 2, -1, -2 -> 0.1*2, 0.5*1, 0.1*2 = 0.2, 0.5, 0.2
    # value 20: u = -1, -2, -10 -> 0.9*1, 0.5*2, 0.1*10 = 0.9, 1.0, 1.0
    expected = (0.2 + 0.5 + 0.2 + 0.9 + 1.0 + 1.0) / 6
    assert pinball(actual, quantiles, (0.1, 0.5, 0.9)) == pytest.approx(expected)
    # at the median alone the pinball loss is half the MAE
    assert pinball(actual, [[11.0], [22.0]], (0.5,)) == pytest.approx(mae(actual, [11, 22]) / 2)
    # 10 in [8, 12]; 20 not in [21, 30]; bounds are inclusive
    assert coverage(actual, [8.0, 21.0], [12.0, 30.0]) == 0.5
    assert coverage([1.0, 2.0], [1.0, 0.0], [1.0, 2.0]) == 1.0
    with pytest.raises(ValueError, match="levels"):
        pinball(actual, quantiles, (0.1, 0.5, 1.0))
    with pytest.raises(ValueError, match="shape"):
        pinball(actual, quantiles, (0.1, 0.5))
    with pytest.raises(ValueError, match="finite"):
        pinball(actual, [[8.0, np.nan, 12.0], [21.0, 22.0, 30.0]], (0.1, 0.5, 0.9))


def test_naives_take_the_right_days() -> None:
    days = pd.date_range("2024-01-01", periods=10, freq="D")  # a Monday
    prices = np.arange(10, dtype=float)[:, None] * np.ones((1, 24))
    weekly, target = naive_forecast(prices, days, "weekly")
    assert target.tolist() == [7, 8, 9]
    assert weekly[:, 0].tolist() == [0.0, 1.0, 2.0]
    standard, _ = naive_forecast(prices, days, "standard")
    # day 7 is Monday (-7 d), day 8 Tuesday (-1 d), day 9 Wednesday (-1 d)
    assert standard[:, 0].tolist() == [0.0, 7.0, 8.0]


def test_rmae_of_a_naive_against_itself_is_one() -> None:
    days = pd.date_range("2024-01-01", periods=21, freq="D")
    rng = np.random.default_rng(1)
    prices = rng.uniform(10, 60, (21, 24))
    weekly, target = naive_forecast(prices, days, "weekly")
    forecast = prices.copy()
    forecast[target] = weekly
    forecast[:7] = prices[:7] + (np.abs(prices[target] - weekly).mean())  # same mean error
    assert rmae(prices, forecast, days, "weekly") == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (([1.0], [1.0, 2.0]), "same shape"),
        (([], []), "no values"),
        (([np.nan], [1.0]), "finite"),
    ],
)
def test_bad_input_is_refused(bad: tuple[list[float], list[float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mae(*bad)


@pytest.mark.parametrize(
    ("market", "model", "expected"),
    [
        ("NP", "LEAR", (1.738, 0.420, 0.549, 5.01, 3.362)),
        ("NP", "DNN", (1.667, 0.403, 0.527, 4.85, 3.333)),
        ("PJM", "LEAR", (3.013, 0.476, 0.618, 11.98, 5.127)),
        ("BE", "LEAR", (6.140, 0.604, 0.746, 14.55, 15.974)),
    ],
)
def test_published_accuracy_of_the_official_forecasts(
    market: str, model: str, expected: tuple[float, ...]
) -> None:
    path = SHARED / "forecasts_2020" / f"Forecasts_{market}_DNN_LEAR_ensembles.csv"
    if not path.exists():
        pytest.skip(f"{path} not present (the shared real data sets are not on this machine)")
    frame = pd.read_csv(path, index_col=0, parse_dates=True)
    days = frame.index[::24]
    real = frame["Real price"].to_numpy().reshape(-1, 24)
    forecast = frame[f"{model} Ensemble"].to_numpy().reshape(-1, 24)
    got = summary(real, forecast, days)
    values = (got["mae"], got["rmae_weekly"], got["rmae_standard"], got["smape"], got["rmse"])
    assert values == pytest.approx(expected, abs=6e-3)


def test_quantile_scores_by_hand() -> None:
    actual = np.array([4.0, 0.0])
    q = np.array([[1.0, 2.0, 3.0], [-1.0, 1.0, 2.0]])
    got = quantile_scores(actual, q)
    assert got["mae"] == pytest.approx((2.0 + 1.0) / 2)
    assert got["rmse"] == pytest.approx(np.sqrt((4.0 + 1.0) / 2))
    # row 1: 0.1*3 + 0.5*2 + 0.9*1; row 2: errors 1, -1, -2 -> 0.1*1 + 0.5*1 + 0.1*2
    assert got["pinball"] == pytest.approx((0.3 + 1.0 + 0.9 + 0.1 + 0.5 + 0.2) / 6)
    assert got["coverage_80"] == 0.5
    with pytest.raises(ValueError, match="shape"):
        quantile_scores(actual, q[:, :2])
