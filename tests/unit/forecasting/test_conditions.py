"""Market-condition indicators: hand-checked values, leak-freedom, regimes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from openvpp.forecasting.conditions import ConditionParams, market_conditions


def days(n: int) -> pd.DatetimeIndex:
    return pd.date_range("2024-01-01", periods=n, freq="D")


def test_spread_mean_negative_share_by_hand() -> None:
    prices = np.array([[10.0, -5.0, 30.0, 5.0], [20.0, 20.0, 20.0, 20.0]])
    out = market_conditions(prices, days(2), ConditionParams(window=1, lookback=2, min_history=1))
    assert out["spread"].tolist() == [35.0, 0.0]
    assert out["mean"].tolist() == [10.0, 20.0]
    assert out["negative"].tolist() == [0.25, 0.0]
    # day 1: changes -15, 35, -25 -> sample std
    assert out["volatility"].iloc[0] == pytest.approx(np.std([-15, 35, -25], ddof=1))


def test_indicators_of_a_day_ignore_later_days() -> None:
    rng = np.random.default_rng(3)
    prices = rng.normal(50, 10, (120, 24))
    base = market_conditions(prices, days(120))
    changed = prices.copy()
    changed[80:] = rng.normal(500, 200, (40, 24))  # a shock after day 79
    shocked = market_conditions(changed, days(120))
    pd.testing.assert_frame_equal(base.iloc[:80], shocked.iloc[:80])
    assert (shocked["regime"].iloc[80:85] == "high").all()
    assert shocked["scarcity"].iloc[80] == 1.0


def test_calm_after_turbulence_is_a_low_regime() -> None:
    rng = np.random.default_rng(5)
    prices = np.vstack([rng.normal(50, 30, (60, 24)), np.full((10, 24), 50.0)])
    out = market_conditions(prices, days(70))
    assert out["regime"].iloc[:28].eq("normal").all()  # no history yet
    assert out["regime"].iloc[-1] == "low"
    assert out["scarcity"].iloc[-1] == 0.0


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        (np.zeros((0, 24)), "shape"),
        (np.zeros((2, 1)), "shape"),
        (np.array([[1.0, np.nan]]), "finite"),
    ],
)
def test_bad_input(prices: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        market_conditions(prices, days(len(prices)))


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="window"):
        ConditionParams(window=100, lookback=90)
