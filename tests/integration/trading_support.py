"""Helpers of the trading tests: a VPP, a simulated connection, a tradable delivery interval,
order bodies and a counterparty on the in-process exchange."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from openvpp.identity.model import Principal, Role
from openvpp.markets.exchange.model import NewOrder, TradeSide
from openvpp.runtime import Runtime
from tests.support import bearer, demo

V = "/api/vpp"
T = f"{V}/trading"
MARKET, PRODUCT = "EU-SIDC", "H"
COUNTER_KEY, COUNTER = "counterparty-key", "counterparty"


def open_hour(now: datetime, hours_ahead: int = 3) -> datetime:
    """A delivery hour of EU-SIDC whose gate is open at ``now`` (opens D-1 15:00, closes 5
    minutes before delivery)."""
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours_ahead)


def setup_trading(client: TestClient, *, kind: str = "simulated", **conn: Any) -> dict[str, Any]:
    """A VPP and a connection of the demo organization; the admin's and trader's headers."""
    admin = bearer(client, demo("admin"))
    vpp = client.post(
        f"{V}/vpps", headers=admin, json={"name": "Trading VPP", "market_area": "DE-LU"}
    )
    assert vpp.status_code == 201, vpp.text
    body: dict[str, Any] = {
        "name": "Sim",
        "kind": kind,
        "markets": [MARKET, "EU-SDAC"],
        "credentials": {"api_key": "desk-key-0123456789"},
        **conn,
    }
    made = client.post(f"{V}/market/connections", headers=admin, json=body)
    assert made.status_code == 201, made.text
    return {
        "vpp_id": vpp.json()["id"],
        "connection_id": made.json()["id"],
        "admin": admin,
        "trader": bearer(client, demo("trader")),
    }


def trader(organization_id: str) -> Principal:
    """The demo trader of ``organization_id``, for calling the order service directly."""
    return Principal(
        kind="user",
        id="trader",
        organization_id=organization_id,
        roles=frozenset({Role.TRADER}),
        user_id="trader",
    )


def order_body(ctx: dict[str, Any], start: datetime, cid: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_order_id": cid,
        "vpp_id": ctx["vpp_id"],
        "market": MARKET,
        "product": PRODUCT,
        "delivery_start": start.isoformat(),
        "side": "sell",
        "price": "50",
        "quantity_mw": "2",
    }
    body.update(overrides)
    return body


def counter_order(
    rt: Runtime, start: datetime, side: TradeSide, price: str, qty: str, cid: str
) -> None:
    """An order of another account on the in-process exchange (it may match ours)."""
    rt.exchange.add_account(COUNTER_KEY, COUNTER)
    rt.exchange.submit(
        COUNTER, NewOrder(cid, MARKET, PRODUCT, start, side, Decimal(price), Decimal(qty))
    )


def our_venue_orders(rt: Runtime, client_order_id: str) -> list[Any]:
    return [
        o
        for o in rt.exchange.orders()
        if o.client_order_id == client_order_id and o.account != COUNTER
    ]


def trading_context(client: TestClient, rt: Runtime) -> dict[str, Any]:
    """:func:`setup_trading` on the simulated exchange, with the demo trader's principal
    (``principal``) and organization (``org``) for calling the services directly."""
    ctx = setup_trading(client)
    with rt.uow(readonly=True) as uow:
        org = uow.market_connections.of_org(None)[0].organization_id
    ctx["principal"] = trader(org)
    ctx["org"] = org
    return ctx


def assert_exposures_kept(rt: Runtime) -> None:
    """Every organization's exposure rows are what its orders add up to (none missing, none
    left over)."""
    with rt.uow(readonly=True) as uow:
        for org in uow.organizations.list():
            kept = uow.trading_orders.kept_exposures(org.id)
            assert kept == uow.trading_orders.summed_exposures(org.id), org.id
