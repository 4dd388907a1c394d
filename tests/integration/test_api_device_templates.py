"""Device templates, library import/export and explicit upgrades through the API, on every
backend."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from openvpp.resources.templates import BUILTIN, ResourceType
from openvpp.runtime import Runtime
from tests.support import bearer, demo, other_org_operator
from tests.unit.resources.test_device_templates import BatteryV99

API = "/api/vpp"
MEGAPACK: dict[str, Any] = {
    "key": "megapack-2xl",
    "version": 1,
    "resource_type": "battery",
    "model_version": 1,
    "description": "Tesla Megapack 2 XL, one unit",
    "defaults": {"energy_mwh": 3.9, "p_charge_max_mw": 1.9, "p_discharge_max_mw": 1.9},
    "limits": {"energy_mwh": {"minimum": 3.9, "maximum": 3.9}, "p_charge_max_mw": {"maximum": 1.9}},
}
ROOF_PV: dict[str, Any] = {
    "key": "roof-pv",
    "version": 1,
    "resource_type": "pv",
    "model_version": 1,
    "description": "",
    "defaults": {"dc_capacity_mw": 0.1, "ac_capacity_mw": 0.08},
    "limits": {"tilt_deg": {"maximum": 45}},
}


def library(*templates: dict[str, Any]) -> dict[str, Any]:
    return {"format_version": 1, "templates": list(templates)}


def create_template(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> Any:
    response = client.post(f"{API}/device-templates", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def create_resource(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    payload = {"name": "Unit 1", "grid_node": "PARK-110kV", **body}
    response = client.post(f"{API}/resources", headers=headers, json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def audit_actions(client: TestClient, action: str) -> list[dict[str, Any]]:
    admin = bearer(client, demo("admin"))
    rows: list[dict[str, Any]] = client.get(
        f"{API}/audit", headers=admin, params={"action": action}
    ).json()
    return rows


@pytest.fixture
def operator(client: TestClient) -> dict[str, str]:
    return bearer(client, demo("operator"))


def test_create_list_and_get_device_templates(client: TestClient, operator: dict[str, str]) -> None:
    created = create_template(client, operator, MEGAPACK)
    assert created["limits"] == MEGAPACK["limits"]
    assert created["defaults"] == MEGAPACK["defaults"]
    create_template(client, operator, ROOF_PV)
    viewer = bearer(client, demo("viewer"))
    listed = client.get(f"{API}/device-templates", headers=viewer).json()
    assert [(t["key"], t["version"]) for t in listed] == [("megapack-2xl", 1), ("roof-pv", 1)]
    only_pv = client.get(
        f"{API}/device-templates", headers=viewer, params={"resource_type": "pv"}
    ).json()
    assert [t["key"] for t in only_pv] == ["roof-pv"]
    by_key = client.get(
        f"{API}/device-templates", headers=viewer, params={"key": "megapack-2xl"}
    ).json()
    assert [t["key"] for t in by_key] == ["megapack-2xl"]
    one = client.get(f"{API}/device-templates/megapack-2xl/1", headers=viewer)
    assert one.status_code == 200
    assert one.json()["id"] == created["id"]
    assert client.get(f"{API}/device-templates/megapack-2xl/2", headers=viewer).status_code == 404
    assert client.post(f"{API}/device-templates", headers=viewer, json=MEGAPACK).status_code == 403
    # Immutable: the same key and version again is a conflict that names the next version.
    again = client.post(
        f"{API}/device-templates", headers=operator, json={**MEGAPACK, "description": "new"}
    )
    assert again.status_code == 409
    assert "version 2" in again.json()["error"]["message"]
    assert len(audit_actions(client, "device_template.create")) == 2


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"limits": {"energy_mwh": {"maximum": 20000}}}, "limits.energy_mwh.maximum", "[MWh]"),
        ({"defaults": {"eta_charge": 1.2}}, "defaults.eta_charge", "[fraction]"),
        ({"defaults": {"energy_mwh": 5.0}}, "defaults.energy_mwh", "maximum 3.9"),
        ({"model_version": 9}, "model_version", "no template battery v9"),
        ({"key": "Upper"}, "body.key", ""),
        ({"limits": {"energy_mwh": {"maximum": True}}}, "body.limits.energy_mwh.maximum", ""),
    ],
)
def test_invalid_device_templates_are_refused(
    client: TestClient,
    operator: dict[str, str],
    changes: dict[str, Any],
    field: str,
    words: str,
) -> None:
    response = client.post(
        f"{API}/device-templates", headers=operator, json={**MEGAPACK, **changes}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert words in error["message"]


def test_resources_from_a_device_template_respect_its_limits(
    client: TestClient, operator: dict[str, str]
) -> None:
    template = create_template(client, operator, MEGAPACK)
    ref = {"key": "megapack-2xl", "version": 1}
    resource = create_resource(
        client, operator, device_template=ref, parameters={"eta_charge": 0.9}
    )
    assert resource["resource_type"] == "battery"
    assert resource["template_version"] == 1
    assert resource["device_template_id"] == template["id"]
    assert resource["parameters"]["energy_mwh"] == 3.9
    assert resource["parameters"]["p_charge_max_mw"] == 1.9
    assert resource["parameters"]["eta_charge"] == 0.9
    assert resource["parameters"]["soc_min"] == 0.05

    too_big = client.post(
        f"{API}/resources",
        headers=operator,
        json={
            "name": "Unit 2",
            "grid_node": "N",
            "device_template": ref,
            "parameters": {"energy_mwh": 5.0},
        },
    )
    assert too_big.status_code == 422
    error = too_big.json()["error"]
    assert error["field"] == "parameters.energy_mwh"
    assert "[MWh]" in error["message"]
    assert "minimum 3.9, maximum 3.9" in error["message"]
    wrong_type = client.post(
        f"{API}/resources",
        headers=operator,
        json={"name": "X", "grid_node": "N", "device_template": ref, "resource_type": "pv"},
    )
    assert wrong_type.json()["error"]["field"] == "resource_type"
    missing = client.post(
        f"{API}/resources", headers=operator, json={"name": "X", "grid_node": "N"}
    )
    assert missing.json()["error"]["field"] == "resource_type"
    unknown = client.post(
        f"{API}/resources",
        headers=operator,
        json={"name": "X", "grid_node": "N", "device_template": {"key": "nope", "version": 1}},
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["field"] == "device_template"

    # PATCH stays within the pinned template's limits; a refused change changes nothing.
    rid = resource["id"]
    patched = client.patch(
        f"{API}/resources/{rid}", headers=operator, json={"parameters": {"p_charge_max_mw": 2.5}}
    )
    assert patched.status_code == 422
    assert patched.json()["error"]["field"] == "parameters.p_charge_max_mw"
    assert "maximum 1.9" in patched.json()["error"]["message"]
    fine = client.patch(
        f"{API}/resources/{rid}", headers=operator, json={"parameters": {"p_charge_max_mw": 1.5}}
    )
    assert fine.status_code == 200, fine.text
    assert fine.json()["parameters"]["p_charge_max_mw"] == 1.5
    created = audit_actions(client, "resource.create")
    assert created[0]["after"]["device_template"] == "megapack-2xl v1"


@pytest.fixture
def battery_v99(monkeypatch: pytest.MonkeyPatch) -> int:
    """A test-only battery model version (caps energy at 8 MWh, drops degradation cost, adds
    a cycle limit)."""
    monkeypatch.setitem(BUILTIN, (ResourceType.BATTERY, 99), BatteryV99)
    return 99


def test_upgrade_to_a_model_version_and_back(
    client: TestClient, operator: dict[str, str], battery_v99: int
) -> None:
    small = create_resource(
        client, operator, resource_type="battery", parameters={"energy_mwh": 4.0}
    )
    up = client.post(
        f"{API}/resources/{small['id']}/upgrade", headers=operator, json={"template_version": 99}
    )
    assert up.status_code == 200, up.text
    body = up.json()
    assert body["resource"]["template_version"] == 99
    assert body["resource"]["parameters"]["energy_mwh"] == 4.0
    assert body["resource"]["parameters"]["max_cycles_per_day"] == 2.0
    assert "degradation_cost_per_mwh" not in body["resource"]["parameters"]
    assert body["removed_parameters"] == ["degradation_cost_per_mwh"]
    assert body["added_parameters"] == ["max_cycles_per_day"]
    stored = client.get(f"{API}/resources/{small['id']}", headers=operator).json()
    assert stored["template_version"] == 99
    event = audit_actions(client, "resource.upgrade")[0]
    assert event["before"]["template_version"] == 1
    after = event["after"]
    assert after["template_version"] == 99
    assert after["removed_parameters"] == ["degradation_cost_per_mwh"]
    down = client.post(
        f"{API}/resources/{small['id']}/upgrade", headers=operator, json={"template_version": 1}
    )
    assert down.status_code == 200, down.text
    assert down.json()["resource"]["parameters"]["degradation_cost_per_mwh"] == 10.0
    assert down.json()["removed_parameters"] == ["max_cycles_per_day"]

    big = create_resource(
        client, operator, name="Big", resource_type="battery", parameters={"energy_mwh": 9.0}
    )
    refused = client.post(
        f"{API}/resources/{big['id']}/upgrade", headers=operator, json={"template_version": 99}
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["field"] == "parameters.energy_mwh"
    assert "[MWh]" in error["message"] and "maximum 8" in error["message"]
    assert client.get(f"{API}/resources/{big['id']}", headers=operator).json() == big
    assert len(audit_actions(client, "resource.upgrade")) == 2

    for body_in, field in (
        ({"template_version": 98}, "template_version"),
        ({}, "body"),
        ({"template_version": 99, "device_template": {"key": "a", "version": 1}}, "body"),
    ):
        bad = client.post(f"{API}/resources/{big['id']}/upgrade", headers=operator, json=body_in)
        assert bad.status_code == 422, body_in
        assert bad.json()["error"]["field"] == field


def test_upgrade_to_a_device_template(client: TestClient, operator: dict[str, str]) -> None:
    template = create_template(client, operator, MEGAPACK)
    create_template(client, operator, ROOF_PV)
    ref = {"key": "megapack-2xl", "version": 1}
    four = create_resource(client, operator, resource_type="battery", parameters={"energy_mwh": 4})
    refused = client.post(
        f"{API}/resources/{four['id']}/upgrade", headers=operator, json={"device_template": ref}
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "parameters.energy_mwh"
    assert "megapack-2xl v1" in refused.json()["error"]["message"]
    assert client.get(f"{API}/resources/{four['id']}", headers=operator).json() == four
    fits = create_resource(
        client, operator, name="B", resource_type="battery", parameters={"energy_mwh": 3.9}
    )
    moved = client.post(
        f"{API}/resources/{fits['id']}/upgrade", headers=operator, json={"device_template": ref}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["resource"]["device_template_id"] == template["id"]
    # Its limits now apply to changes.
    patched = client.patch(
        f"{API}/resources/{fits['id']}", headers=operator, json={"parameters": {"energy_mwh": 4}}
    )
    assert patched.status_code == 422
    # Back to the plain built-in version: no device template any more.
    plain = client.post(
        f"{API}/resources/{fits['id']}/upgrade", headers=operator, json={"template_version": 1}
    )
    assert plain.json()["resource"]["device_template_id"] is None
    wrong_type = client.post(
        f"{API}/resources/{fits['id']}/upgrade",
        headers=operator,
        json={"device_template": {"key": "roof-pv", "version": 1}},
    )
    assert wrong_type.status_code == 422
    assert wrong_type.json()["error"]["field"] == "device_template"


def test_import_yaml_and_json_all_or_nothing(client: TestClient, operator: dict[str, str]) -> None:
    as_yaml = yaml.safe_dump(library(MEGAPACK))
    first = client.post(
        f"{API}/device-templates/import",
        headers={**operator, "Content-Type": "application/yaml"},
        content=as_yaml,
    )
    assert first.status_code == 200, first.text
    assert [t["key"] for t in first.json()["created"]] == ["megapack-2xl"]
    # Identical content again: a no-op. JSON works the same way.
    again = client.post(
        f"{API}/device-templates/import", headers=operator, json=library(MEGAPACK, ROOF_PV)
    )
    assert again.status_code == 200, again.text
    assert [t["key"] for t in again.json()["created"]] == ["roof-pv"]
    assert [t["key"] for t in again.json()["unchanged"]] == ["megapack-2xl"]
    text_yaml = client.post(
        f"{API}/device-templates/import",
        headers={**operator, "Content-Type": "text/yaml; charset=utf-8"},
        content=as_yaml,
    )
    assert text_yaml.json()["created"] == []

    newer = {**ROOF_PV, "version": 2}
    # A changed template under an existing version: 409, and nothing of the document stored.
    changed = client.post(
        f"{API}/device-templates/import",
        headers=operator,
        json=library(newer, {**MEGAPACK, "description": "other"}),
    )
    assert changed.status_code == 409
    assert changed.json()["error"]["field"] == "templates[1]"
    # The position is the document's, also after an identical entry listed twice.
    repeated = client.post(
        f"{API}/device-templates/import",
        headers=operator,
        json=library(newer, newer, {**MEGAPACK, "description": "other"}),
    )
    assert repeated.status_code == 409
    assert repeated.json()["error"]["field"] == "templates[2]"
    # One invalid template: 422 naming it, nothing stored.
    invalid = client.post(
        f"{API}/device-templates/import",
        headers=operator,
        json=library(newer, {**MEGAPACK, "key": "x", "limits": {"soc_max": {"maximum": 2}}}),
    )
    assert invalid.status_code == 422
    assert invalid.json()["error"]["field"] == "templates[1].limits.soc_max.maximum"
    stored = client.get(f"{API}/device-templates", headers=operator).json()
    assert [(t["key"], t["version"]) for t in stored] == [("megapack-2xl", 1), ("roof-pv", 1)]

    unsupported = client.post(
        f"{API}/device-templates/import",
        headers={**operator, "Content-Type": "text/plain"},
        content=as_yaml,
    )
    assert unsupported.status_code == 415
    broken = client.post(
        f"{API}/device-templates/import",
        headers={**operator, "Content-Type": "application/yaml"},
        content=b"templates: [",
    )
    assert broken.status_code == 422
    assert broken.json()["error"]["field"] == "body"
    assert len(audit_actions(client, "device_template.import")) == 3


def test_export_round_trips_into_another_organization(
    client: TestClient, operator: dict[str, str], seeded: Runtime
) -> None:
    create_template(client, operator, MEGAPACK)
    create_template(client, operator, ROOF_PV)
    as_json = client.get(f"{API}/device-templates/export", headers=bearer(client, demo("viewer")))
    assert as_json.status_code == 200
    assert as_json.headers["content-type"].startswith("application/json")
    document = as_json.json()
    assert document["format_version"] == 1
    assert len(document["builtin_templates"]) == len(BUILTIN)
    assert [t["key"] for t in document["templates"]] == ["megapack-2xl", "roof-pv"]
    assert document["templates"][0]["limits"] == MEGAPACK["limits"]
    as_yaml = client.get(
        f"{API}/device-templates/export", headers=operator, params={"format": "yaml"}
    )
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.text) == document

    theirs = other_org_operator(client, seeded)
    imported = client.post(
        f"{API}/device-templates/import",
        headers={**theirs, "Content-Type": "application/yaml"},
        content=as_yaml.text,
    )
    assert imported.status_code == 200, imported.text
    assert len(imported.json()["created"]) == 2
    exported = client.get(f"{API}/device-templates/export", headers=theirs).json()
    assert exported == document


def test_device_templates_of_another_organization_are_invisible(
    client: TestClient, operator: dict[str, str], seeded: Runtime
) -> None:
    create_template(client, operator, MEGAPACK)
    theirs = other_org_operator(client, seeded)
    ref = {"key": "megapack-2xl", "version": 1}
    assert client.get(f"{API}/device-templates/megapack-2xl/1", headers=theirs).status_code == 404
    assert client.get(f"{API}/device-templates", headers=theirs).json() == []
    assert client.get(f"{API}/device-templates/export", headers=theirs).json()["templates"] == []
    used = client.post(
        f"{API}/resources",
        headers=theirs,
        json={"name": "Mine", "grid_node": "N", "device_template": ref},
    )
    assert used.status_code == 404
    own = create_resource(client, theirs, resource_type="battery", parameters={"energy_mwh": 3.9})
    upgrade = client.post(
        f"{API}/resources/{own['id']}/upgrade", headers=theirs, json={"device_template": ref}
    )
    assert upgrade.status_code == 404
    # They may create the same key for themselves: keys are per organization.
    mine = client.post(f"{API}/device-templates", headers=theirs, json=MEGAPACK)
    assert mine.status_code == 201
