"""Replay guards and rate limiters: in the database by default, in Redis when configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from openvpp.core.clock import Clock
from openvpp.store import tables as t
from openvpp.store.db import IMMEDIATE


class _SqlStore:
    """Shared by the SQL-backed guards: short write transactions under the SQLite write lock."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        write_lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._lock = write_lock or nullcontext()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A short write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
        with (
            self._lock,
            self._engine.connect().execution_options(**{IMMEDIATE: True}) as conn,
            conn.begin(),
        ):
            yield conn


class SqlReplayGuard(_SqlStore):
    """A primary key on (scope, token) makes "first use" atomic across processes."""

    def first_use(self, scope: str, token: str, ttl_s: int) -> bool:
        now = self._clock.now()
        try:
            with self._transaction() as conn:
                conn.execute(
                    t.replay_tokens.insert().values(
                        scope=scope, token=token, expires_at=now + timedelta(seconds=ttl_s)
                    )
                )
        except IntegrityError:
            return False
        return True

    def prune(self) -> int:
        with self._transaction() as conn:
            return conn.execute(
                t.replay_tokens.delete().where(t.replay_tokens.c.expires_at < self._clock.now())
            ).rowcount


class SqlRateLimiter(_SqlStore):
    """Fixed-window counters in one row per (key, window)."""

    def hit(self, key: str, limit: int, window_s: int) -> int | None:
        now = self._clock.now()
        epoch = int(now.timestamp())
        window = epoch - epoch % window_s
        c = t.rate_counters
        where = sa.and_(c.c.key == key, c.c.window_start == window)
        with self._transaction() as conn:
            updated = conn.execute(c.update().where(where).values(hits=c.c.hits + 1)).rowcount
            if not updated:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            c.insert().values(
                                key=key,
                                window_start=window,
                                hits=1,
                                expires_at=now + timedelta(seconds=window_s),
                            )
                        )
                except IntegrityError:
                    conn.execute(c.update().where(where).values(hits=c.c.hits + 1))
            hits = conn.execute(sa.select(c.c.hits).where(where)).scalar_one()
        return None if hits <= limit else window + window_s - epoch

    def prune(self) -> int:
        with self._transaction() as conn:
            return conn.execute(
                t.rate_counters.delete().where(t.rate_counters.c.expires_at < self._clock.now())
            ).rowcount


class RedisReplayGuard:
    """``SET key 1 NX EX ttl``: atomic first use, expiring by itself."""

    def __init__(self, client: Any, prefix: str = "openvpp") -> None:
        self._r = client
        self._prefix = prefix

    def first_use(self, scope: str, token: str, ttl_s: int) -> bool:
        return bool(self._r.set(f"{self._prefix}:nonce:{scope}:{token}", 1, nx=True, ex=ttl_s))

    def prune(self) -> int:
        return 0  # keys expire by themselves


class RedisRateLimiter:
    """``INCR`` + ``EXPIRE`` in one pipeline per fixed window."""

    def __init__(self, client: Any, clock: Clock, prefix: str = "openvpp") -> None:
        self._r = client
        self._clock = clock
        self._prefix = prefix

    def hit(self, key: str, limit: int, window_s: int) -> int | None:
        epoch = int(self._clock.now().timestamp())
        window = epoch - epoch % window_s
        name = f"{self._prefix}:rate:{key}:{window}"
        pipe = self._r.pipeline()
        pipe.incr(name)
        pipe.expire(name, window_s + 1)
        hits, _ = pipe.execute()
        return None if int(hits) <= limit else window + window_s - epoch

    def prune(self) -> int:
        return 0
