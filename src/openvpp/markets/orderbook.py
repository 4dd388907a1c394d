"""Continuous intraday order book for one product (SIDC-style continuous trading).

Prices are integers in ticks and quantities integers in lots. Matching follows price-time
priority and every trade executes at the resting order's price.

Every book names its product (``OrderBook(product="DE-QH-2026-03-29T10:00Z")``, default ``""``)
and every :class:`Trade` carries that product id. Trade ids are integers 1, 2, 3, ... per book:
unique within a book, **not** across books; the pair ``(product, trade_id)`` is unique across the
books of a venue as long as product ids are.

Order types:

* ``LIMIT``: matches what it can, the remainder rests in the book.
* ``IOC`` (immediate-or-cancel): matches what it can, the remainder is cancelled; never rests.
* ``FOK`` (fill-or-kill): fills its whole quantity at once or nothing happens; never rests. A
  killed FOK is reported with ``accepted=False`` and status ``REJECTED``; its whole quantity
  counts as cancelled.
* ``ICEBERG``: a limit order with a total quantity and a visible clip (``clip``). On entry it
  matches with its whole quantity (as on most exchanges); when it rests only the current clip is
  visible and matchable. When a clip is exhausted the next clip is shown with a new sequence
  number, i.e. it goes to the back of its price level.
* ``AON`` (all-or-none): a limit order that only ever executes for its whole quantity in one go,
  never partially. Precisely:

  - *As aggressor* (on entry, or after a modify that loses priority) it walks the opposite book
    in price-time priority exactly like a limit order would (skipping resting AON orders it
    cannot take whole, see below). If that walk fills its whole quantity, the trades happen;
    otherwise **nothing** trades and the whole order rests (unlike FOK, which is killed). The
    walk is greedy in priority order: the book never searches for another combination of
    resting orders that would fit.
  - *At rest* it is executable only by a later incoming order (or a re-prioritised one acting as
    aggressor) whose remaining quantity, when its walk reaches the AON order, is at least the
    AON's quantity: the AON is then filled whole at its price. An aggressor that cannot take it
    whole skips it and walks on; the AON keeps its place and sequence number. Resting orders
    never combine to fill a resting AON (as on venues where AON orders are passive).
  - A quantity decrease keeps time priority, but if the reduced AON can now be filled whole by
    the opposite book it executes at once as aggressor. AON orders are visible in ``depth`` and
    ``best_bid``/``best_ask`` with their whole quantity.

  The book may therefore rest *crossed* when AON orders are involved (an AON buy of 10 at 105
  above a limit sell of 3 at 100). The invariants that do hold after every operation:

  1. among non-AON orders the book is never crossed (best non-AON bid < best non-AON ask);
  2. no resting AON could be filled whole by one crossing resting non-AON order: every such
     opposite order has a smaller remaining quantity (visible plus hidden).

  Two crossing AON orders may rest side by side when neither can take the other whole.
  While the opposite side holds resting AON orders, aggressors use a slower general matching
  path (linear in the number of price levels of that side; :mod:`openvpp.markets.orderbook_aon`).

Modification (``modify``): a price change or a quantity increase loses time priority (the order
gets a new sequence number; a price change that crosses the book matches at once as an aggressor);
a quantity decrease keeps priority. Quantities are total order quantities including what has
already been filled, so the new quantity must exceed the filled quantity. Orders that are no longer
active (filled, cancelled, rejected) cannot be modified or cancelled.

Not implemented (documented limitation): self-trade prevention; orders of the same owner may trade
with each other.

Data structures: per side a dict price -> level (a deque of resting orders in time priority plus
the level's total remaining quantity) and a heap of prices with lazy deletion, so finding the best
price is O(log n) per level change. Cancelled and re-prioritised orders are removed lazily from
the level deques (skipped when they reach the front).

Code: this module holds :class:`OrderBook` with the fast matching path; the value types, enums
and errors live in :mod:`openvpp.markets.orderbook_types` (import them from here), the general
(AON) matching path in :mod:`openvpp.markets.orderbook_aon`.
"""

