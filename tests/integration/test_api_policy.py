"""Authorization matrix, organization isolation and mass assignment (items 12, 13)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from openvpp.api.app import create_app, route_table
from openvpp.api.policy import POLICY, PUBLIC
from openvpp.identity.model import Role
from openvpp.runtime import Runtime
from tests.support import DEMO_PASSWORD, ShiftClock, audit_rows, bearer, demo, sign


def test_every_route_is_in_the_policy_table() -> None:
    app = create_app(start_jobs=False)
    served = set(route_table(app))
    missing = served - set(POLICY)
    stale = set(POLICY) - served
    assert not missing, f"routes without an access policy: {sorted(missing)}"
    assert not stale, f"policy entries for routes that do not exist: {sorted(stale)}"


def test_every_documented_operation_is_in_the_policy_table() -> None:
    spec = create_app(start_jobs=False).openapi()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert documented <= set(POLICY)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    kwargs: dict[str, object] = {"headers": headers}
    if method in ("POST", "PATCH", "PUT"):
        kwargs["json"] = {}
    return client.request(method, _concrete(path), **kwargs).status_code  # type: ignore[arg-type]


def _ordered_routes() -> list[tuple[str, str]]:
    # Logout ends the caller's session, so it goes last.
    return sorted(POLICY, key=lambda r: (r[1].endswith("/auth/logout"), r))


def test_anonymous_callers_reach_only_public_routes(client: TestClient) -> None:
    for method, path in _ordered_routes():
        status = _call(client, method, path, {})
        if POLICY[(method, path)] is PUBLIC:
            assert status not in (401, 403), (method, path, status)
        else:
            assert status == 401, (method, path, status)


@pytest.mark.parametrize("role", list(Role))
def test_each_role_reaches_exactly_its_routes(
    client: TestClient, seeded: Runtime, role: Role
) -> None:
    """Every route x the role: allowed or 403 as declared; and (RELIABILITY item 20) every
    denied request writes exactly one audit row, every other request that may change state
    (POST, PUT, PATCH, DELETE, whatever its answer) at least one, a read none."""
    headers = bearer(client, demo(role.value))
    _walk_the_matrix(seeded, role, lambda method, path: _call(client, method, path, headers))


def _walk_the_matrix(rt: Runtime, role: Role, call: Callable[[str, str], int]) -> None:
    """Every route called as ``role`` through ``call``: allowed or 403 as declared, and the
    audit rows each request wrote (one per denial, at least one per allowed write, none per
    allowed read)."""
    for method, path in _ordered_routes():
        access = POLICY[(method, path)]
        before = audit_rows(rt)
        status = call(method, path)
        written = audit_rows(rt) - before
        if access is PUBLIC or role in access:  # type: ignore[operator]
            assert status not in (401, 403), (role, method, path, status)
            if method == "GET":
                assert written == 0, (role, method, path, status, written)
            else:
                assert written >= 1, (role, method, path, status, written)
        else:
            assert status == 403, (role, method, path, status)
            assert written == 1, (role, method, path, written)


def _signed_call(
    client: TestClient, method: str, path: str, key: dict[str, str], clock: ShiftClock
) -> int:
    body = b"{}" if method in ("POST", "PATCH", "PUT") else b""
    concrete = _concrete(path)
    headers = sign(key["id"], key["secret"], method, concrete, body=body, clock=clock)
    if body:
        headers["content-type"] = "application/json"
    return client.request(method, concrete, headers=headers, content=body).status_code


@pytest.mark.parametrize("role", list(Role))
def test_an_api_key_of_each_role_reaches_exactly_its_routes(
    client: TestClient, seeded: Runtime, clock: ShiftClock, role: Role
) -> None:
    """The matrix again for HMAC-signed API keys: a key holds roles like a user and gets
    exactly the same answers; denied requests audited once each, as for users."""
    admin = bearer(client, demo("admin"))
    created = client.post(
        "/api/vpp/api-keys",
        headers=admin,
        json={"name": f"bridge {role.value}", "roles": [role.value]},
    )
    assert created.status_code == 201, created.text
    key = created.json()
    _walk_the_matrix(
        seeded, role, lambda method, path: _signed_call(client, method, path, key, clock)
    )


@pytest.fixture
def other_org(seeded: Runtime) -> dict[str, str]:
    """A second organization with its own admin; returns that admin's email."""
    org = seeded.identity.create_organization(seeded.uow(), "Rival Power", "rival")
    seeded.identity.create_user(
        seeded.uow(),
        organization_id=org.id,
        email="boss@rival.example",
        password=DEMO_PASSWORD,
        display_name="Boss",
        roles=frozenset(Role),
    )
    return {"email": "boss@rival.example", "org_id": org.id}


