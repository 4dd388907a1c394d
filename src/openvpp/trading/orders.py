"""The order state machine (pure): states, events and the one function that applies an event.

Volumes are ``Decimal`` [MW] on the market's volume tick, prices ``Decimal`` [currency/MWh].

::

    created ──risk passed──▶ risk_checked ──sent──▶ sent ──venue ack──▶ acknowledged
       │                         │                    │                    │  fill
       └─risk failed─▶ rejected ◀┴──venue reject──────┤                    ▼
                                                      │          partially_filled ──fill──▶ filled
                        timeout / ambiguous ──▶ unknown ──(venue evidence only)──▶ any state
    active states ──cancel confirmed──▶ cancelled;  ──expired──▶ expired

Rules the property tests check (RELIABILITY item 2):

* ``filled`` never decreases and never exceeds ``quantity``; it is the sum of the applied fills,
  each ``trade_id`` applied once (a repeated trade is a no-op).
* A final state (filled, cancelled, rejected, expired) never changes. Fills that arrive after
  the order went final (a feed may deliver a trade after the cancel confirmation) are still
  counted, because the trade happened: the position is the sum of the fills.
* UNKNOWN (the venue may or may not have the order) becomes final only through venue evidence:
  a venue answer (reject, cancel confirmation, reconciliation snapshot), a fill, or an expiry
  the venue reported.
* Events that arrive late or twice (an ack after a fill, a second ``sent``) are no-ops; events
  that contradict the state raise :class:`InvalidTransition`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from openvpp.core.errors import Conflict

__all__ = [
    "FINAL",
    "OPEN",
    "Ambiguous",
    "CancelConfirmed",
    "CancelRequested",
    "Event",
    "Expired",
    "FillApplied",
    "InvalidTransition",
    "Modified",
    "NotSent",
    "Order",
    "Reconciled",
    "RiskFailed",
    "RiskPassed",
    "Sent",
    "State",
    "VenueAck",
    "VenueReject",
    "apply",
]


class State(StrEnum):
    CREATED = "created"
    RISK_CHECKED = "risk_checked"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


FINAL = frozenset({State.FILLED, State.CANCELLED, State.REJECTED, State.EXPIRED})
OPEN = frozenset(State) - FINAL
"""Not final: may still trade (counted as open volume by the risk checks)."""
_RANK = {
    State.CREATED: 0,
    State.RISK_CHECKED: 1,
    State.SENT: 2,
    State.UNKNOWN: 2,
    State.ACKNOWLEDGED: 3,
    State.PARTIALLY_FILLED: 4,
}


class InvalidTransition(Conflict):
    """The event contradicts the order's state (HTTP 409, field ``state``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="state")


@dataclass(frozen=True, slots=True)
class Order:
    """An order as we know it. ``side`` ``buy``/``sell``; ``filled`` [MW] = sum of applied fills
    and ``filled_value`` [currency/MWh x MW] their exact sum of price x volume."""

    id: str
    organization_id: str
    vpp_id: str
    connection_id: str
    client_order_id: str
    market: str
    product: str
    delivery_start: datetime
    side: str
    order_type: str
    price: Decimal
    quantity: Decimal
    state: State
    body_hash: str
    created_at: datetime
    updated_at: datetime
    gate_closure: datetime
    filled: Decimal = Decimal(0)
    filled_value: Decimal = Decimal(0)
    venue_order_id: str | None = None
    reject_reason: str | None = None
    risk_rule: str | None = None
    cancel_requested: bool = False
    version: int = 1
    decision_id: str | None = None
    created_by: str | None = None
    trade_ids: frozenset[str] = field(default=frozenset(), compare=False)
    """Trades applied (loaded for fill processing; the store's unique key is the authority)."""

    @property
    def final(self) -> bool:
        return self.state in FINAL

    @property
    def remaining(self) -> Decimal:
        """Volume that may still trade [MW]: 0 once final."""
        return Decimal(0) if self.final else self.quantity - self.filled

    @property
    def avg_price(self) -> Decimal | None:
        """Volume-weighted fill price [currency/MWh], or None before the first fill."""
        return None if not self.filled else self.filled_value / self.filled

    @property
    def signed_filled(self) -> Decimal:
        """Position contribution [MW]: bought positive, sold negative."""
        return self.filled if self.side == "buy" else -self.filled


# --- events ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RiskPassed:
    pass


@dataclass(frozen=True, slots=True)
class RiskFailed:
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class Sent:
    pass


