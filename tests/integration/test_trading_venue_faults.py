"""Orders against the HTTP exchange with its fault modes (RELIABILITY item 6), and crashes of
the order manager at the named points (item 3, simulated in-process: the service is interrupted
between the steps and restarted through reconciliation).

The SIGKILL test runs the order manager in a second process that kills itself at the point.
Every scenario ends with one venue order per client order id (no double submission) and the
order in the state the venue reports."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from openvpp.core.clock import SystemClock
from openvpp.identity.model import Principal, Role
from openvpp.markets.connectors.orders import ReconcilePolicy
from openvpp.markets.exchange import SimulatedExchange
from openvpp.markets.exchange.faults import FaultInjector, FaultSpec
from openvpp.markets.exchange.http_app import create_app as create_exchange_app
from openvpp.markets.exchange.model import NewOrder, TradeSide
from openvpp.markets.presets import load_presets
from openvpp.runtime import Runtime
from openvpp.runtime_trading import reconcile
from openvpp.store import tables as t
from openvpp.trading import service as service_module
from openvpp.trading.control import ModeChange
from openvpp.trading.orders import Order, State
from openvpp.trading.records import SubmitOrder
from openvpp.trading.risk import TradingMode
from openvpp.trading.service import CANCEL_CONCURRENCY, Placement
from tests.integration.test_exchange_http import ThreadServer
from tests.integration.trading_crash_child import burst_commands
from tests.integration.trading_support import (
    MARKET,
    PRODUCT,
    assert_exposures_kept,
    open_hour,
    setup_trading,
    trader,
)
from tests.support import ShiftClock

ACCOUNT = "desk"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"connector_allowed_hosts": ["127.0.0.1"], "connector_allow_local": True}


@pytest.fixture
def venue() -> Iterator[tuple[SimulatedExchange, FaultInjector, ThreadServer]]:
    exchange = SimulatedExchange(
        load_presets(), SystemClock(), api_keys={"desk-key-0123456789": ACCOUNT, "cp": "cp"}
    )
    faults = FaultInjector([])
    with ThreadServer(create_exchange_app(exchange, faults, tick_interval_s=None)) as server:
        yield exchange, faults, server


@pytest.fixture
def trading(
    client: TestClient,
    seeded: Runtime,
    venue: tuple[SimulatedExchange, FaultInjector, ThreadServer],
) -> dict[str, Any]:
    _, _, server = venue
    ctx = setup_trading(
        client, kind="openvpp-exchange", base_url=server.url, options={"timeout_s": 0.5}
    )
    with seeded.uow(readonly=True) as uow:
        org = uow.market_connections.of_org(None)[0].organization_id
    ctx["principal"] = trader(org)
    ctx["org"] = org
    # quick reconciliation in tests: a few lookups 10-40 ms apart
    seeded.trading.orders.policy = ReconcilePolicy(
        query_attempts=4, initial_s=0.01, max_s=0.04, not_found_confirmations=2, max_resends=1
    )
    return ctx


def _cmd(ctx: dict[str, Any], clock: ShiftClock, cid: str, qty: str = "2") -> SubmitOrder:
    return SubmitOrder(
        client_order_id=cid,
        vpp_id=ctx["vpp_id"],
        market=MARKET,
        product=PRODUCT,
        delivery_start=open_hour(clock.now()),
        side="sell",
        price=Decimal(50),
        quantity=Decimal(qty),
    )


def _venue_orders(exchange: SimulatedExchange, cid: str) -> list[Any]:
    return [o for o in exchange.orders(ACCOUNT) if o.client_order_id == cid]


def _stored(rt: Runtime, order: Order) -> Order:
    with rt.uow(readonly=True) as uow:
        found = uow.trading_orders.get(order.organization_id, order.id)
    assert found is not None
    return found


def _essence(o: Order) -> tuple[Any, ...]:
    """What a clean run and a recovered run must agree on."""
    return (o.state, o.quantity, o.filled, o.price, o.venue_order_id is not None)


@pytest.mark.parametrize(
    "fault",
    [
        {"mode": "error_5xx_after", "endpoints": ["submit"], "count": 1},
        {"mode": "drop_ack", "endpoints": ["submit"], "count": 1},
        {"mode": "malformed", "endpoints": ["submit"], "count": 1},
        {"mode": "delay_after_accept", "endpoints": ["submit"], "count": 1, "delay_s": 1.5},
        {"mode": "error_5xx_before", "endpoints": ["submit"], "count": 2},
        {"mode": "rate_limit_429", "endpoints": ["submit"], "count": 1, "retry_after_s": 1},
    ],
    ids=lambda f: f["mode"],
)
def test_ambiguous_or_refused_submissions_end_known_without_duplicates(
    seeded: Runtime,
    clock: ShiftClock,
    venue: tuple[SimulatedExchange, FaultInjector, ThreadServer],
    trading: dict[str, Any],
    fault: dict[str, Any],
) -> None:
    exchange, faults, _ = venue
    faults.set([FaultSpec(**{**fault, "endpoints": tuple(fault["endpoints"])})])
    placed = seeded.trading.orders.submit(
        seeded.uow(), trading["principal"], _cmd(trading, clock, "f-1")
    )
    assert placed.order.state is State.ACKNOWLEDGED, placed.order
    assert len(_venue_orders(exchange, "f-1")) == 1
    assert placed.order.venue_order_id == _venue_orders(exchange, "f-1")[0].venue_order_id


class Requests:
    """ASGI layer counting the requests the venue gets, by method and path."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: Counter[tuple[str, str]] = Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen[scope["method"], scope["path"]] += 1
        await self.app(scope, receive, send)


