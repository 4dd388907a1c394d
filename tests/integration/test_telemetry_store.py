"""The telemetry repository and service on every backend: exact counts when the database
holds points the screen could not see (a concurrent batch), the newest-reading bookkeeping,
and the refresh of silent resources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from openvpp.identity.model import Principal, Role
from openvpp.resources.model import ResourceStatus
from openvpp.resources.telemetry import LatestReading, TelemetryPoint
from openvpp.resources.templates import ResourceType
from openvpp.runtime import Runtime
from openvpp.store.telemetry_repo import TelemetryRepo
from tests.support import ShiftClock


def operator_of(rt: Runtime) -> Principal:
    org = rt.identity.create_organization(rt.uow(), "Grid Co", "gridco")
    return Principal(
        kind="user", id="u1", organization_id=org.id, roles=frozenset({Role.OPERATOR}), user_id="u1"
    )


def battery(rt: Runtime, principal: Principal, name: str = "B") -> str:
    created = rt.resources.create(
        rt.uow(),
        principal,
        name=name,
        resource_type=ResourceType.BATTERY,
        template_version=1,
        parameters={"p_charge_max_mw": 2.0, "p_discharge_max_mw": 2.0},
        grid_node="N1",
        latitude=None,
        longitude=None,
    )
    return created.id


def test_points_stored_by_a_concurrent_batch_count_as_duplicates(
    runtime: Runtime, clock: ShiftClock
) -> None:
    principal = operator_of(runtime)
    rid = battery(runtime, principal)
    now = clock.now().replace(microsecond=0)
    points = [
        TelemetryPoint(rid, now - timedelta(minutes=10 - i), 0.125 * i, 0.5, i == 9)
        for i in range(10)
    ]
    # Another writer stored points 3..5 without (yet) moving last_seen_at.
    with runtime.uow() as uow:
        assert uow.telemetry.add_many(points[3:6], now) == 3
        assert uow.telemetry.add_many(points[3:6], now) == 0  # every one already there
        uow.commit()
    result = runtime.telemetry.ingest(runtime.uow(), principal, points)
    assert (result.accepted, result.duplicates, dict(result.rejected)) == (7, 3, {})
    with runtime.uow(readonly=True) as uow:
        stored = uow.telemetry.query(rid, None, None, 100)
        resource = uow.resources.get(principal.organization_id, rid)
    assert stored == points
    # Bulk-inserted timestamps compare like any other (a whole second included).
    with runtime.uow(readonly=True) as uow:
        assert uow.telemetry.query(rid, points[4].ts, points[6].ts, 10) == points[4:6]
    assert resource is not None
    assert resource.last_seen_at == points[-1].ts
    assert resource.status is ResourceStatus.FAULT


def test_an_older_reading_never_moves_last_seen_back(runtime: Runtime, clock: ShiftClock) -> None:
    principal = operator_of(runtime)
    rid = battery(runtime, principal)
    now = clock.now().replace(microsecond=0)
    with runtime.uow() as uow:
        uow.telemetry.record_latest([LatestReading(rid, now, ResourceStatus.FAULT)], now)
        uow.telemetry.record_latest(
            [LatestReading(rid, now - timedelta(minutes=1), ResourceStatus.ONLINE)], now
        )
        uow.commit()
    with runtime.uow(readonly=True) as uow:
        resource = uow.resources.get(principal.organization_id, rid)
    assert resource is not None
    assert (resource.last_seen_at, resource.status) == (now, ResourceStatus.FAULT)


def test_refresh_marks_only_silent_resources_of_the_organization(
    runtime: Runtime, clock: ShiftClock
) -> None:
    principal = operator_of(runtime)
    silent, fresh = battery(runtime, principal, "silent"), battery(runtime, principal, "fresh")
    now = clock.now().replace(microsecond=0)
    runtime.telemetry.ingest(
        runtime.uow(),
        principal,
        [
            TelemetryPoint(silent, now - timedelta(minutes=14), 0.1),
            TelemetryPoint(fresh, now - timedelta(minutes=1), 0.1),
        ],
    )
    clock.advance(120)  # silent: 16 minutes, fresh: 3 minutes
    assert runtime.telemetry.refresh_status(runtime.uow(), "another-org")["marked_offline"] == 0
    assert runtime.telemetry.refresh_status(runtime.uow(), None)["marked_offline"] == 1
    with runtime.uow(readonly=True) as uow:
        got = {r.id: r for r in uow.resources.get_many(principal.organization_id, [silent, fresh])}
    assert got[silent].status is ResourceStatus.OFFLINE
    assert got[silent].status_changed_at == now - timedelta(minutes=14) + timedelta(seconds=900)
    assert got[fresh].status is ResourceStatus.ONLINE


def test_deleting_a_resource_deletes_its_telemetry(runtime: Runtime, clock: ShiftClock) -> None:
    principal = operator_of(runtime)
    rid, other = battery(runtime, principal), battery(runtime, principal, "C")
    points = [TelemetryPoint(r, clock.now(), 0.1) for r in (rid, other)]
    assert runtime.telemetry.ingest(runtime.uow(), principal, points).accepted == 2
    runtime.resources.delete(runtime.uow(), principal, rid)
    with runtime.uow(readonly=True) as uow:
        assert uow.telemetry.query(rid, None, None, 10, 0) == []
        assert len(uow.telemetry.query(other, None, None, 10, 0)) == 1


def test_a_batch_share_locks_its_resources_against_deletion(
    runtime: Runtime, clock: ShiftClock
) -> None:
    """Telemetry has no foreign key: while a batch is being stored, its resources cannot be
    row-locked for deletion (the delete waits, so it then removes the new readings too)."""
    dialect = runtime.engine.dialect.name
    if dialect == "sqlite":
        pytest.skip("SQLite serializes writers; there is no concurrent delete to hold off")
    principal = operator_of(runtime)
    rid = battery(runtime, principal)
    with runtime.uow() as ingest:
        assert ingest.resources.get_many(principal.organization_id, [rid], share_lock=True)
        with runtime.uow() as deleter:
            conn = deleter.connection
            conn.exec_driver_sql(
                "SET lock_timeout = '300ms'"
                if dialect == "postgresql"
                else "SET SESSION innodb_lock_wait_timeout = 1"
            )
            with pytest.raises(sa.exc.OperationalError):
                deleter.resources.get(principal.organization_id, rid, for_update=True)
        ingest.telemetry.add_many([TelemetryPoint(rid, clock.now(), 0.1)], clock.now())
        ingest.commit()
    runtime.resources.delete(runtime.uow(), principal, rid)
    with runtime.uow(readonly=True) as uow:
        assert uow.telemetry.query(rid, None, None, 10, 0) == []


class _CountingRows:
    """A connection that counts the rows its queries return."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn, self.rows = conn, 0

    def execute(self, *args: object, **kw: object) -> list[sa.Row[Any]]:
        rows = self.conn.execute(*args, **kw).all()  # type: ignore[call-overload]
        self.rows += len(rows)
        return rows


