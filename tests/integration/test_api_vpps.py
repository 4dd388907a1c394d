"""VPP definitions, grid nodes and conflict detection through the API, on every backend."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from openvpp.runtime import Runtime
from tests.support import bearer, demo, other_org_operator

V = "/api/vpp"


def resource(client: TestClient, h: dict[str, str], node: str = "GD-220-A", **kw: Any) -> str:
    body = {
        "name": kw.pop("name", "Battery"),
        "resource_type": kw.pop("resource_type", "battery"),
        "grid_node": node,
        "parameters": kw.pop(
            "parameters", {"energy_mwh": 4.0, "p_charge_max_mw": 2.0, "p_discharge_max_mw": 2.0}
        ),
    }
    r = client.post(f"{V}/resources", headers=h, json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def node(client: TestClient, h: dict[str, str], code: str, area: str) -> None:
    r = client.post(f"{V}/grid-nodes", headers=h, json={"code": code, "market_area": area})
    assert r.status_code == 201, r.text


def vpp(client: TestClient, h: dict[str, str], name: str, **kw: Any) -> dict[str, Any]:
    r = client.post(f"{V}/vpps", headers=h, json={"name": name, "market_area": "CN-GD", **kw})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_vpp_lifecycle_members_and_parameter_history(client: TestClient) -> None:
    ops = bearer(client, demo("operator"))
    node(client, ops, "GD-220-A", "CN-GD")
    rid = resource(client, ops)
    created = vpp(
        client,
        ops,
        "Park VPP",
        members=[{"resource_id": rid, "share_pct": 60}],
        parameters={"markets": ["CN-SD-DA"]},
    )
    vid = created["id"]
    members = client.get(f"{V}/vpps/{vid}/members", headers=ops).json()
    assert [(m["resource_id"], m["share_pct"]) for m in members] == [(rid, "60.0000")]
    # A later parameter version: the history keeps both, oldest first.
    later = client.post(
        f"{V}/vpps/{vid}/parameters",
        headers=ops,
        json={
            "parameters": {"markets": [], "export_limit_mw": 1.5},
            "effective_from": "2030-01-01T00:00:00Z",
        },
    )
    assert later.status_code == 201, later.text
    history = client.get(f"{V}/vpps/{vid}/parameters", headers=ops).json()
    assert [h["parameters"]["markets"] for h in history] == [["CN-SD-DA"], []]
    assert history[1]["effective_from"] == "2030-01-01T00:00:00Z"
    # Share changes are exact decimals.
    mid = members[0]["id"]
    changed = client.patch(
        f"{V}/vpps/{vid}/members/{mid}", headers=ops, json={"share_pct": "55.1234"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["share_pct"] == "55.1234"
    ends = client.patch(  # after 2030 the VPP is registered for no market: no minimum applies
        f"{V}/vpps/{vid}/members/{mid}", headers=ops, json={"valid_to": "2031-01-01T00:00:00Z"}
    )
    assert ends.json()["valid_to"] == "2031-01-01T00:00:00Z"
    early = client.patch(
        f"{V}/vpps/{vid}/members/{mid}", headers=ops, json={"valid_to": "2029-01-01T00:00:00Z"}
    )
    assert early.status_code == 409  # 2029 would leave CN-SD-DA without members
    assert early.json()["error"]["details"][0]["start"] == "2029-01-01T00:00:00+00:00"
    reopened = client.patch(
        f"{V}/vpps/{vid}/members/{mid}", headers=ops, json={"valid_to": None, "share_pct": None}
    )
    assert reopened.json()["valid_to"] is None
    assert reopened.json()["share_pct"] == "55.1234"  # null leaves the share as it was
    renamed = client.patch(f"{V}/vpps/{vid}", headers=ops, json={"name": "Park 2"})
    assert renamed.json()["name"] == "Park 2"
    # A resource in a VPP cannot be deleted behind its back.
    assert client.delete(f"{V}/resources/{rid}", headers=ops).status_code == 409
    assert (
        client.delete(f"{V}/vpps/{vid}/members/{mid}", headers=ops).status_code == 409
    )  # below minimum
    assert client.delete(f"{V}/vpps/{vid}", headers=ops).status_code == 204
    assert client.get(f"{V}/vpps/{vid}", headers=ops).status_code == 404
    assert client.delete(f"{V}/resources/{rid}", headers=ops).status_code == 204


def test_over_allocation_is_refused_with_resources_and_intervals(client: TestClient) -> None:
    ops = bearer(client, demo("operator"))
    node(client, ops, "GD-220-A", "CN-GD")
    rid = resource(client, ops)
    a = vpp(
        client,
        ops,
        "A",
        members=[
            {
                "resource_id": rid,
                "share_pct": 70,
                "valid_from": "2027-01-01T00:00:00Z",
                "valid_to": "2027-07-01T00:00:00Z",
            }
        ],
    )
    b = vpp(client, ops, "B")
    # Overlaps A from March to July: 70 + 40 = 110 %.
    refused = client.post(
        f"{V}/vpps/{b['id']}/members",
        headers=ops,
        json={"resource_id": rid, "share_pct": 40, "valid_from": "2027-03-01T00:00:00Z"},
    )
    assert refused.status_code == 409, refused.text
    err = refused.json()["error"]
    (conflict,) = err["details"]
    assert conflict["kind"] == "over_allocation"
    assert conflict["resource_ids"] == [rid]
    assert sorted(conflict["vpp_ids"]) == sorted([a["id"], b["id"]])
    assert (conflict["start"], conflict["end"]) == (
        "2027-03-01T00:00:00+00:00",
        "2027-07-01T00:00:00+00:00",
    )
    assert conflict["total_share_pct"] == "110.0000"
    assert client.get(f"{V}/vpps/{b['id']}/members", headers=ops).json() == []  # nothing stored
    # Exactly 100 % is allowed, and so is 40 % once A's allocation has ended.
    fits = client.post(
        f"{V}/vpps/{b['id']}/members",
        headers=ops,
        json={"resource_id": rid, "share_pct": "30.0000", "valid_from": "2027-03-01T00:00:00Z"},
    )
    assert fits.status_code == 201, fits.text
    after = client.post(
        f"{V}/vpps/{b['id']}/members",
        headers=ops,
        json={"resource_id": rid, "share_pct": 70, "valid_from": "2027-07-01T00:00:00Z"},
    )
    assert after.status_code == 201, after.text
    assert client.get(f"{V}/conflicts", headers=ops).json() == []


def test_wrong_market_area_and_unregistered_node(client: TestClient) -> None:
    ops = bearer(client, demo("operator"))
    node(client, ops, "GD-220-A", "CN-GD")
    node(client, ops, "SD-220-B", "CN-SD")
    ok = resource(client, ops, node="GD-220-A")
    elsewhere = resource(client, ops, node="SD-220-B")
    unknown = resource(client, ops, node="NOWHERE")
    v = vpp(client, ops, "GD", members=[{"resource_id": ok, "share_pct": 100}])
    for rid, text in ((elsewhere, "market area CN-SD"), (unknown, "an unregistered node")):
        r = client.post(
            f"{V}/vpps/{v['id']}/members", headers=ops, json={"resource_id": rid, "share_pct": 50}
        )
        assert r.status_code == 409
        (conflict,) = r.json()["error"]["details"]
        assert conflict["kind"] == "wrong_market_area"
        assert conflict["resource_ids"] == [rid]
        assert text in conflict["message"]
    # Moving the VPP or the resource's node is checked too.
    moved = client.patch(f"{V}/vpps/{v['id']}", headers=ops, json={"market_area": "CN-SD"})
    assert moved.status_code == 409
    renode = client.patch(f"{V}/resources/{ok}", headers=ops, json={"grid_node": "SD-220-B"})
    assert renode.status_code == 409
    assert client.delete(f"{V}/grid-nodes/GD-220-A", headers=ops).status_code == 409
    assert client.get(f"{V}/resources/{ok}", headers=ops).json()["grid_node"] == "GD-220-A"


def test_qualification_minimum(client: TestClient) -> None:
    ops = bearer(client, demo("operator"))
    node(client, ops, "GD-220-A", "CN-GD")
    # 2 MW / 4 MWh battery with 90 % usable: holds 2 MW for 1 h, so 60 % counts 1.2 MW >= 1 MW.
    big = resource(client, ops)
    small = resource(
        client,
        ops,
        name="Small",
        parameters={"energy_mwh": 1.0, "p_charge_max_mw": 0.5, "p_discharge_max_mw": 0.5},
    )
    refused = client.post(
        f"{V}/vpps",
        headers=ops,
        json={
            "name": "Too small",
            "market_area": "CN-GD",
            "members": [{"resource_id": small, "share_pct": 100}],
            "parameters": {"markets": ["CN-SD-DA"]},
        },
    )
    assert refused.status_code == 409
    (conflict,) = refused.json()["error"]["details"]
    assert conflict["kind"] == "below_qualification"
    assert conflict["market"] == "CN-SD-DA"
    assert conflict["resource_ids"] == [small]
    assert conflict["end"] is None
    assert client.get(f"{V}/vpps", headers=ops).json() == []  # nothing stored
    v = vpp(
        client,
        ops,
        "Qualified",
        members=[{"resource_id": big, "share_pct": 60}],
        parameters={"markets": ["CN-SD-DA"]},
    )
    # Shrinking the battery would take the VPP below the minimum: refused.
    shrink = client.patch(
        f"{V}/resources/{big}", headers=ops, json={"parameters": {"energy_mwh": 1.0}}
    )
    assert shrink.status_code == 409
    assert client.get(f"{V}/vpps/{v['id']}/conflicts", headers=ops).json() == []
    unknown = client.post(
        f"{V}/vpps/{v['id']}/parameters", headers=ops, json={"parameters": {"markets": ["MOON"]}}
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"].startswith("body.parameters.markets")


def test_validation_errors_name_the_field(client: TestClient) -> None:
    ops = bearer(client, demo("operator"))
    v = vpp(client, ops, "V")
    rid = resource(client, ops)
    cases = [
        ({"resource_id": rid, "share_pct": 0}, "body.share_pct"),
        ({"resource_id": rid, "share_pct": 100.00001}, "body.share_pct"),
        (
            {"resource_id": rid, "share_pct": 50, "valid_from": "2027-01-01T00:00:00"},
            "body.valid_from",
        ),
    ]
    for body, field in cases:
        r = client.post(f"{V}/vpps/{v['id']}/members", headers=ops, json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]["field"] == field
    backwards = client.post(
        f"{V}/vpps/{v['id']}/members",
        headers=ops,
        json={
            "resource_id": rid,
            "share_pct": 50,
            "valid_from": "2027-01-02T00:00:00Z",
            "valid_to": "2027-01-01T00:00:00Z",
        },
    )
    assert backwards.status_code == 422
    assert backwards.json()["error"]["field"] == "valid_to"
    missing = client.post(
        f"{V}/vpps/{v['id']}/members", headers=ops, json={"resource_id": "nope", "share_pct": 5}
    )
    assert missing.status_code == 404
    dup = client.post(f"{V}/vpps", headers=ops, json={"name": "V", "market_area": "CN-GD"})
    assert dup.status_code == 409
    assert (
        client.post(
            f"{V}/vpps", headers=ops, json={"name": "x", "market_area": "cn gd"}
        ).status_code
        == 422
    )


def test_vpps_of_another_organization_are_invisible(client: TestClient, seeded: Runtime) -> None:
    ops = bearer(client, demo("operator"))
    rid = resource(client, ops)
    v = vpp(client, ops, "Mine")
    theirs = other_org_operator(client, seeded)
    assert client.get(f"{V}/vpps/{v['id']}", headers=theirs).status_code == 404
    assert client.get(f"{V}/vpps", headers=theirs).json() == []
    assert client.delete(f"{V}/vpps/{v['id']}", headers=theirs).status_code == 404
    # Their VPP cannot take our resource.
    own = vpp(client, theirs, "Theirs")
    r = client.post(
        f"{V}/vpps/{own['id']}/members", headers=theirs, json={"resource_id": rid, "share_pct": 10}
    )
    assert r.status_code == 404
    viewer = bearer(client, demo("viewer"))
    assert (
        client.post(
            f"{V}/vpps", headers=viewer, json={"name": "n", "market_area": "CN-GD"}
        ).status_code
        == 403
    )


def test_aggregate_endpoint_dst_day_shares_and_state_changes(client: TestClient) -> None:
    ops = bearer(client, demo("operator"))
    node(client, ops, "GD-220-A", "CN-GD")
    battery = resource(client, ops)  # 2 MW both ways
    load = resource(
        client,
        ops,
        name="Load",
        resource_type="curtailable_load",
        parameters={"peak_mw": 1.0, "max_curtailment_fraction": 0.5},
    )
    v = vpp(
        client,
        ops,
        "Agg",
        members=[
            {"resource_id": battery, "share_pct": 50},
            {"resource_id": load, "share_pct": 100},
        ],
    )
    body = {"vpp_id": v["id"], "day": "2027-03-28", "tz": "Europe/Berlin"}
    out = client.post(f"{V}/resources/aggregate", headers=ops, json=body)
    assert out.status_code == 200, out.text
    agg = out.json()
    assert len(agg["intervals"]) == 92  # spring-forward day
    assert agg["start"] == "2027-03-27T23:00:00Z" and agg["end"] == "2027-03-28T22:00:00Z"
    first = agg["intervals"][0]
    assert first["start_local"] == "2027-03-28T00:00:00+01:00"
    assert agg["intervals"][8]["start_local"] == "2027-03-28T03:00:00+02:00"
    # Offline resources (no telemetry yet) keep their baseline but offer no flexibility.
    assert first["p_max_mw"] == first["p_min_mw"] == first["baseline_mw"] < 0
    assert agg["resources"] == {"offline": 2}
    # Fresh telemetry brings the battery online: half of 2 MW either way.
    ts = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    sent = client.post(
        f"{V}/telemetry",
        headers=ops,
        json={"points": [{"resource_id": battery, "ts": ts, "power_mw": 0.0, "soc": 0.5}]},
    )
    assert sent.status_code == 200, sent.text
    online = client.post(f"{V}/resources/aggregate", headers=ops, json=body).json()
    bat = online["by_type"]["battery"]
    assert bat["p_max_mw"][0] == 1.0 and bat["p_min_mw"][0] == -1.0
    # Maintenance takes it out at once: recomputed from the current state.
    client.patch(f"{V}/resources/{battery}", headers=ops, json={"maintenance": True})
    held = client.post(f"{V}/resources/aggregate", headers=ops, json=body).json()
    assert held["by_type"]["battery"]["p_max_mw"][0] == 0.0
    hourly = client.post(
        f"{V}/resources/aggregate", headers=ops, json={**body, "resolution_min": 60, "days": 2}
    ).json()
    assert len(hourly["intervals"]) == 23 + 24


def test_aggregate_validation(client: TestClient) -> None:
    ops = bearer(client, demo("operator"))
    v = vpp(client, ops, "V")
    cases = [
        ({"vpp_id": v["id"]}, "body"),
        ({"vpp_id": v["id"], "day": "2026-03-29", "tz": "Mars/Base"}, "body.tz"),
        ({"vpp_id": v["id"], "day": "2026-03-29", "resolution_min": 30}, "body.resolution_min"),
        (
            {"vpp_id": v["id"], "start": "2026-03-29T00:07:00Z", "end": "2026-03-30T00:00:00Z"},
            "start",
        ),
        (
            {"vpp_id": v["id"], "start": "2026-03-29T00:00:00Z", "end": "2026-06-30T00:00:00Z"},
            "end",
        ),
    ]
    for body, field in cases:
        r = client.post(f"{V}/resources/aggregate", headers=ops, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["field"] == field, r.text
    missing = client.post(
        f"{V}/resources/aggregate", headers=ops, json={"vpp_id": "nope", "day": "2026-03-29"}
    )
    assert missing.status_code == 404
