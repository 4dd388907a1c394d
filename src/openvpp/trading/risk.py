"""Pre-trade risk (pure): limits per VPP and market, the trading mode (kill switch), and the
check of one order against them.

Position convention: bought volume positive, sold negative [MW], per delivery interval
(market, product, delivery start). The position check is worst case: the filled net position
plus every open order of the same side plus the new order must stay within the limit on either
side (``|net + open_buy + q| <= max`` for a buy, ``|net - open_sell - q| <= max`` for a sell).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openvpp.trading.orders import Order

__all__ = [
    "DEFAULT_LIMITS",
    "MINUTE_WINDOW",
    "SECOND_WINDOW",
    "Exposure",
    "Interval",
    "Limits",
    "RecentOrders",
    "RiskDecision",
    "RiskRequest",
    "TradingMode",
    "check_order",
    "effective_mode",
]


class TradingMode(StrEnum):
    """ACTIVE: trade; REDUCING: only orders that reduce the position; HALTED: no new orders
    (and open orders are cancelled at the venue)."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


_SEVERITY = {TradingMode.ACTIVE: 0, TradingMode.REDUCING: 1, TradingMode.HALTED: 2}


def effective_mode(*modes: TradingMode) -> TradingMode:
    """The most restrictive of the organization's and the VPP's modes."""
    return max(modes, key=_SEVERITY.__getitem__, default=TradingMode.ACTIVE)


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits of one VPP on one market; ``None`` = no limit of that kind.

    ``max_position_mw`` [MW] per delivery interval; ``max_order_mw`` [MW] per order;
    ``max_notional`` [currency] per order (|price| x volume x interval hours);
    ``reference_price`` and ``price_band`` [currency/MWh]: admissible prices
    ``reference_price +/- price_band`` (the market's price limits always apply);
    ``max_orders_per_second`` / ``max_orders_per_minute``: accepted orders per VPP and market.
    """

    max_position_mw: Decimal | None = None
    max_order_mw: Decimal | None = None
    max_notional: Decimal | None = None
    reference_price: Decimal | None = None
    price_band: Decimal | None = None
    max_orders_per_second: int | None = None
    max_orders_per_minute: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_position_mw": self.max_position_mw,
            "max_order_mw": self.max_order_mw,
            "max_notional": self.max_notional,
            "reference_price": self.reference_price,
            "price_band": self.price_band,
            "max_orders_per_second": self.max_orders_per_second,
            "max_orders_per_minute": self.max_orders_per_minute,
        }


DEFAULT_LIMITS = Limits(
    max_position_mw=Decimal(100),
    max_order_mw=Decimal(50),
    max_notional=Decimal(1_000_000),
    max_orders_per_second=100,
    max_orders_per_minute=3000,
)
"""Applied to a VPP and market without stored limits: trading is never unlimited."""


@dataclass(frozen=True, slots=True)
class Exposure:
    """Of one VPP in one delivery interval [MW]: ``net_filled`` (bought minus sold) and the
    remaining volume of open orders per side (UNKNOWN orders count as open)."""

    net_filled: Decimal = Decimal(0)
    open_buy: Decimal = Decimal(0)
    open_sell: Decimal = Decimal(0)

    @classmethod
    def of(cls, order: Order) -> Exposure:
        """What ``order`` adds to the exposure of its interval: its fills signed by side and,
        while it is open, the rest of it on its side."""
        rest, none = order.remaining, Decimal(0)  # the rest is 0 once final
        buy = order.side == "buy"
        return cls(order.signed_filled, rest if buy else none, none if buy else rest)

    def __add__(self, other: Exposure) -> Exposure:
        return Exposure(
            self.net_filled + other.net_filled,
            self.open_buy + other.open_buy,
            self.open_sell + other.open_sell,
        )

    def __sub__(self, other: Exposure) -> Exposure:
        return Exposure(
            self.net_filled - other.net_filled,
            self.open_buy - other.open_buy,
            self.open_sell - other.open_sell,
        )


Interval = tuple[str, str, str, datetime]
"""What an :class:`Exposure` is kept per within an organization: VPP, market, product and
delivery start."""

SECOND_WINDOW = timedelta(seconds=1)  # what the order-rate limits count orders over
MINUTE_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class RecentOrders:
    """Orders of a VPP on a market that passed risk within the last second and minute
    (:data:`SECOND_WINDOW`, :data:`MINUTE_WINDOW`)."""

    last_second: int = 0
    last_minute: int = 0


@dataclass(frozen=True, slots=True)
class RiskRequest:
    """An order to check: ``side`` buy/sell, ``price`` [currency/MWh], ``quantity`` [MW],
    ``period_min`` of its product; the market's admissible prices; the orders of the VPP on
    the market accepted within the last second and minute."""

    side: str
    price: Decimal
    quantity: Decimal
    period_min: int
    market_min_price: Decimal
    market_max_price: Decimal
    recent: RecentOrders = field(default_factory=RecentOrders)


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """``rule`` names the refusing check (None when accepted)."""

    accepted: bool
    rule: str | None = None
    reason: str = "accepted"

    @staticmethod
    def refuse(rule: str, reason: str) -> RiskDecision:
        return RiskDecision(False, rule, reason)


def _mode_check(mode: TradingMode, r: RiskRequest, e: Exposure) -> RiskDecision | None:
    if mode is TradingMode.HALTED:
        return RiskDecision.refuse("halted", "trading is halted (kill switch)")
    if mode is TradingMode.REDUCING:
        if r.side == "sell":
            reduces = e.net_filled > 0 and e.open_sell + r.quantity <= e.net_filled
        else:
            reduces = e.net_filled < 0 and e.open_buy + r.quantity <= -e.net_filled
        if not reduces:
            return RiskDecision.refuse(
                "reducing",
                f"trading is reducing only: a {r.side} of {r.quantity} MW does not reduce the "
                f"position of {e.net_filled} MW (open buy {e.open_buy}, sell {e.open_sell})",
            )
    return None


def _price_check(limits: Limits, r: RiskRequest) -> RiskDecision | None:
    low, high = r.market_min_price, r.market_max_price
    if limits.reference_price is not None and limits.price_band is not None:
        low = max(low, limits.reference_price - limits.price_band)
        high = min(high, limits.reference_price + limits.price_band)
    if not low <= r.price <= high:
        return RiskDecision.refuse(
            "price_collar", f"price {r.price} is outside the collar [{low}, {high}]"
        )
    return None


def check_order(
    r: RiskRequest, limits: Limits, exposure: Exposure, mode: TradingMode
) -> RiskDecision:
    """Accept or refuse ``r`` (the first failing check, in a fixed order)."""
    refused = _mode_check(mode, r, exposure) or _price_check(limits, r)
    if refused:
        return refused
    if r.quantity <= 0:
        return RiskDecision.refuse("quantity", "quantity must be positive")
    if limits.max_order_mw is not None and r.quantity > limits.max_order_mw:
        return RiskDecision.refuse(
            "max_order_mw", f"{r.quantity} MW exceeds the order limit of {limits.max_order_mw} MW"
        )
    notional = abs(r.price) * r.quantity * Decimal(r.period_min) / Decimal(60)
    if limits.max_notional is not None and notional > limits.max_notional:
        return RiskDecision.refuse(
            "max_notional", f"notional {notional} exceeds the limit of {limits.max_notional}"
        )
    if limits.max_position_mw is not None:
        if r.side == "buy":
            worst = abs(exposure.net_filled + exposure.open_buy + r.quantity)
        else:
            worst = abs(exposure.net_filled - exposure.open_sell - r.quantity)
        if worst > limits.max_position_mw:
            return RiskDecision.refuse(
                "max_position_mw",
                f"the position could reach {worst} MW, above the limit of "
                f"{limits.max_position_mw} MW",
            )
    if (
        limits.max_orders_per_second is not None
        and r.recent.last_second >= limits.max_orders_per_second
    ):
        return RiskDecision.refuse(
            "max_orders_per_second",
            f"{r.recent.last_second} orders in the last second (limit "
            f"{limits.max_orders_per_second})",
        )
    if (
        limits.max_orders_per_minute is not None
        and r.recent.last_minute >= limits.max_orders_per_minute
    ):
        return RiskDecision.refuse(
            "max_orders_per_minute",
            f"{r.recent.last_minute} orders in the last minute (limit "
            f"{limits.max_orders_per_minute})",
        )
    return RiskDecision(True)
