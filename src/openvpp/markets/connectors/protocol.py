"""The one interface every trading venue is reached through, its records and its errors.

Prices are ``Decimal`` [currency/MWh], volumes ``Decimal`` [MW], instants tz-aware [UTC].

Errors say what is known about the request, which decides what a caller may do next:

* :class:`NotSentError`: the venue provably did not get or did not process the request
  (connection refused, DNS failure, open circuit breaker, 429, a 5xx the venue marks as not
  processed). Safe to retry as is.
* :class:`AmbiguousError`: the request may have been processed (timeout after sending,
  connection reset after sending, 5xx, malformed or oversized response). The outcome is
  unknown; an order becomes UNKNOWN and is reconciled by querying, never resent blind.
* :class:`VenueRejectedError`: a definitive refusal (4xx) with the venue's message and field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from openvpp.core.clock import ensure_utc

__all__ = [
    "AmbiguousError",
    "AuctionResults",
    "BatchCanceller",
    "BatchSubmitter",
    "ConnectorError",
    "Fill",
    "FillPage",
    "ImbalancePeriod",
    "ImbalanceResult",
    "MarketDataPoint",
    "NotSentError",
    "OrderKind",
    "OrderRequest",
    "OrderSide",
    "OrderSnapshot",
    "OrderState",
    "PeriodPrice",
    "VenueConnector",
    "VenueHealth",
    "VenueRejectedError",
    "batch_limit",
    "cancel_limit",
]


class ConnectorError(Exception):
    """Base of connector errors; ``venue`` names the connection."""

    def __init__(self, message: str, *, venue: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.venue = venue


class NotSentError(ConnectorError):
    """Provably not processed; safe to retry. ``retry_after`` [s] if the venue asked for a
    pause; ``breaker_open`` when refused locally by an open circuit breaker."""

    def __init__(
        self,
        message: str,
        *,
        venue: str = "",
        retry_after: float | None = None,
        breaker_open: bool = False,
    ) -> None:
        super().__init__(message, venue=venue)
        self.retry_after = retry_after
        self.breaker_open = breaker_open


class AmbiguousError(ConnectorError):
    """The request may have been processed; the outcome is unknown."""


class VenueRejectedError(ConnectorError):
    """A definitive refusal: HTTP ``status``, the venue's error ``code`` and ``field``."""

    def __init__(
        self,
        message: str,
        *,
        venue: str = "",
        status: int = 400,
        code: str = "rejected",
        field: str | None = None,
    ) -> None:
        super().__init__(message, venue=venue)
        self.status = status
        self.code = code
        self.field = field


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderKind(StrEnum):
    LIMIT = "limit"
    IOC = "ioc"
    FOK = "fok"
    ICEBERG = "iceberg"


class OrderState(StrEnum):
    """Order state as known to us. ``UNKNOWN``: a request's outcome is not known (never
    final; resolved by querying the venue)."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


def _utc(value: datetime, name: str) -> datetime:
    try:
        return ensure_utc(value)
    except ValueError:
        raise ValueError(f"{name} must carry a UTC offset, got {value!r}") from None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A new order. ``client_order_id`` is our idempotency key at the venue (1 to 64 chars)."""

    client_order_id: str
    market: str
    product: str
    delivery_start: datetime
    side: OrderSide
    price: Decimal
    quantity_mw: Decimal
    order_type: OrderKind = OrderKind.LIMIT
    clip_mw: Decimal | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "delivery_start", _utc(self.delivery_start, "delivery_start"))
        if not 0 < len(self.client_order_id) <= 64:
            raise ValueError("client_order_id must have 1 to 64 characters")


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """An order as the venue reports it."""

    venue_order_id: str
    client_order_id: str
    market: str
    product: str
    delivery_start: datetime
    side: OrderSide
    order_type: OrderKind
    price: Decimal
    quantity_mw: Decimal
    filled_mw: Decimal
    state: OrderState
    active: bool
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``trade_id`` is unique per fill at the venue (de-duplication key);
    ``seq`` is the feed position (cursor)."""

    seq: int
    trade_id: str
    venue_order_id: str
    client_order_id: str
    market: str
    product: str
    delivery_start: datetime
    side: OrderSide
    price: Decimal
    quantity_mw: Decimal
    executed_at: datetime


@dataclass(frozen=True, slots=True)
class FillPage:
    """Fills after a cursor; continue with ``after=next_after``."""

    fills: tuple[Fill, ...]
    next_after: int


@dataclass(frozen=True, slots=True)
class PeriodPrice:
    """One delivery interval's clearing price [currency/MWh] and volume [MW]."""

    delivery_start: datetime
    delivery_end: datetime
    price: Decimal | None
    volume_mw: Decimal


@dataclass(frozen=True, slots=True)
class AuctionResults:
    """Auction outcome of a local delivery ``day``."""

    market: str
    product: str
    day: date
    cleared: bool
    periods: tuple[PeriodPrice, ...]


