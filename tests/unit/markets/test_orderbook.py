"""Continuous intraday order book (issue 4): hand-computed scenarios and property tests."""

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


def _book() -> OrderBook:
    return OrderBook("DE-15min-2026-03-29T10:00Z", price_min=-10_000, price_max=10_000)


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
    otype=st.sampled_from([LIMIT, LIMIT, LIMIT, IOC, FOK, ICE]),
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


def _check_book(book: OrderBook, ids: list[str], trades: list[Trade]) -> None:
    bid, ask = book.best_bid(), book.best_ask()
    if bid is not None and ask is not None:
        assert bid < ask, "book crossed at rest"
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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ops)
def test_random_flows_keep_book_invariants(ops: list[_Op]) -> None:
    book = OrderBook(price_min=90, price_max=110)
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