def test_objects_of_another_organization_are_invisible(
    client: TestClient, other_org: dict[str, str], clock: ShiftClock
) -> None:
    ours = bearer(client, demo("admin"))
    theirs = bearer(client, other_org["email"])
    trader = client.get("/api/vpp/auth/me", headers=bearer(client, demo("trader"))).json()
    alert = client.post(
        "/api/vpp/alerts",
        headers=ours,
        json={"severity": "critical", "source": "x", "title": "ours"},
    ).json()
    job = client.post("/api/vpp/jobs", headers=ours, json={"kind": "maintenance.prune"}).json()
    key = client.post(
        "/api/vpp/api-keys", headers=ours, json={"name": "k", "roles": ["viewer"]}
    ).json()

    attempts = [
        ("GET", f"/api/vpp/users/{trader['id']}", None),
        ("PATCH", f"/api/vpp/users/{trader['id']}", {"roles": ["admin"]}),
        ("GET", f"/api/vpp/alerts/{alert['id']}", None),
        ("POST", f"/api/vpp/alerts/{alert['id']}/acknowledge", None),
        ("POST", f"/api/vpp/alerts/{alert['id']}/resolve", None),
        ("GET", f"/api/vpp/jobs/{job['id']}", None),
        ("POST", f"/api/vpp/jobs/{job['id']}/cancel", None),
        ("DELETE", f"/api/vpp/api-keys/{key['id']}", None),
    ]
    their_key = client.post(
        "/api/vpp/api-keys", headers=theirs, json={"name": "k", "roles": [r.value for r in Role]}
    ).json()
    for method, path, body in attempts:
        response = client.request(method, path, headers=theirs, json=body)
        assert response.status_code == 404, (method, path, response.status_code)
        content = b"" if body is None else json.dumps(body).encode()
        signed = sign(their_key["id"], their_key["secret"], method, path, body=content, clock=clock)
        signed["content-type"] = "application/json"
        by_key = client.request(method, path, headers=signed, content=content)
        assert by_key.status_code == 404, (method, path, by_key.status_code, "api key")

    # Nothing changed, and lists show nothing of ours.
    assert client.get(f"/api/vpp/users/{trader['id']}", headers=ours).json()["roles"] == ["trader"]
    assert client.get(f"/api/vpp/alerts/{alert['id']}", headers=ours).json()["status"] == "open"
    assert client.get(f"/api/vpp/jobs/{job['id']}", headers=ours).json()["status"] == "queued"
    assert client.get("/api/vpp/api-keys", headers=ours).json()[0]["revoked_at"] is None
    for path in (
        "/api/vpp/users",
        "/api/vpp/alerts",
        "/api/vpp/jobs",
        "/api/vpp/api-keys",
        "/api/vpp/audit",
    ):
        listed = client.get(path, headers=theirs).json()
        assert all(
            item.get("organization_id", other_org["org_id"]) == other_org["org_id"]
            for item in listed
        ), path
        if path != "/api/vpp/audit":  # their audit rows quote the ids *they* sent
            assert alert["id"] not in str(listed)
            assert trader["id"] not in str(listed)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "POST",
            "/api/vpp/users",
            {
                "email": "m@x.io",
                "display_name": "M",
                "password": "long-enough-1",
                "roles": ["viewer"],
                "organization_id": "other",
            },
            "body.organization_id",
        ),
        (
            "POST",
            "/api/vpp/users",
            {
                "email": "m@x.io",
                "display_name": "M",
                "password": "long-enough-1",
                "roles": ["viewer"],
                "password_hash": "$argon2id$forged",
            },
            "body.password_hash",
        ),
        (
            "POST",
            "/api/vpp/users",
            {
                "email": "m@x.io",
                "display_name": "M",
                "password": "long-enough-1",
                "roles": ["root"],
            },
            "body.roles.0",
        ),
        (
            "POST",
            "/api/vpp/api-keys",
            {"name": "k", "roles": ["viewer"], "secret": "mine"},
            "body.secret",
        ),
        (
            "POST",
            "/api/vpp/alerts",
            {"severity": "info", "source": "s", "title": "t", "status": "resolved"},
            "body.status",
        ),
        (
            "POST",
            "/api/vpp/jobs",
            {"kind": "maintenance.prune", "status": "succeeded"},
            "body.status",
        ),
        (
            "POST",
            "/api/vpp/auth/login",
            {"email": "a@b.io", "password": "x", "admin": True},
            "body.admin",
        ),
    ],
)
def test_unknown_or_privileged_fields_are_refused(
    client: TestClient, method: str, path: str, body: dict[str, object], field: str
) -> None:
    headers = bearer(client, demo("admin"))
    response = client.request(method, path, headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def test_patch_cannot_touch_email_or_organization(client: TestClient) -> None:
    admin = bearer(client, demo("admin"))
    trader = client.get("/api/vpp/auth/me", headers=bearer(client, demo("trader"))).json()
    for field, value in (("email", "x@evil.io"), ("organization_id", "x"), ("failed_logins", 0)):
        response = client.patch(
            f"/api/vpp/users/{trader['id']}", headers=admin, json={field: value}
        )
        assert response.status_code == 422
        assert response.json()["error"]["field"] == f"body.{field}"


def test_responses_never_expose_secrets(client: TestClient, seeded: Runtime) -> None:
    canary = "canary-password-7f3a9c"
    admin = bearer(client, demo("admin"))
    created = client.post(
        "/api/vpp/users",
        headers=admin,
        json={
            "email": "canary@demo.openvpp.org",
            "display_name": "Canary",
            "password": canary,
            "roles": ["viewer"],
        },
    )
    assert created.status_code == 201
    tokens = client.post(
        "/api/vpp/auth/login", json={"email": "canary@demo.openvpp.org", "password": canary}
    ).json()
    key = client.post(
        "/api/vpp/api-keys", headers=admin, json={"name": "k", "roles": ["viewer"]}
    ).json()
    with seeded.uow(readonly=True) as uow:
        user = uow.users.get_by_email("canary@demo.openvpp.org")
        stored_key = uow.api_keys.get(key["id"])
    assert user is not None and stored_key is not None
    secrets = [
        canary,
        user.password_hash,
        key["secret"],
        stored_key.signing_key_enc,
        tokens["refresh_token"],
        "$argon2id$",
    ]
    for path in (
        "/api/vpp/users",
        f"/api/vpp/users/{user.id}",
        "/api/vpp/api-keys",
        "/api/vpp/audit?limit=500",
        "/api/vpp/auth/me",
        "/api/vpp/operation-logs",
        "/api/vpp/jobs",
        "/openapi.json",
        "/metrics",
    ):
        text = client.get(path, headers=admin).text
        for secret in secrets:
            assert secret not in text, (path, secret[:12])
