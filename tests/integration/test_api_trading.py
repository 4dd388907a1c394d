"""Orders through the API on every backend: placement stored before sending, idempotent
replays, input checks, fills from the venue applied once, cancel and modify, sessions,
isolation between organizations."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from openvpp.markets.exchange.model import TradeSide
from openvpp.markets.records import MarketConnection
from openvpp.runtime import Runtime
from openvpp.store import tables as t
from tests.integration.trading_support import (
    T,
    counter_order,
    open_hour,
    order_body,
    our_venue_orders,
    setup_trading,
)
from tests.support import ShiftClock, bearer, demo, other_org_operator


def test_place_replay_conflict_and_fills(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    ctx = setup_trading(client)
    start = open_hour(clock.now())
    body = order_body(ctx, start, "o-1")
    placed = client.post(f"{T}/orders", headers=ctx["trader"], json=body)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["state"] == "acknowledged" and order["venue_order_id"]
    assert order["connection_id"] == ctx["connection_id"]  # the default connection
    replay = client.post(f"{T}/orders", headers=ctx["trader"], json=body)
    assert replay.status_code == 200 and replay.json()["id"] == order["id"]
    other = client.post(f"{T}/orders", headers=ctx["trader"], json={**body, "price": "51"})
    assert other.status_code == 409 and other.json()["error"]["field"] == "client_order_id"
    assert len(our_venue_orders(seeded, "o-1")) == 1

    counter_order(seeded, start, TradeSide.BUY, "60", "0.5", "c-1")
    counter_order(seeded, start, TradeSide.BUY, "55", "0.7", "c-2")
    connection = _connection(seeded)
    report = seeded.trading.sync.poll_fills(seeded.uow(), connection)
    assert report.new == 2
    with seeded.engine.begin() as conn:  # a feed that starts over: every trade again
        conn.execute(t.trading_fill_cursors.update().values(cursor=0))
    again = seeded.trading.sync.poll_fills(seeded.uow(), connection)
    assert again.new == 0 and again.duplicates == 2
    got = client.get(f"{T}/orders/{order['id']}", headers=bearer(client, demo("viewer")))
    assert got.status_code == 200
    assert got.json()["state"] == "partially_filled"
    assert got.json()["filled_mw"] == "1.2" and got.json()["avg_price"] == "50"
    assert [e["event"] for e in got.json()["events"]][:4] == [
        "created",
        "RiskPassed",
        "Sent",
        "VenueAck",
    ]
    fills = client.get(f"{T}/executions", headers=ctx["trader"], params={"order_id": order["id"]})
    assert sorted(f["quantity_mw"] for f in fills.json()) == ["0.5", "0.7"]

    cancelled = client.put(
        f"{T}/orders/{order['id']}", headers=ctx["trader"], json={"action": "cancel"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert not our_venue_orders(seeded, "o-1")[0].active
    again_cancel = client.put(
        f"{T}/orders/{order['id']}", headers=ctx["trader"], json={"action": "cancel"}
    )
    assert again_cancel.status_code == 409
    with seeded.engine.connect() as conn:
        actions = conn.execute(
            sa.select(t.audit_log.c.action).where(t.audit_log.c.action.like("trading.%"))
        ).scalars()
        assert {"trading.order.submit", "trading.fills", "trading.order.cancel"} <= set(actions)


def _connection(rt: Runtime) -> MarketConnection:
    with rt.uow(readonly=True) as uow:
        return uow.market_connections.of_org(None)[0]


def test_modify_lists_and_sessions(client: TestClient, seeded: Runtime, clock: ShiftClock) -> None:
    ctx = setup_trading(client)
    start = open_hour(clock.now())
    placed = client.post(f"{T}/orders", headers=ctx["trader"], json=order_body(ctx, start, "m-1"))
    oid = placed.json()["id"]
    changed = client.put(
        f"{T}/orders/{oid}", headers=ctx["trader"], json={"price": "48.5", "quantity_mw": "3"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["price"] == "48.5" and changed.json()["quantity_mw"] == "3"
    venue = our_venue_orders(seeded, "m-1")[0]
    assert str(venue.price) == "48.5"
    listed = client.get(
        f"{T}/orders", headers=ctx["trader"], params={"state": ["acknowledged"], "limit": 10}
    )
    assert [o["id"] for o in listed.json()] == [oid]
    assert client.get(f"{T}/orders", headers=ctx["trader"], params={"state": "filled"}).json() == []
    sessions = client.get(
        f"{T}/sessions", headers=ctx["trader"], params={"market": "EU-SIDC", "product": "H"}
    )
    assert sessions.status_code == 200, sessions.text
    body = sessions.json()
    assert body["time_zone"] == "Europe/Brussels" and len(body["sessions"]) in (23, 24, 25)
    ours = [
        s for s in body["sessions"] if s["delivery_start"].startswith(start.strftime("%Y-%m-%dT%H"))
    ]
    if ours:  # the delivery hour may fall on the next local day
        assert ours[0]["state"] == "open" and ours[0]["open_orders"] == 1


def test_input_is_checked_naming_the_field(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    ctx = setup_trading(client)
    start = open_hour(clock.now())
    cases = [
        ({"side": "hold"}, "body.side"),
        ({"price": "abc"}, "body.price"),
        ({"quantity_mw": "-1"}, "body.quantity_mw"),
        ({"delivery_start": start.replace(tzinfo=None).isoformat()}, "body.delivery_start"),
        ({"delivery_start": (start - timedelta(hours=48)).isoformat()}, "delivery_start"),
        ({"market": "XX-NONE"}, "market"),
        ({"product": "ZZ"}, "product"),
        ({"state": "filled"}, "body.state"),
        ({"client_order_id": ""}, "body.client_order_id"),
    ]
    for i, (change, field) in enumerate(cases):
        body = order_body(ctx, start, f"bad-{i}", **change)
        r = client.post(f"{T}/orders", headers=ctx["trader"], json=body)
        assert r.status_code == 422, (change, r.text)
        assert r.json()["error"]["field"] == field, (change, r.json())
    missing = order_body(ctx, start, "nf", vpp_id="00000000-0000-0000-0000-000000000000")
    assert client.post(f"{T}/orders", headers=ctx["trader"], json=missing).status_code == 404
    with seeded.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.trading_orders)).scalar() == 0


def test_other_organization_sees_nothing(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    ctx = setup_trading(client)
    start = open_hour(clock.now())
    placed = client.post(f"{T}/orders", headers=ctx["trader"], json=order_body(ctx, start, "x-1"))
    oid = placed.json()["id"]
    other = other_org_operator(client, seeded)
    assert client.get(f"{T}/orders/{oid}", headers=other).status_code == 404
    assert client.get(f"{T}/orders", headers=other).json() == []
    put = client.put(f"{T}/orders/{oid}", headers=other, json={"action": "cancel"})
    assert put.status_code == 404
    # the other organization cannot use this VPP either
    stolen = client.post(f"{T}/orders", headers=other, json=order_body(ctx, start, "x-1"))
    assert stolen.status_code == 404 and stolen.json()["error"]["field"] == "vpp_id"
    assert our_venue_orders(seeded, "x-1")[0].active
