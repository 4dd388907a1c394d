"""The order manager: submit (idempotent by client order id, risk-checked, stored before it is
sent), cancel and modify, each venue answer recorded through the state machine.

Submission, in order (RELIABILITY items 1, 3, 6, 7):

1. One writing unit of work locks the organization's and the VPP's trading-state rows
   (``SELECT ... FOR UPDATE``; on SQLite the writer lock and ``BEGIN IMMEDIATE`` serialise),
   reads limits, exposure and order rate, decides, inserts the order as ``risk_checked`` or
   ``rejected`` with its audit row, and commits. A second insert of the same
   ``(organization, client_order_id)`` fails on the unique constraint: the stored order is
   returned when the body hash matches, else 409.
2. Only then is the order sent, through ``submit_with_reconciliation``: an ambiguous outcome
   is looked up by client order id, never resent blind; unresolved it stays UNKNOWN for the
   reconciler.
3. The answer is recorded in a second unit of work (the order row re-read ``FOR UPDATE``). An
   order whose cancellation was requested meanwhile (kill switch) is cancelled at the venue.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from openvpp.audit.chain import AuditEvent
from openvpp.core.canonical import canonical_json
from openvpp.core.clock import Clock
from openvpp.core.errors import Conflict, NotFound, ValidationFailed
from openvpp.core.ids import new_id
from openvpp.identity.model import Principal
from openvpp.markets.calendar import gate_closure, is_open
from openvpp.markets.connections import ConnectionService
from openvpp.markets.connectors.orders import (
    CancelAnswer,
    ReconcilePolicy,
    SubmissionOutcome,
    cancel_many,
    submit_many_with_reconciliation,
)
from openvpp.markets.connectors.protocol import (
    AmbiguousError,
    NotSentError,
    OrderKind,
    OrderRequest,
    OrderSide,
    OrderSnapshot,
    VenueConnector,
    VenueRejectedError,
)
from openvpp.markets.model import Market, Product
from openvpp.markets.presets import load_presets
from openvpp.markets.records import MarketConnection
from openvpp.ports import UnitOfWork
from openvpp.trading import orders as om
from openvpp.trading.orders import Order, State
from openvpp.trading.records import (
    GLOBAL,
    DuplicateOrder,
    EventRow,
    StateRecord,
    SubmitOrder,
    exact,
)
from openvpp.trading.risk import (
    DEFAULT_LIMITS,
    RecentOrders,
    RiskDecision,
    RiskRequest,
    TradingMode,
    check_order,
)
from openvpp.trading.submit_view import SubmitView
from openvpp.trading.venues import VENUE_ERRORS, Venues

__all__ = [
    "VENUE_ERRORS",
    "FaultHook",
    "OrderService",
    "Placed",
    "Placement",
    "Recording",
    "VenueAnswer",
    "market_product",
    "order_request",
    "order_view",
    "reconciled_event",
    "venue_reject",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
CANCEL_CONCURRENCY = 32
"""Cancellation requests in flight to a venue at once (a kill switch's open orders): a book of
hundreds cancelled within seconds over a slow link, without flooding the venue."""
CANCEL_GROUP = 256
"""Orders whose cancellations are sent, then recorded in one unit of work, at a time."""
FaultHook = Callable[[str, Order], None]
"""Called at the named points ``after_commit_before_send`` and ``after_send_before_ack``
(crash tests raise there)."""


def order_view(o: Order) -> dict[str, Any]:
    """The audited view of an order."""
    return {
        "client_order_id": o.client_order_id,
        "vpp_id": o.vpp_id,
        "market": o.market,
        "product": o.product,
        "delivery_start": o.delivery_start.isoformat(),
        "side": o.side,
        "price": str(o.price),
        "quantity_mw": str(o.quantity),
        "filled_mw": str(o.filled),
        "state": o.state.value,
        "venue_order_id": o.venue_order_id,
        "reject_reason": o.reject_reason,
    }


@dataclass(frozen=True, slots=True)
class Placement:
    """The order and whether this call created it (False: an idempotent replay)."""

    order: Order
    created: bool


Recording = tuple[Order, list[om.Event], str | None, dict[str, Any] | None, UnitOfWork | None]
"""What :meth:`OrderService.record_many` records for one order: the order as last read, the
events to apply, the audit action, its detail, and whose actor the audit row carries (``None``:
the recording unit of work's)."""


@dataclass(frozen=True, slots=True)
class Placed:
    """An order placed by :meth:`OrderService.place`, its connection, its audit event and the
    rows of its event log (stored with it)."""

    order: Order
    connection: MarketConnection
    audit: AuditEvent
    log: tuple[EventRow, ...]


@dataclass(frozen=True, slots=True)
class VenueAnswer:
    """What a venue's answer to a submission means: the events to apply, the audit action
    (``None``: a plain acknowledgement, in the order's event log only) and its detail."""

    events: list[om.Event]
    action: str | None
    detail: dict[str, Any]


def order_request(order: Order) -> OrderRequest:
    """The venue request of a stored order."""
    return OrderRequest(
        client_order_id=order.client_order_id,
        market=order.market,
        product=order.product,
        delivery_start=order.delivery_start,
        side=OrderSide(order.side),
        price=order.price,
        quantity_mw=order.quantity,
        order_type=OrderKind(order.order_type),
    )


_ANSWERED = (SubmissionOutcome, NotSentError, ValidationFailed, VenueRejectedError)
"""What a submission ends with that the order's events say (anything else is a bug)."""


def _answer(
    outcome: SubmissionOutcome | NotSentError | ValidationFailed | VenueRejectedError,
) -> VenueAnswer:
    """The events a submission's outcome means for the order."""
    if isinstance(outcome, NotSentError | ValidationFailed):
        return not_sent(outcome)
    events: list[om.Event] = [om.Sent()]
    detail: dict[str, Any]
    if isinstance(outcome, VenueRejectedError):
        events.append(venue_reject(outcome))
        detail = {"status": outcome.status, "field": outcome.field}
    else:
        detail = {"submits": outcome.submits, "events": list(outcome.events)}
        if outcome.order is None:
            events.append(om.Ambiguous("; ".join(outcome.events)[-500:]))
        else:
            events.append(om.VenueAck(outcome.order.venue_order_id))
            events.append(reconciled_event(outcome.order))
    # a plain acknowledgement is in the order's event log; the audit trail gets the
    # decision (submit) and every abnormal outcome (refused, not sent, unknown)
    acknowledged = isinstance(events[-1], om.Reconciled)
    return VenueAnswer(events, None if acknowledged else "trading.order.send", detail)


def venue_reject(exc: VenueRejectedError) -> om.VenueReject:
    """The event of the venue's refusal of an order."""
    return om.VenueReject(f"venue: {exc.code}: {exc.message}"[:500])


def not_sent(exc: NotSentError | ValidationFailed) -> VenueAnswer:
    """The answer when the order provably never reached the venue (or the connection cannot
    be used: disabled, bad URL)."""
    return VenueAnswer(
        [om.Sent(), om.NotSent(f"not sent: {exc.message}"[:500])], "trading.order.send", {}
    )


@dataclass(frozen=True, slots=True)
class _Resolved:
    market: Market
    product: Product
    connection: MarketConnection
    closure: datetime


def market_product(market_code: str, product_code: str) -> tuple[Market, Product]:
    market = load_presets().get(market_code)
    if market is None:
        raise ValidationFailed(f"unknown market {market_code!r}", field="market")
    for product in market.products:
        if product.code == product_code:
            return market, product
    codes = [p.code for p in market.products]
    raise ValidationFailed(
        f"market {market_code} has no product {product_code!r}; it has {codes}", field="product"
    )


class OrderService:
    def __init__(
        self,
        clock: Clock,
        connections: ConnectionService,
        *,
        policy: ReconcilePolicy | None = None,
        venue_timeout_s: float = 10.0,
    ) -> None:
        self._clock = clock
        self._connections = connections
        self.policy = policy or ReconcilePolicy()
        self.venue_timeout_s = venue_timeout_s
        self.fault: FaultHook | None = None
        self.on_fills: Callable[[UnitOfWork, MarketConnection], object] | None = None
        """Reads the connection's new fills (set by the composition root); called when the
        venue reports an order filled beyond what we applied, so the answer is current."""
        self._state_rows: set[tuple[str, str]] = set()
        self.venues = Venues(clock, connections, venue_timeout_s=venue_timeout_s)

    # --- venue access ---------------------------------------------------------------------
    def venue(
        self, connection: MarketConnection, call: Callable[[VenueConnector], Awaitable[T]]
    ) -> T:
        """Run ``call`` with the connection's connector (:class:`Venues`)."""
        return self.venues.run(connection, call)

    def close(self) -> None:
        self.venues.close()

    def connection_of(self, uow: UnitOfWork, order: Order) -> MarketConnection:
        with uow:
            found = uow.market_connections.get(order.organization_id, order.connection_id)
        if found is None:
            raise NotFound(f"no connection {order.connection_id!r}", field="connection_id")
        return found

    @property
    def clock(self) -> Clock:
        return self._clock

    def hook(self, point: str, order: Order) -> None:
        """The fault hook at the named point (crash tests)."""
        if self.fault is not None:
            self.fault(point, order)

    # --- submission -------------------------------------------------------------------------
    def _resolve(self, view: SubmitView, org: str, cmd: SubmitOrder, now: datetime) -> _Resolved:
        market, product = market_product(cmd.market, cmd.product)
        if not is_open(product, cmd.delivery_start, now):
            raise ValidationFailed(
                f"the gate of {cmd.market}/{cmd.product} for {cmd.delivery_start.isoformat()} "
                "is not open",
                field="delivery_start",
            )
        if not view.vpp_exists(org, cmd.vpp_id):
            raise NotFound(f"no VPP {cmd.vpp_id!r}", field="vpp_id")
        if cmd.connection_id is not None:
            connection = view.connection(org, cmd.connection_id)
            if connection is None:
                raise NotFound(f"no connection {cmd.connection_id!r}", field="connection_id")
            if cmd.market not in connection.markets or not connection.enabled:
                raise ValidationFailed(
                    f"connection {connection.name!r} is disabled or does not serve {cmd.market}",
                    field="connection_id",
                )
        else:
            serving = [c for c in view.connections(org) if c.enabled and cmd.market in c.markets]
            if not serving:
                raise ValidationFailed(
                    f"no enabled connection serves {cmd.market}; give connection_id",
                    field="connection_id",
                )
            connection = serving[0]
        return _Resolved(market, product, connection, gate_closure(product, cmd.delivery_start))

    def ensure_state_rows(self, uow: UnitOfWork, organization_id: str, vpp_id: str) -> None:
        """Create the ACTIVE trading-state rows the submissions lock (once per process)."""
        missing = [s for s in (GLOBAL, vpp_id) if (organization_id, s) not in self._state_rows]
        if not missing:
            return
        with uow:
            for scope in missing:
                if uow.trading_control.state(organization_id, scope) is None:
                    uow.trading_control.add_state(
                        StateRecord(
                            organization_id,
                            scope,
                            TradingMode.ACTIVE,
                            None,
                            None,
                            self._clock.now(),
                        )
                    )
            uow.commit()
        self._state_rows.update((organization_id, s) for s in missing)

    def _decide(
        self,
        view: SubmitView,
        org: str,
        cmd: SubmitOrder,
        market: Market,
        product: Product,
        now: datetime,
        *,
        replacing: Order | None = None,
    ) -> RiskDecision:
        mode = view.mode(org, cmd.vpp_id)
        limits = view.limits(org, cmd.vpp_id, cmd.market) or DEFAULT_LIMITS
        exposure = view.exposure(org, cmd.vpp_id, cmd.market, cmd.product, cmd.delivery_start)
        if replacing is not None:  # a modification: its own open volume is replaced
            rest = replacing.remaining
            exposure = replace(
                exposure,
                open_buy=exposure.open_buy - (rest if replacing.side == "buy" else 0),
                open_sell=exposure.open_sell - (rest if replacing.side == "sell" else 0),
            )
        limited = (limits.max_orders_per_second, limits.max_orders_per_minute) != (None, None)
        recent = (  # read only when limited; a modification is no new order
            view.recent_orders(org, cmd.vpp_id, cmd.market, now)
            if limited and replacing is None
            else RecentOrders()
        )
        request = RiskRequest(
            side=cmd.side,
            price=cmd.price,
            quantity=cmd.quantity if replacing is None else cmd.quantity - replacing.filled,
            period_min=product.period_min,
            market_min_price=market.price_limits.min,
            market_max_price=market.price_limits.max,
            recent=recent,
        )
        if replacing is not None:
            limits = replace(limits, max_orders_per_second=None, max_orders_per_minute=None)
        return check_order(request, limits, exposure, mode)

    def submit(self, uow: UnitOfWork, principal: Principal, cmd: SubmitOrder) -> Placement:
        """Store, risk-check and send ``cmd``; an idempotent replay returns the stored order."""
        org = principal.organization_id
        self.ensure_state_rows(uow, org, cmd.vpp_id)
        try:
            with uow:
                placed = self.place(uow, principal, cmd, self._clock.now())
                uow.record(placed.audit)
                uow.commit()
        except DuplicateOrder:
            return Placement(self.replay(uow, org, cmd), False)
        if placed.order.state is not State.RISK_CHECKED:
            return Placement(placed.order, True)
        self.hook("after_commit_before_send", placed.order)
        return Placement(self.send(uow, placed.order, placed.connection), True)

    def place(
        self,
        uow: UnitOfWork,
        principal: Principal,
        cmd: SubmitOrder,
        now: datetime,
        view: SubmitView | None = None,
        *,
        store: bool = True,
    ) -> Placed:
        """Within an open unit of work: resolve, risk-check and insert ``cmd`` with its event
        log; the audit event is the caller's to record. :class:`DuplicateOrder` when its
        client order id is taken (nothing written). ``view``: the transaction's reads, shared
        by the submissions of a batch (a fresh one by default). ``store=False``: nothing is
        written; the caller stores the order in this transaction (:meth:`store`, several at
        once) and has made sure that its client order id is free."""
        org = principal.organization_id
        view = view or SubmitView(uow)
        r = self._resolve(view, org, cmd, now)
        body_hash = hashlib.sha256(
            canonical_json(cmd.hash_body(r.connection.id)).encode()
        ).hexdigest()
        decision = self._decide(view, org, cmd, r.market, r.product, now)
        order = Order(
            id=new_id(),
            organization_id=org,
            vpp_id=cmd.vpp_id,
            connection_id=r.connection.id,
            client_order_id=cmd.client_order_id,
            market=cmd.market,
            product=cmd.product,
            delivery_start=cmd.delivery_start,
            side=cmd.side,
            order_type=cmd.order_type,
            price=exact(cmd.price),
            quantity=exact(cmd.quantity),
            state=State.CREATED,
            body_hash=body_hash,
            created_at=now,
            updated_at=now,
            gate_closure=r.closure,
            decision_id=cmd.decision_id,
            created_by=principal.id,
        )
        event: om.Event = (
            om.RiskPassed()
            if decision.accepted
            else om.RiskFailed(decision.rule or "risk", decision.reason)
        )
        order = om.apply(order, event)
        log_rows: tuple[EventRow, ...] = (
            (order.id, now, "created", State.CREATED, {}),
            (order.id, now, type(event).__name__, order.state, {"reason": decision.reason}),
        )
        audit = AuditEvent(
            action="trading.order.submit",
            object_type="trading_order",
            object_id=order.id,
            after={
                **order_view(order),
                "risk": "accepted" if decision.accepted else "rejected",
                "risk_rule": decision.rule,
                "risk_reason": decision.reason,
            },
            outcome="success" if decision.accepted else "rejected",
        )
        placed = Placed(order, r.connection, audit, log_rows)
        if store:
            self.store(uow, [placed])
        view.placed(order)
        return placed

    def store(self, uow: UnitOfWork, placed: Sequence[Placed]) -> None:
        """Insert placed orders and their event logs (two statements for all);
        :class:`DuplicateOrder` when a client order id is taken."""
        uow.trading_orders.insert_many([p.order for p in placed])
        uow.trading_orders.add_events([row for p in placed for row in p.log])

    def replay(self, uow: UnitOfWork, org: str, cmd: SubmitOrder) -> Order:
        """The stored order of a repeated ``cmd`` (409 when its body differs)."""
        with uow:
            existing = uow.trading_orders.by_client_id(org, cmd.client_order_id)
        if existing is None:  # the constraint fired for another reason
            raise Conflict("the order conflicts with data written meanwhile; retry")
        body = cmd.hash_body(
            existing.connection_id if cmd.connection_id is None else cmd.connection_id
        )
        if hashlib.sha256(canonical_json(body).encode()).hexdigest() != existing.body_hash:
            raise Conflict(
                f"client_order_id {cmd.client_order_id!r} was used for another order",
                field="client_order_id",
            )
        return existing

    def send(self, uow: UnitOfWork, order: Order, connection: MarketConnection) -> Order:
        """Send a stored ``risk_checked`` order and record the venue's answer."""
        try:
            answer = self.venue(connection, lambda c: self.ask(c, order))
        except (NotSentError, ValidationFailed) as exc:  # no connector for the connection
            answer = not_sent(exc)
        self.hook("after_send_before_ack", order)
        done = self.record(uow, order, answer.events, answer.action, answer.detail)
        return self.after_answer(uow, done, connection, answer)

    async def ask(self, connector: VenueConnector, order: Order) -> VenueAnswer:
        """Send a stored ``risk_checked`` order; the events its outcome means."""
        (answer,) = await self.ask_many(connector, [order])
        if isinstance(answer, Exception):  # a bug
            raise answer
        return answer

    async def ask_many(
        self, connector: VenueConnector, orders: Sequence[Order]
    ) -> list[VenueAnswer | Exception]:
        """:meth:`ask` for several orders of one connection at once: a venue that takes
        batches gets them in batch requests (``submit_many_with_reconciliation``). Each
        order's answer, or the unexpected error its submission raised, in the order given."""
        outcomes = await submit_many_with_reconciliation(
            connector, [order_request(o) for o in orders], policy=self.policy
        )
        return [_answer(o) if isinstance(o, _ANSWERED) else o for o in outcomes]

    def after_answer(
        self, uow: UnitOfWork, done: Order, connection: MarketConnection, answer: VenueAnswer
    ) -> Order:
        """A recorded answer's consequences: a cancellation requested meanwhile (kill switch)
        is carried out; fills the venue reported with it are read."""
        if done.cancel_requested and not done.final:
            return self.cancel_at_venue(uow, done, connection)
        return self._with_fills(uow, done, connection, answer.events[-1])

    def _with_fills(
        self, uow: UnitOfWork, order: Order, connection: MarketConnection, last: om.Event
    ) -> Order:
        """``order`` after reading the fills the venue reported with its answer."""
        if (
            self.on_fills is None
            or not isinstance(last, om.Reconciled)
            or last.filled <= order.filled
        ):
            return order
        try:
            self.on_fills(uow, connection)
        except VENUE_ERRORS:
            return order  # the trading loop reads them later
        with uow:
            return uow.trading_orders.get(order.organization_id, order.id) or order

    # --- recording ----------------------------------------------------------------------------
    def record(
        self,
        uow: UnitOfWork,
        order: Order,
        events: list[om.Event],
        action: str | None,
        detail: dict[str, Any] | None = None,
    ) -> Order:
        """Apply ``events`` to the stored order (re-read ``FOR UPDATE``) in one unit of work;
        events the machine refuses are logged and skipped. Audited as ``action`` when the
        state changed (or always, when ``action`` names a command)."""
        with uow:
            new = self.record_in(uow, order, events, action, detail, self._clock.now())
            uow.commit()
        return new

    def record_in(
        self,
        uow: UnitOfWork,
        order: Order,
        events: list[om.Event],
        action: str | None,
        detail: dict[str, Any] | None,
        now: datetime,
        *,
        audit_as: UnitOfWork | None = None,
    ) -> Order:
        """:meth:`record` within an open unit of work; the audit row carries ``audit_as``'s
        actor when given (a batch of several requests' submissions)."""
        return self.record_many(uow, [(order, events, action, detail, audit_as)], now)[0]

    def record_many(
        self,
        uow: UnitOfWork,
        recordings: Sequence[Recording],
        now: datetime,
        *,
        as_stored: bool = False,
    ) -> list[Order]:
        """:meth:`record_in` for several orders (distinct), with one read of their rows
        (locked), one insert of their event logs and one update.

        ``as_stored``: the recordings' orders are as this process last wrote them (a batch's
        orders, just placed), so they are not read again; every one of them is written (an
        answer that changes nothing still moves its version), and the update, which writes
        each row only where its version is still the one given, refuses the whole recording
        (:class:`StaleOrder`; the caller rolls back and records one by one) if any of them was
        changed meanwhile (e.g. a cancellation requested through another request)."""
        if as_stored:
            stored = {r[0].id: r[0] for r in recordings}
        else:
            stored = uow.trading_orders.get_many([r[0].id for r in recordings], lock=True)
        out: list[Order] = []
        changed: list[Order] = []
        log_rows: list[EventRow] = []
        for order, events, action, detail, audit_as in recordings:
            current = stored.get(order.id)
            if current is None or current.organization_id != order.organization_id:
                raise NotFound(f"no order {order.id!r}", field="order_id")
            new = _applied(current, events, now, log_rows)
            if new != current or as_stored:
                new = replace(new, version=current.version + 1, updated_at=now)
                changed.append(new)
            if action is not None and (new.state != current.state or detail is not None):
                audit = AuditEvent(
                    action=action,
                    object_type="trading_order",
                    object_id=current.id,
                    before={"state": current.state.value},
                    after={**order_view(new), **(detail or {})},
                )
                if audit_as is None:
                    uow.record(audit)
                else:
                    uow.record_for(audit_as, audit)
            out.append(new)
        # In id order, as the read locks them: concurrent writers take row locks in one order.
        # The rows first, then their event log: inserting an event checks its order's key (a
        # shared lock on the order row), in the log's order, which a halt locking the same
        # orders in id order would otherwise meet the other way round (a deadlock).
        uow.trading_orders.update_many(sorted(changed, key=lambda o: o.id), stored)
        uow.trading_orders.add_events(log_rows)
        return out

    # --- cancel and modify ----------------------------------------------------------------------
    def get(self, uow: UnitOfWork, principal: Principal, order_id: str) -> Order:
        with uow:
            found = uow.trading_orders.get(principal.organization_id, order_id)
        if found is None:
            raise NotFound(f"no order {order_id!r}", field="order_id")
        return found

    def cancel(self, uow: UnitOfWork, principal: Principal, order_id: str) -> Order:
        order = self.get(uow, principal, order_id)
        if order.final:
            raise Conflict(f"order is {order.state.value}: nothing to cancel", field="state")
        order = self.record(uow, order, [om.CancelRequested()], "trading.order.cancel_request", {})
        return self.cancel_at_venue(uow, order, self.connection_of(uow, order))

    def cancel_at_venue(self, uow: UnitOfWork, order: Order, connection: MarketConnection) -> Order:
        """Cancel at the venue and record its answer (:meth:`cancel_many_at_venue`)."""
        return self.cancel_many_at_venue(uow, [(order, connection)])[0]

    def cancel_many_at_venue(
        self,
        uow: UnitOfWork,
        orders: Sequence[tuple[Order, MarketConnection]],
        *,
        keep_going: bool = False,
    ) -> list[Order]:
        """Cancel the orders (distinct) at their venues and record the answers, in the order
        given: :data:`CANCEL_GROUP` orders at a time, each group's answers recorded in one unit
        of work (an audit row per order); the orders of one connection go together
        (:func:`~openvpp.markets.connectors.orders.cancel_many`: in batch requests where the
        venue takes them; :data:`CANCEL_CONCURRENCY` requests in flight in all). Without a
        venue id an order is looked up by client order id first; one the venue does not have
        stays flagged ``cancel_requested`` (its sender or the reconciler cancels it once it is
        known); a venue without an answer is recorded on the order, which stays flagged too. An
        unexpected error (of a call or of recording a group's answers) is raised once the
        group's other answers are recorded; with ``keep_going`` (the kill switch) it is logged,
        its orders stay flagged, and the next group is sent."""
        out: list[Order] = []
        unexpected: Exception | None = None
        for k in range(0, len(orders), CANCEL_GROUP):
            group = orders[k : k + CANCEL_GROUP]
            recordings: list[Recording] = []
            for (order, _), answer in zip(group, self._cancel_answers(group), strict=True):
                if isinstance(answer, VENUE_ERRORS):
                    detail = {"venue": f"no answer: {answer}"[:300]}
                    recordings.append((order, [], "trading.order.cancel", detail, uow))
                elif isinstance(answer, Exception):
                    log.error("cancelling order %s", order.id, exc_info=answer)
                    unexpected = unexpected or answer
                elif answer is not None:
                    events: list[om.Event] = [reconciled_event(answer)]
                    recordings.append((order, events, "trading.order.cancel", {}, uow))
            recorded: dict[str, Order] = {}
            try:
                if recordings:
                    with uow:
                        done = self.record_many(uow, recordings, self._clock.now())
                        uow.commit()
                    recorded = {o.id: o for o in done}
            except Exception as exc:
                log.exception("recording %d cancellations", len(recordings))
                unexpected = unexpected or exc
            if unexpected is not None and not keep_going:
                raise unexpected
            out += [recorded.get(order.id, order) for order, _ in group]
        return out

    def _cancel_answers(
        self, group: Sequence[tuple[Order, MarketConnection]]
    ) -> list[CancelAnswer]:
        """The venues' answers to cancelling ``group``, in its order: the orders of each
        connection in one call, :data:`CANCEL_CONCURRENCY` requests in flight in all."""
        gate = asyncio.Semaphore(CANCEL_CONCURRENCY)
        return self.venues.run_per_connection(
            [(c, o) for o, c in group], lambda orders: _cancel_calls(orders, gate)
        )

    def modify(
        self,
        uow: UnitOfWork,
        principal: Principal,
        order_id: str,
        *,
        price: Decimal | None,
        quantity: Decimal | None,
    ) -> Order:
        """Change price and/or volume of a working order; risk-checked like a new order."""
        org = principal.organization_id
        now = self._clock.now()
        with uow:
            order = uow.trading_orders.get(org, order_id)
            if order is None:
                raise NotFound(f"no order {order_id!r}", field="order_id")
            if order.state not in (State.ACKNOWLEDGED, State.PARTIALLY_FILLED):
                raise Conflict(
                    f"order is {order.state.value}: it cannot be modified", field="state"
                )
            new_price = order.price if price is None else price
            new_quantity = order.quantity if quantity is None else quantity
            if new_quantity <= order.filled:
                raise ValidationFailed(
                    f"quantity_mw must exceed the filled {order.filled} MW", field="quantity_mw"
                )
            market, product = market_product(order.market, order.product)
            cmd = SubmitOrder(
                order.client_order_id,
                order.vpp_id,
                order.market,
                order.product,
                order.delivery_start,
                order.side,
                new_price,
                new_quantity,
            )
            decision = self._decide(
                SubmitView(uow), org, cmd, market, product, now, replacing=order
            )
            connection = uow.market_connections.get(org, order.connection_id)
        if not decision.accepted:
            raise ValidationFailed(f"risk: {decision.reason}", field=_risk_field(decision.rule))
        if connection is None or order.venue_order_id is None:
            raise Conflict("the order is not known at the venue yet", field="state")
        venue_id = order.venue_order_id
        try:
            snapshot = self.venue(
                connection,
                lambda c: c.modify_order(venue_id, price=price, quantity_mw=quantity),
            )
        except VenueRejectedError as exc:
            raise ValidationFailed(
                f"the venue refused the change: {exc.message}",
                field=exc.field or "quantity_mw",
            ) from None
        except (NotSentError, AmbiguousError) as exc:
            raise Conflict(f"the venue did not confirm the change: {exc.message}") from None
        return self.record(
            uow,
            order,
            [om.Modified(snapshot.price, snapshot.quantity_mw), reconciled_event(snapshot)],
            "trading.order.modify",
            {},
        )


def _cancel_calls(
    orders: list[Order], gate: asyncio.Semaphore
) -> Callable[[VenueConnector], Awaitable[list[CancelAnswer]]]:
    """The venue calls that cancel ``orders`` (one connection's), their requests in flight
    counted against ``gate``."""
    keys = [(o.venue_order_id, o.client_order_id) for o in orders]
    return lambda c: cancel_many(c, keys, concurrency=gate)


def _risk_field(rule: str | None) -> str:
    return {"price_collar": "price", "halted": "state", "reducing": "state"}.get(
        rule or "", "quantity_mw"
    )


def reconciled_event(s: OrderSnapshot) -> om.Reconciled:
    return om.Reconciled(
        venue_state=s.state.value,
        venue_order_id=s.venue_order_id,
        price=s.price,
        quantity=s.quantity_mw,
        filled=s.filled_mw,
    )


def _applied(
    current: Order, events: list[om.Event], now: datetime, log_rows: list[EventRow]
) -> Order:
    """``current`` after ``events``, their event-log rows appended to ``log_rows``; events the
    machine refuses are logged (and kept in the event log as refused) and skipped."""
    new = current
    for event in events:
        try:
            new = om.apply(new, event)
        except om.InvalidTransition as exc:
            log.warning("order %s: %s", current.id, exc.message)
            log_rows.append((current.id, now, "refused:" + type(event).__name__, new.state, {}))
            continue
        log_rows.append((current.id, now, type(event).__name__, new.state, _event_detail(event)))
    return new


def _event_detail(event: om.Event) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in getattr(event, "__slots__", ()):
        value = getattr(event, name)
        out[name] = str(value) if isinstance(value, Decimal) else value
    return out
