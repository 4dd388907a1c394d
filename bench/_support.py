"""What the database benchmarks share: a fresh, empty database per backend."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import sqlalchemy as sa

SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/",
}


@contextmanager
def database(backend: str, name: str) -> Iterator[str | None]:
    """A fresh, empty database URL for ``backend`` (SQLite in a temporary directory; a
    database ``name`` on the local PostgreSQL or MariaDB server, dropped and created, dropped
    again afterwards), or ``None`` (with a JSON line saying why) when its server is down."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    root = SERVERS[backend]
    admin = sa.create_engine(
        root + ("postgres" if backend == "postgresql" else ""), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
            c.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        print(json.dumps({"backend": backend, "skipped": str(exc.orig)[:120]}))
        yield None
        return
    try:
        yield root + name
    finally:
        with suppress(sa.exc.OperationalError), admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()
