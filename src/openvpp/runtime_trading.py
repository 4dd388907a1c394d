"""Composition of trading: the order manager, venue synchronisation (fills, reconciliation,
expiry), limits and the kill switch; the ``trading.reconcile`` and ``trading.poll_fills`` job
kinds, the reconciliation at start-up and the periodic trading tick of the API server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from openvpp.audit.chain import AuditContext
from openvpp.core.clock import Clock
from openvpp.jobs.registry import JobContext, JobRegistry
from openvpp.markets.connections import ConnectionService
from openvpp.markets.connectors.orders import ReconcilePolicy
from openvpp.ports import UnitOfWork
from openvpp.runtime_loops import every
from openvpp.trading.batch_store import BatchStore
from openvpp.trading.batching import SubmitBatcher
from openvpp.trading.control import TradingControlService
from openvpp.trading.orders import State
from openvpp.trading.service import OrderService
from openvpp.trading.venue_sync import ReconcileReport, VenueSync

if TYPE_CHECKING:
    from openvpp.runtime import Runtime

log = logging.getLogger(__name__)
TRADERS = frozenset({"admin", "operator", "trader"})


@dataclass(frozen=True)
class TradingRuntime:
    orders: OrderService
    sync: VenueSync
    control: TradingControlService
    submissions: SubmitBatcher
    """Concurrent submissions through the API share their transactions (group commit)."""


def build_trading(
    clock: Clock,
    connections: ConnectionService,
    *,
    venue_timeout_s: float = 10.0,
    store: Callable[[OrderService], BatchStore] | None = None,
) -> TradingRuntime:
    """``store``: builds where the submissions' batches are written (default: the writer
    thread)."""
    orders = OrderService(
        clock, connections, policy=ReconcilePolicy(), venue_timeout_s=venue_timeout_s
    )
    sync = VenueSync(clock, orders)
    orders.on_fills = sync.poll_fills
    return TradingRuntime(
        orders,
        sync,
        TradingControlService(clock, orders),
        SubmitBatcher(orders, None if store is None else store(orders)),
    )


def system_uow(rt: Runtime, organization_id: str | None, actor: str = "trading") -> UnitOfWork:
    """A unit of work whose audit rows name a system (``actor``: trading, settlement) as
    actor."""
    context = AuditContext(
        actor_type="system", actor_id=actor, organization_id=organization_id or None
    )
    return rt.uow(context)


UNSENT_AFTER = timedelta(seconds=60)
"""An order still ``risk_checked`` or ``sent`` (stored, its answer not recorded) this long after
its last change is reconciled by the trading loop: its sender stopped between the steps (a
failed order store process, a bug), and a sender that still runs has long given up (a venue
call times out after ``OPENVPP_CONNECTOR_TIMEOUT_S``, 10 s)."""
UNANSWERED = frozenset({State.RISK_CHECKED, State.SENT})


def reconcile(
    rt: Runtime,
    organization_id: str | None = None,
    *,
    only: frozenset[State] | None = None,
    due_only: bool = False,
    unchanged_for: timedelta | None = None,
) -> ReconcileReport:
    """Reconcile the open orders (all organizations' when ``organization_id`` is None)."""
    return rt.trading.sync.reconcile(
        lambda org: system_uow(rt, org),
        organization_id,
        only=only,
        due_only=due_only,
        unchanged_for=unchanged_for,
    )


def trading_tick(rt: Runtime) -> dict[str, Any]:
    """One round of the server's trading loop: orders past their gate closure, UNKNOWN orders
    and orders left unanswered for :data:`UNSENT_AFTER` are reconciled (found at the venue, or
    sent again with the same client order id), and the fills of every connection with open
    orders are polled."""
    due = reconcile(rt, due_only=True)
    unknown = reconcile(rt, only=frozenset({State.UNKNOWN}))
    unsent = reconcile(rt, only=UNANSWERED, unchanged_for=UNSENT_AFTER)
    with system_uow(rt, None) as uow:
        pairs = uow.trading_orders.open_connections()
    polled = 0
    for org, connection_id in pairs:
        uow = system_uow(rt, org)
        with uow:
            connection = uow.market_connections.get(org, connection_id)
        if connection is not None and connection.enabled:
            try:
                polled += rt.trading.sync.poll_fills(uow, connection).new
            except Exception:  # one venue's failure must not stop the loop
                log.exception("polling fills of connection %s", connection_id)
    return {
        "due": due.as_dict(),
        "unknown": unknown.as_dict(),
        "unsent": unsent.as_dict(),
        "fills": polled,
    }


async def trading_loop(rt: Runtime, interval_s: float) -> None:
    """Reconcile every open order once at start-up, then tick every ``interval_s`` [s]."""
    try:
        report = await asyncio.to_thread(reconcile, rt)
        log.info("start-up reconciliation: %s", report.as_dict())
    except Exception:
        log.exception("start-up reconciliation failed")
    await every(
        interval_s, partial(trading_tick, rt), "trading", log, wait_first=True, report=False
    )


def register_trading_jobs(registry: JobRegistry, rt: Runtime) -> None:
    def reconcile_job(ctx: JobContext) -> dict[str, Any]:
        ctx.progress(0.1, "reconciling open orders with their venues", force=True)
        return reconcile(rt, ctx.organization_id).as_dict()

    def poll_job(ctx: JobContext) -> dict[str, Any]:
        uow = system_uow(rt, ctx.organization_id)
        with uow:
            connections = uow.market_connections.of_org(ctx.organization_id)
        out: dict[str, Any] = {}
        for connection in connections:
            if connection.enabled:
                report = rt.trading.sync.poll_fills(
                    system_uow(rt, connection.organization_id), connection
                )
                out[connection.id] = {
                    "new": report.new,
                    "duplicates": report.duplicates,
                    "unmatched": report.unmatched,
                    "cursor": report.cursor,
                }
        return out

    registry.register(
        "trading.reconcile",
        reconcile_job,
        description="Reconcile every open order with its venue (found: the venue's state; "
        "confirmed unknown: sent again with the same client order id, or expired after the "
        "gate closure), then poll the fills.",
        roles=TRADERS,
    )
    registry.register(
        "trading.poll_fills",
        poll_job,
        description="Read new fills of the organization's connections (each trade once).",
        roles=TRADERS,
    )