@pytest.mark.parametrize(
    "fault",
    [
        None,
        {"mode": "error_5xx_after", "count": 1},
        {"mode": "drop_ack", "count": 1},
        {"mode": "malformed", "count": 1},
        {"mode": "delay_after_accept", "count": 1, "delay_s": 1.5},
        {"mode": "error_5xx_before", "count": 2},
        {"mode": "rate_limit_429", "count": 1, "retry_after_s": 1},
    ],
    ids=lambda f: "clean" if f is None else f["mode"],
)
def test_a_group_committed_batch_goes_to_the_venue_in_one_request(
    seeded: Runtime,
    clock: ShiftClock,
    venue: tuple[SimulatedExchange, FaultInjector, ThreadServer],
    trading: dict[str, Any],
    fault: dict[str, Any] | None,
) -> None:
    """The orders of one batch of submissions reach an HTTP venue in one batch request; with
    its answer lost each is reconciled on its own, and each venue refusal is its order's own.
    Every order ends as the venue has it, none doubled."""
    exchange, faults, server = venue
    requests = Requests(server.app.fastapi)
    server.app.fastapi = requests
    taken = _cmd(trading, clock, "b-taken")
    _take_at_venue(exchange, taken)  # its id already used at the venue, another body
    if fault is not None:
        faults.set([FaultSpec(**{**fault, "endpoints": ("submit_batch",)})])
    cmds = [_cmd(trading, clock, f"b-{i}") for i in range(5)] + [taken]
    placed = seeded.trading.submissions.submit_many(seeded.uow(), trading["principal"], cmds)
    assert all(isinstance(p, Placement) for p in placed), placed
    orders = [p.order for p in placed if isinstance(p, Placement)]
    for order in orders[:-1]:
        assert order.state is State.ACKNOWLEDGED, order
        (at_venue,) = _venue_orders(exchange, order.client_order_id)
        assert order.venue_order_id == at_venue.venue_order_id
    refused = orders[-1]
    assert refused.state is State.REJECTED and "client_order_id" in (refused.reject_reason or "")
    assert len(_venue_orders(exchange, "b-taken")) == 1  # the other order, untouched
    not_processed = fault is not None and fault["mode"] in ("error_5xx_before", "rate_limit_429")
    retried = fault["count"] if fault is not None and not_processed else 0
    assert requests.seen["POST", "/v1/orders/batch"] == 1 + retried
    assert requests.seen["POST", "/v1/orders"] == 0  # none resent alone: the venue had them
    assert_exposures_kept(seeded)