@dataclass(frozen=True, slots=True)
class MarketDataPoint:
    """A delivery interval's price [currency/MWh] and volume [MW]; ``source`` e.g. auction."""

    market: str
    product: str
    delivery_start: datetime
    delivery_end: datetime
    price: Decimal | None
    volume_mw: Decimal
    source: str


@dataclass(frozen=True, slots=True)
class ImbalancePeriod:
    """Imbalance prices of one settlement interval [currency/MWh]: ``short_price`` settles
    negative deviations (less injection than scheduled), ``long_price`` positive ones (equal
    under single pricing); ``day_ahead_price`` [currency/MWh] and ``system_imbalance_mw`` [MW,
    positive = system short] when the venue reports them."""

    delivery_start: datetime
    delivery_end: datetime
    short_price: Decimal
    long_price: Decimal
    day_ahead_price: Decimal | None = None
    system_imbalance_mw: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ImbalanceResult:
    """Imbalance prices of a market's local ``day`` on its settlement grid of ``period_min``
    minutes; ``scheme`` ``single`` or ``dual``; ``source`` e.g. ``real_time`` or
    ``synthetic``."""

    market: str
    day: date
    period_min: int
    scheme: str
    source: str
    periods: tuple[ImbalancePeriod, ...]


@dataclass(frozen=True, slots=True)
class VenueHealth:
    """Whether the venue is healthy (``ok``) and answered at all (``reachable``);
    ``venue_time`` [UTC] if it reports one; latency [s]."""

    ok: bool
    venue_time: datetime | None = None
    latency_s: float | None = None
    detail: str = ""
    reachable: bool = True


@runtime_checkable
class VenueConnector(Protocol):
    """Async access to one venue. Every method raises the three error classes above."""

    name: str

    async def submit_order(self, request: OrderRequest) -> OrderSnapshot: ...

    async def cancel_order(self, venue_order_id: str) -> OrderSnapshot: ...

    async def modify_order(
        self,
        venue_order_id: str,
        *,
        price: Decimal | None = None,
        quantity_mw: Decimal | None = None,
    ) -> OrderSnapshot: ...

    async def get_order(
        self, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot | None:
        """The order, or ``None`` when the venue definitively does not know it."""
        ...

    async def fetch_fills(self, after: int = 0) -> FillPage: ...

    async def fetch_results(self, market: str, product: str, day: date) -> AuctionResults: ...

    async def fetch_market_data(
        self, market: str, product: str, start: datetime, end: datetime
    ) -> list[MarketDataPoint]: ...

    async def fetch_imbalance_prices(self, market: str, day: date) -> ImbalanceResult:
        """Imbalance (real-time) prices of the local ``day`` for settlement."""
        ...

    async def health(self) -> VenueHealth: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class BatchSubmitter(Protocol):
    """A venue that takes several new orders in one request (optional capability).

    ``max_batch_orders``: the most orders one request may carry (below 2: no batches).
    :meth:`submit_orders` answers each order on its own, in the order given: its snapshot, a
    :class:`VenueRejectedError` (that order refused), or an :class:`AmbiguousError` (that
    order's outcome unknown). A failure of the whole request raises, as a single submission
    does: ``NotSentError`` (none processed), ``AmbiguousError`` (any may have been),
    ``VenueRejectedError`` (the request refused: none processed).
    """

    max_batch_orders: int

    async def submit_orders(
        self, requests: Sequence[OrderRequest]
    ) -> list[OrderSnapshot | ConnectorError]: ...


def batch_limit(connector: object) -> int:
    """How many orders ``connector`` takes per request: ``max_batch_orders`` of a
    :class:`BatchSubmitter`, else 1."""
    if isinstance(connector, BatchSubmitter):
        return max(1, connector.max_batch_orders)
    return 1


@runtime_checkable
class BatchCanceller(Protocol):
    """A venue that cancels several orders in one request (optional capability).

    ``max_batch_cancels``: the most orders one request may cancel (below 2: no batches).
    :meth:`cancel_orders` answers each venue order id on its own, in the order given: the
    order's snapshot once cancelled, a :class:`VenueRejectedError` (that order not cancelled:
    unknown there, or no longer active), or an :class:`AmbiguousError` (that order's outcome
    unknown). A failure of the whole request raises, as a single cancellation does. A
    cancellation is idempotent at the venue, so an ambiguous one may simply be asked again.
    """

    max_batch_cancels: int

    async def cancel_orders(
        self, venue_order_ids: Sequence[str]
    ) -> list[OrderSnapshot | ConnectorError]: ...


def cancel_limit(connector: object) -> int:
    """How many orders ``connector`` cancels per request: ``max_batch_cancels`` of a
    :class:`BatchCanceller`, else 1."""
    if isinstance(connector, BatchCanceller):
        return max(1, connector.max_batch_cancels)
    return 1
