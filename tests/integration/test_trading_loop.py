"""The server's trading loop: orders past their gate closure are expired on venue evidence,
an order never sent whose gate closed is expired once the venue confirms it does not know it,
an order left unsent is sent once it is stale, the job kinds are registered, and the loop's
reads of open orders and connections find exactly what they look for."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openvpp.identity.model import Principal, Role
from openvpp.runtime import Runtime
from openvpp.runtime_trading import UNSENT_AFTER, trading_tick
from openvpp.trading.orders import OPEN, Order, State
from openvpp.trading.records import SubmitOrder
from tests.integration.trading_support import (
    MARKET,
    PRODUCT,
    T,
    V,
    open_hour,
    order_body,
    setup_trading,
)
from tests.support import ShiftClock


def _stored(rt: Runtime, organization_id: str, client_order_id: str) -> Order:
    with rt.uow(readonly=True) as uow:
        found = uow.trading_orders.by_client_id(organization_id, client_order_id)
    assert found is not None
    return found


def _left_unsent(rt: Runtime, ctx: dict[str, Any], client_order_id: str, start: datetime) -> str:
    """Store an order whose sender then crashes (after the commit, before the send): it stays
    ``risk_checked``. The organization's id."""
    with rt.uow(readonly=True) as uow:
        org = uow.market_connections.of_org(None)[0].organization_id
    principal = Principal(
        kind="user", id="t", organization_id=org, roles=frozenset({Role.TRADER}), user_id="t"
    )

    class Crash(BaseException):
        pass

    def crash(at: str, order: Order) -> None:
        raise Crash(at)

    rt.trading.orders.fault = crash
    cmd = SubmitOrder(
        client_order_id, ctx["vpp_id"], MARKET, PRODUCT, start, "sell", Decimal(50), Decimal(1)
    )
    with pytest.raises(Crash):
        rt.trading.orders.submit(rt.uow(), principal, cmd)
    rt.trading.orders.fault = None
    assert _stored(rt, org, client_order_id).state is State.RISK_CHECKED
    return org