class Crash(BaseException):
    """The order manager stopping at a named point (raised by its fault hook)."""


def _crashed_submit(rt: Runtime, principal: Principal, cmd: SubmitOrder, point: str) -> None:
    """Submit ``cmd`` with the order manager crashing at ``point``."""

    def crash(at: str, order: Order) -> None:
        if at == point:
            raise Crash(at)

    rt.trading.orders.fault = crash
    try:
        with pytest.raises(Crash):
            rt.trading.orders.submit(rt.uow(), principal, cmd)
    finally:
        rt.trading.orders.fault = None


def _take_at_venue(exchange: SimulatedExchange, cmd: SubmitOrder) -> str:
    """Another order (a buy at 1) under ``cmd``'s client order id at the venue."""
    other, _ = exchange.submit(
        ACCOUNT,
        NewOrder(cmd.client_order_id, MARKET, PRODUCT, cmd.delivery_start, TradeSide.BUY,
                 Decimal(1), Decimal(1)),
    )  # fmt: skip
    return other.venue_order_id


def test_an_order_whose_id_the_venue_holds_for_another_is_rejected_not_adopted(
    seeded: Runtime,
    clock: ShiftClock,
    venue: tuple[SimulatedExchange, FaultInjector, ThreadServer],
    trading: dict[str, Any],
) -> None:
    """The venue refuses the submission (409) but the answer is lost: the lookup by client
    order id finds the other order, which is not ours to adopt (its side, price, quantity)."""
    exchange, faults, _ = venue
    cmd = _cmd(trading, clock, "t-1")
    other = _take_at_venue(exchange, cmd)
    faults.set([FaultSpec(mode="drop_ack", endpoints=("submit",), count=1)])  # type: ignore[arg-type]
    placed = seeded.trading.orders.submit(seeded.uow(), trading["principal"], cmd)
    assert placed.order.state is State.REJECTED and placed.order.venue_order_id is None
    assert "client_order_id_taken" in (placed.order.reject_reason or "")
    assert other in (placed.order.reject_reason or "")
    assert [o.venue_order_id for o in _venue_orders(exchange, "t-1")] == [other]
    assert_exposures_kept(seeded)


def test_start_up_reconciliation_rejects_an_order_whose_id_the_venue_holds_for_another(
    seeded: Runtime,
    clock: ShiftClock,
    venue: tuple[SimulatedExchange, FaultInjector, ThreadServer],
    trading: dict[str, Any],
) -> None:
    """Stored, never sent (a crash), and meanwhile another order took its id at the venue:
    reconciliation rejects it instead of taking the other order's state."""
    exchange, _, _ = venue
    cmd = _cmd(trading, clock, "t-2")
    _crashed_submit(seeded, trading["principal"], cmd, "after_commit_before_send")
    other = _take_at_venue(exchange, cmd)
    report = reconcile(seeded)
    assert report.resent == 0
    with seeded.uow(readonly=True) as uow:
        stored = uow.trading_orders.by_client_id(trading["org"], "t-2")
    assert stored is not None and stored.state is State.REJECTED, stored
    assert stored.venue_order_id is None and other in (stored.reject_reason or "")
    assert [o.venue_order_id for o in _venue_orders(exchange, "t-2")] == [other]
    assert_exposures_kept(seeded)


