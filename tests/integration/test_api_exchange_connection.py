"""A venue connection of kind ``openvpp-exchange`` through the API, over real HTTP to a
simulated exchange served by uvicorn on loopback: health checks, market data sync, and the
connection going down when the exchange stops."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from openvpp.core.clock import SystemClock
from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.exchange import SimulatedExchange
from openvpp.markets.exchange.faults import FaultInjector
from openvpp.markets.exchange.http_app import create_app as create_exchange_app
from openvpp.markets.exchange.model import NewOrder, TradeSide
from openvpp.markets.presets import load_presets
from openvpp.runtime import Runtime
from tests.integration.test_exchange_http import ThreadServer
from tests.support import bearer, demo

V = "/api/vpp"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"connector_allowed_hosts": ["127.0.0.1"], "connector_allow_local": True}


@pytest.fixture
def exchange() -> Iterator[tuple[SimulatedExchange, ThreadServer]]:
    venue = SimulatedExchange(load_presets(), SystemClock(), api_keys={"desk-key": "desk"})
    app = create_exchange_app(venue, FaultInjector([]), tick_interval_s=None)
    with ThreadServer(app) as server:
        yield venue, server


def test_http_connection_checks_syncs_and_goes_down(
    client: TestClient, seeded: Runtime, exchange: tuple[SimulatedExchange, ThreadServer]
) -> None:
    venue, server = exchange
    admin = bearer(client, demo("admin"))
    body = {
        "name": "Local exchange",
        "kind": "openvpp-exchange",
        "base_url": server.url,
        "markets": ["EU-SDAC"],
        "credentials": {"api_key": "desk-key"},
        "options": {"timeout_s": 2},
    }
    made = client.post(f"{V}/market/connections", headers=admin, json=body)
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    assert (
        client.post(f"{V}/market/connections/{cid}/check", headers=admin).json()["status"] == "up"
    )

    market = load_presets()["EU-SDAC"]
    product = market.product("H")
    day = (datetime.now(ZoneInfo(market.time_zone)) + timedelta(days=3)).date()
    first = delivery_intervals(product, day)[5]
    venue.submit(
        "desk",
        NewOrder(
            "s", "EU-SDAC", "H", first.start_utc, TradeSide.SELL, Decimal("42.5"), Decimal("2")
        ),
    )
    venue.submit(
        "desk",
        NewOrder("b", "EU-SDAC", "H", first.start_utc, TradeSide.BUY, Decimal("60"), Decimal("1")),
    )
    venue.run_auction("EU-SDAC", "H", day)
    start = delivery_intervals(product, day)[0].start_utc
    params = {
        "connection_id": cid,
        "market": "EU-SDAC",
        "product": "H",
        "area": "LOCAL",
        "start": start.isoformat(),
        "end": (start + timedelta(days=1)).isoformat(),
    }
    assert client.post(f"{V}/market/sync", headers=admin, json=params).status_code == 202
    job = seeded.runner.run_once()
    assert job is not None and job.status.value == "succeeded", job
    q = client.get(
        f"{V}/market/data",
        headers=admin,
        params={
            "market": "EU-SDAC",
            "area": "LOCAL",
            "product": "H",
            "start": params["start"],
            "end": params["end"],
        },
    ).json()
    priced = [
        p for p in q["points"] if p["start"].startswith(first.start_utc.strftime("%Y-%m-%dT%H"))
    ]
    assert priced and priced[0]["value"] == 42.5
    volume = client.get(
        f"{V}/market/data",
        headers=admin,
        params={
            "market": "EU-SDAC",
            "area": "LOCAL",
            "product": "H",
            "series": "volume",
            "start": params["start"],
            "end": params["end"],
        },
    ).json()
    assert max(p["value"] for p in volume["points"]) == 1.0

    server.__exit__(None, None, None)
    down = client.post(f"{V}/market/connections/{cid}/check", headers=admin).json()
    assert down["status"] == "down"
    alerts = client.get(f"{V}/alerts", headers=admin).json()
    assert any(a["title"] == "Market connection 'Local exchange' is down" for a in alerts)


def test_hosts_outside_the_allowlist_are_refused_also_locally(client: TestClient) -> None:
    admin = bearer(client, demo("admin"))
    # local addresses are allowed here, but only for allowlisted hosts
    r = client.post(
        f"{V}/market/connections",
        headers=admin,
        json={
            "name": "x",
            "kind": "openvpp-exchange",
            "base_url": "http://localhost:9",
            "markets": ["EU-SDAC"],
            "credentials": {"api_key": "k"},
        },
    )
    assert r.status_code == 422 and "allowlist" in r.text
