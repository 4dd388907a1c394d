"""Every state-changing and every denied request leaves exactly one audit row (item 20)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from openvpp.cli.main import app as cli
from openvpp.runtime import Runtime
from openvpp.store import tables
from tests.support import DEMO_PASSWORD, bearer, demo, login


def rows(rt: Runtime) -> list[dict[str, Any]]:
    with rt.engine.connect() as conn:
        result = conn.execute(tables.audit_log.select().order_by(tables.audit_log.c.seq))
        return [dict(r) for r in result.mappings()]


Call = Callable[[TestClient, dict[str, str]], Any]

CASES: list[tuple[str, Call, str, str]] = [
    (
        "create alert",
        lambda c, h: c.post(
            "/api/vpp/alerts", headers=h, json={"severity": "warning", "source": "t", "title": "x"}
        ),
        "alert.raise",
        "success",
    ),
    (
        "invalid body",
        lambda c, h: c.post("/api/vpp/alerts", headers=h, json={"severity": "apocalyptic"}),
        "http.POST /api/vpp/alerts",
        "rejected",
    ),
    (
        "unknown object",
        lambda c, h: c.post("/api/vpp/alerts/nope/resolve", headers=h),
        "http.POST /api/vpp/alerts/{alert_id}/resolve",
        "rejected",
    ),
    (
        "forbidden",
        lambda c, h: c.post("/api/vpp/users", headers=h, json={}),
        "http.POST /api/vpp/users",
        "denied",
    ),
    ("anonymous read", lambda c, h: c.get("/api/vpp/alerts"), "http.GET /api/vpp/alerts", "denied"),
    (
        "bad token read",
        lambda c, h: c.get("/api/vpp/alerts", headers={"Authorization": "Bearer x.y.z"}),
        "http.GET /api/vpp/alerts",
        "denied",
    ),
    (
        "forbidden read",
        lambda c, h: c.get("/api/vpp/audit", headers=h),
        "http.GET /api/vpp/audit",
        "denied",
    ),
    (
        "login failure",
        lambda c, h: c.post(
            "/api/vpp/auth/login", json={"email": demo("viewer"), "password": "wrong-password"}
        ),
        "auth.login",
        "denied",
    ),
    (
        "login success",
        lambda c, h: c.post(
            "/api/vpp/auth/login", json={"email": demo("viewer"), "password": DEMO_PASSWORD}
        ),
        "auth.login",
        "success",
    ),
    (
        "submit job",
        lambda c, h: c.post("/api/vpp/jobs", headers=h, json={"kind": "nope"}),
        "http.POST /api/vpp/jobs",
        "rejected",
    ),
]


@pytest.mark.parametrize(("name", "call", "action", "outcome"), CASES, ids=[c[0] for c in CASES])
def test_exactly_one_row_per_request(
    client: TestClient, seeded: Runtime, name: str, call: Call, action: str, outcome: str
) -> None:
    headers = bearer(client, demo("operator"))
    before = rows(seeded)
    response = call(client, headers)
    after = rows(seeded)
    new = after[len(before) :]
    assert len(new) == 1, (name, response.status_code, [r["action"] for r in new])
    row = new[0]
    assert (row["action"], row["outcome"]) == (action, outcome), response.text
    assert row["request_id"] == response.headers["x-request-id"]
    assert row["occurred_at"].tzinfo is not None


def test_successful_reads_write_no_audit_rows(client: TestClient, seeded: Runtime) -> None:
    headers = bearer(client, demo("admin"))
    count = len(rows(seeded))
    for path in (
        "/api/vpp/alerts",
        "/api/vpp/users",
        "/api/vpp/jobs",
        "/api/vpp/auth/me",
        "/healthz",
    ):
        assert client.get(path, headers=headers).status_code == 200
    assert len(rows(seeded)) == count


def test_rows_name_actor_organization_and_before_after(client: TestClient, seeded: Runtime) -> None:
    admin = bearer(client, demo("admin"))
    me = client.get("/api/vpp/auth/me", headers=admin).json()
    trader = client.get("/api/vpp/auth/me", headers=bearer(client, demo("trader"))).json()
    client.patch(f"/api/vpp/users/{trader['id']}", headers=admin, json={"roles": ["analyst"]})
    row = rows(seeded)[-1]
    assert row["action"] == "user.update"
    assert (row["actor_type"], row["actor_id"]) == ("user", me["id"])
    assert row["organization_id"] == me["organization_id"]
    assert row["object_id"] == trader["id"]
    assert '"trader"' in row["before"] and '"analyst"' in row["after"]
    listed = client.get("/api/vpp/audit", headers=admin, params={"action": "user.update"}).json()
    assert listed[0]["before"]["roles"] == ["trader"]


def test_verify_endpoint_and_cli_detect_an_edited_row(
    client: TestClient, seeded: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = bearer(client, demo("admin"))
    login(client, demo("viewer"))
    ok = client.get("/api/vpp/audit/verify", headers=admin).json()
    assert ok["ok"] and ok["checked"] == len(rows(seeded))
    target = rows(seeded)[2]["seq"]
    with seeded.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE audit_log SET outcome = 'success', actor_id = 'someone' WHERE seq = :seq"
            ),
            {"seq": target},
        )
    broken = client.get("/api/vpp/audit/verify", headers=admin).json()
    assert not broken["ok"]
    assert broken["first_bad_seq"] == target

    for key, value in {
        "OPENVPP_DATABASE_URL": seeded.settings.effective_database_url,
        "OPENVPP_SECRET_KEY": seeded.settings.secret_key.get_secret_value(),  # type: ignore[union-attr]
        "OPENVPP_VAR_DIR": str(seeded.settings.var_dir),
    }.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"row {target}" in result.output


def test_cli_verify_passes_on_an_intact_chain(
    client: TestClient, seeded: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    login(client, demo("viewer"))
    monkeypatch.setenv("OPENVPP_DATABASE_URL", seeded.settings.effective_database_url)
    monkeypatch.setenv("OPENVPP_SECRET_KEY", seeded.settings.secret_key.get_secret_value())  # type: ignore[union-attr]
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
