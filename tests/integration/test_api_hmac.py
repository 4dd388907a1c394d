"""API keys with HMAC request signatures (RELIABILITY item 16)."""

from __future__ import annotations

import json
from datetime import timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openvpp.core.errors import PermissionDenied
from openvpp.identity.model import Principal, Role
from openvpp.runtime import Runtime
from tests.support import ShiftClock, bearer, demo, sign

ALERTS = "/api/vpp/alerts"


@pytest.fixture
def api_key(client: TestClient) -> dict[str, Any]:
    admin = bearer(client, demo("admin"))
    response = client.post(
        "/api/vpp/api-keys", headers=admin, json={"name": "scada bridge", "roles": ["operator"]}
    )
    assert response.status_code == 201, response.text
    key: dict[str, Any] = response.json()
    return key


def post_alert(client: TestClient, key: dict[str, Any], clock: ShiftClock, **overrides: Any) -> Any:
    body = json.dumps({"severity": "warning", "source": "scada", "title": "feeder 7"}).encode()
    headers = sign(key["id"], key["secret"], "POST", ALERTS, body=body, clock=clock)
    headers.update(overrides.pop("headers", {}))
    return client.post(
        overrides.pop("path", ALERTS),
        content=overrides.pop("content", body),
        headers={**headers, "content-type": "application/json"},
        params=overrides.pop("params", None),
    )


def test_signed_request_is_accepted(
    client: TestClient, api_key: dict[str, Any], clock: ShiftClock
) -> None:
    response = post_alert(client, api_key, clock)
    assert response.status_code == 201, response.text
    assert response.json()["raised_by"] == api_key["id"]


def test_signed_get_with_query_is_accepted(
    client: TestClient, api_key: dict[str, Any], clock: ShiftClock
) -> None:
    query = [("status", "open"), ("limit", "5")]
    headers = sign(api_key["id"], api_key["secret"], "GET", ALERTS, query=query, clock=clock)
    response = client.get(ALERTS, params=query, headers=headers)
    assert response.status_code == 200, response.text


def test_replayed_nonce_is_refused(
    client: TestClient, api_key: dict[str, Any], clock: ShiftClock
) -> None:
    headers = sign(api_key["id"], api_key["secret"], "GET", ALERTS, clock=clock)
    assert client.get(ALERTS, headers=headers).status_code == 200
    replay = client.get(ALERTS, headers=headers)
    assert replay.status_code == 401
    assert "replay" in replay.json()["error"]["message"]


@pytest.mark.parametrize("skew", [-31, 32, -3600, 3600])  # +32: the stamp is truncated
def test_stale_or_future_timestamp_is_refused(
    client: TestClient, api_key: dict[str, Any], clock: ShiftClock, skew: int
) -> None:
    stamp = int(clock.now().timestamp()) + skew
    headers = sign(api_key["id"], api_key["secret"], "GET", ALERTS, timestamp=stamp)
    assert client.get(ALERTS, headers=headers).status_code == 401


def test_timestamp_inside_the_window_is_accepted(
    client: TestClient, api_key: dict[str, Any], clock: ShiftClock
) -> None:
    stamp = int(clock.now().timestamp()) - 25
    headers = sign(api_key["id"], api_key["secret"], "GET", ALERTS, timestamp=stamp)
    assert client.get(ALERTS, headers=headers).status_code == 200


def test_modified_body_is_refused(
    client: TestClient, api_key: dict[str, Any], clock: ShiftClock
) -> None:
    forged = json.dumps({"severity": "critical", "source": "scada", "title": "feeder 7"})
    assert post_alert(client, api_key, clock, content=forged.encode()).status_code == 401


def test_modified_path_method_or_query_is_refused(
    client: TestClient, api_key: dict[str, Any], clock: ShiftClock
) -> None:
    headers = sign(
        api_key["id"], api_key["secret"], "GET", ALERTS, query=[("status", "open")], clock=clock
    )
    assert client.get(ALERTS, params={"status": "resolved"}, headers=headers).status_code == 401
    headers = sign(api_key["id"], api_key["secret"], "GET", "/api/vpp/jobs", clock=clock)
    assert client.get("/api/vpp/operation-logs", headers=headers).status_code == 401
    headers = sign(api_key["id"], api_key["secret"], "DELETE", ALERTS, clock=clock)
    assert client.get(ALERTS, headers=headers).status_code == 401


def test_wrong_secret_or_unknown_key_is_refused(
    client: TestClient, api_key: dict[str, Any], clock: ShiftClock
) -> None:
    headers = sign(api_key["id"], "not-the-secret", "GET", ALERTS, clock=clock)
    assert client.get(ALERTS, headers=headers).status_code == 401
    headers = sign("ak_unknown", api_key["secret"], "GET", ALERTS, clock=clock)
    assert client.get(ALERTS, headers=headers).status_code == 401


def test_missing_signature_parts_are_refused(
    client: TestClient, api_key: dict[str, Any], clock: ShiftClock
) -> None:
    headers = sign(api_key["id"], api_key["secret"], "GET", ALERTS, clock=clock)
    del headers["x-openvpp-nonce"]
    assert client.get(ALERTS, headers=headers).status_code == 401