def test_the_stored_points_are_looked_up_in_each_resources_own_range(
    runtime: Runtime, clock: ShiftClock
) -> None:
    """A back-fill of one resource in the same batch as the late points of another: each
    resource's own readings are read, not a month of both."""
    principal = operator_of(runtime)
    a, b = battery(runtime, principal, "A"), battery(runtime, principal, "B")
    now = clock.now().replace(minute=0, second=0, microsecond=0)
    hours = [now - timedelta(hours=h) for h in range(720, 0, -1)]  # 30 days, hourly
    with runtime.uow() as uow:
        stored = [TelemetryPoint(r, ts, 1.0, None, False) for r in (a, b) for ts in hours]
        assert uow.telemetry.add_many(stored, now) == len(stored)
        uow.commit()
    asked = [
        TelemetryPoint(a, hours[0], 1.0, None, False),  # stored, a month ago
        TelemetryPoint(a, hours[0] + timedelta(minutes=30), 1.0, None, False),  # not stored
        TelemetryPoint(a, hours[1], 1.0, None, False),  # stored
        TelemetryPoint(b, hours[-1], 1.0, None, False),  # stored, an hour ago
        TelemetryPoint(b, now, 1.0, None, False),  # not stored
    ]
    with runtime.engine.connect() as conn:
        counting = _CountingRows(conn)
        found = TelemetryRepo(counting).existing(asked)  # type: ignore[arg-type]
    assert found == {(a, hours[0]), (a, hours[1]), (b, hours[-1])}
    assert counting.rows == 3  # a range shared by both resources read 1,440 rows


def test_the_lookup_of_stored_points_takes_any_number_of_resources(runtime: Runtime) -> None:
    """More resources than one statement may name (SQLite nests each OR term one deeper)."""
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    ids = [f"r{i:04d}" for i in range(1_100)]
    with runtime.uow() as uow:
        stored = [TelemetryPoint(r, now, 1.0, None, False) for r in ids[::3]]
        assert uow.telemetry.add_many(stored, now) == len(stored)
        uow.commit()
    asked = [
        TelemetryPoint(r, now - timedelta(minutes=m), 1.0, None, False) for r in ids for m in (0, 5)
    ]
    with runtime.uow(readonly=True) as uow:
        assert uow.telemetry.existing(asked) == {(r, now) for r in ids[::3]}
