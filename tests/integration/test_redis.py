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
    limiter.ping()


def test_runtime_uses_redis_when_configured(tmp_path: Any) -> None:
    from openvpp.runtime import build_runtime
    from tests.support import make_settings

    url = require_service("redis")
    rt = build_runtime(make_settings(f"sqlite:///{tmp_path}/x.db", str(tmp_path), redis_url=url))
    try:
        assert isinstance(rt.replay_guard, RedisReplayGuard)
        assert isinstance(rt.rate_limiter, RedisRateLimiter)
    finally:
        rt.close()