def test_revoked_key_is_refused(
    client: TestClient, api_key: dict[str, Any], clock: ShiftClock
) -> None:
    admin = bearer(client, demo("admin"))
    revoked = client.delete(f"/api/vpp/api-keys/{api_key['id']}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert post_alert(client, api_key, clock).status_code == 401


def test_expired_key_is_refused(client: TestClient, clock: ShiftClock) -> None:
    admin = bearer(client, demo("admin"))
    expires = (clock.now().replace(microsecond=0)).isoformat()
    past = client.post(
        "/api/vpp/api-keys",
        headers=admin,
        json={"name": "old", "roles": ["viewer"], "expires_at": expires},
    )
    assert past.status_code == 422
    soon = client.post(
        "/api/vpp/api-keys",
        headers=admin,
        json={
            "name": "soon",
            "roles": ["viewer"],
            # An hour ahead, written in another zone: the offset is honoured.
            "expires_at": (clock.now() + timedelta(hours=1))
            .astimezone(timezone(timedelta(hours=2)))
            .isoformat(),
        },
    )
    assert soon.status_code == 201, soon.text
    key = soon.json()
    clock.advance(7200)
    headers = sign(key["id"], key["secret"], "GET", ALERTS, clock=clock)
    assert client.get(ALERTS, headers=headers).status_code == 401


def test_key_roles_limit_what_it_may_do(
    client: TestClient, api_key: dict[str, Any], clock: ShiftClock
) -> None:
    headers = sign(api_key["id"], api_key["secret"], "GET", "/api/vpp/users", clock=clock)
    assert client.get("/api/vpp/users", headers=headers).status_code == 403


def test_key_cannot_have_roles_its_non_admin_creator_lacks(seeded: Runtime) -> None:
    operator = Principal(
        kind="user", id="u", organization_id="o", user_id="u", roles=frozenset({Role.OPERATOR})
    )
    with pytest.raises(PermissionDenied):
        seeded.identity.create_api_key(
            seeded.uow(), operator, name="x", roles=frozenset({Role.TRADER}), expires_at=None
        )


def test_key_listing_never_shows_secrets(client: TestClient, api_key: dict[str, Any]) -> None:
    admin = bearer(client, demo("admin"))
    listed = client.get("/api/vpp/api-keys", headers=admin)
    assert listed.status_code == 200
    assert api_key["secret"] not in listed.text
    assert "signing_key" not in listed.text
    assert [k["id"] for k in listed.json()] == [api_key["id"]]


def test_me_describes_the_api_key(
    client: TestClient, api_key: dict[str, Any], clock: ShiftClock
) -> None:
    headers = sign(api_key["id"], api_key["secret"], "GET", "/api/vpp/auth/me", clock=clock)
    me = client.get("/api/vpp/auth/me", headers=headers).json()
    assert (me["kind"], me["id"], me["roles"], me["user"]) == (
        "api_key",
        api_key["id"],
        ["operator"],
        None,
    )
    logout = sign(api_key["id"], api_key["secret"], "POST", "/api/vpp/auth/logout", clock=clock)
    response = client.post("/api/vpp/auth/logout", headers=logout)
    assert response.status_code == 422


def test_key_dies_with_its_creator(client: TestClient, clock: ShiftClock) -> None:
    """A key made by an admin who is later deactivated stops working."""
    admin = bearer(client, demo("admin"))
    second = client.post(
        "/api/vpp/users",
        headers=admin,
        json={
            "email": "second.admin@demo.openvpp.org",
            "display_name": "Second",
            "password": "a-long-password",
            "roles": ["admin"],
        },
    ).json()
    theirs = bearer(client, "second.admin@demo.openvpp.org", "a-long-password")
    key = client.post(
        "/api/vpp/api-keys", headers=theirs, json={"name": "k", "roles": ["admin"]}
    ).json()
    headers = sign(key["id"], key["secret"], "GET", "/api/vpp/users", clock=clock)
    assert client.get("/api/vpp/users", headers=headers).status_code == 200
    # Demoted to operator: the key keeps only what its creator still has.
    client.patch(f"/api/vpp/users/{second['id']}", headers=admin, json={"roles": ["operator"]})
    headers = sign(key["id"], key["secret"], "GET", "/api/vpp/users", clock=clock)
    assert client.get("/api/vpp/users", headers=headers).status_code == 401
    # Deactivated: the key is dead.
    client.patch(
        f"/api/vpp/users/{second['id']}",
        headers=admin,
        json={"roles": ["admin"], "is_active": False},
    )
    headers = sign(key["id"], key["secret"], "GET", ALERTS, clock=clock)
    assert client.get(ALERTS, headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-openvpp-timestamp", "\u00b2\u00b3"),
        ("x-openvpp-signature", "\u00e9" * 64),
        ("x-openvpp-timestamp", "9" * 40),
        ("x-openvpp-signature", "zz"),
    ],
)
def test_malformed_signature_headers_are_401(
    client: TestClient, api_key: dict[str, Any], clock: ShiftClock, header: str, value: str
) -> None:
    headers = sign(api_key["id"], api_key["secret"], "GET", ALERTS, clock=clock)
    headers[header] = value
    response = client.get(ALERTS, headers={k: v.encode() for k, v in headers.items()})
    assert response.status_code == 401
