"""Venue connections through the API: encrypted credentials never returned, SSRF checks,
health checks with history and alerts, and the market data sync job."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import structlog
from fastapi.testclient import TestClient

from openvpp.api.app import create_app
from openvpp.identity.model import Principal, Role
from openvpp.markets.calendar import delivery_intervals, gate_closure
from openvpp.markets.exchange.model import NewOrder, TradeSide
from openvpp.markets.presets import load_presets
from openvpp.runtime import Runtime
from openvpp.store import tables as t
from tests.support import ShiftClock, bearer, demo, other_org_operator

V = "/api/vpp"
CANARY = "canary-Secret-7f3a91"


def create(client: TestClient, h: dict[str, str], **kw: object) -> dict[str, object]:
    body = {
        "name": "Sim",
        "kind": "simulated",
        "markets": ["EU-SDAC"],
        "credentials": {"api_key": CANARY},
        **kw,
    }
    r = client.post(f"{V}/market/connections", headers=h, json=body)
    assert r.status_code == 201, r.text
    out: dict[str, object] = r.json()
    return out


def test_credentials_are_encrypted_and_never_returned(
    client: TestClient, seeded: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    admin = bearer(client, demo("admin"))
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events:
        made = create(client, admin)
        # refused input is not echoed either: the answer and the logs name the field only
        bad = {"name": "Bad", "kind": "simulated", "markets": ["EU-SDAC"]}
        for value in (CANARY + " ", CANARY + "\u00e9"):
            refused = client.post(
                f"{V}/market/connections",
                headers=admin,
                json={**bad, "credentials": {"api_key": value}},
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["field"] == "credentials.api_key"
            assert CANARY not in refused.text
    assert CANARY not in str(events) and CANARY not in caplog.text  # item 19
    assert made["credential_keys"] == ["api_key"]
    assert CANARY not in json.dumps(made)
    listing = client.get(f"{V}/market/connections", headers=bearer(client, demo("trader")))
    assert listing.status_code == 200 and CANARY not in listing.text
    with seeded.engine.connect() as conn:
        stored = conn.execute(sa.select(t.market_connections.c.credentials)).scalar_one()
        audit_rows = conn.execute(sa.select(t.audit_log)).all()
    assert CANARY not in stored
    assert all(CANARY not in str(row) for row in audit_rows)
    changed = client.patch(
        f"{V}/market/connections/{made['id']}",
        headers=admin,
        json={"credentials": {"api_key": "other", "secret": "x"}, "enabled": False},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["credential_keys"] == ["api_key", "secret"]
    assert changed.json()["enabled"] is False


def test_connection_input_is_checked(client: TestClient) -> None:
    admin = bearer(client, demo("admin"))
    cases = [
        ({"kind": "nope"}, "kind"),
        ({"markets": ["XX-NONE"]}, "markets"),
        ({"credentials": {}}, "credentials"),
        ({"kind": "openvpp-exchange"}, "base_url"),
        ({"kind": "openvpp-exchange", "base_url": "https://169.254.169.254"}, "base_url"),
        ({"kind": "openvpp-exchange", "base_url": "http://127.0.0.1:9"}, "base_url"),
        ({"base_url": "https://example.com"}, "base_url"),
        ({"password": "x"}, "password"),
    ]
    for extra, field in cases:
        body = {
            "name": "X",
            "kind": "simulated",
            "markets": ["EU-SDAC"],
            "credentials": {"api_key": "k"},
            **extra,
        }
        r = client.post(f"{V}/market/connections", headers=admin, json=body)
        assert r.status_code == 422, (extra, r.text)
        assert field in r.text, (extra, r.text)
    create(client, admin)
    dup = client.post(
        f"{V}/market/connections",
        headers=admin,
        json={
            "name": "Sim",
            "kind": "simulated",
            "markets": ["EU-SDAC"],
            "credentials": {"api_key": "k"},
        },
    )
    assert dup.status_code == 409
    trader = bearer(client, demo("trader"))
    assert (
        client.post(
            f"{V}/market/connections",
            headers=trader,
            json={
                "name": "T",
                "kind": "simulated",
                "markets": ["EU-SDAC"],
                "credentials": {"api_key": "k"},
            },
        ).status_code
        == 403
    )
    assert (
        client.get(f"{V}/market/connections", headers=bearer(client, demo("viewer"))).status_code
        == 403
    )


def test_health_check_history_and_down_alert(client: TestClient, seeded: Runtime) -> None:
    admin = bearer(client, demo("admin"))
    made = create(client, admin)
    cid = made["id"]
    r = client.post(f"{V}/market/connections/{cid}/check", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "up"
    client.patch(f"{V}/market/connections/{cid}", headers=admin, json={"enabled": False})
    down = client.post(f"{V}/market/connections/{cid}/check", headers=admin).json()
    assert down["status"] == "down" and "disabled" in down["error"]
    history = client.get(f"{V}/market/connections/{cid}/checks", headers=admin).json()
    assert [c["status"] for c in history] == ["down", "up"]
    alerts = client.get(f"{V}/alerts", headers=admin).json()
    assert any("is down" in a["title"] and a["status"] == "open" for a in alerts)
    client.patch(f"{V}/market/connections/{cid}", headers=admin, json={"enabled": True})
    assert (
        client.post(f"{V}/market/connections/{cid}/check", headers=admin).json()["status"] == "up"
    )
    alerts = client.get(f"{V}/alerts", headers=admin).json()
    assert all(a["status"] == "resolved" for a in alerts if "is down" in a["title"])
    one = client.get(f"{V}/market/connections/{cid}", headers=admin).json()
    assert one["status"] == "up" and one["last_checked_at"]
    other = other_org_operator(client, seeded)
    assert client.get(f"{V}/market/connections/{cid}", headers=other).status_code in (403, 404)


def test_sync_job_stores_cleared_prices(client: TestClient, seeded: Runtime) -> None:
    admin = bearer(client, demo("admin"))
    cid = create(client, admin)["id"]
    market = load_presets()["EU-SDAC"]
    product = market.product("H")
    day = (datetime.now(ZoneInfo(market.time_zone)) + timedelta(days=3)).date()
    intervals = delivery_intervals(product, day)
    first = intervals[0]
    seeded.exchange.add_account("acct-key", "acct-test")
    for i, interval in enumerate(intervals):  # a price in every hour: imbalance prices exist
        for side, price in ((TradeSide.SELL, 40 + i), (TradeSide.BUY, 90)):
            seeded.exchange.submit(
                "acct-test",
                NewOrder(
                    f"{side}-{i}", "EU-SDAC", "H", interval.start_utc, side, Decimal(price),
                    Decimal("1.0"),
                ),
            )  # fmt: skip
    seeded.exchange.run_auction("EU-SDAC", "H", day)
    params = {
        "connection_id": cid,
        "market": "EU-SDAC",
        "product": "H",
        "area": "SIM",
        "start": first.start_utc.isoformat(),
        "end": (first.start_utc + timedelta(days=1)).isoformat(),
    }
    r = client.post(f"{V}/market/sync", headers=bearer(client, demo("trader")), json=params)
    assert r.status_code == 202, r.text
    job = seeded.runner.run_once()
    assert job is not None and job.status.value == "succeeded", job
    assert job.result is not None and job.result["values_stored"] >= 1
    q = client.get(
        f"{V}/market/data",
        headers=admin,
        params={
            "market": "EU-SDAC",
            "area": "SIM",
            "product": "H",
            "start": params["start"],
            "end": params["end"],
        },
    ).json()
    assert [p["value"] for p in q["points"]] == [40.0 + i for i in range(len(intervals))]
    assert job.result["imbalance_days"] == 1
    assert job.result["days_without_imbalance_prices"] == []
    imbalance = client.get(
        f"{V}/market/data",
        headers=admin,
        params={
            "market": "EU-SDAC",
            "area": "SIM",
            "product": "IMB",
            "series": "imbalance_short",
            "start": params["start"],
            "end": params["end"],
        },
    ).json()
    assert imbalance["period_min"] == 15 and len(imbalance["points"]) == 4 * len(intervals)
    assert imbalance["unit"] == "EUR/MWh"
    bad = client.post(f"{V}/market/sync", headers=admin, json={**params, "market": "DE-FCR"})
    assert bad.status_code == 202
    failed = seeded.runner.run_once()
    assert failed is not None and failed.status.value == "failed"
    assert "does not serve market" in (failed.error or "")


def test_in_process_exchange_clears_auctions_at_gate_closure(
    seeded: Runtime, clock: ShiftClock
) -> None:
    market = load_presets()["EU-SDAC"]
    product = market.product("H")
    day = (datetime.now(ZoneInfo(market.time_zone)) + timedelta(days=2)).date()
    start = delivery_intervals(product, day)[8].start_utc
    seeded.exchange.add_account("k", "acct")
    for cid, side, price in (("s", TradeSide.SELL, "30"), ("b", TradeSide.BUY, "70")):
        seeded.exchange.submit(
            "acct", NewOrder(cid, "EU-SDAC", "H", start, side, Decimal(price), Decimal("1"))
        )
    assert not seeded.exchange.results("EU-SDAC", "H", day).cleared
    with TestClient(create_app(runtime=seeded, start_jobs=True)):
        clock.advance((gate_closure(product, start) - clock.now()).total_seconds() + 1)
        deadline = time.monotonic() + 10
        while not seeded.exchange.results("EU-SDAC", "H", day).cleared:
            assert time.monotonic() < deadline, "the auction did not clear"
            time.sleep(0.1)
    assert seeded.exchange.results("EU-SDAC", "H", day).periods[8].price == Decimal("30")


def test_sync_job_parameters_are_codes(client: TestClient) -> None:
    h = bearer(client, demo("trader"))
    base = {
        "connection_id": "x",
        "market": "EU-SDAC",
        "product": "H",
        "start": "2026-06-01T00:00:00Z",
        "end": "2026-06-02T00:00:00Z",
    }
    for key, value in (("area", "dk 1"), ("market", "eu-sdac"), ("product", "h")):
        r = client.post(
            f"{V}/jobs", headers=h, json={"kind": "market.sync", "params": {**base, key: value}}
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == f"params.{key}"


def test_credential_values_must_be_printable(client: TestClient) -> None:
    admin = bearer(client, demo("admin"))
    for value in ("key\n", " key", "k\x00y", "ключ"):
        r = client.post(
            f"{V}/market/connections",
            headers=admin,
            json={"name": "X", "kind": "simulated", "markets": ["EU-SDAC"],
                  "credentials": {"api_key": value}},
        )  # fmt: skip
        assert r.status_code == 422, (value, r.text)
        assert r.json()["error"]["field"] == "credentials.api_key"


def test_patch_refuses_nulls(client: TestClient) -> None:
    admin = bearer(client, demo("admin"))
    cid = create(client, admin)["id"]
    for key in ("markets", "enabled", "options", "credentials", "name"):
        r = client.patch(f"{V}/market/connections/{cid}", headers=admin, json={key: None})
        assert r.status_code == 422, (key, r.text)
    assert client.get(f"{V}/market/connections/{cid}", headers=admin).json()["enabled"] is True


def test_errors_never_carry_credentials_and_alerts_do_not_pile_up(
    seeded: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    from openvpp.markets.connections import ConnectionService, ConnectionSpec
    from openvpp.runtime_markets import KINDS, credential_box

    def broken(*args: object) -> object:
        raise RuntimeError(f"Illegal header value b'{CANARY}\\n'")

    service = ConnectionService(
        seeded.clock,
        credential_box(seeded.settings),
        seeded.connections.policy,
        lambda: dict(KINDS),
        broken,  # type: ignore[arg-type]
    )
    with seeded.uow(readonly=True) as uow:
        org = uow.organizations.get_by_slug("demo")
    assert org is not None
    admin = Principal("user", "u", org.id, frozenset({Role.ADMIN}), "u")
    made = service.create(
        seeded.uow(),
        admin,
        ConnectionSpec("Leaky", "simulated", ["EU-SDAC"], credentials={"api_key": CANARY}),
    )
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events:
        first = service.check(seeded.uow(), org.id, made.id)
        assert first.status == "down" and first.error is not None
        assert CANARY not in first.error and "***" in first.error
        service.update(seeded.uow(), admin, made.id, {"enabled": True})
        service.check(seeded.uow(), org.id, made.id)  # still down: no second alert
    # RELIABILITY item 19: never in the logs either (stdlib and structlog, with tracebacks)
    assert all(
        CANARY not in r.getMessage() and CANARY not in (r.exc_text or "") for r in caplog.records
    )
    assert CANARY not in caplog.text and CANARY not in str(events)
    with seeded.uow(readonly=True) as uow:
        alerts = uow.alerts.unresolved_from(org.id, f"market_connection:{made.id}")
        rows = uow.audit.list(org.id, action=None, after_seq=None, limit=500)
    assert len(alerts) == 1
    assert all(CANARY not in str(r) for r in rows)
    service.delete(seeded.uow(), admin, made.id)
    with seeded.uow(readonly=True) as uow:
        assert uow.alerts.unresolved_from(org.id, f"market_connection:{made.id}") == []


def test_connections_with_unreadable_credentials_stay_manageable(
    client: TestClient, seeded: Runtime
) -> None:
    admin = bearer(client, demo("admin"))
    cid = create(client, admin)["id"]
    with seeded.engine.begin() as conn:  # as if the master key had changed
        conn.execute(t.market_connections.update().values(credentials="gAAAAAnotatoken"))
    listing = client.get(f"{V}/market/connections", headers=admin)
    assert listing.status_code == 200
    assert listing.json()[0]["credential_keys"] == ["<undecryptable>"]
    count, unreadable = seeded.connections.rotate_credentials(seeded.uow())
    assert (count, unreadable) == (0, [cid])
    fixed = client.patch(
        f"{V}/market/connections/{cid}", headers=admin, json={"credentials": {"api_key": "new"}}
    )
    assert fixed.status_code == 200 and fixed.json()["credential_keys"] == ["api_key"]
    assert client.delete(f"{V}/market/connections/{cid}", headers=admin).status_code == 204
