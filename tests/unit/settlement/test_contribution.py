from fractions import Fraction
from itertools import permutations
from math import factorial

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openvpp.settlement.contribution import (
    coalition_matrix,
    cost_shares,
    largest_remainder,
    market_revenue,
    pro_rata,
    shapley,
)


def test_splits_add_up_exactly_and_break_ties_to_the_lower_index():
    assert pro_rata(100, [1, 1, 1]).tolist() == [34, 33, 33]
    assert pro_rata(-100, [1, 1, 1]).tolist() == [-33, -33, -34]
    assert pro_rata(7, [0, 0]).tolist() == [4, 3]
    assert pro_rata(10, [3, 1]).tolist() == [8, 2]  # 7.5 / 2.5: the tie to the first
    with pytest.raises(ValueError, match="negative"):
        pro_rata(1, [-1, 2])
    with pytest.raises(ValueError, match="add up"):
        largest_remainder(3, [Fraction(1), Fraction(1)])


def by_orders(v: list[int], n: int) -> list[Fraction]:
    """Shapley values by their definition: the mean marginal value over every order."""
    out = [Fraction(0)] * n
    for order in permutations(range(n)):
        mask = 0
        for i in order:
            out[i] += v[mask | (1 << i)] - v[mask]
            mask |= 1 << i
    return [x / factorial(n) for x in out]


def test_the_glove_game():
    # player 0 holds a left glove, players 1 and 2 right gloves: a pair is worth 1
    v = [0] * 8
    for k in range(8):
        if k & 1 and k & 6:
            v[k] = 1
    assert shapley(v) == [Fraction(2, 3), Fraction(1, 6), Fraction(1, 6)]


@given(
    st.integers(1, 5).flatmap(
        lambda n: st.lists(st.integers(-(10**9), 10**9), min_size=2**n, max_size=2**n)
    )
)
def test_shapley_equals_the_mean_over_orders(values):
    values[0] = 0
    n = len(values).bit_length() - 1
    phi = shapley(values)
    assert phi == by_orders(values, n)
    assert sum(phi) == values[-1]  # efficiency


def test_coalition_matrix_marks_members_by_bit():
    m = coalition_matrix(3)
    assert m.shape == (8, 3) and m[5].tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="up to 16"):
        coalition_matrix(17)


def test_market_revenue_at_the_vpp_realised_price():
    # 2 MWh (2000 steps) sold for 100.00 (10000 cents): 50.00/MWh; resources 1.5 and 0.5
    got = market_revenue([10_000], [2_000], [[1_500], [500]])
    assert got.tolist() == [7_500, 2_500]
    # schedules summing to 1.8 MWh: 90.00 credited, the remaining 10.00 by |schedule|
    got = market_revenue([10_000], [2_000], [[1_300], [500]])
    assert got.tolist() == [6_500 + 722, 2_500 + 278] and int(got.sum()) == 10_000
    # position zero but a trading result (bought and sold at other prices): by |schedule|
    assert market_revenue([300], [0], [[100], [-300]]).tolist() == [75, 225]


def test_netting_deviations_show_who_helped():
    # two resources deviate +0.1 and -0.1 MWh; alone each pays or earns 7.00 at 70/MWh,
    # together they net out: Shapley gives each its own effect, pro rata gives nothing
    def costs(members):
        dev = members @ np.array([100, -100])
        return dev * 7  # cents per step at 70.00/MWh

    dev = np.array([[100], [-100]])
    assert cost_shares(0, dev, costs).tolist() == [700, -700]
    assert cost_shares(0, dev, None).tolist() == [0, 0]
    # an unexplained rest (the VPP's meter is not the sum) is shared by |deviation|
    assert cost_shares(-100, dev, costs).tolist() == [650, -750]


@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(-(10**6), 10**6), min_size=4, max_size=4),
            st.lists(
                st.lists(st.integers(-3000, 3000), min_size=4, max_size=4), min_size=n, max_size=n
            ),
            st.booleans(),
        )
    )
)
def test_market_revenue_always_adds_up(case):
    value, scheduled, whole = case
    s = np.array(scheduled, dtype=np.int64)
    position = s.sum(axis=0) if whole else s.sum(axis=0) + 7
    got = market_revenue(value, position, s)
    assert int(got.sum()) == sum(value)
    if whole:
        # each interval shared whole at its price: within one unit per interval of exact
        exact = [
            sum(
                Fraction(int(s[i, t]) * value[t], int(position[t])) for t in range(4) if position[t]
            )
            for i in range(s.shape[0])
        ]
        for g, e in zip(got.tolist(), exact, strict=True):
            assert abs(g - e) <= 4 + abs(sum(value[t] for t in range(4) if not position[t]))