def test_an_unanswered_order_stays_unknown_until_reconciled(
    seeded: Runtime,
    clock: ShiftClock,
    venue: tuple[SimulatedExchange, FaultInjector, ThreadServer],
    trading: dict[str, Any],
) -> None:
    exchange, faults, _ = venue
    faults.set(
        [
            FaultSpec(mode="drop_ack", endpoints=("submit",), count=1),  # type: ignore[arg-type]
            FaultSpec(mode="error_5xx_after", endpoints=("find_order",)),  # type: ignore[arg-type]
        ]
    )
    placed = seeded.trading.orders.submit(
        seeded.uow(), trading["principal"], _cmd(trading, clock, "u-1")
    )
    assert placed.order.state is State.UNKNOWN
    assert len(_venue_orders(exchange, "u-1")) == 1
    reconcile(seeded)  # the venue still does not answer lookups: nothing is decided
    assert _stored(seeded, placed.order).state is State.UNKNOWN
    faults.clear()
    breaker = seeded.trading.orders.venues.breaker(placed.order.connection_id)
    assert breaker is not None and breaker.state.value == "open"  # the failed lookups opened it
    clock.advance(31)  # past its cool-down: the next call is the probe
    report = reconcile(seeded, only=frozenset({State.UNKNOWN}))
    assert report.checked == 1 and report.resent == 0
    after = _stored(seeded, placed.order)
    assert after.state is State.ACKNOWLEDGED and after.venue_order_id
    assert len(_venue_orders(exchange, "u-1")) == 1


def test_duplicate_and_reordered_fills_are_applied_once(
    seeded: Runtime,
    clock: ShiftClock,
    venue: tuple[SimulatedExchange, FaultInjector, ThreadServer],
    trading: dict[str, Any],
) -> None:
    exchange, faults, _ = venue
    cmd = _cmd(trading, clock, "d-1", qty="3")
    placed = seeded.trading.orders.submit(seeded.uow(), trading["principal"], cmd)
    for i, qty in enumerate(["0.5", "1", "0.7"]):
        exchange.submit(
            "cp",
            NewOrder(
                f"cp-{i}", MARKET, PRODUCT, cmd.delivery_start, TradeSide.BUY, Decimal(60),
                Decimal(qty),
            ),
        )  # fmt: skip
    faults.set(
        [
            FaultSpec(mode="duplicate_fills", endpoints=("fills",), count=2),  # type: ignore[arg-type]
            FaultSpec(mode="out_of_order_fills", endpoints=("fills",), count=2),  # type: ignore[arg-type]
        ]
    )
    with seeded.uow(readonly=True) as uow:
        connection = uow.market_connections.of_org(None)[0]
    for _ in range(3):
        seeded.trading.sync.poll_fills(seeded.uow(), connection)
    order = _stored(seeded, placed.order)
    venue_order = _venue_orders(exchange, "d-1")[0]
    assert order.filled == venue_order.filled_mw == Decimal("2.2")
    assert order.state is State.PARTIALLY_FILLED
    with seeded.uow(readonly=True) as uow:
        fills = uow.trading_fills.page(
            order.organization_id, order_id=order.id, vpp_id=None, limit=50, offset=0
        )
    assert sorted(f.quantity for f in fills) == [Decimal("0.5"), Decimal("0.7"), Decimal(1)]
    assert_exposures_kept(seeded)


class InFlight:
    """ASGI layer counting the cancellation requests the venue gets (``DELETE`` of one order,
    ``POST /v1/orders/cancel`` of a batch) and how many it answers at once."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.now = self.most = self.requests = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (
            scope["method"] != "DELETE" and scope["path"] != "/v1/orders/cancel"
        ):
            await self.app(scope, receive, send)
            return
        self.requests += 1  # one event loop: no lock needed
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


TWO_GROUPS = CANCEL_CONCURRENCY + 8
"""Open orders a kill-switch test halts: more than ``CANCEL_CONCURRENCY`` (and two groups of
cancellations where a test makes the group that size)."""


def _resting_book(
    rt: Runtime, clock: ShiftClock, trading: dict[str, Any], prefix: str
) -> list[SubmitOrder]:
    """Two cancellation groups' worth of orders, acknowledged and resting at the venue."""
    cmds = [_cmd(trading, clock, f"{prefix}-{i}", qty="0.5") for i in range(TWO_GROUPS)]
    placed = rt.trading.submissions.submit_many(rt.uow(), trading["principal"], cmds)
    assert all(isinstance(p, Placement) and p.order.state is State.ACKNOWLEDGED for p in placed)
    return cmds


def _halt(rt: Runtime, trading: dict[str, Any]) -> ModeChange:
    return rt.trading.control.set_mode(
        rt.uow(), trading["principal"], trading["vpp_id"], TradingMode.HALTED, "test"
    )


