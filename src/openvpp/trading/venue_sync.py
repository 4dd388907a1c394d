"""Keeping our orders equal to the venue's: fills from the feed (each trade once), and
reconciliation of every order that is not final (on start-up, for UNKNOWN orders, and for
orders past their gate closure).

Reconciling an order asks the venue by client order id (``find_order``: an unreachable venue
or a refused lookup is no answer and changes nothing):

* found: the venue's state is applied (an order whose cancellation was requested and that is
  still working is cancelled now); but an order never acknowledged that finds another body
  under its id (someone else's order) is rejected, as the venue refuses it (409);
* confirmed unknown to the venue (twice): an order that may never have been sent
  (``risk_checked``, ``sent``, ``unknown``) is sent now with the same client order id
  (idempotent at the venue) while its gate is open; after the gate closure it is expired
  (the venue refuses it from then on), and one whose cancellation was requested is cancelled.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.ids import new_id
from openvpp.markets.connectors.orders import find_order, same_order, taken
from openvpp.markets.connectors.protocol import (
    FillPage,
    VenueConnector,
)
from openvpp.markets.records import MarketConnection
from openvpp.ports import UnitOfWork
from openvpp.trading import orders as om
from openvpp.trading.orders import Order, State
from openvpp.trading.records import FillRecord
from openvpp.trading.service import (
    OrderService,
    order_request,
    reconciled_event,
    venue_reject,
)
from openvpp.trading.venues import VENUE_ERRORS

__all__ = ["FillReport", "ReconcileReport", "VenueSync"]

log = logging.getLogger(__name__)
MAX_PAGES = 100
"""Fill pages read per connection and poll."""


@dataclass
class FillReport:
    new: int = 0
    duplicates: int = 0
    unmatched: int = 0
    cursor: int = 0


@dataclass
class ReconcileReport:
    checked: int = 0
    changed: int = 0
    resent: int = 0
    unanswered: int = 0
    states: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "changed": self.changed,
            "resent": self.resent,
            "unanswered": self.unanswered,
            "states": self.states,
        }


async def _fetch_fills(connector: VenueConnector, *, after: int) -> FillPage:
    return await connector.fetch_fills(after)


class VenueSync:
    def __init__(self, clock: Clock, orders: OrderService) -> None:
        self._clock = clock
        self._orders = orders

    # --- fills ------------------------------------------------------------------------------
    def poll_fills(self, uow: UnitOfWork, connection: MarketConnection) -> FillReport:
        """Read the connection's fills after the stored cursor and apply the new trades; the
        fills, the orders and the cursor are written together per page."""
        report = FillReport()
        with uow:
            cursor = uow.trading_fills.cursor(connection.id) or 0
        for _ in range(MAX_PAGES):
            after = cursor
            page = self._orders.venue(connection, partial(_fetch_fills, after=after))
            if not page.fills:
                cursor = max(cursor, page.next_after)
                break
            cursor = self._store_page(uow, connection, page, report)
            if page.next_after <= after:
                break
        report.cursor = cursor
        return report

    def _store_page(
        self, uow: UnitOfWork, connection: MarketConnection, page: FillPage, report: FillReport
    ) -> int:
        now = self._clock.now()
        org = connection.organization_id
        applied: dict[str, Order] = {}
        with uow:
            cursor = max(uow.trading_fills.cursor(connection.id, lock=True) or 0, page.next_after)
            # Read and lock the page's orders once, up front, in id order, as every other
            # writer of several orders does (a halt, a batch's answers): locked in fill order,
            # two of them could deadlock. ``current`` then holds each as last written.
            # Found by client order id first, unlocked: locking through that index would take
            # the locks in its order, not the id order.
            found = uow.trading_orders.by_client_ids(org, {f.client_order_id for f in page.fills})
            locked = uow.trading_orders.get_many([o.id for o in found.values()], lock=True)
            current = {c: locked.get(o.id, o) for c, o in found.items()}
            for f in sorted(page.fills, key=lambda x: x.seq):
                cursor = max(cursor, f.seq)
                order = current.get(f.client_order_id)
                if order is not None and order.connection_id != connection.id:
                    order = None
                record = FillRecord(
                    id=new_id(),
                    organization_id=org,
                    connection_id=connection.id,
                    trade_id=f.trade_id,
                    order_id=None if order is None else order.id,
                    vpp_id=None if order is None else order.vpp_id,
                    venue_order_id=f.venue_order_id,
                    client_order_id=f.client_order_id,
                    market=f.market,
                    product=f.product,
                    delivery_start=f.delivery_start,
                    side=f.side.value,
                    price=f.price,
                    quantity=f.quantity_mw,
                    seq=f.seq,
                    executed_at=f.executed_at,
                    received_at=now,
                )
                if not uow.trading_fills.add(record):
                    report.duplicates += 1
                    continue
                report.new += 1
                if order is None:
                    report.unmatched += 1
                    continue
                applied[f.client_order_id] = current[f.client_order_id] = self._apply_fill(
                    uow, order, record, now
                )
            uow.trading_fills.set_cursor(connection.id, cursor, now)
            if applied or report.unmatched:
                uow.record(
                    AuditEvent(
                        action="trading.fills",
                        object_type="market_connection",
                        object_id=connection.id,
                        after={
                            "orders": {
                                o.id: {"state": o.state.value, "filled_mw": str(o.filled)}
                                for o in applied.values()
                            },
                            "cursor": cursor,
                            "unmatched": report.unmatched,
                        },
                    )
                )
            uow.commit()
        return cursor

    @staticmethod
    def _apply_fill(uow: UnitOfWork, current: Order, fill: FillRecord, now: datetime) -> Order:
        """Apply ``fill`` to ``current`` (locked, as last written in this transaction)."""
        try:
            new = om.apply(current, om.FillApplied(fill.trade_id, fill.quantity, fill.price))
        except om.InvalidTransition as exc:  # stored and reported, not applied
            log.error("fill %s of order %s not applied: %s", fill.trade_id, current.id, exc.message)
            uow.trading_orders.add_event(
                current.id, now, "refused:FillApplied", current.state, {"trade_id": fill.trade_id}
            )
            return current
        new = replace(new, version=current.version + 1, updated_at=now)
        uow.trading_orders.update(new, current)
        uow.trading_orders.add_event(
            current.id,
            now,
            "FillApplied",
            new.state,
            {"trade_id": fill.trade_id, "quantity": str(fill.quantity), "price": str(fill.price)},
        )
        return new

    # --- reconciliation ---------------------------------------------------------------------
    def reconcile(
        self,
        uow_for: Callable[[str], UnitOfWork],
        organization_id: str | None = None,
        *,
        only: frozenset[State] | None = None,
        due_only: bool = False,
        unchanged_for: timedelta | None = None,
    ) -> ReconcileReport:
        """Reconcile the open orders (of one organization, of the given states, only those
        past their gate closure, or only those unchanged for ``unchanged_for``), then poll the
        fills of every connection involved. ``uow_for(organization_id)`` gives a unit of work
        audited for that organization."""
        report = ReconcileReport()
        now = self._clock.now()
        with uow_for(organization_id or "") as uow:
            pending = uow.trading_orders.open_orders(
                organization_id,
                states=only,
                closing_by=now if due_only else None,
                updated_before=None if unchanged_for is None else now - unchanged_for,
            )
        by_connection: dict[str, list[Order]] = defaultdict(list)
        for order in pending:
            by_connection[order.connection_id].append(order)
        for connection_id, group in by_connection.items():
            org = group[0].organization_id
            uow = uow_for(org)
            with uow:
                connection = uow.market_connections.get(org, connection_id)
            if connection is None:
                continue
            for order in group:
                report.checked += 1
                try:
                    after = self.reconcile_order(uow, order, connection, report)
                except VENUE_ERRORS as exc:
                    log.warning("reconciling order %s: %s", order.id, exc)
                    report.unanswered += 1
                    continue
                report.changed += after.state != order.state
                report.states[after.state.value] = report.states.get(after.state.value, 0) + 1
            try:
                self.poll_fills(uow, connection)
            except VENUE_ERRORS as exc:
                log.warning("polling fills of %s: %s", connection.id, exc)
        return report

    def reconcile_order(
        self,
        uow: UnitOfWork,
        order: Order,
        connection: MarketConnection,
        report: ReconcileReport | None = None,
    ) -> Order:
        policy = self._orders.policy
        found, answered, _ = self._orders.venue(
            connection, lambda c: find_order(c, order.client_order_id, policy)
        )
        never_acknowledged = order.state in (State.RISK_CHECKED, State.SENT, State.UNKNOWN)
        if found is not None and never_acknowledged and not same_order(found, order_request(order)):
            reject = venue_reject(taken(found, connection.name))
            return self._orders.record(uow, order, [reject], "trading.order.reconcile", None)
        if found is not None:
            done = self._orders.record(
                uow, order, [reconciled_event(found)], "trading.order.reconcile", None
            )
            if done.cancel_requested and not done.final:
                done = self._orders.cancel_at_venue(uow, done, connection)
            return done
        if not answered:
            if report is not None:
                report.unanswered += 1
            return order
        if not never_acknowledged:
            log.error("order %s (%s) is unknown to the venue", order.id, order.state.value)
            return order
        if order.cancel_requested:
            return self._orders.record(
                uow, order, [om.CancelConfirmed()], "trading.order.reconcile", None
            )
        if order.gate_closure <= self._clock.now():
            event = om.Expired("the gate closed; the venue has no such order")
            return self._orders.record(uow, order, [event], "trading.order.reconcile", None)
        if report is not None:
            report.resent += 1
        # the same client order id: idempotent at the venue even if the first request arrives
        return self._orders.send(uow, order, connection)
