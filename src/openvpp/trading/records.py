"""Trading records besides the order itself: submissions, fills, filters, trading states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from openvpp.trading.orders import State
from openvpp.trading.risk import TradingMode

__all__ = [
    "GLOBAL",
    "DuplicateOrder",
    "EventRow",
    "FillRecord",
    "OrderFilter",
    "StateRecord",
    "SubmitOrder",
    "exact",
]

GLOBAL = "*"
"""The scope of the organization-wide trading state (the global kill switch)."""

EventRow = tuple[str, datetime, str, State, dict[str, Any]]
"""(order id, time, event name, state after, detail): a row of an order's event log."""


class DuplicateOrder(Exception):
    """Raised by the store when the organization already has the client order id."""


class StaleOrder(RuntimeError):
    """Raised by the store when an order written by version was changed meanwhile (a lost
    update, refused: the caller's transaction is to be rolled back)."""


def exact(value: Any) -> Decimal:
    """``value`` as a Decimal without trailing zeros and without an exponent (``100``, not
    ``1E+2``)."""
    d = Decimal(value)
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()


@dataclass(frozen=True, slots=True)
class SubmitOrder:
    """A new order as the client sends it. ``connection_id`` None: the organization's
    connection that serves ``market``. ``price`` [currency/MWh], ``quantity`` [MW]."""

    client_order_id: str
    vpp_id: str
    market: str
    product: str
    delivery_start: datetime
    side: str
    price: Decimal
    quantity: Decimal
    order_type: str = "limit"
    connection_id: str | None = None
    decision_id: str | None = None

    def hash_body(self, connection_id: str) -> dict[str, Any]:
        """What the idempotency hash covers (the connection as resolved)."""
        return {
            "vpp_id": self.vpp_id,
            "connection_id": connection_id,
            "market": self.market,
            "product": self.product,
            "delivery_start": self.delivery_start.isoformat(),
            "side": self.side,
            "price": str(exact(self.price)),
            "quantity": str(exact(self.quantity)),
            "order_type": self.order_type,
            "decision_id": self.decision_id,
        }


@dataclass(frozen=True, slots=True)
class FillRecord:
    """A stored execution [MW] at [currency/MWh]; ``order_id`` None when no order of ours
    carries its client order id (kept, reported, never lost)."""

    id: str
    organization_id: str
    connection_id: str
    trade_id: str
    order_id: str | None
    vpp_id: str | None
    venue_order_id: str
    client_order_id: str
    market: str
    product: str
    delivery_start: datetime
    side: str
    price: Decimal
    quantity: Decimal
    seq: int
    executed_at: datetime
    received_at: datetime

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class OrderFilter:
    vpp_id: str | None = None
    market: str | None = None
    product: str | None = None
    side: str | None = None
    connection_id: str | None = None
    states: frozenset[str] = frozenset()
    delivery_from: datetime | None = None
    delivery_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class StateRecord:
    """The trading mode of a VPP (``scope`` its id) or of the organization (``GLOBAL``)."""

    organization_id: str
    scope: str
    mode: TradingMode
    reason: str | None
    changed_by: str | None
    changed_at: datetime
