"""Uniform-price auction clearing (MARKETS.md, pay-as-clear, one period): hand-computed cases,
price rules on vertical crossings, pro-rata ties, and properties against a brute force."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.markets.clearing import (
    ClearingResult,
    PriceRule,
    Side,
    clear_day,
    clear_orders,
    clear_period,
    expand_curves,
    to_ticks,
)

PMIN, PMAX = -100, 1000
RULES = [r.value for r in PriceRule]


def clear(
    sp: list[int],
    sl: list[int],
    dp: list[int],
    dl: list[int],
    rule: str = "midpoint",
    **kw: Any,
) -> ClearingResult:
    return clear_period(sp, sl, dp, dl, price_rule=rule, price_min=PMIN, price_max=PMAX, **kw)


# ---------------------------------------------------------------- hand-computed cases


def test_horizontal_crossing_partial_marginal_supply() -> None:
    r = clear([10, 30], [5, 5], [40], [8])
    assert r.volume == 8
    assert r.supply_accepted.tolist() == [5, 3]
    assert r.demand_accepted.tolist() == [8]
    assert (r.lo, r.hi) == (30, 30)
    for rule in RULES:
        assert clear([10, 30], [5, 5], [40], [8], rule).price == 30
    assert r.welfare == 8 * 40 - 5 * 10 - 3 * 30


def test_unsorted_input_and_ids_per_order() -> None:
    r = clear([30, 10], [5, 5], [5, 40], [3, 8], supply_ids=[7, 9], demand_ids=[2, 1])
    assert r.volume == 8
    assert r.supply_accepted.tolist() == [3, 5]
    assert r.demand_accepted.tolist() == [0, 8]
    assert r.supply_order_ids.tolist() == [7, 9]
    assert r.supply_order_lots.tolist() == [3, 5]
    assert r.demand_order_ids.tolist() == [1, 2]
    assert r.demand_order_lots.tolist() == [8, 0]


@pytest.mark.parametrize(
    ("rule", "price"),
    [("supply_marginal", 30), ("demand_marginal", 50), ("midpoint", 40), ("scarcity", 50)],
)
def test_vertical_crossing_shortage_each_rule(rule: str, price: int) -> None:
    # All supply (10 @ 20) is taken by the 50 bid; the 30 bid is rejected. The highest accepted
    # supply price (20) lies outside [lo, hi] = [30, 50]: at 20 the rejected bid would have
    # wanted to buy. Every rule must stay inside.
    r = clear([20], [10], [50, 30], [10, 5], rule)
    assert r.volume == 10
    assert (r.lo, r.hi) == (30, 50)
    assert r.shortage
    assert r.price == price


@pytest.mark.parametrize(
    ("rule", "price"),
    [("supply_marginal", 20), ("demand_marginal", 50), ("midpoint", 35), ("scarcity", 20)],
)
def test_vertical_crossing_no_shortage_each_rule(rule: str, price: int) -> None:
    r = clear([20, 60], [10, 10], [50], [10], rule)
    assert r.volume == 10
    assert (r.lo, r.hi) == (20, 50)
    assert not r.shortage
    assert r.price == price


def test_simulator_bug_case_price_inside_range() -> None:
    # Highest accepted supply price 20 < lo: a naive "highest accepted supply" price is wrong.
    for rule in RULES:
        r = clear([5, 20], [4, 6], [80, 45], [10, 3], rule)
        assert r.volume == 10
        highest_accepted_supply = 20
        assert r.lo == 45 > highest_accepted_supply
        assert r.price is not None
        assert r.lo <= r.price <= r.hi


@pytest.mark.parametrize(
    ("rule", "price"),
    [("supply_marginal", 40), ("demand_marginal", 50), ("midpoint", 45), ("scarcity", 40)],
)
def test_no_crossing(rule: str, price: int) -> None:
    r = clear([50, 70], [5, 5], [40, 10], [5, 5], rule)
    assert r.volume == 0
    assert (r.lo, r.hi) == (40, 50)  # best bid, best ask
    assert r.price == price
    assert not r.supply_accepted.any()
    assert not r.demand_accepted.any()
    assert r.welfare == 0


def test_both_sides_empty() -> None:
    for rule in RULES:
        r = clear([], [], [], [], rule)
        assert (r.volume, r.price, r.lo, r.hi) == (0, None, PMIN, PMAX)
        assert r.supply_accepted.size == 0
        assert r.demand_order_ids.size == 0


def test_only_demand() -> None:
    assert clear([], [], [40, 60], [1, 1], "scarcity").price == PMAX
    assert clear([], [], [40, 60], [1, 1], "supply_marginal").price == 60
    assert clear([], [], [40, 60], [1, 1], "demand_marginal").price == PMAX
    assert clear([], [], [40, 60], [1, 1], "scarcity").shortage


def test_only_supply() -> None:
    assert clear([40, 60], [1, 1], [], [], "supply_marginal").price == PMIN
    assert clear([40, 60], [1, 1], [], [], "demand_marginal").price == 40
    assert clear([40, 60], [1, 1], [], [], "scarcity").price == PMIN
    assert clear([40, 60], [1, 1], [], [], "midpoint").price == (PMIN + 40) // 2


def test_all_demand_at_cap_unserved_gives_cap_for_every_rule() -> None:
    for rule in RULES:
        r = clear([10, 20], [3, 3], [PMAX, PMAX], [5, 5], rule)
        assert r.volume == 6
        assert (r.lo, r.hi, r.price) == (PMAX, PMAX, PMAX)
        assert r.demand_accepted.tolist() == [3, 3]  # pro rata among the tied bids


def test_all_demand_at_cap_served() -> None:
    r = clear([10, 20, 30], [3, 3, 3], [PMAX, PMAX], [2, 2], "supply_marginal")
    assert r.volume == 4
    assert r.supply_accepted.tolist() == [3, 1, 0]
    assert (r.lo, r.hi, r.price) == (20, 20, 20)


def test_pro_rata_largest_remainder() -> None:
    # 7 lots to share among tied offers of 5, 3, 2 lots: 3.5, 2.1, 1.4 -> 3, 2, 1 + 1 left
    # over, which goes to the largest fractional remainder (0.5, the 5-lot offer).
    r = clear([10, 10, 10], [5, 3, 2], [50], [7], supply_ids=[1, 2, 3])
    assert r.supply_accepted.tolist() == [4, 2, 1]


def test_pro_rata_leftover_goes_to_the_largest_remainder_not_the_first_row() -> None:
    # 7 lots among tied offers of 2, 3, 5 lots: 1.4, 2.1, 3.5 -> 1, 2, 3 and 1 left over for
    # the largest remainder (0.5, the last row); a first-come rule would give [2, 2, 3].
    r = clear([10, 10, 10], [2, 3, 5], [50], [7], supply_ids=[1, 2, 3])
    assert r.supply_accepted.tolist() == [1, 2, 4]


def test_pro_rata_equal_remainders_by_order_id() -> None:
    r = clear([10, 10, 10], [1, 1, 1], [50], [2], supply_ids=[3, 1, 2])
    assert r.supply_accepted.tolist() == [0, 1, 1]
    r = clear([10, 10, 10], [1, 1, 1], [50], [2], supply_ids=[1, 3, 2])
    assert r.supply_accepted.tolist() == [1, 0, 1]


def test_pro_rata_on_demand_side() -> None:
    r = clear([10], [5], [50, 50, 60], [4, 4, 1], demand_ids=[8, 9, 1])
    assert r.demand_accepted.tolist() == [2, 2, 1]
    assert (r.lo, r.hi) == (50, 50)


def test_midpoint_rounds_down() -> None:
    r = clear([], [], [-5], [1], "midpoint")  # range [-5, PMAX]
    assert r.price == (-5 + PMAX) // 2
    r = clear([0], [1], [-5], [1], "midpoint")  # no crossing, range [-5, 0]
    assert r.price == -3


def test_curve_orders() -> None:
    ids, prices, lots = expand_curves([11, 12], [([10, 20, 30], [2, 2, 2]), ([15, 25], [1, 4])])
    assert ids.tolist() == [11, 11, 11, 12, 12]
    r = clear(prices.tolist(), lots.tolist(), [100, 22], [5, 10], supply_ids=ids)
    assert r.volume == 5  # 2 @ 10, 1 @ 15, 2 @ 20; the 25 step is dearer than the 22 bid
    assert r.supply_order_ids.tolist() == [11, 12]
    assert r.supply_order_lots.tolist() == [4, 1]
    assert (r.lo, r.hi) == (22, 25)


@pytest.mark.parametrize("points", [1, 257])
def test_curve_point_limits(points: int) -> None:
    with pytest.raises(ValueError, match="price-quantity points"):
        expand_curves([1], [(list(range(points)), [1] * points)])


def test_to_ticks() -> None:
    assert to_ticks([12.34, -500.0, 0.01], 0.01).tolist() == [1234, -50000, 1]
    with pytest.raises(ValueError, match="tick grid"):
        to_ticks([12.345], 0.01)


def test_float_prices_must_be_whole_ticks() -> None:
    r = clear_period(
        np.array([10.0]),
        [1],
        np.array([20.0]),
        [1],
        price_rule="midpoint",
        price_min=0,
        price_max=100,
    )
    assert r.price == 15
    with pytest.raises(ValueError, match="whole ticks"):
        clear_period([10.5], [1], [20], [1], price_rule="midpoint", price_min=0, price_max=100)


@pytest.mark.parametrize(
    ("sp", "sl", "dp", "dl", "match"),
    [
        ([PMAX + 1], [1], [], [], "outside"),
        ([], [], [PMIN - 1], [1], "outside"),
        ([1], [0], [], [], "at least 1"),
        ([1, 2], [1], [], [], "same length"),
    ],
)
def test_validation(sp: list[int], sl: list[int], dp: list[int], dl: list[int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        clear(sp, sl, dp, dl)


def test_unknown_rule() -> None:
    with pytest.raises(ValueError, match="pay_as_bid"):
        clear([1], [1], [2], [1], "pay_as_bid")


def test_clear_orders_single_book() -> None:
    sides = [Side.DEMAND, Side.SUPPLY, Side.SUPPLY, Side.DEMAND]
    r, acc = clear_orders(
        sides,
        [40, 30, 10, 5],
        [8, 5, 5, 3],
        [1, 7, 9, 2],
        price_rule="midpoint",
        price_min=PMIN,
        price_max=PMAX,
    )
    assert acc.tolist() == [8, 3, 5, 0]
    assert (r.volume, r.price) == (8, 30)
    with pytest.raises(ValueError, match="side must be"):
        clear_orders([2], [1], [1], price_rule="midpoint", price_min=PMIN, price_max=PMAX)


def test_clear_day_matches_periods() -> None:
    rng = np.random.default_rng(3)
    n_periods, n = 5, 40
    s_per, d_per = rng.integers(0, n_periods, n), rng.integers(0, n_periods, n)
    sp, dp = rng.integers(0, 100, n), rng.integers(0, 100, n)
    sl, dl = rng.integers(1, 5, n), rng.integers(1, 5, n)
    day = clear_day(
        s_per,
        sp,
        sl,
        d_per,
        dp,
        dl,
        price_rule="scarcity",
        price_min=PMIN,
        price_max=PMAX,
        n_periods=n_periods,
    )
    assert len(day.periods) == n_periods
    for t in range(n_periods):
        s, d = s_per == t, d_per == t
        ref = clear_period(
            sp[s],
            sl[s],
            dp[d],
            dl[d],
            price_rule="scarcity",
            price_min=PMIN,
            price_max=PMAX,
            supply_ids=np.flatnonzero(s),
            demand_ids=np.flatnonzero(d),
        )
        got = day.periods[t]
        assert (got.volume, got.price, got.lo, got.hi) == (ref.volume, ref.price, ref.lo, ref.hi)
        assert day.supply_accepted[s].tolist() == ref.supply_accepted.tolist()
        assert day.demand_accepted[d].tolist() == ref.demand_accepted.tolist()
        assert day.volumes[t] == ref.volume
        assert day.prices[t] == ref.price


def test_clear_day_rejects_bad_period() -> None:
    with pytest.raises(ValueError, match="period outside"):
        clear_day(
            [96],
            [1],
            [1],
            [],
            [],
            [],
            price_rule="midpoint",
            price_min=0,
            price_max=9,
            n_periods=96,
        )


# ---------------------------------------------------------------- properties


@st.composite
def books(draw: st.DrawFn, max_rows: int = 8, max_lots: int = 6) -> dict[str, Any]:
    def side() -> tuple[list[int], list[int], list[int]]:
        n = draw(st.integers(0, max_rows))
        prices = draw(
            st.lists(st.sampled_from([PMIN, 0, 5, 10, 15, 20, PMAX]), min_size=n, max_size=n)
        )
        lots = draw(st.lists(st.integers(1, max_lots), min_size=n, max_size=n))
        ids = draw(st.lists(st.integers(0, 2 * max_rows), min_size=n, max_size=n))  # curves
        return prices, lots, ids

    sp, sl, si = side()
    dp, dl, di = side()
    return {"sp": sp, "sl": sl, "si": si, "dp": dp, "dl": dl, "di": di}


def run(book: dict[str, Any], rule: str) -> ClearingResult:
    return clear_period(
        book["sp"],
        book["sl"],
        book["dp"],
        book["dl"],
        price_rule=rule,
        price_min=PMIN,
        price_max=PMAX,
        supply_ids=book["si"],
        demand_ids=book["di"],
    )


@settings(max_examples=300, deadline=None)
@given(books(), st.sampled_from(RULES))
def test_properties(book: dict[str, Any], rule: str) -> None:
    r = run(book, rule)
    sp, sl, dp, dl = (np.array(book[k], dtype=np.int64) for k in ("sp", "sl", "dp", "dl"))
    sa, da = r.supply_accepted, r.demand_accepted
    # balance and bounds
    assert int(sa.sum()) == int(da.sum()) == r.volume
    assert np.all((sa >= 0) & (sa <= sl))
    assert np.all((da >= 0) & (da <= dl))
    assert int(r.supply_order_lots.sum()) == int(r.demand_order_lots.sum()) == r.volume
    # the valid range, recomputed from its definition
    lo = max([PMIN, *sp[sa > 0].tolist(), *dp[da < dl].tolist()])
    hi = min([PMAX, *dp[da > 0].tolist(), *sp[sa < sl].tolist()])
    assert (r.lo, r.hi) == (lo, hi)
    assert PMIN <= r.lo <= r.hi <= PMAX
    if not sp.size and not dp.size:
        assert r.price is None
        return
    p = r.price
    assert p is not None
    assert r.lo <= p <= r.hi
    # nobody loses money; no rejected order misses a profit
    assert np.all(sp[sa > 0] <= p)
    assert np.all(dp[da > 0] >= p)
    assert not np.any(sp[sa < sl] < p)
    assert not np.any(dp[da < dl] > p)
    # the rule
    expected = {
        "supply_marginal": r.lo,
        "demand_marginal": r.hi,
        "midpoint": (r.lo + r.hi) // 2,
        "scarcity": r.hi if r.shortage else r.lo,
    }[rule]
    assert p == expected
    assert r.shortage == (r.volume == int(sl.sum()) and r.volume < int(dl.sum()))
    # welfare, and the volume is the largest welfare-maximal one
    assert r.welfare == int(dp @ da) - int(sp @ sa)
    units_s = np.sort(np.repeat(sp, sl))
    units_d = np.sort(np.repeat(dp, dl))[::-1]
    k = min(units_s.size, units_d.size)
    gains = units_d[:k] - units_s[:k]
    assert r.volume == int(np.sum(gains >= 0))
    # pro rata: rows tied at one price on one side get within one lot of their exact share
    for prices, lots, acc in ((sp, sl, sa), (dp, dl, da)):
        partial = (acc > 0) & (acc < lots)
        for price in np.unique(prices[partial]):
            tied = prices == price
            exact = acc[tied].sum() * lots[tied] / lots[tied].sum()
            assert np.all(np.abs(acc[tied] - exact) < 1)


def _best_by_total(prices: list[int], lots: list[int], best: Any) -> dict[int, int]:
    """Over every integer allocation of one side, the best money value per total volume."""
    out: dict[int, int] = {}
    for alloc in itertools.product(*(range(q + 1) for q in lots)):
        total = sum(alloc)
        value = sum(a * p for a, p in zip(alloc, prices, strict=True))
        out[total] = best(out.get(total, value), value)
    return out


@settings(max_examples=150, deadline=None)
@given(books(max_rows=4, max_lots=4), st.sampled_from(RULES))
def test_welfare_maximal_versus_brute_force(book: dict[str, Any], rule: str) -> None:
    r = run(book, rule)
    cost = _best_by_total(book["sp"], book["sl"], min)
    value = _best_by_total(book["dp"], book["dl"], max)
    best = max(value[v] - cost[v] for v in cost.keys() & value.keys())
    assert r.welfare == best


@settings(max_examples=150, deadline=None)
@given(books(), st.sampled_from(RULES), st.randoms(use_true_random=False))
def test_shuffling_changes_nothing(book: dict[str, Any], rule: str, rnd: Any) -> None:
    r = run(book, rule)
    perm_s = list(range(len(book["sp"])))
    perm_d = list(range(len(book["dp"])))
    rnd.shuffle(perm_s)
    rnd.shuffle(perm_d)
    shuffled = {k: [book[k][i] for i in perm_s] for k in ("sp", "sl", "si")}
    shuffled |= {k: [book[k][i] for i in perm_d] for k in ("dp", "dl", "di")}
    q = run(shuffled, rule)
    assert (q.volume, q.price, q.lo, q.hi, q.welfare) == (r.volume, r.price, r.lo, r.hi, r.welfare)
    assert q.supply_order_ids.tolist() == r.supply_order_ids.tolist()
    assert q.supply_order_lots.tolist() == r.supply_order_lots.tolist()
    assert q.demand_order_ids.tolist() == r.demand_order_ids.tolist()
    assert q.demand_order_lots.tolist() == r.demand_order_lots.tolist()
    # per row too (rows identical in price, id and lots are interchangeable)
    for side, perm in (("s", perm_s), ("d", perm_d)):
        acc_r = getattr(r, "supply_accepted" if side == "s" else "demand_accepted")
        acc_q = getattr(q, "supply_accepted" if side == "s" else "demand_accepted")
        keys = list(zip(book[side + "p"], book[side + "i"], book[side + "l"], strict=True))
        before = sorted(zip(keys, acc_r.tolist(), strict=True))
        after = sorted(zip([keys[i] for i in perm], acc_q.tolist(), strict=True))
        assert before == after


def test_to_ticks_takes_a_markets_decimal_tick() -> None:
    from decimal import Decimal

    from openvpp.markets.clearing import to_ticks

    assert to_ticks([1.5, -0.5], Decimal("0.5")).tolist() == [3, -1]
