"""Continuous intraday order book for one product (SIDC-style continuous trading).

Prices are integers in ticks and quantities integers in lots. Matching follows price-time
priority and every trade executes at the resting order's price.

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

Modification (``modify``): a price change or a quantity increase loses time priority (the order
gets a new sequence number; a price change that crosses the book matches at once as an aggressor);
a quantity decrease keeps priority. Quantities are total order quantities including what has
already been filled, so the new quantity must exceed the filled quantity. Orders that are no longer
active (filled, cancelled, rejected) cannot be modified or cancelled.

Not implemented (documented limitations): all-or-none (AON) orders and self-trade prevention;
orders of the same owner may trade with each other.

Data structures: per side a dict price -> level (a deque of resting orders in time priority plus
the level's total remaining quantity) and a heap of prices with lazy deletion, so finding the best
price is O(log n) per level change. Cancelled and re-prioritised orders are removed lazily from
the level deques (skipped when they reach the front).
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from enum import Enum

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


class OrderBookError(ValueError):
    """An order or request the book refuses (invalid values, inactive order, duplicate id)."""


class UnknownOrderError(OrderBookError, KeyError):
    """No order with this id was ever submitted to the book."""

    __str__ = Exception.__str__


class Side(Enum):
    BUY = "buy"
    SELL = "sell"


class OrderType(Enum):
    LIMIT = "limit"
    IOC = "ioc"
    FOK = "fok"
    ICEBERG = "iceberg"


class OrderStatus(Enum):
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


_BUY = Side.BUY
_SELL = Side.SELL
_LIMIT = OrderType.LIMIT
_IOC = OrderType.IOC
_FOK = OrderType.FOK
_ICEBERG = OrderType.ICEBERG
_NEW = OrderStatus.NEW
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_FILLED = OrderStatus.FILLED
_CANCELLED = OrderStatus.CANCELLED
_REJECTED = OrderStatus.REJECTED


@dataclass(frozen=True, slots=True)
class Order:
    """An order as submitted. ``clip`` is the visible quantity of an iceberg order (required for
    ``ICEBERG``, forbidden otherwise)."""

    order_id: str
    side: Side
    price: int
    quantity: int
    order_type: OrderType = OrderType.LIMIT
    clip: int | None = None


@dataclass(frozen=True, slots=True)
class Trade:
    trade_id: int
    price: int
    quantity: int
    buy_order_id: str
    sell_order_id: str
    aggressor: Side


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """Outcome of ``submit`` or ``modify``. ``resting_quantity`` includes hidden iceberg volume."""

    accepted: bool
    trades: tuple[Trade, ...]
    resting_quantity: int
    status: OrderStatus
    order_id: str = ""
    filled_quantity: int = 0


@dataclass(frozen=True, slots=True)
class OrderInfo:
    """Snapshot of an order. Always ``quantity == filled + resting + cancelled``."""

    order_id: str
    side: Side
    order_type: OrderType
    price: int
    quantity: int
    filled_quantity: int
    resting_quantity: int
    visible_quantity: int
    cancelled_quantity: int
    status: OrderStatus
    sequence: int


@dataclass(frozen=True, slots=True)
class PriceLevel:
    price: int
    quantity: int
    """Visible quantity at this price."""
    orders: int


@dataclass(frozen=True, slots=True)
class BookDepth:
    bids: tuple[PriceLevel, ...]
    """Best (highest) first."""
    asks: tuple[PriceLevel, ...]
    """Best (lowest) first."""


class _Entry:
    """Mutable state of one order. ``live`` is True while this object sits at its current place
    in a level queue; a priority loss replaces the object in the queue by a fresh one."""

    __slots__ = (
        "cancelled",
        "clip",
        "filled",
        "hidden",
        "live",
        "order_id",
        "order_type",
        "price",
        "quantity",
        "seq",
        "side",
        "status",
        "visible",
    )

    def __init__(
        self,
        order_id: str,
        side: Side,
        order_type: OrderType,
        price: int,
        quantity: int,
        clip: int,
    ) -> None:
        self.order_id = order_id
        self.side = side
        self.order_type = order_type
        self.price = price
        self.quantity = quantity
        self.clip = clip
        self.filled = 0
        self.visible = 0
        self.hidden = 0
        self.cancelled = 0
        self.seq = 0
        self.live = False
        self.status = _NEW

    def copy(self) -> _Entry:
        e = _Entry(self.order_id, self.side, self.order_type, self.price, self.quantity, self.clip)
        e.filled = self.filled
        e.cancelled = self.cancelled
        e.status = self.status
        return e


class _Level:
    __slots__ = ("queue", "total")

    def __init__(self) -> None:
        self.queue: deque[_Entry] = deque()
        self.total = 0  # remaining quantity (visible + hidden) of live entries


class OrderBook:
    """Order book of one product. ``price_min``/``price_max`` are the price limits in ticks and
    ``tick`` the price grid (prices must be multiples of it)."""

    __slots__ = (
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
        "product_id",
        "tick",
    )

    def __init__(
        self,
        product_id: str = "",
        *,
        price_min: int = -999_900,
        price_max: int = 999_900,
        tick: int = 1,
    ) -> None:
        for name, value in (("price_min", price_min), ("price_max", price_max), ("tick", tick)):
            if type(value) is not int:
                raise OrderBookError(f"{name} must be an integer number of ticks, got {value!r}")
        if price_min > price_max:
            raise OrderBookError(f"price_min {price_min} exceeds price_max {price_max}")
        if tick <= 0:
            raise OrderBookError(f"tick must be positive, got {tick}")
        self.product_id = product_id
        self.price_min = price_min
        self.price_max = price_max
        self.tick = tick
        self._bids: dict[int, _Level] = {}
        self._asks: dict[int, _Level] = {}
        self._bid_heap: list[int] = []  # negated prices
        self._ask_heap: list[int] = []
        self._bid_in_heap: set[int] = set()
        self._ask_in_heap: set[int] = set()
        self._orders: dict[str, _Entry] = {}
        self._seq = 0
        self._next_trade_id = 1

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

        def side(book: dict[int, _Level], prices: list[int]) -> tuple[PriceLevel, ...]:
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

        e = _Entry(order_id, side, otype, price, quantity, clip)
        self._orders[order_id] = e
        if otype is _FOK and self._available(side, price, quantity) < quantity:
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
            # Decrease (or no change): keep time priority, adjust in place.
            level = (self._bids if e.side is _BUY else self._asks)[e.price]
            level.total -= e.visible + e.hidden - remaining
            e.quantity = new_qty
            if e.visible > remaining:
                e.visible = remaining
            e.hidden = remaining - e.visible
            return SubmitResult(True, (), remaining, e.status, order_id, e.filled)
        # Price change or increase: lose time priority (new entry, new sequence number).
        self._unrest(e)
        fresh = e.copy()
        fresh.price = new_price
        fresh.quantity = new_qty
        self._orders[order_id] = fresh
        return self._execute(fresh)

    # ------------------------------------------------------------------ internals

    def _check_price(self, price: object) -> None:
        if type(price) is not int:
            raise OrderBookError(f"price must be an integer number of ticks, got {price!r}")
        if not self.price_min <= price <= self.price_max:
            raise OrderBookError(
                f"price {price} outside the limits {self.price_min}..{self.price_max}"
            )
        if price % self.tick:
            raise OrderBookError(f"price {price} is not on the tick grid of {self.tick}")

    def _get(self, order_id: str) -> _Entry:
        try:
            return self._orders[order_id]
        except KeyError:
            raise UnknownOrderError(f"unknown order id {order_id!r}") from None

    def _active(self, order_id: str, what: str) -> _Entry:
        e = self._get(order_id)
        if not e.live:
            raise OrderBookError(
                f"cannot {what} order {order_id!r}: it is {e.status.value}, not active"
            )
        return e

    def _unrest(self, e: _Entry) -> None:
        """Take a live entry out of its level (lazily: it stays in the deque, marked dead)."""
        e.live = False
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

    def _execute(self, e: _Entry) -> SubmitResult:
        """Match ``e`` (not resting) against the book, then rest or cancel the remainder."""
        remaining = e.quantity - e.filled - e.cancelled
        limit = e.price
        order_id = e.order_id
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
                    trades.append(Trade(tid, price, fill, order_id, r.order_id, aggressor))
                else:
                    trades.append(Trade(tid, price, fill, r.order_id, order_id, aggressor))
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
        filled_now = e.quantity - e.filled - e.cancelled - remaining
        e.filled += filled_now
        if remaining == 0:
            e.status = _FILLED
        elif e.order_type is _IOC or e.order_type is _FOK:
            e.cancelled += remaining
            e.status = _CANCELLED
            remaining = 0
        else:
            if e.filled:
                e.status = _PARTIAL
            clip = e.clip if e.clip < remaining else remaining
            e.visible = clip
            e.hidden = remaining - clip
            self._seq += 1
            e.seq = self._seq
            e.live = True
            own = self._bids if sign == 1 else self._asks
            level = own.get(limit)
            if level is None:
                level = own[limit] = _Level()
                own_in_heap = self._bid_in_heap if sign == 1 else self._ask_in_heap
                if limit not in own_in_heap:
                    own_in_heap.add(limit)
                    heapq.heappush(self._bid_heap if sign == 1 else self._ask_heap, -limit * sign)
            level.queue.append(e)
            level.total += remaining
        return SubmitResult(True, tuple(trades), remaining, e.status, order_id, e.filled)
