"""Records of the simulated exchange: order commands, order snapshots, fills, auction results
and market data.

Prices are ``Decimal`` in the market's currency ``[currency/MWh]`` (``[currency/MW]`` for
capacity markets), volumes ``Decimal`` ``[MW]``, instants tz-aware ``[UTC]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

MAX_BATCH_ORDERS = 100
"""The most new orders one batch request (``POST /v1/orders/batch``) takes."""

__all__ = [
    "MAX_BATCH_ORDERS",
    "AuctionResult",
    "ExchangeOrder",
    "ExchangeStatus",
    "ExecType",
    "Fill",
    "FillPage",
    "ImbalancePeriod",
    "ImbalanceResult",
    "MarketDataPoint",
    "NewOrder",
    "PeriodResult",
    "TradeSide",
]


class TradeSide(StrEnum):
    """Buy energy (demand in an auction) or sell energy (supply)."""

    BUY = "buy"
    SELL = "sell"


class ExecType(StrEnum):
    """Order type. Auctions take ``limit`` only."""

    LIMIT = "limit"
    IOC = "ioc"
    FOK = "fok"
    ICEBERG = "iceberg"


class ExchangeStatus(StrEnum):
    """Order status at the venue. ``expired``: the gate closed (continuous) or the auction left
    the order unaccepted; ``partially_filled`` is final for a cleared auction order."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class NewOrder:
    """An order as a client submits it.

    ``price`` [currency/MWh], ``quantity_mw`` and ``clip_mw`` (iceberg visible size) [MW],
    ``delivery_start`` [UTC] the start of one delivery interval of the product.
    """

    client_order_id: str
    market: str
    product: str
    delivery_start: datetime
    side: TradeSide
    price: Decimal
    quantity_mw: Decimal
    order_type: ExecType = ExecType.LIMIT
    clip_mw: Decimal | None = None

    def body_key(self) -> tuple[object, ...]:
        """What must match for a re-submission under the same client order id to be the same
        order (``Decimal`` compares by value, so ``50`` and ``50.0`` are equal)."""
        return (
            self.market,
            self.product,
            self.delivery_start,
            self.side,
            self.price,
            self.quantity_mw,
            self.order_type,
            self.clip_mw,
        )


@dataclass(frozen=True, slots=True)
class ExchangeOrder:
    """Snapshot of an order at the venue. Volumes [MW], price [currency/MWh], times [UTC]."""

    venue_order_id: str
    account: str
    client_order_id: str
    market: str
    product: str
    delivery_start: datetime
    delivery_end: datetime
    side: TradeSide
    order_type: ExecType
    price: Decimal
    quantity_mw: Decimal
    clip_mw: Decimal | None
    filled_mw: Decimal
    status: ExchangeStatus
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one order. ``seq`` is the venue-wide, strictly increasing position in
    the fills feed; ``trade_id`` is unique per fill (a continuous match between two orders
    gives two fills, ``...-B`` and ``...-S``)."""

    seq: int
    trade_id: str
    account: str
    venue_order_id: str
    client_order_id: str
    market: str
    product: str
    delivery_start: datetime
    side: TradeSide
    price: Decimal
    quantity_mw: Decimal
    executed_at: datetime


@dataclass(frozen=True, slots=True)
class FillPage:
    """Fills after a cursor; resume with ``after=next_after``."""

    fills: tuple[Fill, ...]
    next_after: int


@dataclass(frozen=True, slots=True)
class PeriodResult:
    """Clearing of one delivery interval: price [currency/MWh] (``None`` without orders) and
    accepted volume [MW].

    Replayed auctions (:mod:`openvpp.markets.exchange.replay_mode`) also give the historical
    price [currency/MWh] and the price impact ``price - historical_price`` [currency/MWh] (0 for
    a price taker); both are ``None`` for auctions cleared from orders.
    """

    delivery_start: datetime
    delivery_end: datetime
    price: Decimal | None
    volume_mw: Decimal
    historical_price: Decimal | None = None
    price_impact: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AuctionResult:
    """Outcome of an auction for one local delivery ``day``; ``periods`` in time order."""

    market: str
    product: str
    day: date
    cleared: bool
    cleared_at: datetime | None
    periods: tuple[PeriodResult, ...]


@dataclass(frozen=True, slots=True)
class MarketDataPoint:
    """Price of one delivery interval: the clearing price of an auction or the last trade
    price of continuous trading [currency/MWh], with the volume [MW] (accepted or traded)."""

    market: str
    product: str
    delivery_start: datetime
    delivery_end: datetime
    price: Decimal | None
    volume_mw: Decimal
    source: str


@dataclass(frozen=True, slots=True)
class ImbalancePeriod:
    """Imbalance (real-time) prices of one settlement interval [currency/MWh].

    ``short_price`` settles negative deviations (less injection than scheduled),
    ``long_price`` positive ones; equal under single pricing. ``day_ahead_price`` is the
    reference a synthetic price was built on and ``system_imbalance_mw`` the synthetic system
    imbalance [MW, positive = system short]; both ``None`` for prices from real-time history.
    """

    delivery_start: datetime
    delivery_end: datetime
    short_price: Decimal
    long_price: Decimal
    day_ahead_price: Decimal | None = None
    system_imbalance_mw: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ImbalanceResult:
    """Imbalance prices of a market's local ``day`` on its settlement grid of ``period_min``
    minutes (92, 96 or 100 quarter-hours). ``scheme`` ``single`` or ``dual``; ``source``
    ``real_time`` (configured history) or ``synthetic``; ``reference`` names the day-ahead
    prices a synthetic day was built on, e.g. ``auction EU-SDAC/H``."""

    market: str
    day: date
    period_min: int
    scheme: str
    source: str
    reference: str | None
    periods: tuple[ImbalancePeriod, ...]
