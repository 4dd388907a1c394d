"""Shared fixtures. Database tests run on SQLite always, and on PostgreSQL and MariaDB when they
answer on their standard localhost ports; ``OPENVPP_REQUIRE_SERVICES=1`` turns a missing service
into a failure instead of a skip (CI sets it)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import settings

from openvpp.api.app import create_app
from openvpp.audit.chain import GENESIS_HASH
from openvpp.runtime import Runtime, build_runtime
from openvpp.seed import seed_demo
from openvpp.store import tables
from openvpp.store.db import create_engine
from openvpp.store.migrate import upgrade
from tests.support import SECRET, ShiftClock, make_settings

REQUIRE_SERVICES = os.environ.get("OPENVPP_REQUIRE_SERVICES") == "1"
SERVICE_URLS = {
    "postgresql": os.environ.get(
        "OPENVPP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "OPENVPP_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
    "redis": os.environ.get("OPENVPP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
}
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ... under pytest-xdist

# Hypothesis's per-example deadline is a timing assertion: on a shared 2-core machine running
# the workers in parallel it fails on load, not on code. Tests that need one set their own.
settings.register_profile("openvpp", deadline=None)
settings.load_profile("openvpp")


def reachable(url: str) -> bool:
    parsed = urlparse(url.replace("+psycopg", "").replace("+pymysql", ""))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), 1.0):
            return True
    except OSError:
        return False


def require_service(name: str) -> str:
    url = SERVICE_URLS[name]
    if name == "redis" and WORKER:  # a Redis database of the worker's own: 15, 14, ...
        url = urlparse(url)._replace(path=f"/{15 - int(WORKER.removeprefix('gw')) % 8}").geturl()
    if not reachable(url):
        message = f"{name} is not reachable at {url}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} and OPENVPP_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(f"{message}; start it to run these tests")
    return url


def worker_database(url: str) -> str:
    """``url`` itself in a single process; under pytest-xdist, a database of the worker's own
    (``test_gw0``, ``test_gw1``, ...) on the same server, created when missing, so that workers
    never share tables."""
    if not WORKER:
        return url
    base = sa.make_url(url)
    name = f"{base.database}_{WORKER}"
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if base.get_backend_name() == "postgresql":
                exists = conn.scalar(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                )
                if not exists:
                    # another run's worker of the same name may create it first
                    with contextlib.suppress(sa.exc.ProgrammingError):
                        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            else:  # with the character set and collation of the configured database
                charset, collation = conn.execute(
                    sa.text(
                        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                        "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :db"
                    ),
                    {"db": base.database},
                ).one()
                conn.execute(
                    sa.text(
                        f"CREATE DATABASE IF NOT EXISTS `{name}` "
                        f"CHARACTER SET {charset} COLLATE {collation}"
                    )
                )
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def reset_database(engine: sa.Engine) -> None:
    """Drop every table (ours and Alembic's) so migrations start from nothing."""
    reflected = sa.MetaData()
    reflected.reflect(engine)
    reflected.drop_all(engine)


def clear_tables(engine: sa.Engine) -> None:
    """Empty every table; the audit chain head goes back to its genesis state."""
    with engine.begin() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            if table is not tables.audit_head:
                conn.execute(table.delete())
        conn.execute(tables.audit_head.update().values(last_seq=0, last_hash=GENESIS_HASH))


@pytest.fixture(scope="session", params=["sqlite", "postgresql", "mariadb"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database of the backend, shared by the session."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'openvpp.db'}"
    else:
        url = worker_database(require_service(backend))
    engine = create_engine(url)
    reset_database(engine)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def clock() -> ShiftClock:
    return ShiftClock()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Settings of the test runtime beyond ``make_settings``; a module overrides this."""
    return {}


@pytest.fixture
def runtime(
    database_url: str, tmp_path: Path, clock: ShiftClock, settings_overrides: dict[str, object]
) -> Iterator[Runtime]:
    rt = build_runtime(
        make_settings(database_url, str(tmp_path), **settings_overrides), clock=clock
    )
    clear_tables(rt.engine)
    try:
        yield rt
    finally:
        clear_tables(rt.engine)
        rt.close()


@pytest.fixture
def seeded(runtime: Runtime) -> Runtime:
    seed_demo(runtime)
    return runtime


@pytest.fixture
def client(seeded: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime=seeded, start_jobs=False)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def cli_env(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Runtime:
    """The environment of ``openvpp`` commands run in-process on ``runtime``'s database."""
    monkeypatch.setenv("OPENVPP_DATABASE_URL", runtime.settings.effective_database_url)
    monkeypatch.setenv("OPENVPP_SECRET_KEY", SECRET)
    monkeypatch.setenv("OPENVPP_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("OPENVPP_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("OPENVPP_ARGON2_MEMORY_KIB", "8192")
    monkeypatch.setenv("COLUMNS", "250")
    return runtime


def pytest_configure(config: pytest.Config) -> None:
    """Refuse pytest-xdist's scope-based distributions: schemathesis gives all its generated
    tests (``test_api_fuzz``) one node id, and those modes queue tests by node id, so they would
    run one of them and report it as all."""
    dist = getattr(config.option, "dist", "no")
    if dist in {"loadscope", "loadfile", "loadgroup"}:
        raise pytest.UsageError(f"--dist {dist} would run one schemathesis test; use load")
