"""Market clearing algorithms: uniform-price (pay-as-clear) auctions and complex day-ahead
clearing with block, linked and exclusive orders."""

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
from openvpp.markets.clearing.complex import (
    BlockOrder,
    BlockResult,
    ComplexClearingResult,
    clear_complex,
)

__all__ = [
    "BlockOrder",
    "BlockResult",
    "ClearingResult",
    "ComplexClearingResult",
    "DayClearingResult",
    "PriceRule",
    "Side",
    "clear_complex",
    "clear_day",
    "clear_orders",
    "clear_period",
    "expand_curves",
    "to_ticks",
]