def _all_cancelled(rt: Runtime, trading: dict[str, Any], cmds: list[SubmitOrder]) -> bool:
    with rt.uow(readonly=True) as uow:
        org = trading["principal"].organization_id
        stored = [uow.trading_orders.by_client_id(org, c.client_order_id) for c in cmds]
    return all(o is not None and o.state is State.CANCELLED for o in stored)


def test_the_kill_switch_cancels_at_the_venue_concurrently(
    seeded: Runtime,
    clock: ShiftClock,
    venue: tuple[SimulatedExchange, FaultInjector, ThreadServer],
    trading: dict[str, Any],
) -> None:
    """RELIABILITY 7: a halt must cancel a large book within seconds, also over a slow link;
    one cancellation after the other took 13 s for 500 orders 20 ms away
    (bench/bench_kill_switch.py)."""
    exchange, faults, server = venue
    n = TWO_GROUPS
    cmds = _resting_book(seeded, clock, trading, "k")
    # each cancellation answered 1 s late, well within the connection's timeout: all of a
    # group are in flight together even on a loaded machine
    _set_options(seeded, trading, timeout_s=10, max_batch_orders=1)  # one request per order
    flight = InFlight(server.app.fastapi)
    server.app.fastapi = flight
    faults.set([FaultSpec(mode="delay_after_accept", endpoints=("cancel",), delay_s=1.0)])

    change = _halt(seeded, trading)
    assert (change.cancelled, change.cancel_pending) == (n, 0)
    assert not [o for o in exchange.orders(ACCOUNT) if o.active]
    # sent together (one after the other: 1), at most CANCEL_CONCURRENCY at a time
    assert flight.requests == n
    assert CANCEL_CONCURRENCY // 2 <= flight.most <= CANCEL_CONCURRENCY, flight.most
    assert _all_cancelled(seeded, trading, cmds)
    assert _cancel_audit(seeded) == {"trading.order.cancel_request": n, "trading.order.cancel": n}
    assert_exposures_kept(seeded)


def _set_options(rt: Runtime, trading: dict[str, Any], **options: Any) -> None:
    admin = Principal("user", "a", trading["org"], frozenset({Role.ADMIN}), "a")
    rt.connections.update(rt.uow(), admin, trading["connection_id"], {"options": options})


def _cancel_audit(rt: Runtime) -> Counter[str]:
    a = t.audit_log
    with rt.engine.connect() as conn:
        return Counter(
            conn.execute(
                sa.select(a.c.action).where(a.c.action.like("trading.order.cancel%"))
            ).scalars()
        )