def test_orders_past_their_gate_are_expired_with_venue_evidence(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    ctx = setup_trading(client)
    start = open_hour(clock.now())
    placed = client.post(f"{T}/orders", headers=ctx["trader"], json=order_body(ctx, start, "e-1"))
    assert placed.json()["state"] == "acknowledged"
    org = _left_unsent(seeded, ctx, "e-2", start)

    trading_tick(seeded)  # nothing is due yet
    assert _stored(seeded, org, "e-1").state is State.ACKNOWLEDGED
    clock.advance(3 * 3600)  # past the gate closure (5 minutes before delivery)
    seeded.exchange.tick()  # the venue expires its continuous orders
    report = trading_tick(seeded)
    assert report["due"]["checked"] == 2
    assert _stored(seeded, org, "e-1").state is State.EXPIRED
    never_sent = _stored(seeded, org, "e-2")
    assert never_sent.state is State.EXPIRED and "gate closed" in str(never_sent.reject_reason)
    assert [o for o in seeded.exchange.orders() if o.client_order_id == "e-2"] == []


def test_trading_job_kinds_are_registered(client: TestClient, seeded: Runtime) -> None:
    ctx = setup_trading(client)
    kinds = client.get("/api/vpp/jobs/kinds", headers=ctx["trader"])
    names = {k["kind"] for k in kinds.json()}
    assert {"trading.reconcile", "trading.poll_fills"} <= names
    job = client.post(
        "/api/vpp/jobs", headers=ctx["trader"], json={"kind": "trading.reconcile", "params": {}}
    )
    assert job.status_code == 202, job.text


def test_an_order_left_unsent_is_sent_by_the_loop_once_it_is_stale(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    """A sender that stopped between storing an order and sending it (a failed order store
    step, a crash of the writer) leaves it ``risk_checked``; the trading loop sends it (the
    same client order id) once it has been unchanged for ``UNSENT_AFTER``, not before."""
    ctx = setup_trading(client)
    start = open_hour(clock.now())
    org = _left_unsent(seeded, ctx, "u-1", start)

    report = trading_tick(seeded)  # fresh: its sender may still be at it
    assert report["unsent"]["checked"] == 0
    assert _stored(seeded, org, "u-1").state is State.RISK_CHECKED
    clock.advance(UNSENT_AFTER.total_seconds() + 1)
    report = trading_tick(seeded)
    assert report["unsent"]["checked"] == 1 and report["unsent"]["resent"] == 1
    assert _stored(seeded, org, "u-1").state is State.ACKNOWLEDGED
    assert [o.client_order_id for o in seeded.exchange.orders() if o.client_order_id == "u-1"] == [
        "u-1"
    ]
    assert trading_tick(seeded)["unsent"]["checked"] == 0  # nothing left unanswered


def test_the_loops_reads_find_the_due_orders_and_the_connections_with_open_orders(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    """What ``trading_tick`` reads through the indexes of migration 0015: the open orders whose
    gate has closed (of every open state, none final, oldest first), and the connections with
    open orders (not one whose orders are all final, nor a deleted one)."""
    ctx = setup_trading(client)
    made = [
        client.post(
            f"{V}/market/connections",
            headers=ctx["admin"],
            json={
                "name": name,
                "kind": "simulated",
                "markets": [MARKET],
                "credentials": {"api_key": "desk-key-0123456789"},
            },
        )
        for name in ("Sim-2", "Sim-3")
    ]
    assert [r.status_code for r in made] == [201, 201], [r.text for r in made]
    second, third = (r.json()["id"] for r in made)
    with seeded.uow(readonly=True) as uow:
        org = uow.market_connections.of_org(None)[0].organization_id
    now = clock.now()
    template = Order(
        id="",
        organization_id=org,
        vpp_id=ctx["vpp_id"],
        connection_id=ctx["connection_id"],
        client_order_id="",
        market=MARKET,
        product=PRODUCT,
        delivery_start=now + timedelta(hours=3),
        side="buy",
        order_type="limit",
        price=Decimal(50),
        quantity=Decimal(1),
        state=State.ACKNOWLEDGED,
        body_hash="h",
        created_at=now,
        updated_at=now,
        gate_closure=now + timedelta(hours=2),
    )
    orders: list[Order] = []
    for k, state in enumerate(State):
        for gate_in in (-2, 2):  # hours: closed, or still open
            created = now - timedelta(minutes=len(orders) % 5)  # not in the ids' order
            orders.append(
                replace(
                    template,
                    id=f"o-{k:02d}{gate_in:+d}",
                    client_order_id=f"o-{k}{gate_in:+d}",
                    state=state,
                    delivery_start=now + timedelta(hours=gate_in, minutes=5),
                    gate_closure=now + timedelta(hours=gate_in),
                    created_at=created,
                    updated_at=created,
                )
            )
    final_only = [  # the second connection has final orders only, the third an open one
        replace(template, id=f"f-{k}", client_order_id=f"f-{k}", state=state, connection_id=second)
        for k, state in enumerate((State.FILLED, State.CANCELLED))
    ]
    deleted = replace(template, id="d-1", client_order_id="d-1", connection_id=third)
    with seeded.uow() as uow:
        uow.trading_orders.insert_many([*orders, *final_only, deleted])
        uow.market_connections.delete(third)
        uow.commit()

    with seeded.uow(readonly=True) as uow:
        due = uow.trading_orders.open_orders(closing_by=now)
        connections = uow.trading_orders.open_connections()
    expected = sorted(
        (o for o in orders if not o.final and o.gate_closure <= now),
        key=lambda o: (o.created_at, o.id),
    )
    assert [o.id for o in due] == [o.id for o in expected]
    assert {o.state for o in due} == set(OPEN)
    assert connections == [(org, ctx["connection_id"])]
