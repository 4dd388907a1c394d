"""Continuous intraday order book (issue 4): hand-computed scenarios and property tests,
including all-or-none (AON) orders and product ids on trades."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openvpp.markets.orderbook import (
    Order,
    OrderBook,
    OrderBookError,
    OrderStatus,
    OrderType,
    Side,
    Trade,
    UnknownOrderError,
)

BUY, SELL = Side.BUY, Side.SELL
LIMIT, IOC, FOK, ICE = OrderType.LIMIT, OrderType.IOC, OrderType.FOK, OrderType.ICEBERG
AON = OrderType.AON
PRODUCT = "DE-15min-2026-03-29T10:00Z"


def _book() -> OrderBook:
    return OrderBook(PRODUCT, price_min=-10_000, price_max=10_000)


def _trades(trades: tuple[Trade, ...]) -> list[tuple[int, int, str, str, Side]]:
    return [(t.price, t.quantity, t.buy_order_id, t.sell_order_id, t.aggressor) for t in trades]


# ---------------------------------------------------------------------- limit orders


def test_a_level_emptied_by_cancel_then_trade_disappears() -> None:
    """Cancelling the second order of a level and trading away the first leaves no ghost
    level behind (a level whose queue still holds the cancelled entry)."""
    book = _book()
    book.submit(Order("a", SELL, 100, 1))
    book.submit(Order("c", SELL, 100, 1))
    book.cancel("c")
    book.submit(Order("b", BUY, 100, 1))
    assert book.best_ask() is None
    assert book.depth().asks == ()


def test_limit_orders_rest_and_give_best_prices() -> None:
    book = _book()
    assert book.best_bid() is None
    assert book.best_ask() is None
    r = book.submit(Order("b1", BUY, 100, 5))
    assert (r.accepted, r.trades, r.resting_quantity, r.status) == (True, (), 5, OrderStatus.NEW)
    book.submit(Order("b2", BUY, 101, 3))
    book.submit(Order("s1", SELL, 105, 4))
    book.submit(Order("s2", SELL, 103, 2))
    book.submit(Order("s3", SELL, 103, 1))
    assert book.best_bid() == 101
    assert book.best_ask() == 103
    depth = book.depth(2)
    assert [(lv.price, lv.quantity, lv.orders) for lv in depth.bids] == [(101, 3, 1), (100, 5, 1)]
    assert [(lv.price, lv.quantity, lv.orders) for lv in depth.asks] == [(103, 3, 2), (105, 4, 1)]
    assert len(book.depth(1).asks) == 1


def test_aggressor_sweeps_in_price_time_priority_at_resting_prices() -> None:
    book = _book()
    book.submit(Order("s1", SELL, 103, 2))
    book.submit(Order("s2", SELL, 102, 1))
    book.submit(Order("s3", SELL, 103, 4))
    book.submit(Order("s4", SELL, 104, 9))
    r = book.submit(Order("b1", BUY, 103, 10))
    # 102 first, then 103 in time order (s1 before s3); 104 is above the limit.
    assert _trades(r.trades) == [
        (102, 1, "b1", "s2", BUY),
        (103, 2, "b1", "s1", BUY),
        (103, 4, "b1", "s3", BUY),
    ]
    assert [t.trade_id for t in r.trades] == [1, 2, 3]
    assert r.status is OrderStatus.PARTIALLY_FILLED
    assert (r.filled_quantity, r.resting_quantity) == (7, 3)
    assert book.best_bid() == 103
    assert book.best_ask() == 104
    assert book.order("s1").status is OrderStatus.FILLED


def test_trade_at_resting_price_for_sell_aggressor() -> None:
    book = _book()
    book.submit(Order("b1", BUY, 110, 3))
    r = book.submit(Order("s1", SELL, 90, 2))
    assert _trades(r.trades) == [(110, 2, "b1", "s1", SELL)]
    assert r.status is OrderStatus.FILLED
    assert r.resting_quantity == 0
    info = book.order("b1")
    assert (info.filled_quantity, info.resting_quantity) == (2, 1)
    assert info.status is OrderStatus.PARTIALLY_FILLED
    nxt = book.submit(Order("s2", SELL, 110, 1))
    assert nxt.trades[0].trade_id == 2
    assert book.best_bid() is None


# ---------------------------------------------------------------------- IOC and FOK


def test_ioc_fills_what_it_can_and_cancels_the_rest() -> None:
    book = _book()
    book.submit(Order("s1", SELL, 100, 3))
    book.submit(Order("s2", SELL, 101, 3))
    r = book.submit(Order("i1", BUY, 100, 5, IOC))
    assert _trades(r.trades) == [(100, 3, "i1", "s1", BUY)]
    assert (r.accepted, r.resting_quantity, r.status) == (True, 0, OrderStatus.CANCELLED)
    info = book.order("i1")
    assert (info.filled_quantity, info.cancelled_quantity, info.resting_quantity) == (3, 2, 0)
    assert book.best_bid() is None
    # Nothing to match: IOC is cancelled whole.
    r2 = book.submit(Order("i2", BUY, 99, 5, IOC))
    assert (r2.trades, r2.status) == ((), OrderStatus.CANCELLED)
    r3 = book.submit(Order("i3", BUY, 101, 3, IOC))
    assert r3.status is OrderStatus.FILLED


def test_fok_is_all_or_nothing() -> None:
    book = _book()
    book.submit(Order("s1", SELL, 100, 3))
    book.submit(Order("s2", SELL, 102, 3))
    r = book.submit(Order("f1", BUY, 101, 4, FOK))  # only 3 at or below 101
    assert (r.accepted, r.trades, r.status) == (False, (), OrderStatus.REJECTED)
    assert book.order("f1").cancelled_quantity == 4
    assert book.order("s1").resting_quantity == 3  # book untouched
    r2 = book.submit(Order("f2", BUY, 102, 4, FOK))
    assert _trades(r2.trades) == [(100, 3, "f2", "s1", BUY), (102, 1, "f2", "s2", BUY)]
    assert (r2.accepted, r2.status, r2.resting_quantity) == (True, OrderStatus.FILLED, 0)


def test_fok_counts_hidden_iceberg_volume() -> None:
    book = _book()
    book.submit(Order("ice", SELL, 100, 10, ICE, clip=2))
    r = book.submit(Order("f", BUY, 100, 7, FOK))
    assert r.status is OrderStatus.FILLED
    assert [t.quantity for t in r.trades] == [2, 2, 2, 1]
    assert book.order("ice").resting_quantity == 3


# ---------------------------------------------------------------------- iceberg


def test_iceberg_shows_only_clip_and_refresh_loses_priority() -> None:
    book = _book()
    book.submit(Order("ice", SELL, 100, 10, ICE, clip=3))
    book.submit(Order("late", SELL, 100, 2))  # arrives after the iceberg, same price
    depth = book.depth(1)
    assert [(lv.price, lv.quantity, lv.orders) for lv in depth.asks] == [(100, 5, 2)]
    seq0 = book.order("ice").sequence
    # Take exactly the first clip: the next clip goes behind "late".
    r = book.submit(Order("b1", BUY, 100, 3))
    assert _trades(r.trades) == [(100, 3, "b1", "ice", BUY)]
    info = book.order("ice")
    assert (info.visible_quantity, info.resting_quantity) == (3, 7)
    assert info.sequence > book.order("late").sequence > seq0
    r = book.submit(Order("b2", BUY, 100, 4))
    assert _trades(r.trades) == [(100, 2, "b2", "late", BUY), (100, 2, "b2", "ice", BUY)]
    # A sweep eats clips one after another when no one else is at the level.
    r = book.submit(Order("b3", BUY, 100, 20))
    assert [(t.sell_order_id, t.quantity) for t in r.trades] == [("ice", 1), ("ice", 3), ("ice", 1)]
    assert book.order("ice").status is OrderStatus.FILLED
    assert book.order("b3").resting_quantity == 15


def test_incoming_iceberg_matches_whole_quantity_then_rests_a_clip() -> None:
    book = _book()
    book.submit(Order("s1", SELL, 100, 4))
    r = book.submit(Order("ice", BUY, 100, 10, ICE, clip=2))
    assert _trades(r.trades) == [(100, 4, "ice", "s1", BUY)]
    assert r.resting_quantity == 6
    assert book.depth(1).bids[0].quantity == 2


def test_iceberg_clip_validation() -> None:
    book = _book()
    with pytest.raises(OrderBookError, match="clip"):
        book.submit(Order("a", BUY, 100, 5, ICE))
    with pytest.raises(OrderBookError, match="clip"):
        book.submit(Order("a", BUY, 100, 5, ICE, clip=6))
    with pytest.raises(OrderBookError, match="clip"):
        book.submit(Order("a", BUY, 100, 5, LIMIT, clip=2))


# ---------------------------------------------------------------------- cancel and modify


def test_cancel() -> None:
    book = _book()
    book.submit(Order("b1", BUY, 100, 5))
    book.submit(Order("b2", BUY, 100, 1))
    info = book.cancel("b1")
    assert (info.status, info.cancelled_quantity, info.resting_quantity) == (
        OrderStatus.CANCELLED,
        5,
        0,
    )
    assert book.depth(1).bids[0].quantity == 1
    book.cancel("b2")
    assert book.best_bid() is None
    with pytest.raises(OrderBookError, match="cancelled"):
        book.cancel("b1")
    with pytest.raises(UnknownOrderError):
        book.cancel("nope")
    with pytest.raises(KeyError):
        book.cancel("nope")


def test_modify_decrease_keeps_priority() -> None:
    book = _book()
    book.submit(Order("a", SELL, 100, 5))
    book.submit(Order("b", SELL, 100, 5))
    seq = book.order("a").sequence
    r = book.modify("a", quantity=2)
    assert (r.accepted, r.resting_quantity, r.trades) == (True, 2, ())
    assert book.order("a").sequence == seq
    t = book.submit(Order("x", BUY, 100, 3)).trades
    assert [(tr.sell_order_id, tr.quantity) for tr in t] == [("a", 2), ("b", 1)]


def test_modify_increase_loses_priority() -> None:
    book = _book()
    book.submit(Order("a", SELL, 100, 5))
    book.submit(Order("b", SELL, 100, 5))
    book.modify("a", quantity=6)
    assert book.order("a").sequence > book.order("b").sequence
    t = book.submit(Order("x", BUY, 100, 7)).trades
    assert [(tr.sell_order_id, tr.quantity) for tr in t] == [("b", 5), ("a", 2)]
    assert book.order("a").resting_quantity == 4


def test_modify_price_loses_priority_and_may_cross() -> None:
    book = _book()
    book.submit(Order("a", SELL, 101, 5))
    book.submit(Order("b", SELL, 100, 5))
    book.modify("a", price=100)
    t = book.submit(Order("x", BUY, 100, 6)).trades
    assert [(tr.sell_order_id, tr.quantity) for tr in t] == [("b", 5), ("a", 1)]
    # Price change that crosses the book trades at once, at the resting price.
    book.submit(Order("bid", BUY, 99, 2))
    r = book.modify("a", price=98)
    assert _trades(r.trades) == [(99, 2, "bid", "a", SELL)]
    assert r.resting_quantity == 2
    assert book.best_ask() == 98


def test_modify_quantity_counts_filled_volume() -> None:
    book = _book()
    book.submit(Order("a", SELL, 100, 5))
    book.submit(Order("x", BUY, 100, 3))
    with pytest.raises(OrderBookError, match="filled"):
        book.modify("a", quantity=3)
    r = book.modify("a", quantity=4)
    assert (r.resting_quantity, r.filled_quantity, r.status) == (
        1,
        3,
        OrderStatus.PARTIALLY_FILLED,
    )


def test_modify_refused_for_inactive_or_unknown_orders() -> None:
    book = _book()
    book.submit(Order("a", SELL, 100, 1))
    book.submit(Order("x", BUY, 100, 1))
    with pytest.raises(OrderBookError, match="filled"):
        book.modify("a", quantity=5)
    book.submit(Order("c", SELL, 100, 1))
    book.cancel("c")
    with pytest.raises(OrderBookError, match="cancelled"):
        book.modify("c", price=101)
    book.submit(Order("i", SELL, 100, 1, IOC))
    with pytest.raises(OrderBookError, match="not active"):
        book.modify("i", price=101)
    with pytest.raises(UnknownOrderError, match="nope"):
        book.modify("nope", price=101)
    book.submit(Order("d", SELL, 100, 1))
    with pytest.raises(OrderBookError, match="new price or a new quantity"):
        book.modify("d")


def test_modify_iceberg_decrease_shrinks_clip_then_hidden() -> None:
    book = _book()
    book.submit(Order("ice", SELL, 100, 10, ICE, clip=4))
    book.modify("ice", quantity=3)
    info = book.order("ice")
    assert (info.visible_quantity, info.resting_quantity) == (3, 3)
    book.modify("ice", quantity=8)  # increase: fresh clip of 4 at the back
    info = book.order("ice")
    assert (info.visible_quantity, info.resting_quantity) == (4, 8)


# ---------------------------------------------------------------------- product id


def test_trades_carry_the_product_id() -> None:
    book = OrderBook(product="DE-QH-10:00", price_min=0, price_max=1000)
    assert (book.product, book.product_id) == ("DE-QH-10:00", "DE-QH-10:00")
    book.submit(Order("s", SELL, 100, 2))
    r = book.submit(Order("b", BUY, 100, 2))
    assert [(t.trade_id, t.product) for t in r.trades] == [(1, "DE-QH-10:00")]
    # The old keyword still works; positional too; ids restart per book (unique per product).
    other = OrderBook(product_id="DE-QH-10:15")
    assert other.product == "DE-QH-10:15"
    other.submit(Order("s", SELL, 100, 2))
    t = other.submit(Order("b", BUY, 100, 2)).trades[0]
    assert (t.product, t.trade_id) == ("DE-QH-10:15", 1)
    assert OrderBook().product == ""
    with pytest.raises(OrderBookError, match="disagree"):
        OrderBook("a", product_id="b")


# ---------------------------------------------------------------------- all-or-none


def test_aon_aggressor_sweeps_levels_when_it_can_fill_whole() -> None:
    book = _book()
    book.submit(Order("s1", SELL, 100, 3))
    book.submit(Order("s2", SELL, 101, 4))
    r = book.submit(Order("a", BUY, 101, 7, AON))
    assert _trades(r.trades) == [(100, 3, "a", "s1", BUY), (101, 4, "a", "s2", BUY)]
    assert (r.status, r.resting_quantity, r.filled_quantity) == (OrderStatus.FILLED, 0, 7)
    assert book.best_ask() is None


def test_aon_aggressor_that_cannot_fill_rests_whole_without_trading() -> None:
    book = _book()
    book.submit(Order("s1", SELL, 100, 3))
    r = book.submit(Order("a", BUY, 101, 5, AON))
    assert (r.accepted, r.trades, r.resting_quantity, r.status) == (True, (), 5, OrderStatus.NEW)
    assert book.order("s1").resting_quantity == 3
    # Crossed at the top of the book, allowed because the bid is all-or-none.
    assert (book.best_bid(), book.best_ask()) == (101, 100)
    assert [(lv.price, lv.quantity) for lv in book.depth().bids] == [(101, 5)]


def test_resting_aon_is_skipped_by_small_aggressors_and_keeps_its_place() -> None:
    book = _book()
    book.submit(Order("aon", SELL, 100, 5, AON))
    book.submit(Order("late", SELL, 100, 2))
    seq = book.order("aon").sequence
    r = book.submit(Order("b1", BUY, 100, 3))
    assert _trades(r.trades) == [(100, 2, "b1", "late", BUY)]
    assert r.resting_quantity == 1  # rests at 100 below the AON ask of 5 at 100
    info = book.order("aon")
    assert (info.sequence, info.resting_quantity, info.status) == (seq, 5, OrderStatus.NEW)
    # An aggressor that can take the AON whole does, at the AON's price.
    r = book.submit(Order("b2", BUY, 101, 6))
    assert _trades(r.trades) == [(100, 5, "b2", "aon", BUY)]
    assert book.order("aon").status is OrderStatus.FILLED
    assert book.order("b2").resting_quantity == 1


def test_incoming_order_takes_resting_aon_whole_then_rests_the_rest() -> None:
    book = _book()
    book.submit(Order("aon", BUY, 105, 10, AON))
    r = book.submit(Order("s", SELL, 100, 12))
    assert _trades(r.trades) == [(105, 10, "aon", "s", SELL)]
    assert (r.resting_quantity, book.best_ask(), book.best_bid()) == (2, 100, None)


def test_resting_orders_never_combine_to_fill_a_resting_aon() -> None:
    book = _book()
    book.submit(Order("aon", BUY, 105, 10, AON))
    assert book.submit(Order("s1", SELL, 100, 3)).trades == ()
    assert book.submit(Order("s2", SELL, 101, 7)).trades == ()
    assert book.order("aon").resting_quantity == 10
    # A later order that can take the AON whole in one go does.
    r = book.submit(Order("s3", SELL, 104, 10, IOC))
    assert _trades(r.trades) == [(105, 10, "aon", "s3", SELL)]


def test_aon_walk_order_matters_greedy_in_priority() -> None:
    # The aggressor reaches the AON with 7 lots left: the AON (10) is skipped for good.
    book = _book()
    book.submit(Order("l", BUY, 106, 3))
    book.submit(Order("aon", BUY, 105, 10, AON))
    r = book.submit(Order("s", SELL, 100, 10))
    assert _trades(r.trades) == [(106, 3, "l", "s", SELL)]
    assert (r.resting_quantity, book.order("aon").resting_quantity) == (7, 10)


def test_aon_between_iceberg_clips() -> None:
    book = _book()
    book.submit(Order("ice", SELL, 100, 6, ICE, clip=2))
    book.submit(Order("aon", SELL, 100, 5, AON))
    r = book.submit(Order("b", BUY, 100, 7))
    # First clip, then the AON (the next clip went behind it), whole.
    assert [(t.sell_order_id, t.quantity) for t in r.trades] == [("ice", 2), ("aon", 5)]
    info = book.order("ice")
    assert (info.visible_quantity, info.resting_quantity) == (2, 4)


def test_fok_and_ioc_respect_resting_aon() -> None:
    book = _book()
    book.submit(Order("aon", SELL, 100, 10, AON))
    r = book.submit(Order("f1", BUY, 100, 5, FOK))
    assert (r.accepted, r.status) == (False, OrderStatus.REJECTED)
    r = book.submit(Order("i1", BUY, 100, 5, IOC))
    assert (r.trades, r.status) == ((), OrderStatus.CANCELLED)
    book.submit(Order("s2", SELL, 100, 2))
    r = book.submit(Order("f2", BUY, 100, 12, FOK))
    assert [(t.sell_order_id, t.quantity) for t in r.trades] == [("aon", 10), ("s2", 2)]
    assert r.status is OrderStatus.FILLED


def test_two_aon_orders() -> None:
    book = _book()
    book.submit(Order("a1", BUY, 105, 10, AON))
    r = book.submit(Order("a2", SELL, 100, 12, AON))  # would take a1 but not fill itself
    assert r.trades == ()
    r = book.submit(Order("a3", SELL, 100, 10, AON))
    assert _trades(r.trades) == [(105, 10, "a1", "a3", SELL)]
    assert book.order("a2").resting_quantity == 12


def test_aon_modify() -> None:
    book = _book()
    book.submit(Order("aon", BUY, 105, 10, AON))
    book.submit(Order("s", SELL, 100, 7))
    seq = book.order("aon").sequence
    r = book.modify("aon", quantity=8)  # still does not fit: keeps priority, no trade
    assert (r.trades, book.order("aon").sequence) == ((), seq)
    r = book.modify("aon", quantity=7)  # now fits the opposite book: executes at once
    assert _trades(r.trades) == [(100, 7, "aon", "s", BUY)]
    assert book.order("aon").status is OrderStatus.FILLED
    book.submit(Order("aon2", SELL, 110, 4, AON))
    book.submit(Order("b", BUY, 100, 4))
    r = book.modify("aon2", price=100)  # price change crosses: aggressor, fills whole
    assert _trades(r.trades) == [(100, 4, "b", "aon2", SELL)]
    with pytest.raises(OrderBookError, match="clip"):
        book.submit(Order("x", BUY, 100, 5, AON, clip=2))


def test_cancelled_aon_no_longer_blocks_or_trades() -> None:
    book = _book()
    book.submit(Order("aon", SELL, 100, 5, AON))
    book.cancel("aon")
    book.submit(Order("s", SELL, 101, 5))
    r = book.submit(Order("b", BUY, 101, 6))
    assert _trades(r.trades) == [(101, 5, "b", "s", BUY)]
    assert book.order("aon").filled_quantity == 0


# ---------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("order", "match"),
    [
        (Order("a", BUY, 100, 0), "quantity"),
        (Order("a", BUY, 100, -3), "quantity"),
        (Order("a", BUY, 100, 2.0), "quantity"),  # type: ignore[arg-type]
        (Order("a", BUY, 100.5, 2), "price"),  # type: ignore[arg-type]
        (Order("a", BUY, True, 2), "price"),
        (Order("a", BUY, 10_001, 2), "limits"),
        (Order("a", SELL, -10_001, 2), "limits"),
        (Order("a", "buy", 100, 2), "side"),  # type: ignore[arg-type]
    ],
)
def test_validation(order: Order, match: str) -> None:
    with pytest.raises(OrderBookError, match=match):
        _book().submit(order)


def test_tick_grid_and_duplicates() -> None:
    book = OrderBook(price_min=0, price_max=1000, tick=5)
    with pytest.raises(OrderBookError, match="tick grid"):
        book.submit(Order("a", BUY, 12, 1))
    book.submit(Order("a", BUY, 10, 1))
    with pytest.raises(OrderBookError, match="duplicate"):
        book.submit(Order("a", BUY, 10, 1))
    with pytest.raises(OrderBookError, match="tick grid"):
        book.modify("a", price=11)
    with pytest.raises(OrderBookError, match="price_min"):
        OrderBook(price_min=5, price_max=1)


def test_limits_are_inclusive() -> None:
    book = _book()
    book.submit(Order("a", BUY, -10_000, 1))
    book.submit(Order("b", SELL, 10_000, 1))
    assert (book.best_bid(), book.best_ask()) == (-10_000, 10_000)


# ---------------------------------------------------------------------- properties


@dataclass(frozen=True)
class _Op:
    kind: str  # submit / cancel / modify
    side: Side = BUY
    otype: OrderType = LIMIT
    price: int = 0
    quantity: int = 1
    clip: int = 1
    target: int = 0
    new_price: int | None = None
    new_quantity: int | None = None


_prices = st.integers(95, 105)
_submit = st.builds(
    _Op,
    kind=st.just("submit"),
    side=st.sampled_from([BUY, SELL]),
    otype=st.sampled_from([LIMIT, LIMIT, LIMIT, IOC, FOK, ICE, AON, AON]),
    price=_prices,
    quantity=st.integers(1, 12),
    clip=st.integers(1, 12),
)
_cancel = st.builds(_Op, kind=st.just("cancel"), target=st.integers(0, 200))
_modify = st.builds(
    _Op,
    kind=st.just("modify"),
    target=st.integers(0, 200),
    new_price=st.none() | _prices,
    new_quantity=st.none() | st.integers(1, 15),
)
_ops = st.lists(st.one_of(_submit, _submit, _submit, _cancel, _modify), max_size=120)


def _check_aon_invariants(book: OrderBook, ids: list[str]) -> None:
    """No crossed book among non-AON orders; no resting AON that one crossing resting non-AON
    order could take whole; AON orders never partially filled."""
    infos = [book.order(i) for i in ids]
    resting = [i for i in infos if i.resting_quantity]
    bids = [i.price for i in resting if i.side is BUY and i.order_type is not AON]
    asks = [i.price for i in resting if i.side is SELL and i.order_type is not AON]
    if bids and asks:
        assert max(bids) < min(asks), "non-AON orders crossed at rest"
    for a in resting:
        if a.order_type is not AON:
            continue
        assert a.resting_quantity == a.visible_quantity == a.quantity
        for o in resting:
            crosses = o.price <= a.price if a.side is BUY else o.price >= a.price
            if o.side is not a.side and o.order_type is not AON and crosses:
                assert o.resting_quantity < a.resting_quantity, (a, o)
    for i in infos:
        if i.order_type is AON:
            assert i.filled_quantity in (0, i.quantity)


def _check_book(book: OrderBook, ids: list[str], trades: list[Trade]) -> None:
    bid, ask = book.best_bid(), book.best_ask()
    _check_aon_invariants(book, ids)
    depth = book.depth(100)
    bid_prices = [lv.price for lv in depth.bids]
    ask_prices = [lv.price for lv in depth.asks]
    assert bid_prices == sorted(bid_prices, reverse=True)
    assert ask_prices == sorted(ask_prices)
    assert all(lv.quantity > 0 and lv.orders > 0 for lv in depth.bids + depth.asks)
    assert (bid_prices[0] if bid_prices else None) == bid
    assert (ask_prices[0] if ask_prices else None) == ask
    # Visible depth equals the sum of visible quantities of active orders.
    infos = [book.order(i) for i in ids]
    for side, levels in ((BUY, depth.bids), (SELL, depth.asks)):
        per_price: dict[int, int] = {}
        for info in infos:
            if info.side is side and info.resting_quantity:
                per_price[info.price] = per_price.get(info.price, 0) + info.visible_quantity
        assert per_price == {lv.price: lv.quantity for lv in levels}
    bought: dict[str, int] = {}
    sold: dict[str, int] = {}
    for t in trades:
        bought[t.buy_order_id] = bought.get(t.buy_order_id, 0) + t.quantity
        sold[t.sell_order_id] = sold.get(t.sell_order_id, 0) + t.quantity
    total = sum(t.quantity for t in trades)
    assert sum(bought.values()) == sum(sold.values()) == total
    for info in infos:
        assert 0 <= info.filled_quantity <= info.quantity
        assert (
            info.quantity == info.filled_quantity + info.resting_quantity + info.cancelled_quantity
        )
        own = bought if info.side is BUY else sold
        other = sold if info.side is BUY else bought
        assert own.get(info.order_id, 0) == info.filled_quantity
        assert info.order_id not in other
        if info.order_type in (IOC, FOK):
            assert info.resting_quantity == 0
        if info.order_type is FOK:
            assert info.filled_quantity in (0, info.quantity)
        expected_active = info.resting_quantity > 0
        assert expected_active == (info.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED))
        if info.status is OrderStatus.FILLED:
            assert info.filled_quantity == info.quantity
    ids_seen = [t.trade_id for t in trades]
    assert ids_seen == list(range(1, len(trades) + 1))
    assert all(t.product == book.product for t in trades)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ops)
def test_random_flows_keep_book_invariants(ops: list[_Op]) -> None:
    book = OrderBook("P", price_min=90, price_max=110)
    ids: list[str] = []
    trades: list[Trade] = []
    counter = itertools.count()
    for op in ops:
        if op.kind == "submit":
            oid = f"o{next(counter)}"
            clip = min(op.clip, op.quantity) if op.otype is ICE else None
            order = Order(oid, op.side, op.price, op.quantity, op.otype, clip)
            opposite_before = book.depth(100)
            r = book.submit(order)
            ids.append(oid)
            for t in r.trades:
                # Trades at the resting price, never worse than the aggressor's limit.
                assert t.aggressor is op.side
                assert t.price <= op.price if op.side is BUY else t.price >= op.price
                passive = t.sell_order_id if op.side is BUY else t.buy_order_id
                assert book.order(passive).price == t.price
            if op.otype is FOK:
                if r.accepted:
                    assert sum(t.quantity for t in r.trades) == op.quantity
                else:
                    assert r.trades == ()
                    assert r.status is OrderStatus.REJECTED
                    assert book.depth(100) == opposite_before
            if op.otype in (IOC, FOK):
                assert r.resting_quantity == 0
            if op.otype is AON:
                filled = sum(t.quantity for t in r.trades)
                assert (filled, r.resting_quantity) in ((op.quantity, 0), (0, op.quantity))
            trades.extend(r.trades)
        elif ids:
            oid = ids[op.target % len(ids)]
            before = book.order(oid)
            active = before.resting_quantity > 0
            if op.kind == "cancel":
                if active:
                    info = book.cancel(oid)
                    assert info.status is OrderStatus.CANCELLED
                else:
                    with pytest.raises(OrderBookError):
                        book.cancel(oid)
            else:
                new_q = op.new_quantity
                if new_q is not None and new_q <= before.filled_quantity:
                    new_q = None
                if not active or (op.new_price is None and new_q is None):
                    with pytest.raises(OrderBookError):
                        book.modify(oid, price=op.new_price, quantity=new_q)
                    continue
                r = book.modify(oid, price=op.new_price, quantity=new_q)
                after = book.order(oid)
                price_changed = op.new_price is not None and op.new_price != before.price
                increased = new_q is not None and new_q > before.quantity
                if price_changed or increased:
                    assert after.sequence > before.sequence or not r.resting_quantity
                elif before.order_type is AON and r.trades:
                    # A smaller AON that now fits the opposite book executes whole at once.
                    assert after.status is OrderStatus.FILLED
                else:
                    assert after.sequence == before.sequence
                    assert r.trades == ()
                for t in r.trades:
                    assert t.aggressor is before.side
                trades.extend(r.trades)
        _check_book(book, ids, trades)


def test_trade_prices_are_resting_prices_property_example() -> None:
    # Deterministic cross-check of the resting-price rule with several levels and sides.
    book = _book()
    for i, p in enumerate([105, 103, 104]):
        book.submit(Order(f"s{i}", SELL, p, 1))
    r = book.submit(Order("b", BUY, 200, 3))
    assert [t.price for t in r.trades] == [103, 104, 105]


def test_raised_limit_order_shows_its_whole_quantity() -> None:
    book = _book()
    book.submit(Order("a", SELL, 100, 5))
    book.modify("a", quantity=8)
    info = book.order("a")
    assert (info.visible_quantity, info.resting_quantity) == (8, 8)
    assert book.depth(1).asks[0].quantity == 8


_plain_submit = st.builds(
    _Op,
    kind=st.just("submit"),
    side=st.sampled_from([BUY, SELL]),
    otype=st.sampled_from([LIMIT, LIMIT, IOC, FOK, ICE]),
    price=_prices,
    quantity=st.integers(1, 12),
    clip=st.integers(1, 12),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_plain_submit, _plain_submit, _cancel, _modify), max_size=80))
def test_general_matching_path_equals_fast_path(ops: list[_Op]) -> None:
    """Without AON orders in play both matching paths give the same trades and orders: the
    second book holds two far-away AON guards, which sends every aggressor down the general
    (planned) path."""
    fast = OrderBook("P", price_min=90, price_max=110)
    general = OrderBook("P", price_min=90, price_max=110)
    general.submit(Order("guard-b", BUY, 90, 1000, AON))
    general.submit(Order("guard-s", SELL, 110, 1000, AON))
    ids: list[str] = []
    for n, op in enumerate(ops):
        results = []
        for book in (fast, general):
            try:
                if op.kind == "submit":
                    clip = min(op.clip, op.quantity) if op.otype is ICE else None
                    order = Order(f"o{n}", op.side, op.price, op.quantity, op.otype, clip)
                    results.append(book.submit(order).trades)
                elif not ids:
                    results.append(())
                elif op.kind == "cancel":
                    book.cancel(ids[op.target % len(ids)])
                    results.append(())
                else:
                    q = op.new_quantity
                    oid = ids[op.target % len(ids)]
                    results.append(book.modify(oid, price=op.new_price, quantity=q).trades)
            except OrderBookError as exc:
                results.append(type(exc).__name__)  # type: ignore[arg-type]
        if op.kind == "submit":
            ids.append(f"o{n}")
        assert results[0] == results[1]
        for oid in ids:
            a, b = fast.order(oid), general.order(oid)
            seq = a.sequence + 2 if a.sequence else 0  # the guards took sequence 1 and 2
            assert (seq, a.visible_quantity) == (b.sequence, b.visible_quantity)
            assert (a.filled_quantity, a.resting_quantity, a.status) == (
                b.filled_quantity,
                b.resting_quantity,
                b.status,
            )
    assert general.order("guard-b").resting_quantity == 1000
