"""Concurrent submissions against the app (RELIABILITY items 1 and 7): one order per client
order id whatever the number of concurrent requests, limits never breached by concurrent
orders, and a kill switch thrown while orders are in flight leaves no working order behind."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from openvpp.markets.exchange.model import TradeSide
from openvpp.runtime import Runtime
from openvpp.store import tables as t
from openvpp.trading import orders as om
from tests.integration.trading_support import (
    T,
    assert_exposures_kept,
    counter_order,
    open_hour,
    order_body,
    our_venue_orders,
    setup_trading,
)
from tests.support import ShiftClock, bearer, demo


async def _post_all(
    client: TestClient, headers: dict[str, str], bodies: list[dict[str, Any]], extra: Any = None
) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=client.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=120) as c:
        calls = [c.post(f"{T}/orders", headers=headers, json=b) for b in bodies]
        if extra is not None:
            calls.append(extra(c))
        return list(await asyncio.gather(*calls))


def test_200_concurrent_posts_of_one_client_order_id_make_one_order(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    check_one_order_per_client_order_id(client, seeded, clock, setup_trading(client))


def check_one_order_per_client_order_id(
    client: TestClient, seeded: Runtime, clock: ShiftClock, ctx: dict[str, Any]
) -> None:
    """RELIABILITY item 1: 200 concurrent POSTs of one client order id make one order and one
    venue order, every response names it; the id with another body is a 409."""
    body = order_body(ctx, open_hour(clock.now()), "same-id")
    responses = asyncio.run(_post_all(client, ctx["trader"], [body] * 200))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 199 + [201], {r.status_code: r.text for r in responses}
    assert len({r.json()["id"] for r in responses}) == 1
    with seeded.engine.connect() as conn:
        rows = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.trading_orders)
            .where(t.trading_orders.c.client_order_id == "same-id")
        ).scalar()
    assert rows == 1
    assert len(our_venue_orders(seeded, "same-id")) == 1
    changed = client.post(f"{T}/orders", headers=ctx["trader"], json={**body, "quantity_mw": "3"})
    assert changed.status_code == 409, changed.text
    assert len(our_venue_orders(seeded, "same-id")) == 1


def test_50_concurrent_orders_never_breach_the_position_or_rate_limit(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    ctx = setup_trading(client)
    operator = bearer(client, demo("operator"))
    start = open_hour(clock.now())
    limits = {"vpp_id": ctx["vpp_id"], "market": "EU-SIDC", "max_position_mw": "10"}
    put = client.put(f"{T}/limits", headers=operator, json=limits)
    assert put.status_code == 200, put.text
    # a trader may not change limits
    assert client.put(f"{T}/limits", headers=ctx["trader"], json=limits).status_code == 403
    bodies = [order_body(ctx, start, f"p-{i}", quantity_mw="1") for i in range(50)]
    responses = asyncio.run(_post_all(client, ctx["trader"], bodies))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses][:3]
    accepted = [r.json() for r in responses if r.json()["state"] == "acknowledged"]
    refused = [r.json() for r in responses if r.json()["state"] == "rejected"]
    assert len(accepted) == 10 and len(refused) == 40
    assert {o["risk_rule"] for o in refused} == {"max_position_mw"}
    open_mw = sum(Decimal(o.quantity_mw) for o in seeded.exchange.orders() if o.active)
    assert open_mw == 10

    other = open_hour(clock.now(), 4)
    rate = {**limits, "max_position_mw": None, "max_orders_per_minute": 5}
    assert client.put(f"{T}/limits", headers=operator, json=rate).status_code == 200
    bodies = [order_body(ctx, other, f"r-{i}", quantity_mw="1") for i in range(20)]
    responses = asyncio.run(_post_all(client, ctx["trader"], bodies))
    rules = sorted(str(r.json()["risk_rule"]) for r in responses)
    # the 10 orders of the first round count within the minute too
    assert rules == ["max_orders_per_minute"] * 20
    assert_exposures_kept(seeded)


def test_limits_collar_notional_and_order_volume(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    ctx = setup_trading(client)
    operator = bearer(client, demo("operator"))
    start = open_hour(clock.now())
    limits = {
        "vpp_id": ctx["vpp_id"],
        "market": "EU-SIDC",
        "max_order_mw": "5",
        "max_notional": "399",
        "reference_price": "60",
        "price_band": "20",
    }
    assert client.put(f"{T}/limits", headers=operator, json=limits).status_code == 200
    cases = [
        ({"price": "30"}, "price_collar"),
        ({"price": "81"}, "price_collar"),
        ({"quantity_mw": "6", "price": "60"}, "max_order_mw"),
        ({"quantity_mw": "5", "price": "80.1"}, "price_collar"),
        ({"quantity_mw": "5", "price": "80"}, "max_notional"),
        ({"quantity_mw": "5", "price": "79"}, None),
    ]
    for i, (change, rule) in enumerate(cases):
        r = client.post(
            f"{T}/orders", headers=ctx["trader"], json=order_body(ctx, start, f"l-{i}", **change)
        )
        assert r.status_code == 201 and r.json()["risk_rule"] == rule, (change, r.json())
    got = client.get(f"{T}/limits", headers=bearer(client, demo("viewer")))
    assert got.json()["limits"][0]["max_notional"] == "399"
    half = {**limits, "price_band": None}
    bad = client.put(f"{T}/limits", headers=operator, json=half)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "price_band"
    with seeded.engine.connect() as conn:
        audited = (
            conn.execute(
                sa.select(t.audit_log.c.after).where(t.audit_log.c.action == "trading.order.submit")
            )
            .scalars()
            .all()
        )
    assert len(audited) == len(cases)
    rules = sorted(str(json.loads(a)["risk_rule"]) for a in audited)
    assert rules == sorted(str(c[1]) for c in cases)


def test_kill_switch_cancels_open_orders_and_refuses_new_ones(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    ctx = setup_trading(client)
    operator = bearer(client, demo("operator"))
    start = open_hour(clock.now())
    for i in range(3):
        r = client.post(f"{T}/orders", headers=ctx["trader"], json=order_body(ctx, start, f"k-{i}"))
        assert r.json()["state"] == "acknowledged"
    halt = {"vpp_id": ctx["vpp_id"], "mode": "halted", "reason": "test"}
    changed = client.put(f"{T}/state", headers=ctx["trader"], json=halt)
    assert changed.status_code == 200, changed.text
    assert changed.json()["cancelled"] == 3 and changed.json()["state"]["mode"] == "halted"
    assert not [o for o in seeded.exchange.orders() if o.active]
    refused = client.post(f"{T}/orders", headers=ctx["trader"], json=order_body(ctx, start, "k-x"))
    assert refused.json()["state"] == "rejected" and refused.json()["risk_rule"] == "halted"
    lift = {"vpp_id": ctx["vpp_id"], "mode": "active"}
    assert client.put(f"{T}/state", headers=ctx["trader"], json=lift).status_code == 403
    assert client.put(f"{T}/state", headers=operator, json=lift).status_code == 200
    again = client.post(f"{T}/orders", headers=ctx["trader"], json=order_body(ctx, start, "k-y"))
    assert again.json()["state"] == "acknowledged"

    glob = client.put(f"{T}/state", headers=operator, json={"mode": "halted", "reason": "all"})
    assert glob.status_code == 200 and glob.json()["cancelled"] == 1
    assert glob.json()["state"]["scope"] == "*"
    refused = client.post(f"{T}/orders", headers=ctx["trader"], json=order_body(ctx, start, "k-z"))
    assert refused.json()["risk_rule"] == "halted"
    states = client.get(f"{T}/state", headers=bearer(client, demo("viewer"))).json()
    assert {s["scope"]: s["mode"] for s in states} == {"*": "halted", ctx["vpp_id"]: "active"}
    with seeded.engine.connect() as conn:
        changes = (
            conn.execute(
                sa.select(t.audit_log.c.after)
                .where(t.audit_log.c.action == "trading.state.change")
                .order_by(t.audit_log.c.seq)  # without it PostgreSQL may return any order
            )
            .scalars()
            .all()
        )
        cancels = conn.execute(
            sa.select(sa.func.count()).where(t.audit_log.c.action == "trading.order.cancel")
        ).scalar()
    assert [json.loads(c)["mode"] for c in changes] == ["halted", "active", "halted"]
    assert cancels == 4


def test_reducing_only_admits_orders_that_reduce_the_position(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    ctx = setup_trading(client)
    start = open_hour(clock.now())
    counter_order(seeded, start, TradeSide.BUY, "70", "2", "cb-1")
    sold = client.post(f"{T}/orders", headers=ctx["trader"], json=order_body(ctx, start, "s-1"))
    # matched at once: the fills are read with the answer
    assert sold.json()["state"] == "filled" and sold.json()["filled_mw"] == "2"
    reducing = {"vpp_id": ctx["vpp_id"], "mode": "reducing"}
    assert client.put(f"{T}/state", headers=ctx["trader"], json=reducing).status_code == 200
    more = client.post(f"{T}/orders", headers=ctx["trader"], json=order_body(ctx, start, "s-2"))
    assert more.json()["risk_rule"] == "reducing"
    too_much = order_body(ctx, start, "b-1", side="buy", quantity_mw="3", price="40")
    assert (
        client.post(f"{T}/orders", headers=ctx["trader"], json=too_much).json()["risk_rule"]
        == "reducing"
    )
    back = order_body(ctx, start, "b-2", side="buy", quantity_mw="1", price="40")
    assert client.post(f"{T}/orders", headers=ctx["trader"], json=back).json()["risk_rule"] is None


def test_halt_during_concurrent_orders_leaves_nothing_working(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    ctx = setup_trading(client)
    operator = bearer(client, demo("operator"))
    start = open_hour(clock.now())
    bodies = [order_body(ctx, start, f"h-{i}", quantity_mw="1") for i in range(30)]
    halt = {"vpp_id": ctx["vpp_id"], "mode": "halted"}

    async def throw(c: httpx.AsyncClient) -> httpx.Response:
        await asyncio.sleep(0.05)
        return await c.put(f"{T}/state", headers=operator, json=halt)

    responses = asyncio.run(_post_all(client, ctx["trader"], bodies, throw))
    assert all(r.status_code in (200, 201) for r in responses)
    working = [o for o in seeded.exchange.orders() if o.active]
    assert working == []
    with seeded.uow(readonly=True) as uow:
        states = {o.state.value for o in uow.trading_orders.open_orders()}
    assert states == set()  # every order final: cancelled, or refused once halted
    assert_exposures_kept(seeded)


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"], indirect=True)
def test_recording_orders_while_a_halt_locks_them_does_not_deadlock(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    """A recording of venue answers (the order writer's ``as_stored`` path) takes its row
    locks in id order before it writes the orders' event log: writing the log first took a
    key lock on each order in the log's order, against a halt locking the same orders in id
    order (a deadlock, answered 503, seen in the suite on PostgreSQL)."""
    ctx = setup_trading(client)
    start = open_hour(clock.now())
    for cid in ("d-1", "d-2"):
        body = order_body(ctx, start, cid, price="500")  # rests: nobody buys that dear
        assert client.post(f"{T}/orders", headers=ctx["trader"], json=body).status_code == 201
    with seeded.uow(readonly=True) as uow:
        low, high = sorted(uow.trading_orders.open_orders(), key=lambda o: o.id)
    service = seeded.trading.orders
    failures: list[BaseException] = []

    def record() -> None:  # the orders in the reverse of id order, as a batch may hold them
        try:
            with seeded.uow() as uow:
                recordings = [(o, [om.CancelRequested()], None, None, None) for o in (high, low)]
                service.record_many(uow, recordings, clock.now(), as_stored=True)
                uow.commit()
        except BaseException as exc:
            failures.append(exc)

    with seeded.uow() as halt:
        halt.trading_orders.get_many([low.id], lock=True)
        recorder = threading.Thread(target=record)
        recorder.start()
        time.sleep(0.5)  # the recorder waits for the low order
        try:
            halt.trading_orders.get_many([high.id], lock=True)
        except BaseException as exc:
            failures.append(exc)
        halt.commit()
    recorder.join(30)
    assert not recorder.is_alive()
    assert failures == []
    with seeded.uow(readonly=True) as uow:
        assert all(
            o.cancel_requested for o in uow.trading_orders.get_many([low.id, high.id]).values()
        )
