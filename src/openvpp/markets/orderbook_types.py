"""Types of the continuous order book (:mod:`openvpp.markets.orderbook`): the public value
types (orders, trades, snapshots, depth), enums and errors, plus the mutable per-order entry and
price level that the matching paths of :mod:`orderbook` and :mod:`orderbook_aon` share.

Import the public names from :mod:`openvpp.markets.orderbook`; ``Entry`` and ``Level`` are
internal to the order book modules.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "BookDepth",
    "Entry",
    "Level",
    "Order",
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
    AON = "aon"


class OrderStatus(Enum):
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


_NEW = OrderStatus.NEW


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
    """One execution: ``quantity`` [lots] at ``price`` [ticks], the resting order's price.
    ``trade_id`` is unique within its book (``product``), not across books."""

    trade_id: int
    price: int
    quantity: int
    buy_order_id: str
    sell_order_id: str
    aggressor: Side
    product: str


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


class Entry:
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

    def copy(self) -> Entry:
        e = Entry(self.order_id, self.side, self.order_type, self.price, self.quantity, self.clip)
        e.filled = self.filled
        e.cancelled = self.cancelled
        e.status = self.status
        return e


class Level:
    __slots__ = ("queue", "total")

    def __init__(self) -> None:
        self.queue: deque[Entry] = deque()
        self.total = 0  # remaining quantity (visible + hidden) of live entries