from __future__ import annotations

import heapq

from openvpp.markets.orderbook_aon import apply_walk, plan_walk
from openvpp.markets.orderbook_types import (
    BookDepth,
    Entry,
    Level,
    Order,
    OrderBookError,
    OrderInfo,
    OrderStatus,
    OrderType,
    PriceLevel,
    Side,
    SubmitResult,
    Trade,
    UnknownOrderError,
)

__all__ = [
    "BookDepth",
    "Order",
    "OrderBook",
    "OrderBookError",
    "OrderInfo",
    "OrderStatus",
    "OrderType",
    "PriceLevel",
    "Side",
    "SubmitResult",
    "Trade",
    "UnknownOrderError",
]

_BUY = Side.BUY
_SELL = Side.SELL
_IOC = OrderType.IOC
_FOK = OrderType.FOK
_ICEBERG = OrderType.ICEBERG
_AON = OrderType.AON
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_FILLED = OrderStatus.FILLED
_CANCELLED = OrderStatus.CANCELLED
_REJECTED = OrderStatus.REJECTED


class OrderBook:
    """Order book of one product. ``product`` is the product id carried by every trade (the
    keyword ``product_id`` is accepted as an alias); ``price_min``/``price_max`` are the price
    limits [ticks] and ``tick`` the price grid (prices must be multiples of it)."""

    __slots__ = (
        "_aon_asks",
        "_aon_bids",
        "_ask_heap",
        "_ask_in_heap",
        "_asks",
        "_bid_heap",
        "_bid_in_heap",
        "_bids",
        "_next_trade_id",
        "_orders",
        "_seq",
        "price_max",
        "price_min",
        "product",
        "tick",
    )

    def __init__(
        self,
        product: str = "",
        *,
        price_min: int = -999_900,
        price_max: int = 999_900,
        tick: int = 1,
        product_id: str | None = None,
    ) -> None:
        if product_id is not None:
            if product and product != product_id:
                raise OrderBookError(
                    f"product {product!r} and product_id {product_id!r} disagree; give one"
                )
            product = product_id
        if type(product) is not str:
            raise OrderBookError(f"product must be a string, got {product!r}")
        for name, value in (("price_min", price_min), ("price_max", price_max), ("tick", tick)):
            if type(value) is not int:
                raise OrderBookError(f"{name} must be an integer number of ticks, got {value!r}")
        if price_min > price_max:
            raise OrderBookError(f"price_min {price_min} exceeds price_max {price_max}")
        if tick <= 0:
            raise OrderBookError(f"tick must be positive, got {tick}")
        self.product = product
        self.price_min = price_min
        self.price_max = price_max
        self.tick = tick
        self._bids: dict[int, Level] = {}
        self._asks: dict[int, Level] = {}
        self._bid_heap: list[int] = []  # negated prices
        self._ask_heap: list[int] = []
        self._bid_in_heap: set[int] = set()
        self._ask_in_heap: set[int] = set()
        self._orders: dict[str, Entry] = {}
        self._seq = 0
        self._next_trade_id = 1
        self._aon_bids = 0  # live resting AON orders per side
        self._aon_asks = 0

    @property
    def product_id(self) -> str:
        """Alias of ``product``."""
        return self.product

    # ------------------------------------------------------------------ queries

    def best_bid(self) -> int | None:
        heap, levels, in_heap = self._bid_heap, self._bids, self._bid_in_heap
        while heap:
            price = -heap[0]
            if price in levels:
                return price
            heapq.heappop(heap)
            in_heap.discard(price)
        return None

    def best_ask(self) -> int | None:
        heap, levels, in_heap = self._ask_heap, self._asks, self._ask_in_heap
        while heap:
            price = heap[0]
            if price in levels:
                return price
            heapq.heappop(heap)
            in_heap.discard(price)
        return None

    def depth(self, levels: int = 5) -> BookDepth:
        """Visible quantity and order count of the best ``levels`` price levels per side."""
        if type(levels) is not int or levels < 0:
            raise OrderBookError(f"levels must be a non-negative integer, got {levels!r}")

        def side(book: dict[int, Level], prices: list[int]) -> tuple[PriceLevel, ...]:
            out = []
            for price in prices:
                live = [e for e in book[price].queue if e.live]
                out.append(PriceLevel(price, sum(e.visible for e in live), len(live)))
            return tuple(out)

        bid_prices = heapq.nlargest(levels, self._bids)
        ask_prices = heapq.nsmallest(levels, self._asks)
        return BookDepth(side(self._bids, bid_prices), side(self._asks, ask_prices))

    def order(self, order_id: str) -> OrderInfo:
        """Snapshot of an order (active or not); ``UnknownOrderError`` if never submitted."""
        e = self._get(order_id)
        resting = e.visible + e.hidden if e.live else 0
        return OrderInfo(
            order_id=e.order_id,
            side=e.side,
            order_type=e.order_type,
            price=e.price,
            quantity=e.quantity,
            filled_quantity=e.filled,
            resting_quantity=resting,
            visible_quantity=e.visible if e.live else 0,
            cancelled_quantity=e.cancelled,
            status=e.status,
            sequence=e.seq,
        )

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    # ------------------------------------------------------------------ commands

    def submit(self, order: Order) -> SubmitResult:
        order_id = order.order_id
        side = order.side
        price = order.price
        quantity = order.quantity
        otype = order.order_type
        self._check_price(price)
        if type(quantity) is not int or quantity <= 0:
            raise OrderBookError(f"quantity must be a positive integer, got {quantity!r}")
        if type(side) is not Side:
            raise OrderBookError(f"side must be a Side, got {side!r}")
        if otype is _ICEBERG:
            clip = order.clip
            if type(clip) is not int or not 0 < clip <= quantity:
                raise OrderBookError(
                    f"iceberg clip must be an integer in 1..{quantity}, got {clip!r}"
                )
        elif type(otype) is not OrderType:
            raise OrderBookError(f"order_type must be an OrderType, got {otype!r}")
        elif order.clip is not None:
            raise OrderBookError("clip is only allowed for iceberg orders")
        else:
            clip = quantity
        if order_id in self._orders:
            raise OrderBookError(f"duplicate order id {order_id!r}")

        e = Entry(order_id, side, otype, price, quantity, clip)
        self._orders[order_id] = e
        if otype is _FOK and self._fillable(side, price, quantity) < quantity:
            e.status = _REJECTED
            e.cancelled = quantity
            return SubmitResult(False, (), 0, _REJECTED, order_id, 0)
        return self._execute(e)

    def cancel(self, order_id: str) -> OrderInfo:
        """Cancel the remaining quantity of an active order; returns the final snapshot."""
        e = self._active(order_id, "cancel")
        self._unrest(e)
        e.cancelled += e.visible + e.hidden
        e.visible = e.hidden = 0
        e.status = _CANCELLED
        return self.order(order_id)

    def modify(
        self, order_id: str, *, price: int | None = None, quantity: int | None = None
    ) -> SubmitResult:
        """Change price and/or total quantity of an active order (see module docstring)."""
        e = self._active(order_id, "modify")
        if price is None and quantity is None:
            raise OrderBookError("modify needs a new price or a new quantity")
        new_price = e.price if price is None else price
        new_qty = e.quantity if quantity is None else quantity
        self._check_price(new_price)
        if type(new_qty) is not int or new_qty <= e.filled + e.cancelled:
            raise OrderBookError(
                f"new quantity must be an integer above the filled quantity {e.filled}, "
                f"got {new_qty!r}"
            )
        remaining = new_qty - e.filled - e.cancelled
        if new_price == e.price and new_qty <= e.quantity:
            if e.order_type is _AON and self._fillable(e.side, e.price, remaining) == remaining:
                # The smaller AON now fits the opposite book: it executes at once (aggressor).
                return self._reprioritise(e, new_price, new_qty)
            # Decrease (or no change): keep time priority, adjust in place.
            level = (self._bids if e.side is _BUY else self._asks)[e.price]
            level.total -= e.visible + e.hidden - remaining
            e.quantity = new_qty
            if e.visible > remaining:
                e.visible = remaining
            e.hidden = remaining - e.visible
            return SubmitResult(True, (), remaining, e.status, order_id, e.filled)
        # Price change or increase: lose time priority (new entry, new sequence number).
        return self._reprioritise(e, new_price, new_qty)

    # ------------------------------------------------------------------ internals

    def _reprioritise(self, e: Entry, price: int, quantity: int) -> SubmitResult:
        """Take ``e`` out of the book and execute a fresh copy as aggressor."""
        self._unrest(e)
        fresh = e.copy()
        fresh.price = price
        fresh.quantity = quantity
        if fresh.order_type is not _ICEBERG:
            fresh.clip = quantity  # all of it visible (a raised limit order is no iceberg)
        self._orders[e.order_id] = fresh
        return self._execute(fresh)

    def _check_price(self, price: object) -> None:
        if type(price) is not int:
            raise OrderBookError(f"price must be an integer number of ticks, got {price!r}")
        if not self.price_min <= price <= self.price_max:
            raise OrderBookError(
                f"price {price} outside the limits {self.price_min}..{self.price_max}"
            )
        if price % self.tick:
            raise OrderBookError(f"price {price} is not on the tick grid of {self.tick}")

    def _get(self, order_id: str) -> Entry:
        try:
            return self._orders[order_id]
        except KeyError:
            raise UnknownOrderError(f"unknown order id {order_id!r}") from None

    def _active(self, order_id: str, what: str) -> Entry:
        e = self._get(order_id)
        if not e.live:
            raise OrderBookError(
                f"cannot {what} order {order_id!r}: it is {e.status.value}, not active"
            )
        return e

    def _unrest(self, e: Entry) -> None:
        """Take a live entry out of its level (lazily: it stays in the deque, marked dead)."""
        e.live = False
        if e.order_type is _AON:
            if e.side is _BUY:
                self._aon_bids -= 1
            else:
                self._aon_asks -= 1
        levels = self._bids if e.side is _BUY else self._asks
        level = levels[e.price]
        level.total -= e.visible + e.hidden
        if level.total == 0:
            del levels[e.price]

    def _available(self, side: Side, limit: int, needed: int) -> int:
        """Opposite-side quantity (visible and hidden) at prices crossing ``limit``; stops
        counting once ``needed`` is reached."""
        total = 0
        if side is _BUY:
            for price, level in self._asks.items():
                if price <= limit:
                    total += level.total
                    if total >= needed:
                        break
        else:
            for price, level in self._bids.items():
                if price >= limit:
                    total += level.total
                    if total >= needed:
                        break
        return total

    def _fillable(self, side: Side, limit: int, needed: int) -> int:
        """What an aggressor on ``side`` with ``limit`` and ``needed`` lots would fill now
        (capped at ``needed``): the plain sum when the opposite side holds no AON order, else
        the exact walk of :func:`orderbook_aon.plan_walk`."""
        if not (self._aon_asks if side is _BUY else self._aon_bids):
            return min(self._available(side, limit, needed), needed)
        return plan_walk(self._asks if side is _BUY else self._bids, side, limit, needed)[1]

    def _execute_general(self, e: Entry) -> SubmitResult:
        """Matching when AON orders are involved (aggressor or resting opposite): plan the walk,
        carry it out if it fills (all of it for an AON aggressor), then rest or cancel."""
        remaining = e.quantity - e.filled - e.cancelled
        buy = e.side is _BUY
        levels = self._asks if buy else self._bids
        plans, fill = plan_walk(levels, e.side, e.price, remaining)
        trades: list[Trade] = []
        if fill == remaining or (fill and e.order_type is not _AON):
            self._next_trade_id, self._seq, aon_filled = apply_walk(
                levels, plans, e, self.product, self._next_trade_id, self._seq, trades
            )
            if buy:
                self._aon_asks -= aon_filled
            else:
                self._aon_bids -= aon_filled
            remaining -= fill
        return self._finish(e, remaining, trades)

    def _execute(self, e: Entry) -> SubmitResult:
        """Match ``e`` (not resting) against the book, then rest or cancel the remainder."""
        if e.order_type is _AON or (self._aon_asks if e.side is _BUY else self._aon_bids):
            return self._execute_general(e)
        remaining = e.quantity - e.filled - e.cancelled
        limit = e.price
        order_id = e.order_id
        product = self.product
        trades: list[Trade] = []
        if e.side is _BUY:
            aggressor = _BUY
            levels, heap, in_heap = self._asks, self._ask_heap, self._ask_in_heap
            sign = 1
        else:
            aggressor = _SELL
            levels, heap, in_heap = self._bids, self._bid_heap, self._bid_in_heap
            sign = -1
        heappop = heapq.heappop
        while remaining and heap:
            key = heap[0]
            price = key * sign
            level = levels.get(price)
            if level is None:
                heappop(heap)
                in_heap.discard(price)
                continue
            if (price > limit) if sign == 1 else (price < limit):
                break
            queue = level.queue
            while remaining and queue:
                r = queue[0]
                if not r.live:
                    queue.popleft()
                    continue
                fill = r.visible if r.visible < remaining else remaining
                tid = self._next_trade_id
                self._next_trade_id = tid + 1
                if sign == 1:
                    trades.append(Trade(tid, price, fill, order_id, r.order_id, aggressor, product))
                else:
                    trades.append(Trade(tid, price, fill, r.order_id, order_id, aggressor, product))
                remaining -= fill
                level.total -= fill
                r.filled += fill
                r.visible -= fill
                if r.visible:
                    r.status = _PARTIAL
                    continue
                queue.popleft()
                if r.hidden:
                    # Next iceberg clip: new timestamp, back of the level.
                    clip = r.clip if r.clip < r.hidden else r.hidden
                    r.visible = clip
                    r.hidden -= clip
                    self._seq += 1
                    r.seq = self._seq
                    r.status = _PARTIAL
                    queue.append(r)
                else:
                    r.live = False
                    r.status = _FILLED
            if level.total == 0 or not queue:
                del levels[price]
        return self._finish(e, remaining, trades)

    def _finish(self, e: Entry, remaining: int, trades: list[Trade]) -> SubmitResult:
        """Book the aggressor's fills, then rest or cancel its ``remaining`` lots."""
        e.filled += e.quantity - e.filled - e.cancelled - remaining
        if remaining == 0:
            e.status = _FILLED
        elif e.order_type is _IOC or e.order_type is _FOK:
            e.cancelled += remaining
            e.status = _CANCELLED
            remaining = 0
        else:
            buy = e.side is _BUY
            limit = e.price
            if e.filled:
                e.status = _PARTIAL
            clip = e.clip if e.clip < remaining else remaining
            e.visible = clip
            e.hidden = remaining - clip
            self._seq += 1
            e.seq = self._seq
            e.live = True
            if e.order_type is _AON:
                if buy:
                    self._aon_bids += 1
                else:
                    self._aon_asks += 1
            own = self._bids if buy else self._asks
            level = own.get(limit)
            if level is None:
                level = own[limit] = Level()
                own_in_heap = self._bid_in_heap if buy else self._ask_in_heap
                if limit not in own_in_heap:
                    own_in_heap.add(limit)
                    heapq.heappush(
                        self._bid_heap if buy else self._ask_heap, -limit if buy else limit
                    )
            level.queue.append(e)
            level.total += remaining
        return SubmitResult(True, tuple(trades), remaining, e.status, e.order_id, e.filled)
