"""Engine construction for SQLite (WAL), PostgreSQL (psycopg 3) and MariaDB/MySQL (PyMySQL)."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

IMMEDIATE = "openvpp_immediate"


def create_engine(url: str, *, pool_size: int = 32, echo: bool = False) -> Engine:
    """Build an engine; never called at import time (settings decide the URL).

    ``pool_size`` should match the number of threads that use the engine at once: when more
    threads check out connections, the overflow ones are opened and closed on every request.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, pool_size=pool_size, echo=echo)
    kwargs: dict[str, Any] = {
        "pool_pre_ping": False,
        "pool_size": pool_size,
        "max_overflow": 8,
        "pool_recycle": 1800,
        "echo": echo,
        "hide_parameters": True,  # bound values (hashes, emails) never reach logs or errors
    }
    if parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 5}
    elif parsed.get_backend_name() in ("mysql", "mariadb"):
        kwargs["connect_args"] = {"connect_timeout": 5, "charset": "utf8mb4"}
        kwargs["isolation_level"] = "READ COMMITTED"
    return sa.create_engine(url, **kwargs)


def _sqlite_engine(url: str, *, pool_size: int, echo: bool) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": 30},
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=8,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that writers can BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # A writer takes the write lock up front: a deferred transaction that reads and then
        # writes fails with SQLITE_BUSY when another writer committed in between.
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class SqliteWriteLock:
    """One SQLite writer at a time across this machine's processes, in arrival order.

    SQLite admits one writer; the others wait in its busy handler, which sleeps and retries
    with growing pauses (up to 100 ms), so that under load some writers starve for seconds.
    Here writers queue instead: on a thread lock within the process, then on an advisory
    ``flock`` of a file beside the database, which the kernel grants without polling.
    Re-entrant within a thread.
    """

    def __init__(self, database_path: str) -> None:
        self._path = f"{database_path}.write-lock"
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def __enter__(self) -> SqliteWriteLock:
        self._thread_lock.acquire()
        try:
            if self._depth == 0:
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._depth += 1
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Close the lock file (it is reopened if the lock is taken again)."""
        with self._thread_lock:
            if self._depth == 0 and self._fd is not None:
                os.close(self._fd)
                self._fd = None


def in_memory(engine: Engine) -> bool:
    """Whether ``engine`` is an in-memory SQLite database (no other process can open it)."""
    database = engine.url.database
    return engine.dialect.name == "sqlite" and (not database or database == ":memory:")


def sqlite_write_lock(engine: Engine) -> SqliteWriteLock | None:
    """The write lock for a file-backed SQLite engine, else ``None``."""
    if engine.dialect.name != "sqlite" or in_memory(engine):
        return None
    database = engine.url.database
    assert database is not None
    return SqliteWriteLock(database)
