"""The data layer on every backend: migrations, round trips, atomicity, the audit chain."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from openvpp.audit.chain import GENESIS_HASH, AuditContext, AuditEvent
from openvpp.audit.service import verify_chain
from openvpp.core.ids import new_id
from openvpp.identity.model import Organization, Role, User
from openvpp.runtime import Runtime
from openvpp.store import tables
from openvpp.store.db import SqliteWriteLock, create_engine
from openvpp.store.limits import SqlRateLimiter, SqlReplayGuard
from openvpp.store.migrate import current_revision, downgrade, head_revision, upgrade

CTX = AuditContext(actor_type="system", actor_id="test")


def make_org(rt: Runtime, slug: str = "acme") -> Organization:
    org = Organization(id=new_id(), name=slug.title(), slug=slug, created_at=rt.clock.now())
    with rt.uow(CTX) as uow:
        uow.organizations.add(org)
        uow.commit()
    return org


def test_migrations_are_at_head(runtime: Runtime) -> None:
    assert current_revision(runtime.engine) == head_revision()


def test_migrations_down_and_up_again(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        downgrade(engine, "base")
        assert current_revision(engine) is None
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert set(tables.metadata.tables) <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_timestamps_round_trip_exactly_in_utc(runtime: Runtime) -> None:
    org = make_org(runtime)
    stamp = datetime(2026, 10, 25, 0, 30, 0, 123_456, tzinfo=UTC)
    user = User(
        id=new_id(),
        organization_id=org.id,
        email="a@b.io",
        display_name="A",
        password_hash="h",
        roles=frozenset({Role.TRADER, Role.VIEWER}),
        is_active=True,
        failed_logins=0,
        locked_until=stamp + timedelta(hours=1),
        created_at=stamp,
        updated_at=stamp,
    )
    with runtime.uow(CTX) as uow:
        uow.users.add(user)
        uow.commit()
    with runtime.uow(readonly=True) as uow:
        loaded = uow.users.get(org.id, user.id)
    assert loaded == user
    assert loaded is not None and loaded.created_at.tzinfo is not None


def test_naive_datetimes_are_refused(runtime: Runtime) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive"), runtime.uow(CTX) as uow:
        uow.organizations.add(
            Organization(id=new_id(), name="n", slug="naive", created_at=datetime(2026, 1, 1))
        )


def test_unit_of_work_without_commit_writes_nothing(runtime: Runtime) -> None:
    org = Organization(id=new_id(), name="Gone", slug="gone", created_at=runtime.clock.now())

    def half_done() -> None:
        with runtime.uow(CTX) as uow:
            uow.organizations.add(org)
            uow.record(AuditEvent("organization.create", "organization", org.id))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        half_done()
    with runtime.uow(readonly=True) as uow:
        assert uow.organizations.get(org.id) is None
        assert uow.audit.head() == (0, GENESIS_HASH)


def test_audit_row_and_change_commit_together(runtime: Runtime) -> None:
    org = Organization(id=new_id(), name="Kept", slug="kept", created_at=runtime.clock.now())
    with runtime.uow(CTX) as uow:
        uow.organizations.add(org)
        uow.record(AuditEvent("organization.create", "organization", org.id))
        uow.commit()
    with runtime.uow(readonly=True) as uow:
        assert uow.organizations.get(org.id) is not None
        assert uow.audit.head() == (1, next(uow.audit.iterate()).hash)
        assert [r.object_id for r in uow.audit.iterate()] == [org.id]


def test_one_audit_event_per_unit_of_work(runtime: Runtime) -> None:
    with runtime.uow(CTX) as uow:
        uow.record(AuditEvent("a"))
        with pytest.raises(RuntimeError, match="one audit event"):
            uow.record(AuditEvent("b"))


def test_concurrent_appends_keep_one_unbroken_chain(runtime: Runtime) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                with runtime.uow(CTX) as uow:
                    uow.record(AuditEvent(f"w{n}.{i}"))
                    uow.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = verify_chain(runtime.uow(readonly=True, snapshot=True), runtime.audit_key)
    assert result.ok, result.problem
    assert result.checked == 40


def _append(runtime: Runtime, n: int) -> None:
    for i in range(n):
        with runtime.uow(CTX) as uow:
            uow.record(AuditEvent(f"event.{i}", "thing", str(i), after={"i": i}))
            uow.commit()


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        ("UPDATE audit_log SET action = 'forged' WHERE seq = 3", 3),
        ("UPDATE audit_log SET outcome = 'denied' WHERE seq = 5", 5),
        ("DELETE FROM audit_log WHERE seq = 4", 4),
        ("DELETE FROM audit_log WHERE seq = 6", 6),
        ("UPDATE audit_head SET last_seq = 5", 6),
    ],
)
def test_verify_reports_the_first_tampered_row(
    runtime: Runtime, tamper: str, first_bad: int
) -> None:
    _append(runtime, 6)
    assert verify_chain(runtime.uow(readonly=True, snapshot=True), runtime.audit_key).ok
    with runtime.engine.begin() as conn:
        conn.execute(sa.text(tamper))
    result = verify_chain(runtime.uow(readonly=True, snapshot=True), runtime.audit_key)
    assert not result.ok
    assert result.first_bad_seq == first_bad


def test_verify_reports_an_inserted_row(runtime: Runtime) -> None:
    _append(runtime, 4)
    with runtime.engine.begin() as conn:
        row = dict(
            conn.execute(tables.audit_log.select().where(tables.audit_log.c.seq == 2))
            .mappings()
            .one()
        )
        conn.execute(sa.text("UPDATE audit_log SET seq = seq + 100 WHERE seq >= 3"))
        conn.execute(sa.text("UPDATE audit_log SET seq = seq - 99 WHERE seq >= 103"))
        conn.execute(tables.audit_log.insert().values(**{**row, "seq": 3, "action": "forged"}))
    result = verify_chain(runtime.uow(readonly=True, snapshot=True), runtime.audit_key)
    assert not result.ok
    assert result.first_bad_seq == 3


def test_replay_guard_admits_a_token_once(runtime: Runtime) -> None:
    guard = SqlReplayGuard(runtime.engine, runtime.clock)
    assert guard.first_use("hmac:k1", "nonce-0000000001", 60)
    assert not guard.first_use("hmac:k1", "nonce-0000000001", 60)
    assert guard.first_use("hmac:k2", "nonce-0000000001", 60)


def test_replay_guard_is_atomic_under_concurrency(runtime: Runtime) -> None:
    guard = SqlReplayGuard(runtime.engine, runtime.clock)
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        wins.append(guard.first_use("hmac:k", "same-nonce-000001", 60))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_rate_limiter_counts_per_window(runtime: Runtime) -> None:
    limiter = SqlRateLimiter(runtime.engine, runtime.clock)
    results = [limiter.hit("login:1.2.3.4", 3, 60) for _ in range(5)]
    assert results[:3] == [None, None, None]
    assert all(r is not None and 1 <= r <= 60 for r in results[3:])
    assert limiter.hit("login:5.6.7.8", 3, 60) is None


def test_sqlite_write_lock_queues_writers_across_lock_objects(tmp_path: Path) -> None:
    """Two lock objects on one database (as in two processes) exclude each other; re-entry in
    one thread does not deadlock."""
    first = SqliteWriteLock(str(tmp_path / "x.db"))
    second = SqliteWriteLock(str(tmp_path / "x.db"))
    order: list[str] = []
    with first:
        with first:  # re-entrant
            order.append("first")
        waiter = threading.Thread(
            target=lambda: (second.__enter__(), order.append("second"), second.__exit__())
        )
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()  # still waiting: the first holder has not left
        order.append("first leaves")
    waiter.join(5)
    assert order == ["first", "first leaves", "second"]


def test_verify_is_not_fooled_by_concurrent_appends(runtime: Runtime) -> None:
    """Rows appended while the verifier runs are outside its snapshot, not "inserted"."""
    _append(runtime, 20)
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            with runtime.uow(CTX) as uow:
                uow.record(AuditEvent(f"concurrent.{i}"))
                uow.commit()
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        results = [
            verify_chain(runtime.uow(readonly=True, snapshot=True), runtime.audit_key)
            for _ in range(15)
        ]
    finally:
        stop.set()
        thread.join()
    assert all(r.ok for r in results), [r.problem for r in results if not r.ok]


def test_migrated_indexes_are_the_declared_ones(runtime: Runtime) -> None:
    """The migrations build every index ``store/tables.py`` declares, with its columns."""
    inspector = sa.inspect(runtime.engine)
    for table in tables.metadata.sorted_tables:
        declared = {i.name: [c.name for c in i.columns] for i in table.indexes}
        built = {
            i["name"]: list(i["column_names"])
            for i in inspector.get_indexes(table.name)
            if i["name"] in declared
        }
        assert built == declared, table.name
