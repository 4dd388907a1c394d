"""Volumes rounded to a market's lots (``openvpp.optimization.ladders.round_to_lots``), the one
rounding behind the simulation's and the automatic bidder's price-taking orders (ties away from
zero) and the intraday residual (ties to even)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openvpp.optimization.ladders import round_to_lots

LOT = Decimal("0.1")


def test_ties_round_away_from_zero_or_to_even() -> None:
    v = np.array([0.05, 0.15, 0.25, -0.05, -0.25, 0.04, -0.14, 0.0])
    assert round_to_lots(v, LOT, ties="away").tolist() == [1, 2, 3, -1, -3, 0, -1, 0]
    assert round_to_lots(v, LOT, ties="even").tolist() == [0, 2, 2, 0, -2, 0, -1, 0]


def test_float_noise_on_the_decimal_grid_does_not_move_a_volume() -> None:
    # 0.1 * 3 = 0.30000000000000004 and 0.35 / 0.1 = 3.4999999999999996 in floats
    assert round_to_lots([0.1 * 3, -0.1 * 3], LOT, ties="even").tolist() == [3, -3]
    assert round_to_lots([0.35, -0.35], LOT, ties="away").tolist() == [4, -4]
    assert round_to_lots([0.35, 0.45], LOT, ties="even").tolist() == [4, 4]


def test_the_lot_is_the_markets_and_no_minimum_volume_applies() -> None:
    assert round_to_lots([1.2, 0.4], Decimal("1"), ties="away").tolist() == [1, 0]
    assert round_to_lots(0.001, Decimal("0.001"), ties="even").tolist() == 1
    with pytest.raises(ValueError, match="ties"):
        round_to_lots([1.0], LOT, ties="up")  # type: ignore[arg-type]


@given(
    st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=1, max_size=20),
    st.sampled_from(["away", "even"]),
)
def test_within_half_a_lot_and_symmetric(volumes: list[float], ties: str) -> None:
    v = np.array(volumes)
    n = round_to_lots(v, LOT, ties=ties)  # type: ignore[arg-type]
    assert n.dtype == np.int64
    assert np.all(np.abs(n * 0.1 - v) <= 0.05 + 1e-9)
    np.testing.assert_array_equal(round_to_lots(-v, LOT, ties=ties), -n)  # type: ignore[arg-type]


@given(st.lists(st.integers(-100_000, 100_000), min_size=1, max_size=20))
def test_whole_lots_stay_whole(k: list[int]) -> None:
    v = np.array(k) * 0.1
    for ties in ("away", "even"):
        assert round_to_lots(v, LOT, ties=ties).tolist() == k  # type: ignore[arg-type]
