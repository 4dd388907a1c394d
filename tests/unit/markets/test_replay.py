"""Historical replay (price taker and residual book): hand cases and properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.clearing import PriceRule, Side
from openvpp.markets.presets import load_presets
from openvpp.markets.replay import (
    ResidualBookParams,
    ResidualReplayResult,
    clearing_limits_ticks,
    history_to_ticks,
    replay_price_taker,
    replay_residual_book,
    residual_book,
)

S, D = int(Side.SUPPLY), int(Side.DEMAND)
PMIN, PMAX = -50_000, 400_000  # SDAC-like clearing limits in 0.01 EUR/MWh ticks
PARAMS = ResidualBookParams(depth_lots=100, steps=5, step_lots=10, step_ticks=10)


def _residual(
    history: list[int | None],
    rows: list[tuple[int, int, int, int]],
    params: ResidualBookParams = PARAMS,
) -> ResidualReplayResult:
    cols = [list(c) for c in zip(*rows, strict=True)] if rows else [[], [], [], []]
    return replay_residual_book(history, *cols, params=params, price_min=PMIN, price_max=PMAX)


# ------------------------------------------------------------------------------- price taker


def test_price_taker_hand_case() -> None:
    r = replay_price_taker(
        [100, None, 50],
        periods=[0, 0, 0, 1, 2, 2, 2],
        sides=[S, S, D, S, S, D, D],
        prices=[100, 101, 120, -10, 60, 50, 49],
        lots=[5, 7, 3, 2, 4, 1, 9],
    )
    # at the price counts as accepted; periods without a price accept nothing
    assert r.accepted.tolist() == [5, 0, 3, 0, 0, 1, 0]
    assert r.price_list == [100, None, 50]
    assert r.has_price.tolist() == [True, False, True]
    assert r.net_lots.tolist() == [2, 0, -1]


def test_price_taker_accepts_nan_and_masked_history() -> None:
    nan = replay_price_taker(np.array([np.nan, 7.0]), [0, 1], [S, S], [0, 0], [1, 1])
    masked = replay_price_taker(
        np.ma.MaskedArray([3, 7], mask=[True, False]), [0, 1], [S, S], [0, 0], [1, 1]
    )
    assert nan.accepted.tolist() == masked.accepted.tolist() == [0, 1]
    assert nan.price_list == masked.price_list == [None, 7]


def test_price_taker_validation() -> None:
    with pytest.raises(ValueError, match="same length"):
        replay_price_taker([1], [0], [S], [1, 2], [1])
    with pytest.raises(ValueError, match="sides"):
        replay_price_taker([1], [0], [2], [1], [1])
    with pytest.raises(ValueError, match="periods"):
        replay_price_taker([1], [1], [S], [1], [1])
    with pytest.raises(ValueError, match="lots"):
        replay_price_taker([1], [0], [S], [1], [0])
    with pytest.raises(ValueError, match="whole"):
        replay_price_taker([1.5], [0], [S], [1], [1])


_rows = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from([S, D]), st.integers(-50, 50), st.integers(1, 9)),
    max_size=30,
)
_hist = st.lists(st.none() | st.integers(-50, 50), min_size=4, max_size=4)


@given(_hist, _rows, st.integers(0, 29), st.integers(1, 40))
def test_price_taker_acceptance_monotone_in_bid_price(
    hist: list[int | None], rows: list[tuple[int, int, int, int]], pick: int, raise_by: int
) -> None:
    """Lowering a supply price (raising a demand price) never reduces its acceptance."""
    if not rows:
        return
    per, side, price, lots = (np.array(c) for c in zip(*rows, strict=True))
    before = replay_price_taker(hist, per, side, price, lots).accepted
    k = pick % len(rows)
    better = price.copy()
    better[k] += -raise_by if side[k] == S else raise_by
    after = replay_price_taker(hist, per, side, better, lots).accepted
    assert after[k] >= before[k]
    assert np.array_equal(np.delete(after, k), np.delete(before, k))


# ----------------------------------------------------------------------------- residual book


def test_residual_book_shape() -> None:
    book = residual_book([100], PARAMS, price_min=PMIN, price_max=PMAX)
    assert book.supply_prices.tolist() == [100, 90, 80, 70, 60, 50, 110, 120, 130, 140, 150]
    assert book.supply_lots.tolist() == [10, 10, 10, 10, 10, 50, 10, 10, 10, 10, 10]
    assert book.demand_prices.tolist() == [100, 110, 120, 130, 140, 150, 90, 80, 70, 60, 50]
    assert int(book.supply_lots[book.supply_prices <= 100].sum()) == 100
    assert int(book.demand_lots[book.demand_prices >= 100].sum()) == 100
    # a small depth keeps fewer steps inside it, at least one lot at the base
    small = residual_book(
        [100],
        ResidualBookParams(depth_lots=25, steps=5, step_lots=10),
        price_min=PMIN,
        price_max=PMAX,
    )
    assert small.supply_lots.tolist()[:3] == [10, 10, 5]


def test_residual_book_without_vpp_reproduces_history_hand_case() -> None:
    r = _residual([100, None, PMIN, PMAX], [])
    assert r.prices.tolist() == [100, 0, PMIN, PMAX]
    assert r.has_price.tolist() == [True, False, True, True]
    assert r.volumes.tolist() == [100, 0, 100, 100]
    assert r.impact.tolist() == [0, 0, 0, 0]


def test_large_vpp_orders_move_the_price() -> None:
    sizes = [10, 50, 100]
    prices = [_residual([100], [(0, S, PMIN, q)]).prices[0] for q in sizes]
    assert prices == [95, 75, 50]  # midpoint of [lo, hi] between the steps
    r = _residual([100], [(0, S, PMIN, 30), (0, D, PMAX, 5)])
    assert r.accepted.tolist() == [30, 5]
    assert r.net_lots.tolist() == [25]
    up = _residual([100], [(0, D, PMAX, 30)])
    assert (up.prices[0], up.impact[0], up.accepted[0]) == (115, 15, 30)
    # supply above every demand is not accepted and leaves the price alone
    none = _residual([100], [(0, S, 200, 30), (0, D, PMIN, 3)])
    assert (none.accepted.tolist(), none.prices[0]) == ([0, 0], 100)


def test_vpp_rows_in_periods_without_history_are_not_cleared() -> None:
    r = _residual([None, 100], [(0, S, PMIN, 30), (1, S, PMIN, 10)])
    assert r.accepted.tolist() == [0, 10]
    assert r.net_lots.tolist() == [0, 10]


def test_noise_is_seeded_and_keeps_the_history() -> None:
    noisy = ResidualBookParams(depth_lots=50, steps=8, step_lots=7, step_ticks=3, noise=0.9, seed=4)
    a = residual_book([100, 200], noisy, price_min=PMIN, price_max=PMAX)
    b = residual_book([100, 200], noisy, price_min=PMIN, price_max=PMAX)
    c = residual_book([100, 200], replace(noisy, seed=5), price_min=PMIN, price_max=PMAX)
    assert np.array_equal(a.supply_lots, b.supply_lots)
    assert not np.array_equal(a.supply_lots, c.supply_lots)
    assert _residual([100, 200], [], params=noisy).prices.tolist() == [100, 200]
    with pytest.raises(ValueError, match="seed"):
        ResidualBookParams(depth_lots=5, noise=0.5)


def test_residual_validation() -> None:
    with pytest.raises(ValueError, match="outside"):
        residual_book([PMAX + 1], PARAMS, price_min=PMIN, price_max=PMAX)
    with pytest.raises(ValueError, match="depth_lots"):
        ResidualBookParams(depth_lots=0)
    with pytest.raises(ValueError, match="price outside"):
        _residual([100], [(0, S, PMAX + 1, 1)])


_params = st.builds(
    ResidualBookParams,
    depth_lots=st.integers(1, 300),
    steps=st.integers(0, 12),
    step_lots=st.integers(1, 40),
    step_ticks=st.integers(1, 5_000),
    noise=st.sampled_from([0.0, 0.3, 1.0]),
    seed=st.integers(0, 2**32),
    price_rule=st.sampled_from(list(PriceRule)),
)
_prices = st.integers(PMIN, PMAX) | st.sampled_from([PMIN, PMAX, PMIN + 1, PMAX - 1, 0])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.none() | _prices, min_size=1, max_size=12), _params)
def test_residual_book_without_vpp_reproduces_history(
    hist: list[int | None], params: ResidualBookParams
) -> None:
    r = _residual(hist, [], params=params)
    expected = [0 if h is None else h for h in hist]
    assert r.prices.tolist() == expected
    assert r.volumes.tolist() == [0 if h is None else params.depth_lots for h in hist]
    assert not r.impact.any()


@settings(max_examples=100, deadline=None)
@given(_prices, _params, st.sampled_from([S, D]), st.integers(PMIN, PMAX))
def test_price_monotone_in_vpp_size_and_vpp_never_loses(
    hist: int, params: ResidualBookParams, side: int, limit: int
) -> None:
    """A growing VPP supply order never raises the price, a growing demand order never lowers
    it; accepted VPP rows never lose money at the resulting price."""
    sizes = [1, 2, 5, 10, 30, 80, 200, 500]
    prices = []
    for q in sizes:
        r = _residual([hist], [(0, side, limit, q)], params=params)
        price = int(r.prices[0])
        prices.append(price)
        if r.accepted[0]:
            assert price >= limit if side == S else price <= limit
        assert PMIN <= price <= PMAX
    steps = np.diff(prices)
    assert np.all(steps <= 0) if side == S else np.all(steps >= 0)


@settings(max_examples=50, deadline=None)
@given(st.lists(_prices, min_size=1, max_size=6), _params, _rows)
def test_replay_is_deterministic_and_does_not_mutate(
    hist: list[int], params: ResidualBookParams, rows: list[tuple[int, int, int, int]]
) -> None:
    rows = [(p % len(hist), s, pr * 1000, q) for p, s, pr, q in rows]
    cols = (
        [np.array(c, dtype=np.int64) for c in zip(*rows, strict=True)]
        if rows
        else [np.zeros(0, dtype=np.int64)] * 4
    )
    h = np.array(hist, dtype=np.int64)
    copies = [c.copy() for c in (*cols, h)]
    a = replay_residual_book(h, *cols, params=params, price_min=PMIN, price_max=PMAX)
    b = replay_residual_book(h, *cols, params=params, price_min=PMIN, price_max=PMAX)
    t = replay_price_taker(h, *cols)
    for x, y in zip((*cols, h), copies, strict=True):
        assert np.array_equal(x, y)
    for name in ("accepted", "prices", "volumes", "net_lots", "impact"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert np.all(a.accepted <= cols[3]) and np.all(t.accepted <= cols[3])


# ------------------------------------------------------------------------------------ history


def test_history_to_ticks_on_a_dst_day() -> None:
    market = load_presets()["EU-SDAC"]
    day = date(2026, 3, 29)  # 92 quarter-hours in Brussels
    ivs = delivery_intervals(market.product("QH"), day)
    idx = pd.DatetimeIndex([iv.start_utc for iv in ivs])
    # surrounding days in the series are ignored; labels in another zone are fine
    before = idx[0] - pd.Timedelta(minutes=15)
    series = pd.Series(
        np.r_[1.0, np.arange(len(ivs)) * 0.5 - 3.5],
        index=pd.DatetimeIndex([before, *idx]).tz_convert("Asia/Tokyo"),
    )
    ticks = history_to_ticks(series, market, day, product="QH")
    assert ticks.size == 92
    assert ticks[:3].tolist() == [-35, -30, -25]
    assert clearing_limits_ticks(market) == (-5_000, 40_000)


def test_history_to_ticks_refuses_gaps_duplicates_and_naive() -> None:
    market = load_presets()["EU-SDAC"]
    day = date(2026, 6, 1)
    ivs = delivery_intervals(market.product("H"), day)
    idx = pd.DatetimeIndex([iv.start_utc for iv in ivs])
    ok = pd.Series(np.full(24, 50.0), index=idx)
    assert history_to_ticks(ok, market, day, product="H").tolist() == [500] * 24
    with pytest.raises(ValueError, match="missing prices for 1 of 24"):
        history_to_ticks(ok.drop(idx[5]), market, day, product="H")
    nan = ok.copy()
    nan.iloc[3] = np.nan
    with pytest.raises(ValueError, match="missing"):
        history_to_ticks(nan, market, day, product="H")
    assert ok.iloc[3] == 50.0  # input not mutated
    with pytest.raises(ValueError, match="duplicate"):
        history_to_ticks(pd.concat([ok, ok.iloc[:1]]), market, day, product="H")
    shifted = ok.copy()
    shifted.index = idx + timedelta(minutes=30)
    with pytest.raises(ValueError, match="not on the"):
        history_to_ticks(shifted, market, day, product="H")
    with pytest.raises(ValueError, match="tz-aware"):
        history_to_ticks(ok.tz_localize(None), market, day, product="H")
    with pytest.raises(ValueError, match="clearing limits"):
        history_to_ticks(ok * 1000, market, day, product="H")
