"""Redis-backed replay guard and rate limiter against a real Redis."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from openvpp.store.limits import RedisRateLimiter, RedisReplayGuard
from tests.conftest import require_service
from tests.support import ShiftClock


@pytest.fixture
def client() -> Iterator[Any]:
    conn = redis.Redis.from_url(require_service("redis"))
    try:
        yield conn
    finally:
        conn.close()


def test_replay_guard_admits_a_nonce_once_and_expires_it(client: Any) -> None:
    prefix = f"test-{secrets.token_hex(4)}"
    guard = RedisReplayGuard(client, prefix=prefix)
    assert guard.first_use("hmac:k", "nonce-1234567890ab", 5)
    assert not guard.first_use("hmac:k", "nonce-1234567890ab", 5)
    ttl = client.ttl(f"{prefix}:nonce:hmac:k:nonce-1234567890ab")
    assert 0 < ttl <= 5


def test_rate_limiter_blocks_after_the_limit(client: Any) -> None:
    limiter = RedisRateLimiter(client, ShiftClock(), prefix=f"test-{secrets.token_hex(4)}")
    results = [limiter.hit("login:ip", 2, 60) for _ in range(4)]
    assert results[:2] == [None, None]
    assert all(r is not None and r > 0 for r in results[2:])


def test_runtime_uses_redis_when_configured(tmp_path: Any) -> None:
    from openvpp.runtime import build_runtime
    from tests.support import make_settings

    url = require_service("redis")
    rt = build_runtime(make_settings(f"sqlite:///{tmp_path}/x.db", str(tmp_path), redis_url=url))
    try:
        assert isinstance(rt.replay_guard, RedisReplayGuard)
        assert isinstance(rt.rate_limiter, RedisRateLimiter)
        from openvpp.health import check_health

        assert check_health(rt).checks["redis"] == "ok"
    finally:
        rt.close()


def test_api_uses_redis_for_nonces_and_login_limits(seeded: Any, tmp_path: Any) -> None:
    from fastapi.testclient import TestClient

    from openvpp.api.app import create_app
    from openvpp.runtime import build_runtime
    from tests.support import bearer, demo, make_settings, sign

    url = require_service("redis")
    settings = make_settings(
        seeded.settings.effective_database_url,
        str(tmp_path),
        redis_url=url,
        login_rate_per_minute=2,
    )
    rt = build_runtime(settings, clock=seeded.clock)
    stale = list(rt.redis.scan_iter("openvpp:rate:login:*"))
    if stale:  # counters of an earlier test in the same minute (test database 15 only)
        rt.redis.delete(*stale)
    try:
        with TestClient(create_app(runtime=rt, start_jobs=False)) as c:
            admin = bearer(c, demo("admin"))
            key = c.post(
                "/api/vpp/api-keys", headers=admin, json={"name": "r", "roles": ["viewer"]}
            ).json()
            headers = sign(key["id"], key["secret"], "GET", "/api/vpp/alerts", clock=rt.clock)
            assert c.get("/api/vpp/alerts", headers=headers).status_code == 200
            assert c.get("/api/vpp/alerts", headers=headers).status_code == 401
            nonce = headers["x-openvpp-nonce"]
            assert rt.redis.exists(f"openvpp:nonce:hmac:{key['id']}:{nonce}")
            # the limit counts in fixed minutes: 5 attempts at a limit of 2 exceed it in one
            # minute even when they straddle the minute's end (3 attempts then need not)
            codes = [
                c.post(
                    "/api/vpp/auth/login", json={"email": demo("viewer"), "password": "wrong-wrong"}
                ).status_code
                for _ in range(5)
            ]
            assert 429 in codes and set(codes[: codes.index(429)]) == {401}, codes
    finally:
        rt.close()
