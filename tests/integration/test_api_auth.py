"""Login, lockout, rate limit, refresh rotation and reuse, logout, passwords (items 14, 15)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from openvpp.api.app import create_app
from openvpp.identity.passwords import Passwords
from openvpp.runtime import Runtime, build_runtime
from openvpp.store import tables
from tests.support import DEMO_PASSWORD, ShiftClock, bearer, demo, login, make_settings

LOGIN = "/api/vpp/auth/login"


def test_login_returns_short_lived_tokens(client: TestClient) -> None:
    body = login(client, demo("trader"))
    assert body["token_type"] == "bearer"
    me = client.get("/api/vpp/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["roles"] == ["trader"]
    assert "password_hash" not in me.text


def test_unknown_user_and_wrong_password_get_the_same_answer(client: TestClient) -> None:
    wrong = client.post(LOGIN, json={"email": demo("admin"), "password": "not the password"})
    unknown = client.post(LOGIN, json={"email": "nobody@demo.openvpp.org", "password": "x" * 12})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]
    assert wrong.json()["error"]["code"] == unknown.json()["error"]["code"]


def test_lockout_after_repeated_failures(client: TestClient) -> None:
    for _ in range(5):
        assert (
            client.post(
                LOGIN, json={"email": demo("viewer"), "password": "bad-bad-bad"}
            ).status_code
            == 401
        )
    locked = client.post(LOGIN, json={"email": demo("viewer"), "password": DEMO_PASSWORD})
    assert locked.status_code == 401


def test_lockout_ends_after_the_lockout_period(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    for _ in range(5):
        client.post(LOGIN, json={"email": demo("viewer"), "password": "bad-bad-bad"})
    clock.advance(seeded.settings.login_lockout_s + 1)
    assert (
        client.post(LOGIN, json={"email": demo("viewer"), "password": DEMO_PASSWORD}).status_code
        == 200
    )


def test_login_rate_limit_answers_429_with_retry_after(seeded: Runtime, tmp_path: object) -> None:
    rt = build_runtime(
        make_settings(
            seeded.settings.effective_database_url, str(tmp_path), login_rate_per_minute=3
        ),
        clock=seeded.clock,
    )
    try:
        with TestClient(create_app(runtime=rt, start_jobs=False)) as c:
            codes = [
                c.post(LOGIN, json={"email": demo("admin"), "password": "wrong-wrong"})
                for _ in range(5)
            ]
        assert [r.status_code for r in codes[:3]] == [401, 401, 401]
        assert codes[3].status_code == 429
        assert 1 <= int(codes[3].headers["Retry-After"]) <= 60
    finally:
        rt.close()


def test_expired_access_token_is_refused(client: TestClient, clock: ShiftClock) -> None:
    headers = bearer(client, demo("analyst"))
    clock.advance(901)
    response = client.get("/api/vpp/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_refresh_rotates_and_reuse_revokes_the_family(client: TestClient) -> None:
    first = login(client, demo("operator"))
    second = client.post("/api/vpp/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    # The old token again: reuse. The whole family dies, including the rotated token and the
    # access tokens issued in the session.
    reuse = client.post("/api/vpp/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    again = client.post("/api/vpp/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 401
    me = client.get(
        "/api/vpp/auth/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}
    )
    assert me.status_code == 401


def test_unknown_refresh_token_is_refused(client: TestClient) -> None:
    response = client.post("/api/vpp/auth/refresh", json={"refresh_token": "x" * 43})
    assert response.status_code == 401


def test_expired_refresh_token_is_refused(client: TestClient, clock: ShiftClock) -> None:
    tokens = login(client, demo("operator"))
    clock.advance(15 * 24 * 3600)
    response = client.post("/api/vpp/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401


def test_logout_revokes_the_session(client: TestClient) -> None:
    tokens = login(client, demo("trader"))
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.post("/api/vpp/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/vpp/auth/me", headers=headers).status_code == 401
    refresh = client.post("/api/vpp/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401


def test_password_change_ends_sessions_and_takes_the_new_password(client: TestClient) -> None:
    headers = bearer(client, demo("analyst"))
    bad = client.post(
        "/api/vpp/auth/password",
        headers=headers,
        json={"current_password": "wrong-password", "new_password": "n" * 12},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "current_password"
    ok = client.post(
        "/api/vpp/auth/password",
        headers=headers,
        json={"current_password": DEMO_PASSWORD, "new_password": "brand-new-pass"},
    )
    assert ok.status_code == 204
    assert client.get("/api/vpp/auth/me", headers=headers).status_code == 401
    assert (
        client.post(LOGIN, json={"email": demo("analyst"), "password": DEMO_PASSWORD}).status_code
        == 401
    )
    login(client, demo("analyst"), "brand-new-pass")


def test_login_rehashes_when_parameters_change(seeded: Runtime, tmp_path: object) -> None:
    with seeded.uow(readonly=True) as uow:
        user = uow.users.get_by_email(demo("admin"))
    assert user is not None
    old_hash = user.password_hash
    stronger = make_settings(
        seeded.settings.effective_database_url, str(tmp_path), argon2_time_cost=2
    )
    rt = build_runtime(stronger, clock=seeded.clock)
    try:
        with TestClient(create_app(runtime=rt, start_jobs=False)) as c:
            login(c, demo("admin"))
        with rt.uow(readonly=True) as uow:
            user = uow.users.get_by_email(demo("admin"))
        assert user is not None
        assert user.password_hash != old_hash
        assert "t=2" in user.password_hash
        assert not Passwords(2, 8192, 1).needs_rehash(user.password_hash)
    finally:
        rt.close()


def test_deactivated_user_loses_access_at_once(client: TestClient) -> None:
    admin = bearer(client, demo("admin"))
    trader = bearer(client, demo("trader"))
    me = client.get("/api/vpp/auth/me", headers=trader).json()
    response = client.patch(f"/api/vpp/users/{me['id']}", headers=admin, json={"is_active": False})
    assert response.status_code == 200
    assert client.get("/api/vpp/auth/me", headers=trader).status_code == 401
    assert (
        client.post(LOGIN, json={"email": demo("trader"), "password": DEMO_PASSWORD}).status_code
        == 401
    )


def test_last_admin_cannot_be_demoted(client: TestClient) -> None:
    admin = bearer(client, demo("admin"))
    me = client.get("/api/vpp/auth/me", headers=admin).json()
    response = client.patch(f"/api/vpp/users/{me['id']}", headers=admin, json={"roles": ["viewer"]})
    assert response.status_code == 409
    assert response.json()["error"]["field"] == "roles"


def test_user_management_round_trip(client: TestClient) -> None:
    admin = bearer(client, demo("admin"))
    created = client.post(
        "/api/vpp/users",
        headers=admin,
        json={
            "email": "New.Trader@Example.com",
            "display_name": "New Trader",
            "password": "a-long-password",
            "roles": ["trader", "analyst"],
        },
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == "new.trader@example.com"
    assert sorted(user["roles"]) == ["analyst", "trader"]
    duplicate = client.post(
        "/api/vpp/users",
        headers=admin,
        json={
            "email": "new.trader@example.com",
            "display_name": "Again",
            "password": "a-long-password",
            "roles": ["trader"],
        },
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["field"] == "email"
    listed = client.get("/api/vpp/users", headers=admin).json()
    assert "new.trader@example.com" in [u["email"] for u in listed]
    login(client, "new.trader@example.com", "a-long-password")
    roles = client.get("/api/vpp/roles", headers=admin).json()
    assert {r["role"] for r in roles} == {"admin", "operator", "trader", "analyst", "viewer"}


def test_weak_password_and_bad_email_name_their_field(client: TestClient) -> None:
    admin = bearer(client, demo("admin"))
    weak = client.post(
        "/api/vpp/users",
        headers=admin,
        json={
            "email": "w@example.com",
            "display_name": "W",
            "password": "short",
            "roles": ["viewer"],
        },
    )
    assert weak.status_code == 422
    assert weak.json()["error"]["field"] == "password"
    bad = client.post(
        "/api/vpp/users",
        headers=admin,
        json={
            "email": "not-an-email",
            "display_name": "W",
            "password": "long-enough-1",
            "roles": ["viewer"],
        },
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "email"


def test_concurrent_failures_are_all_counted(seeded: Runtime) -> None:
    """Five wrong passwords at once lock the account: no failure is lost to a race."""
    import threading

    from openvpp.core.errors import AuthenticationFailed

    barrier = threading.Barrier(5)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            seeded.identity.login(seeded.uow(), demo("viewer"), "wrong-password", client="t")
            outcomes.append("ok")
        except AuthenticationFailed:
            outcomes.append("denied")

    threads = [threading.Thread(target=attempt) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == ["denied"] * 5
    with seeded.uow(readonly=True) as uow:
        user = uow.users.get_by_email(demo("viewer"))
    assert user is not None
    assert user.locked_until is not None


def test_a_session_ended_elsewhere_is_refused_within_the_principal_cache_time(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    """Another process (a second API worker, the command line) ends a session by writing the
    database: this process reads the session at most once per ``principal_cache_s`` (1 s)."""
    tokens = login(client, demo("trader"))
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/api/vpp/auth/me", headers=headers).status_code == 200
    with seeded.engine.begin() as conn:
        conn.execute(
            sa.update(tables.auth_sessions).values(
                revoked_at=clock.now(), revoked_reason="elsewhere"
            )
        )
    assert client.get("/api/vpp/auth/me", headers=headers).status_code == 200  # cached
    clock.advance(1.01)
    assert client.get("/api/vpp/auth/me", headers=headers).status_code == 401


def test_without_the_principal_cache_every_request_reads_the_session(
    seeded: Runtime, clock: ShiftClock, tmp_path: object
) -> None:
    settings = make_settings(
        seeded.settings.effective_database_url, str(tmp_path), principal_cache_s=0
    )
    rt = build_runtime(settings, clock=clock)
    try:
        with TestClient(create_app(runtime=rt, start_jobs=False)) as c:
            headers = bearer(c, demo("trader"))
            assert c.get("/api/vpp/auth/me", headers=headers).status_code == 200
            with rt.engine.begin() as conn:
                conn.execute(sa.update(tables.auth_sessions).values(revoked_at=clock.now()))
            assert c.get("/api/vpp/auth/me", headers=headers).status_code == 401
    finally:
        rt.close()
