"""Market clearing algorithms: uniform-price (pay-as-clear) auctions."""

from __future__ import annotations

from openvpp.markets.clearing.auction import (
    ClearingResult,
    DayClearingResult,
    PriceRule,
    Side,
    clear_day,
    clear_orders,
    clear_period,
    expand_curves,
    to_ticks,
)

__all__ = [
    "ClearingResult",
    "DayClearingResult",
    "PriceRule",
    "Side",
    "clear_day",
    "clear_orders",
    "clear_period",
    "expand_curves",
    "to_ticks",
]