def test_the_kill_switch_cancels_in_batch_requests(
    seeded: Runtime,
    clock: ShiftClock,
    venue: tuple[SimulatedExchange, FaultInjector, ThreadServer],
    trading: dict[str, Any],
) -> None:
    """A venue that cancels batches gets the open orders in requests of up to
    ``max_batch_orders``, sent together; each order is recorded from its own answer."""
    exchange, faults, server = venue
    n = TWO_GROUPS
    cmds = _resting_book(seeded, clock, trading, "b")
    _set_options(seeded, trading, timeout_s=10, max_batch_orders=8)
    flight = InFlight(server.app.fastapi)
    server.app.fastapi = flight
    faults.set([FaultSpec(mode="delay_after_accept", endpoints=("cancel_batch",), delay_s=0.5)])

    change = _halt(seeded, trading)
    assert (change.cancelled, change.cancel_pending) == (n, 0)
    assert not [o for o in exchange.orders(ACCOUNT) if o.active]
    assert flight.requests == -(-n // 8)  # ceil: 5 batch requests, no single ones
    assert flight.most >= 2, flight.most  # in flight together
    assert _all_cancelled(seeded, trading, cmds)
    assert _cancel_audit(seeded) == {"trading.order.cancel_request": n, "trading.order.cancel": n}
    assert_exposures_kept(seeded)


@pytest.mark.parametrize(
    ("mode", "count"),
    [
        ("error_5xx_after", 1),
        ("drop_ack", 1),
        ("malformed", 1),
        ("huge_response", 1),
        ("error_5xx_before", 1),
        ("rate_limit_429", 1),
        ("drop_ack", 2),
    ],
)
def test_a_batch_cancellation_under_a_venue_fault_ends_cancelled(
    seeded: Runtime,
    clock: ShiftClock,
    venue: tuple[SimulatedExchange, FaultInjector, ThreadServer],
    trading: dict[str, Any],
    mode: str,
    count: int,
) -> None:
    """The halt's batch cancellation request meets a fault. Refused before processing (5xx
    marked unprocessed, 429): the request is sent again. An answer lost once: the orders are
    asked again (a cancellation is idempotent) and found cancelled. Lost twice: the orders
    stay flagged (pending), and reconciliation records what the venue did. Never an order
    left active at the venue, never one recorded as cancelled without the venue's word."""
    exchange, faults, _ = venue
    n = 12
    cmds = [_cmd(trading, clock, f"f-{i}", qty="0.5") for i in range(n)]
    seeded.trading.submissions.submit_many(seeded.uow(), trading["principal"], cmds)
    faults.set(
        [FaultSpec(mode=mode, endpoints=("cancel_batch",), count=count, size_bytes=2_000_000)]
    )

    change = _halt(seeded, trading)
    assert not [o for o in exchange.orders(ACCOUNT) if o.active]
    if count == 1:
        assert (change.cancelled, change.cancel_pending) == (n, 0)
    else:
        assert (change.cancelled, change.cancel_pending) == (0, n)
        reconcile(seeded)
    assert _all_cancelled(seeded, trading, cmds)
    assert_exposures_kept(seeded)


def test_a_halt_goes_on_when_a_group_of_answers_cannot_be_recorded(
    seeded: Runtime,
    clock: ShiftClock,
    venue: tuple[SimulatedExchange, FaultInjector, ThreadServer],
    trading: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first group's answers fail to be stored: the second group is still cancelled, the
    first counts as pending, and start-up reconciliation records what the venue did."""
    exchange, _, _ = venue
    monkeypatch.setattr(service_module, "CANCEL_GROUP", CANCEL_CONCURRENCY)
    n = TWO_GROUPS
    cmds = _resting_book(seeded, clock, trading, "g")
    orders = seeded.trading.orders
    record_many = orders.record_many
    failed: list[int] = []

    def flaky(uow: Any, recordings: Any, now: Any, **kw: Any) -> Any:
        if not failed and recordings[0][2] == "trading.order.cancel":
            failed.append(len(recordings))
            raise RuntimeError("storage failed")
        return record_many(uow, recordings, now, **kw)

    monkeypatch.setattr(orders, "record_many", flaky)
    change = _halt(seeded, trading)
    assert failed == [CANCEL_CONCURRENCY]
    assert (change.cancelled, change.cancel_pending) == (n - CANCEL_CONCURRENCY, CANCEL_CONCURRENCY)
    assert not [o for o in exchange.orders(ACCOUNT) if o.active]  # all sent anyway
    monkeypatch.setattr(orders, "record_many", record_many)
    reconcile(seeded)
    assert _all_cancelled(seeded, trading, cmds)


def test_an_unexpected_error_of_a_single_cancellation_is_raised(
    seeded: Runtime,
    clock: ShiftClock,
    trading: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the kill switch goes on past an unexpected error; a single cancellation raises it
    (an answer of 500, not a 200 with the order merely flagged)."""
    placed = seeded.trading.orders.submit(
        seeded.uow(), trading["principal"], _cmd(trading, clock, "u-1")
    )
    venues = seeded.trading.orders.venues

    def broken(calls: Any) -> list[Any]:
        return [RuntimeError("a bug") for _ in calls]

    monkeypatch.setattr(venues, "run_many", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        seeded.trading.orders.cancel(seeded.uow(), trading["principal"], placed.order.id)
    assert _stored(seeded, placed.order).cancel_requested  # flagged: the reconciler finishes


@pytest.mark.parametrize("point", ["after_commit_before_send", "after_send_before_ack"])
def test_a_crash_at_a_named_point_recovers_to_the_clean_state(
    seeded: Runtime,
    clock: ShiftClock,
    venue: tuple[SimulatedExchange, FaultInjector, ThreadServer],
    trading: dict[str, Any],
    point: str,
) -> None:
    exchange, _, _ = venue
    clean = seeded.trading.orders.submit(
        seeded.uow(), trading["principal"], _cmd(trading, clock, "clean")
    ).order
    _crashed_submit(seeded, trading["principal"], _cmd(trading, clock, "crashed"), point)
    with seeded.uow(readonly=True) as uow:
        org = trading["principal"].organization_id
        stored = uow.trading_orders.by_client_id(org, "crashed")
    assert stored is not None and stored.state is State.RISK_CHECKED  # written before sending
    expected_at_venue = 0 if point == "after_commit_before_send" else 1
    assert len(_venue_orders(exchange, "crashed")) == expected_at_venue

    report = reconcile(seeded)  # what the server does at start-up
    assert report.resent == 1 - expected_at_venue
    recovered = _stored(seeded, stored)
    assert _essence(recovered) == _essence(_stored(seeded, clean))
    assert len(_venue_orders(exchange, "crashed")) == 1
    assert {o.client_order_id for o in exchange.orders(ACCOUNT)} == {"clean", "crashed"}


@pytest.mark.parametrize("point", ["after_commit_before_send", "after_send_before_ack"])
def test_sigkill_of_the_order_manager_at_a_named_point_then_restart(
    seeded: Runtime,
    clock: ShiftClock,
    venue: tuple[SimulatedExchange, FaultInjector, ThreadServer],
    trading: dict[str, Any],
    point: str,
) -> None:
    """A real crash: a second process submits and is SIGKILLed at ``point``; this process
    then restarts (reconciles) on the same database and venue."""
    exchange, _, _ = venue
    clean = seeded.trading.orders.submit(
        seeded.uow(), trading["principal"], _cmd(trading, clock, "clean")
    ).order
    args = {
        "database_url": seeded.settings.effective_database_url,
        "var_dir": str(seeded.settings.var_dir),
        "organization_id": trading["principal"].organization_id,
        "vpp_id": trading["vpp_id"],
        "client_order_id": "killed",
        "delivery_start": clean.delivery_start.isoformat(),
        "point": point,
    }
    child = subprocess.run(
        [sys.executable, "-m", "tests.integration.trading_crash_child", json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    with seeded.uow(readonly=True) as uow:
        stored = uow.trading_orders.by_client_id(clean.organization_id, "killed")
    assert stored is not None and stored.state is State.RISK_CHECKED
    assert len(_venue_orders(exchange, "killed")) == (point == "after_send_before_ack")

    reconcile(seeded)  # the restarted server's start-up reconciliation
    assert _essence(_stored(seeded, stored)) == _essence(_stored(seeded, clean))
    assert len(_venue_orders(exchange, "killed")) == 1
    assert sorted(o.client_order_id for o in exchange.orders(ACCOUNT)) == ["clean", "killed"]
    assert_exposures_kept(seeded)


@pytest.mark.parametrize("order_store", ["inline", "process"])
def test_sigkill_at_random_moments_of_a_burst_then_restart_and_retry(
    seeded: Runtime,
    clock: ShiftClock,
    venue: tuple[SimulatedExchange, FaultInjector, ThreadServer],
    trading: dict[str, Any],
    order_store: str,
) -> None:
    """RELIABILITY item 3 at random points: a second process submits 20 orders in
    group-committed batches and is SIGKILLed after a random delay; this process restarts
    (reconciles) and the client retries every order (idempotent by client order id). Then no
    venue order is doubled or orphaned, and the orders end as a clean run's do. With
    ``order_store=process`` the killed server's batches are written by its order store
    process, which dies with it."""
    exchange, _, _ = venue
    n = 20
    start = open_hour(clock.now())
    principal = trading["principal"]
    # a counterparty buying: every sell of every run trades in full on arrival (the buys
    # rest), so the crashes also land between a trade and its recording
    exchange.submit(
        "cp", NewOrder("cp-buy", MARKET, PRODUCT, start, TradeSide.BUY, Decimal(100), Decimal(500))
    )
    clean = seeded.trading.submissions.submit_many(
        seeded.uow(), principal, burst_commands("clean", trading["vpp_id"], start, n)
    )
    expected = sorted(_essence(p.order) for p in clean if isinstance(p, Placement))
    assert len(expected) == n
    rng = random.Random(3)
    org = principal.organization_id
    unfinished: list[int] = []
    for trial in range(3):
        prefix = f"kill{trial}"
        args = {
            "database_url": seeded.settings.effective_database_url,
            "var_dir": str(seeded.settings.var_dir),
            "organization_id": principal.organization_id,
            "vpp_id": trading["vpp_id"],
            "client_order_id": prefix,
            "delivery_start": start.isoformat(),
            "burst": n,
            "order_store": order_store,
        }
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.trading_crash_child", json.dumps(args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", (
            child.stderr.read() if child.stderr else ""
        )
        time.sleep(rng.uniform(0.0, 0.15))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        with seeded.uow(readonly=True) as uow:
            found = [uow.trading_orders.by_client_id(org, f"{prefix}-{i}") for i in range(n)]
        unfinished.append(sum(o is None or o.state is not State.ACKNOWLEDGED for o in found))
        reconcile(seeded)  # the restarted server's start-up reconciliation
        retried = seeded.trading.submissions.submit_many(
            seeded.uow(), principal, burst_commands(prefix, trading["vpp_id"], start, n)
        )
        placed = [p for p in retried if isinstance(p, Placement)]
        assert len(placed) == n, [p for p in retried if not isinstance(p, Placement)]
        assert sorted(_essence(p.order) for p in placed) == expected, trial
        at_venue = Counter(
            o.client_order_id
            for o in exchange.orders(ACCOUNT)
            if o.client_order_id.startswith(f"{prefix}-")
        )
        assert sorted(at_venue) == sorted(f"{prefix}-{i}" for i in range(n))  # none orphaned
        assert set(at_venue.values()) == {1}  # none doubled
        _check_fills(seeded, exchange, org, prefix, n)
    assert any(k > 0 for k in unfinished), unfinished  # the kills landed mid-burst
    _check_fills(seeded, exchange, org, "clean", n)
    assert_exposures_kept(seeded)


def _check_fills(rt: Runtime, exchange: SimulatedExchange, org: str, prefix: str, n: int) -> None:
    """Each sell of the run filled in full, each buy resting: an order's filled volume is the
    sum of its stored fills, each of the venue's trades is stored exactly once, and the run's
    position is the sum of its fills - the same as a clean run's."""
    ours = {f"{prefix}-{i}" for i in range(n)}
    venue_trades = Counter(
        (f.trade_id, f.quantity_mw)
        for f in exchange.fills_since(ACCOUNT, 0, 100_000).fills
        if f.client_order_id in ours
    )
    f = t.trading_fills
    with rt.engine.connect() as conn:
        stored = conn.execute(
            sa.select(f.c.trade_id, f.c.quantity, f.c.client_order_id, f.c.order_id).where(
                f.c.organization_id == org, f.c.client_order_id.in_(ours)
            )
        ).all()
    assert Counter((r.trade_id, Decimal(r.quantity)) for r in stored) == venue_trades, prefix
    with rt.uow(readonly=True) as uow:
        orders = {c: uow.trading_orders.by_client_id(org, c) for c in ours}
    position = Decimal(0)
    for cid, order in orders.items():
        assert order is not None, cid
        sell = order.side == "sell"
        assert order.state is (State.FILLED if sell else State.ACKNOWLEDGED), (cid, order)
        mine = sum((Decimal(r.quantity) for r in stored if r.order_id == order.id), Decimal(0))
        assert mine == order.filled == (order.quantity if sell else 0), cid
        position += mine if sell else -mine
    assert position == Decimal("0.5") * ((n + 1) // 2), prefix  # the sells: even i