@dataclass(frozen=True, slots=True)
class NotSent:
    """The venue provably did not process the submission (after the connector's retries)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """Timeout or broken answer after sending: the venue may have the order."""

    reason: str


@dataclass(frozen=True, slots=True)
class VenueAck:
    venue_order_id: str


@dataclass(frozen=True, slots=True)
class VenueReject:
    reason: str


@dataclass(frozen=True, slots=True)
class FillApplied:
    trade_id: str
    quantity: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True)
class CancelRequested:
    pass


@dataclass(frozen=True, slots=True)
class CancelConfirmed:
    pass


@dataclass(frozen=True, slots=True)
class Expired:
    """``venue_evidence``: the venue reported the expiry (or confirmed it does not know an
    order whose gate has closed); without it only an order never sent may expire."""

    reason: str
    venue_evidence: bool = True


@dataclass(frozen=True, slots=True)
class Modified:
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class Reconciled:
    """The venue's view: its state (``new``, ``partially_filled``, ``filled``, ``cancelled``,
    ``rejected``, ``expired``), order id, price and volume."""

    venue_state: str
    venue_order_id: str
    price: Decimal
    quantity: Decimal
    filled: Decimal


Event = (
    RiskPassed
    | RiskFailed
    | Sent
    | NotSent
    | Ambiguous
    | VenueAck
    | VenueReject
    | FillApplied
    | CancelRequested
    | CancelConfirmed
    | Expired
    | Modified
    | Reconciled
)


def _invalid(order: Order, event: Event) -> InvalidTransition:
    return InvalidTransition(
        f"order {order.client_order_id!r} is {order.state.value}: "
        f"{type(event).__name__} is not allowed"
    )


def _fill(order: Order, e: FillApplied) -> Order:
    if e.trade_id in order.trade_ids:
        return order  # each trade once
    if e.quantity <= 0:
        raise InvalidTransition(f"trade {e.trade_id!r}: fill volume must be positive")
    filled = order.filled + e.quantity
    if filled > order.quantity:
        raise InvalidTransition(
            f"trade {e.trade_id!r} would fill {filled} MW of a {order.quantity} MW order"
        )
    if order.final:
        state = order.state
    else:
        state = State.FILLED if filled == order.quantity else State.PARTIALLY_FILLED
    return replace(
        order,
        state=state,
        filled=filled,
        filled_value=order.filled_value + e.quantity * e.price,
        trade_ids=order.trade_ids | {e.trade_id},
    )


def _working_state(order: Order) -> State:
    return State.PARTIALLY_FILLED if order.filled > 0 else State.ACKNOWLEDGED


def _reconciled(order: Order, e: Reconciled) -> Order:
    if order.final:
        # its venue id is still news: the fills of another order's answer (or of the loop) may
        # have filled it while its own acknowledgement was lost (a crash before recording)
        if order.state is State.REJECTED:
            return order
        return replace(order, venue_order_id=order.venue_order_id or e.venue_order_id)
    base = replace(order, venue_order_id=e.venue_order_id)
    if e.venue_state in ("new", "partially_filled") or (
        e.venue_state == "filled" and order.filled < order.quantity
    ):
        # the venue's fills reach us through the feed; until then the order works
        quantity = max(e.quantity, order.filled)
        return replace(base, state=_working_state(order), price=e.price, quantity=quantity)
    if e.venue_state == "filled":
        return replace(base, state=State.FILLED)
    if e.venue_state in ("cancelled", "expired"):
        return replace(base, state=State(e.venue_state))
    if e.venue_state == "rejected":
        if order.filled > 0:
            raise _invalid(order, e)
        return replace(base, state=State.REJECTED, reject_reason="rejected by the venue")
    return order  # the venue does not know either: stays as it is


def apply(order: Order, event: Event) -> Order:
    """The order after ``event`` (``version`` and ``updated_at`` are the store's concern)."""
    s = order.state
    match event:
        case FillApplied():
            return _fill(order, event)
        case Reconciled():
            return _reconciled(order, event)
        case RiskPassed():
            if s is State.CREATED:
                return replace(order, state=State.RISK_CHECKED)
            if _RANK.get(s, 9) >= _RANK[State.RISK_CHECKED]:
                return order
        case RiskFailed():
            if s is State.CREATED:
                return replace(
                    order,
                    state=State.REJECTED,
                    risk_rule=event.rule,
                    reject_reason=f"risk: {event.reason}",
                )
        case Sent():
            if s is State.RISK_CHECKED:
                return replace(order, state=State.SENT)
            if s is not State.CREATED and s is not State.REJECTED:
                return order  # a late or repeated record of sending
        case NotSent():
            if s is State.SENT:
                return replace(order, state=State.REJECTED, reject_reason=event.reason)
        case Ambiguous():
            if s in (State.RISK_CHECKED, State.SENT):
                return replace(order, state=State.UNKNOWN)
            if s is not State.CREATED:
                return order  # the order is known further already
        case VenueAck():
            if s in (State.RISK_CHECKED, State.SENT, State.UNKNOWN):
                return replace(
                    order, state=_working_state(order), venue_order_id=event.venue_order_id
                )
            if s in (State.ACKNOWLEDGED, State.PARTIALLY_FILLED) or (
                s in FINAL and s is not State.REJECTED
            ):
                return replace(order, venue_order_id=order.venue_order_id or event.venue_order_id)
        case VenueReject():
            if s in (State.RISK_CHECKED, State.SENT, State.UNKNOWN) and order.filled == 0:
                return replace(order, state=State.REJECTED, reject_reason=event.reason)
            if s is State.REJECTED:
                return order
        case CancelRequested():
            if not order.final:
                return replace(order, cancel_requested=True)
        case CancelConfirmed():
            if s is not State.CREATED and not order.final:
                return replace(order, state=State.CANCELLED)
            if s is State.CANCELLED:
                return order
        case Expired():
            if s is State.CREATED or (event.venue_evidence and not order.final):
                return replace(order, state=State.EXPIRED, reject_reason=event.reason)
            if s is State.EXPIRED:
                return order
        case Modified():
            if s in (State.ACKNOWLEDGED, State.PARTIALLY_FILLED):
                if event.quantity <= order.filled or event.quantity <= 0:
                    raise InvalidTransition(
                        f"quantity_mw {event.quantity} must exceed the filled {order.filled} MW"
                    )
                return replace(order, price=event.price, quantity=event.quantity)
    raise _invalid(order, event)
