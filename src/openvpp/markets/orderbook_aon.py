"""The general matching path of the continuous order book (:mod:`openvpp.markets.orderbook`).

:class:`~openvpp.markets.orderbook.OrderBook` matches on a fast path (a heap walk in
``OrderBook._execute``) unless all-or-none (AON) orders are involved: the aggressor is an AON
order, or the opposite side holds a resting one. Then the aggressor's walk is first planned
without changing the book (:func:`plan_walk`), so that an AON aggressor which cannot fill whole
leaves the book untouched, and only then carried out (:func:`apply_walk`). The rules of the walk
are those of the fast path plus the AON rules in the module docstring of
:mod:`openvpp.markets.orderbook`. This path is linear in the number of price levels of the
opposite side.

The functions work on one side's price levels (``dict`` price -> :class:`Level`); the book's
counters (trade ids, sequence numbers, resting AON orders) are passed in and returned.
"""

from __future__ import annotations

from collections import deque

from openvpp.markets.orderbook_types import Entry, Level, OrderStatus, OrderType, Side, Trade

__all__ = ["LevelPlan", "apply_walk", "plan_level", "plan_walk"]

_BUY = Side.BUY
_AON = OrderType.AON
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_FILLED = OrderStatus.FILLED

LevelPlan = tuple[int, Level, list[tuple[Entry, int]], list[Entry]]
"""``(price, level, fills, queue after)``: the resting orders filled at one level in execution
order with their lots, and the level's live queue after the walk."""


def plan_walk(
    levels: dict[int, Level], side: Side, limit: int, needed: int
) -> tuple[list[LevelPlan], int]:
    """Dry run of an aggressor's walk (on ``side``, with ``limit`` and ``needed`` lots) over the
    opposite ``levels`` crossing ``limit``, in price order; the book is not changed. Returns the
    per-level plans and the lots filled."""
    if side is _BUY:
        prices = sorted(p for p in levels if p <= limit)
    else:
        prices = sorted((p for p in levels if p >= limit), reverse=True)
    plans: list[LevelPlan] = []
    left = needed
    for price in prices:
        if not left:
            break
        level = levels[price]
        fills, queue, left = plan_level(level.queue, left)
        if fills:
            plans.append((price, level, fills, queue))
    return plans, needed - left


def plan_level(queue: deque[Entry], left: int) -> tuple[list[tuple[Entry, int]], list[Entry], int]:
    """Simulate an aggressor with ``left`` lots walking one level, without changing it.

    Same rules as the fast walk in :meth:`OrderBook._execute`: live orders in time priority; a
    non-AON order gives ``min(visible, left)``, an exhausted iceberg clip shows its next clip at
    the back of the level; an AON order is taken whole if ``left`` covers it, else skipped (it
    keeps its place). Returns the fills, the live queue after the walk and the lots left."""
    pending: deque[tuple[Entry, int, int]] = deque(
        (e, e.visible, e.hidden) for e in queue if e.live
    )
    kept: list[Entry] = []  # walked past without being exhausted: they keep their place
    fills: list[tuple[Entry, int]] = []
    while left and pending:
        r, visible, hidden = pending.popleft()
        if r.order_type is _AON:
            if visible <= left:
                fills.append((r, visible))
                left -= visible
            else:
                kept.append(r)
            continue
        fill = visible if visible < left else left
        fills.append((r, fill))
        left -= fill
        visible -= fill
        if visible:
            pending.appendleft((r, visible, hidden))
        elif hidden:
            clip = r.clip if r.clip < hidden else hidden
            pending.append((r, clip, hidden - clip))
    return fills, kept + [item[0] for item in pending], left


def apply_walk(
    levels: dict[int, Level],
    plans: list[LevelPlan],
    e: Entry,
    product: str,
    next_trade_id: int,
    seq: int,
    trades: list[Trade],
) -> tuple[int, int, int]:
    """Carry out planned fills of aggressor ``e`` against the resting orders of the opposite
    ``levels``, appending to ``trades``. ``next_trade_id`` and ``seq`` are the book's counters.
    Returns the next trade id, the last sequence number and the number of resting AON orders
    filled."""
    buy = e.side is _BUY
    aggressor = e.side
    order_id = e.order_id
    aon_filled = 0
    for price, level, fills, queue in plans:
        for r, fill in fills:
            tid = next_trade_id
            next_trade_id = tid + 1
            if buy:
                trades.append(Trade(tid, price, fill, order_id, r.order_id, aggressor, product))
            else:
                trades.append(Trade(tid, price, fill, r.order_id, order_id, aggressor, product))
            level.total -= fill
            r.filled += fill
            r.visible -= fill
            if r.visible:
                r.status = _PARTIAL
            elif r.hidden:
                clip = r.clip if r.clip < r.hidden else r.hidden
                r.visible = clip
                r.hidden -= clip
                seq += 1
                r.seq = seq
                r.status = _PARTIAL
            else:
                r.live = False
                r.status = _FILLED
                if r.order_type is _AON:
                    aon_filled += 1
        level.queue = deque(queue)
        if level.total == 0:
            del levels[price]
    return next_trade_id, seq, aon_filled
