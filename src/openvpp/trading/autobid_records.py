"""Records of automatic bidding: the auto-trading setting of a (VPP, market, product) and the
stored decision of one delivery day (inputs, result and the orders' outcomes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

__all__ = [
    "DECISION_STATUSES",
    "AutoTradingSetting",
    "DecisionFilter",
    "DecisionRecord",
    "DuplicateDecision",
]

DecisionStatus = Literal["pending", "submitted", "partial", "rejected", "failed"]
DECISION_STATUSES: tuple[str, ...] = ("pending", "submitted", "partial", "rejected", "failed")


class DuplicateDecision(Exception):
    """Raised by the store when the (organization, VPP, market, product, day) is decided."""


@dataclass(frozen=True, slots=True)
class AutoTradingSetting:
    """Whether and how the scheduler bids a VPP's flexibility on a market's product.

    ``lead_min``: a day's decision is due from its first gate closure minus this [min];
    ``margin_min``: and no later than the gate closure minus this safety margin [min].
    """

    organization_id: str
    vpp_id: str
    market: str
    product: str
    enabled: bool
    strategy: str
    connection_id: str | None
    price_model_id: str | None
    lead_min: int
    margin_min: int
    updated_at: datetime
    updated_by: str | None

    def view(self) -> dict[str, Any]:
        """The audited view."""
        return {
            "vpp_id": self.vpp_id,
            "market": self.market,
            "product": self.product,
            "enabled": self.enabled,
            "strategy": self.strategy,
            "connection_id": self.connection_id,
            "price_model_id": self.price_model_id,
            "lead_min": self.lead_min,
            "margin_min": self.margin_min,
        }


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One automatic bidding decision: what it was made from (``inputs``: forecast source,
    version, issue time, quantiles, flexibility), what the optimizer found (``result``) and
    what became of each order (``orders``: client order id → order id and state, or the
    error)."""

    id: str
    organization_id: str
    vpp_id: str
    market: str
    product: str
    delivery_day: date
    gate_closure: datetime
    status: str
    strategy: str
    inputs: dict[str, Any]
    result: dict[str, Any]
    orders: dict[str, Any]
    error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    vpp_id: str | None = None
    market: str | None = None
    product: str | None = None
    day: date | None = None
    status: str | None = None
