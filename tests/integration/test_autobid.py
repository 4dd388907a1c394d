"""Automatic bidding end to end: settings, decisions against the in-process simulated
exchange on the demo's real PJM prices, one decision per day, the kill switch, a missing
forecast, the scheduler's window and the API's roles.

The clock stands on 2018-12-23 00:00 New York time: the stored PJM prices (2018-12-11 ... 24)
hold the same hours 7 days before 2018-12-24, whose US-ISO-DA gate closes on 2018-12-23 at
10:30 New York time (15:30 UTC)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openvpp.audit.chain import AuditContext
from openvpp.forecasting.protocol import ModelKind
from openvpp.identity.model import Principal, Role
from openvpp.runtime import Runtime
from openvpp.runtime_trading import system_uow
from openvpp.seed import PJM, seed_markets
from openvpp.trading.autobid_service import system_principal
from tests.support import ShiftClock, bearer, demo, other_org_operator

V = "/api/vpp"
T = f"{V}/trading"
MARKET, PRODUCT = "US-ISO-DA", "H"
DAY = date(2018, 12, 24)
GATE = datetime(2018, 12, 23, 15, 30, tzinfo=UTC)
START = datetime(2018, 12, 23, 5, 0, tzinfo=UTC)  # 10.5 h before the gate
RESOURCES: dict[str, str] = {}


@pytest.fixture
def clock() -> ShiftClock:
    c = ShiftClock()
    c.offset = START - datetime.now(UTC)
    return c


@pytest.fixture
def desk(client: TestClient, seeded: Runtime) -> dict[str, Any]:
    """The demo prices and connection, and a VPP in PJM holding a 2 MW / 4 MWh battery."""
    ops = bearer(client, demo("operator"))
    me = client.get(f"{V}/auth/me", headers=bearer(client, demo("admin"))).json()
    actor = Principal(
        kind="user",
        id=me["id"],
        organization_id=me["organization_id"],
        roles=frozenset({Role.ADMIN}),
        user_id=me["id"],
    )
    seed_markets(seeded, actor, AuditContext(actor_type="system", actor_id="seed"))
    return {
        "ops": ops,
        "trader": bearer(client, demo("trader")),
        "viewer": bearer(client, demo("viewer")),
        "vpp_id": battery_vpp(client, ops, "PJM"),
        "org": me["organization_id"],
    }


def online(client: TestClient, ops: dict[str, str], resource_id: str, at: datetime) -> None:
    """A fresh reading (half charged): an offline battery offers no flexibility."""
    point = {"resource_id": resource_id, "ts": at.isoformat(), "power_mw": 0.0, "soc": 0.5}
    r = client.post(f"{V}/telemetry", headers=ops, json={"points": [point]})
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


def battery_vpp(client: TestClient, ops: dict[str, str], area: str, name: str = "Bidder") -> str:
    """A VPP in ``area`` of one online 2 MW / 4 MWh battery (resource id: ``RESOURCES``)."""
    code = f"{area}-NODE-{name}".upper()
    r = client.post(f"{V}/grid-nodes", headers=ops, json={"code": code, "market_area": area})
    assert r.status_code == 201, r.text
    body = {
        "name": f"{name} battery",
        "resource_type": "battery",
        "grid_node": code,
        "parameters": {"energy_mwh": 4.0, "p_charge_max_mw": 2.0, "p_discharge_max_mw": 2.0},
    }
    r = client.post(f"{V}/resources", headers=ops, json=body)
    assert r.status_code == 201, r.text
    resource_id = r.json()["id"]
    online(client, ops, resource_id, client.app.state.runtime.clock.now())  # type: ignore[attr-defined]
    members = [{"resource_id": resource_id, "share_pct": 100}]
    r = client.post(
        f"{V}/vpps", headers=ops, json={"name": name, "market_area": area, "members": members}
    )
    assert r.status_code == 201, r.text
    RESOURCES[r.json()["id"]] = resource_id
    return str(r.json()["id"])


def decide(client: TestClient, h: dict[str, str], vpp_id: str, day: date = DAY) -> Any:
    body = {"vpp_id": vpp_id, "market": MARKET, "product": PRODUCT, "day": day.isoformat()}
    return client.post(f"{T}/decisions", headers=h, json=body)


def setting(vpp_id: str, **kw: Any) -> dict[str, Any]:
    return {"vpp_id": vpp_id, "market": MARKET, "product": PRODUCT, "enabled": True, **kw}


def test_settings_are_validated_naming_the_field(client: TestClient, desk: dict[str, Any]) -> None:
    ops, vpp_id = desk["ops"], desk["vpp_id"]
    bad = [
        (setting(vpp_id, market="NOPE"), 422, "market"),
        (setting(vpp_id, market="EU-SIDC"), 422, "market"),  # continuous, not an auction
        (setting(vpp_id, product="QH"), 422, "product"),
        (setting(vpp_id, strategy="greedy"), 422, "body.strategy"),
        (setting(vpp_id, lead_min=60, margin_min=60), 422, "margin_min"),
        (setting(vpp_id, lead_min=0), 422, "body.lead_min"),
        (setting(vpp_id, surprise=1), 422, "body.surprise"),
        (setting("no-such-vpp"), 404, "vpp_id"),
        (setting(vpp_id, connection_id="no-such-connection"), 404, "connection_id"),
        (setting(vpp_id, price_model_id="no-such-model"), 404, "price_model_id"),
    ]
    for body, status, field in bad:
        r = client.put(f"{T}/auto", headers=ops, json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["field"] == field, (body, r.text)
    sidc_only = client.post(
        f"{V}/market/connections",
        headers=bearer(client, demo("admin")),
        json={
            "name": "SIDC only",
            "kind": "simulated",
            "markets": ["EU-SIDC"],
            "credentials": {"api_key": "desk-key-0123456789"},
        },
    )
    assert sidc_only.status_code == 201, sidc_only.text
    r = client.put(
        f"{T}/auto", headers=ops, json=setting(vpp_id, connection_id=sidc_only.json()["id"])
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "connection_id", r.text
    assert client.get(f"{T}/auto", headers=ops).json() == []

    ok = client.put(f"{T}/auto", headers=desk["trader"], json=setting(vpp_id, lead_min=300))
    assert ok.status_code == 200, ok.text
    again = client.put(f"{T}/auto", headers=ops, json=setting(vpp_id, strategy="curve"))
    assert again.status_code == 200, again.text
    listed = client.get(f"{T}/auto", headers=desk["viewer"]).json()
    assert [(s["vpp_id"], s["strategy"], s["lead_min"]) for s in listed] == [(vpp_id, "curve", 360)]
    assert client.put(f"{T}/auto", headers=desk["viewer"], json=setting(vpp_id)).status_code == 403


def test_a_decision_forecasts_optimizes_submits_and_records_everything(
    client: TestClient, seeded: Runtime, desk: dict[str, Any]
) -> None:
    vpp_id = desk["vpp_id"]
    made = decide(client, desk["trader"], vpp_id)
    assert made.status_code == 201, made.text
    d = made.json()
    assert d["status"] == "submitted", d
    assert d["delivery_day"] == "2018-12-24" and d["gate_closure"] == "2018-12-23T15:30:00Z"
    forecast = d["inputs"]["forecast"]
    assert forecast["source"] == "seasonal_naive"
    assert forecast["series"] == "US-ISO-DA/PJM/H/price"
    assert forecast["lags_days"] == [7] * 24 and forecast["errors"] >= 24
    assert all(
        lo <= mid <= hi
        for lo, mid, hi in zip(forecast["p10"], forecast["p50"], forecast["p90"], strict=True)
    )
    assert forecast["p10"] != forecast["p90"]
    assert len(d["inputs"]["flexibility"]["p_max_mw"]) == 24
    assert max(d["inputs"]["flexibility"]["p_max_mw"]) > 0
    assert len(d["result"]["schedule_mw"]) == 24 and d["result"]["status"]
    assert d["result"]["expected_revenue"] > 0
    assert d["orders"], d
    # every order is stored with the decision id, accepted and at the venue
    stored = client.get(f"{T}/orders", headers=desk["viewer"], params={"vpp_id": vpp_id}).json()
    assert {o["client_order_id"] for o in stored} == set(d["orders"])
    assert {o["decision_id"] for o in stored} == {d["id"]}
    for cid, outcome in d["orders"].items():
        assert outcome["state"] == "acknowledged", (cid, outcome)
        assert outcome["order_id"] in {o["id"] for o in stored}
    ours = [o for o in seeded.exchange.orders() if o.client_order_id in d["orders"]]
    assert len(ours) == len(d["orders"])
    # the full record is readable; the list shows the summary
    one = client.get(f"{T}/decisions/{d['id']}", headers=desk["viewer"]).json()
    assert one["orders"] == d["orders"] and one["inputs"] == d["inputs"]
    listed = client.get(
        f"{T}/decisions", headers=desk["viewer"], params={"vpp_id": vpp_id, "day": "2018-12-24"}
    ).json()
    assert [x["id"] for x in listed] == [d["id"]] and listed[0]["orders"] is None
    # the same day again: the stored decision, no new orders
    again = decide(client, desk["ops"], vpp_id)
    assert again.status_code == 200 and again.json()["id"] == d["id"], again.text
    after = client.get(f"{T}/orders", headers=desk["viewer"], params={"vpp_id": vpp_id}).json()
    assert len(after) == len(stored)
    assert len(client.get(f"{T}/decisions", headers=desk["viewer"]).json()) == 1


def test_a_halted_vpp_gets_a_recorded_decision_with_rejected_orders(
    client: TestClient, desk: dict[str, Any]
) -> None:
    vpp_id = desk["vpp_id"]
    halt = client.put(
        f"{T}/state",
        headers=desk["ops"],
        json={"vpp_id": vpp_id, "mode": "halted", "reason": "test"},
    )
    assert halt.status_code == 200, halt.text
    d = decide(client, desk["trader"], vpp_id).json()
    assert d["status"] == "rejected", d
    assert d["orders"] and {o["state"] for o in d["orders"].values()} == {"rejected"}
    assert all("reject_reason" in o for o in d["orders"].values())
    assert d["result"]["schedule_mw"]  # the decision itself is on record


def test_without_a_forecast_source_the_decision_fails_with_its_reason(
    client: TestClient, desk: dict[str, Any]
) -> None:
    elsewhere = battery_vpp(client, desk["ops"], "MISO", "Elsewhere")
    d = decide(client, desk["trader"], elsewhere)
    assert d.status_code == 201, d.text
    body = d.json()
    assert body["status"] == "failed" and body["orders"] == {}
    assert "no price forecast" in body["error"] and "US-ISO-DA/MISO/H/price" in body["error"]
    assert "flexibility" in body["inputs"]  # what was known is kept
    orders = client.get(f"{T}/orders", headers=desk["ops"], params={"vpp_id": elsewhere})
    assert orders.json() == []


def test_a_closed_gate_or_another_organization_is_refused(
    client: TestClient, seeded: Runtime, desk: dict[str, Any]
) -> None:
    closed = decide(client, desk["trader"], desk["vpp_id"], date(2018, 12, 23))
    assert closed.status_code == 422 and closed.json()["error"]["field"] == "day", closed.text
    made = decide(client, desk["trader"], desk["vpp_id"]).json()
    other = other_org_operator(client, seeded)
    assert client.get(f"{T}/decisions/{made['id']}", headers=other).status_code == 404
    assert client.get(f"{T}/decisions", headers=other).json() == []
    foreign = decide(client, other, desk["vpp_id"], date(2018, 12, 25))
    assert foreign.status_code == 404 and foreign.json()["error"]["field"] == "vpp_id"
    put = client.put(f"{T}/auto", headers=other, json=setting(desk["vpp_id"]))
    assert put.status_code == 404, put.text
    assert decide(client, desk["viewer"], desk["vpp_id"]).status_code == 403
    job = client.post(
        f"{V}/jobs",
        headers=desk["trader"],
        json={"kind": "trading.autobid", "params": {"vpp_id": desk["vpp_id"], "day": "x"}},
    )
    assert job.status_code == 422, job.text


def test_the_scheduler_decides_only_inside_lead_and_margin(
    client: TestClient, seeded: Runtime, desk: dict[str, Any], clock: ShiftClock
) -> None:
    early = desk["vpp_id"]
    late = battery_vpp(client, desk["ops"], "PJM", "Late")
    nodata = battery_vpp(client, desk["ops"], "MISO", "Nodata")  # no stored prices
    for vpp_id, lead, margin in ((early, 360, 15), (late, 600, 330), (nodata, 360, 15)):
        r = client.put(
            f"{T}/auto", headers=desk["ops"], json=setting(vpp_id, lead_min=lead, margin_min=margin)
        )
        assert r.status_code == 200, r.text
    uows = partial(system_uow, seeded)
    # 10.5 h before the gate: outside every lead
    assert seeded.autobid.run_due(uows) == []
    # 5 h before: inside the leads of early and nodata; inside late's margin
    clock.offset += timedelta(hours=5.5)
    ops, viewer = bearer(client, demo("operator")), bearer(client, demo("viewer"))  # fresh tokens
    for vpp_id in (early, late, nodata):
        online(client, ops, RESOURCES[vpp_id], clock.now())
    made = seeded.autobid.run_due(uows)
    # a decision that fails is recorded as failed; the others are made all the same
    assert {(m["vpp_id"], m["day"], m["status"]) for m in made} == {
        (early, "2018-12-24", "submitted"),
        (nodata, "2018-12-24", "failed"),
    }
    assert seeded.autobid.run_due(uows) == []  # decided: never twice
    listed = client.get(f"{T}/decisions", headers=viewer, params={"vpp_id": early}).json()
    assert [x["status"] for x in listed] == ["submitted"]
    failed = client.get(f"{T}/decisions", headers=viewer, params={"status": "failed"}).json()
    assert [x["vpp_id"] for x in failed] == [nodata] and "no price forecast" in failed[0]["error"]
    stored = client.get(f"{T}/orders", headers=viewer, params={"vpp_id": early}).json()
    decided = next(m["decision_id"] for m in made if m["vpp_id"] == early)
    assert stored and {o["decision_id"] for o in stored} == {decided}
    # 30 min before the gate, late with a 15 min margin would be due: not while disabled
    body = setting(late, enabled=False, lead_min=600, margin_min=15)
    assert client.put(f"{T}/auto", headers=ops, json=body).status_code == 200
    clock.offset += timedelta(hours=4.5)
    assert seeded.autobid.run_due(uows) == []
    body["enabled"] = True
    assert (
        client.put(f"{T}/auto", headers=bearer(client, demo("operator")), json=body).status_code
        == 200
    )
    assert [(m["vpp_id"], m["day"]) for m in seeded.autobid.run_due(uows)] == [(late, "2018-12-24")]


def test_the_job_kind_makes_the_decision(
    client: TestClient, seeded: Runtime, desk: dict[str, Any]
) -> None:
    params = {"vpp_id": desk["vpp_id"], "market": MARKET, "product": PRODUCT, "day": "2018-12-24"}
    job = client.post(
        f"{V}/jobs", headers=desk["trader"], json={"kind": "trading.autobid", "params": params}
    )
    assert job.status_code == 202, job.text
    ran = seeded.runner.run_once()
    assert ran is not None and ran.id == job.json()["id"]
    done = client.get(f"{V}/jobs/{ran.id}", headers=desk["trader"]).json()
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert result["created"] is True and result["status"] == "submitted" and result["orders"] > 0
    d = client.get(f"{T}/decisions/{result['decision_id']}", headers=desk["viewer"]).json()
    assert d["status"] == "submitted" and len(d["orders"]) == result["orders"]
    stored = client.get(f"{T}/orders", headers=desk["viewer"], params={"vpp_id": desk["vpp_id"]})
    assert {o["decision_id"] for o in stored.json()} == {d["id"]}


def test_a_registry_price_model_is_the_first_source(
    client: TestClient, seeded: Runtime, desk: dict[str, Any], clock: ShiftClock
) -> None:
    org, me = desk["org"], client.get(f"{V}/auth/me", headers=desk["ops"]).json()["id"]
    source = {"type": "market_data", "target": {**PJM, "series": "price"}}
    make = partial(seeded.models.create, seeded.uow(), org, me, data_source=source)
    risk = make(name="risk", kind=ModelKind.RISK, algorithm="historical_risk", params={})
    r = client.put(
        f"{T}/auto", headers=desk["ops"], json=setting(desk["vpp_id"], price_model_id=risk.id)
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "price_model_id", r.text
    naive = make(
        name="weekly", kind=ModelKind.PRICE, algorithm="seasonal_naive",
        params={"season_hours": 168},
    )  # fmt: skip
    r = client.put(
        f"{T}/auto", headers=desk["ops"], json=setting(desk["vpp_id"], price_model_id=naive.id)
    )
    assert r.status_code == 200, r.text
    # not trained yet: recorded, and the stored prices are used
    d = decide(client, desk["trader"], desk["vpp_id"]).json()
    assert d["status"] == "submitted", d
    forecast = d["inputs"]["forecast"]
    assert forecast["source"] == "seasonal_naive" and forecast["model_id"] == naive.id
    assert "train" in forecast["model_error"]
    # trained on the data known now: its prediction, issued now, is the forecast
    now = clock.now()
    window = {
        "model_id": naive.id,
        "train_start": "2018-12-11T05:00:00+00:00",
        "train_end": "2018-12-22T05:00:00+00:00",
        "as_of": (now - timedelta(minutes=1)).isoformat(),
        "holdout_days": 2,
    }
    seeded.models.train(partial(seeded.uow), org, window, None, lambda _f, _m: None)
    d = decide(client, desk["trader"], desk["vpp_id"], date(2018, 12, 25)).json()
    assert d["status"] == "submitted", d
    forecast = d["inputs"]["forecast"]
    assert forecast["source"] == "model" and forecast["model_id"] == naive.id
    assert forecast["version"] == 1 and "model_error" not in forecast
    run = client.get(f"{V}/ai/predictions/{forecast['run_id']}", headers=desk["viewer"])
    assert run.status_code == 200, run.text


def test_concurrent_decisions_of_one_day_make_one(
    client: TestClient, seeded: Runtime, desk: dict[str, Any]
) -> None:
    org = desk["org"]

    def one(_: int) -> Any:
        return seeded.autobid.decide_now(
            partial(system_uow, seeded, org),
            system_principal(org),
            desk["vpp_id"],
            MARKET,
            PRODUCT,
            DAY,
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(4)))
    assert sum(r.created for r in results) == 1
    assert len({r.record.id for r in results}) == 1
    listed = client.get(f"{T}/decisions", headers=desk["viewer"]).json()
    assert len(listed) == 1 and listed[0]["status"] == "submitted"


def test_the_curve_strategy_bids_its_curves_and_records_what_it_expects(
    client: TestClient, desk: dict[str, Any]
) -> None:
    r = client.put(f"{T}/auto", headers=desk["ops"], json=setting(desk["vpp_id"], strategy="curve"))
    assert r.status_code == 200, r.text
    d = decide(client, desk["trader"], desk["vpp_id"]).json()
    assert d["status"] == "submitted" and d["strategy"] == "curve", d
    result = d["result"]
    # the coupled LP's expectation is on the record, to explain the curves later
    assert result["strategy"] == "curve" and result["curve_solve_s"] > 0
    assert result["curve_expected_recourse_mwh"] >= 0 and "curve_expected_revenue" in result
    assert d["orders"] and all(o["state"] == "acknowledged" for o in d["orders"].values())
    # one order per curve segment: at most the levels and the two limits per hour and side
    per_hour: dict[tuple[str, str], int] = {}
    for o in d["orders"].values():
        key = (o["delivery_start"], o["side"])
        per_hour[key] = per_hour.get(key, 0) + 1
        assert -150.0 <= float(o["price"]) <= 2000.0
    assert max(per_hour.values()) <= 10


def test_a_decision_abandoned_half_way_is_made_again_once_then_failed_after_its_gate(
    client: TestClient,
    seeded: Runtime,
    desk: dict[str, Any],
    clock: ShiftClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process dies after placing the orders, before recording the outcome: the day stays
    ``pending``. Ten minutes later the decision is made again under the same id (its orders
    replayed, not doubled); a day abandoned past its gate is marked failed."""
    org, vpp_id = desk["org"], desk["vpp_id"]
    svc = seeded.autobid
    real = svc._make

    def dies_after_the_orders(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise SystemExit("killed")  # not an Exception: nothing records the outcome

    monkeypatch.setattr(svc, "_make", dies_after_the_orders)
    uows = partial(system_uow, seeded, org)
    with pytest.raises(SystemExit):
        svc.decide_now(uows, system_principal(org), vpp_id, MARKET, PRODUCT, DAY)
    monkeypatch.setattr(svc, "_make", real)
    pending = client.get(f"{T}/decisions", headers=desk["viewer"]).json()
    assert [x["status"] for x in pending] == ["pending"]
    placed = [o.client_order_id for o in seeded.exchange.orders() if o.account != "cp"]
    assert placed
    # still fresh: the stored decision, left alone
    again = svc.decide_now(uows, system_principal(org), vpp_id, MARKET, PRODUCT, DAY)
    assert not again.created and again.record.status == "pending"
    # ten minutes on, its maker is taken for dead: made again under the same id
    clock.offset += timedelta(minutes=11)
    online(client, desk["ops"], RESOURCES[vpp_id], clock.now())
    resumed = svc.decide_now(uows, system_principal(org), vpp_id, MARKET, PRODUCT, DAY)
    assert resumed.created and resumed.record.id == pending[0]["id"]
    assert resumed.record.status == "submitted", resumed.record.error
    assert sorted(o.client_order_id for o in seeded.exchange.orders() if o.account != "cp") == (
        sorted(placed)
    )
    assert not svc.decide_now(uows, system_principal(org), vpp_id, MARKET, PRODUCT, DAY).created
    resumes = client.get(
        f"{V}/audit",
        headers=bearer(client, demo("admin")),
        params={"action": "trading.autobid.resume"},
    ).json()
    assert [a["object_id"] for a in resumes] == [pending[0]["id"]]

    # a day abandoned and never taken over before its gate: failed by the scheduler
    late = battery_vpp(client, desk["ops"], "PJM", "Dies")
    monkeypatch.setattr(svc, "_make", dies_after_the_orders)
    with pytest.raises(SystemExit):
        svc.decide_now(uows, system_principal(org), late, MARKET, PRODUCT, DAY)
    monkeypatch.setattr(svc, "_make", real)
    clock.offset += timedelta(days=1)
    assert svc.run_due(partial(system_uow, seeded)) == []
    listed = client.get(
        f"{T}/decisions", headers=bearer(client, demo("viewer")), params={"vpp_id": late}
    ).json()
    assert [x["status"] for x in listed] == ["failed"]
    assert listed[0]["error"].startswith("abandoned")
