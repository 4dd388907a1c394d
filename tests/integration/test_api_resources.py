"""Templates and resource instances through the API, on every backend."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from openvpp.resources.templates import BUILTIN
from openvpp.runtime import Runtime
from tests.support import bearer, demo, other_org_operator

BATTERY = {
    "name": "Battery A",
    "resource_type": "battery",
    "grid_node": "PARK-110kV",
    "parameters": {"energy_mwh": 4.0, "p_charge_max_mw": 2.0, "p_discharge_max_mw": 2.0},
    "latitude": 52.5,
    "longitude": 13.4,
}


def create(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/vpp/resources", headers=headers, json={**BATTERY, **overrides})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_template_library_is_served_with_units(client: TestClient) -> None:
    viewer = bearer(client, demo("viewer"))
    templates = client.get("/api/vpp/templates", headers=viewer).json()
    assert len(templates) == len(BUILTIN)  # every released (type, version)
    battery = client.get("/api/vpp/templates/battery/1", headers=viewer).json()
    energy = battery["parameters_schema"]["properties"]["energy_mwh"]
    assert energy["unit"] == "MWh"
    assert client.get("/api/vpp/templates/battery/7", headers=viewer).status_code == 404


def test_resource_lifecycle(client: TestClient) -> None:
    operator = bearer(client, demo("operator"))
    created = create(client, operator)
    assert created["status"] == "offline"
    assert created["parameters"]["eta_charge"] == 0.95  # defaults filled in
    rid = created["id"]
    changed = client.patch(
        f"/api/vpp/resources/{rid}",
        headers=operator,
        json={"parameters": {"energy_mwh": 5.0}, "maintenance": True},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["parameters"]["energy_mwh"] == 5.0
    assert changed.json()["parameters"]["p_charge_max_mw"] == 2.0  # merged, not replaced
    status = client.get(f"/api/vpp/resources/{rid}/status", headers=operator).json()
    assert status["status"] == "maintenance"
    create(client, operator, name="PV roof", resource_type="pv", parameters={})
    listed = client.get(
        "/api/vpp/resources", headers=operator, params={"resource_type": "battery"}
    ).json()
    assert [r["name"] for r in listed] == ["Battery A"]
    assert client.delete(f"/api/vpp/resources/{rid}", headers=operator).status_code == 204
    assert client.get(f"/api/vpp/resources/{rid}", headers=operator).status_code == 404


def test_invalid_parameters_name_field_unit_and_range(client: TestClient) -> None:
    operator = bearer(client, demo("operator"))
    bad = client.post(
        "/api/vpp/resources", headers=operator, json={**BATTERY, "parameters": {"eta_charge": 1.4}}
    )
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["field"] == "parameters.eta_charge"
    assert "[fraction]" in error["message"] and "maximum 1" in error["message"]
    unknown = client.post(
        "/api/vpp/resources", headers=operator, json={**BATTERY, "parameters": {"capacity": 3}}
    )
    assert unknown.json()["error"]["field"] == "parameters.capacity"
    version = client.post(
        "/api/vpp/resources", headers=operator, json={**BATTERY, "template_version": 3}
    )
    assert version.json()["error"]["field"] == "template_version"
    cross = client.post(
        "/api/vpp/resources",
        headers=operator,
        json={**BATTERY, "parameters": {"soc_min": 0.9, "soc_max": 0.5}},
    )
    assert cross.status_code == 422
    assert cross.json()["error"]["field"] == "parameters"
    assert "soc_min must be below soc_max" in cross.json()["error"]["message"]


def test_resources_of_another_organization_are_invisible(
    client: TestClient, seeded: Runtime
) -> None:
    operator = bearer(client, demo("operator"))
    rid = create(client, operator)["id"]
    theirs = other_org_operator(client, seeded)
    assert client.get(f"/api/vpp/resources/{rid}", headers=theirs).status_code == 404
    assert (
        client.patch(f"/api/vpp/resources/{rid}", headers=theirs, json={"name": "mine"}).status_code
        == 404
    )
    assert client.delete(f"/api/vpp/resources/{rid}", headers=theirs).status_code == 404
    assert client.get("/api/vpp/resources", headers=theirs).json() == []
    assert client.get(f"/api/vpp/resources/{rid}", headers=operator).json()["name"] == "Battery A"
