"""Telemetry storage: bulk inserts tuned per backend, the newest-reading bookkeeping on
``resources`` and range reads. Like every repository it never commits."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from openvpp.resources.model import ResourceStatus
from openvpp.resources.telemetry import LatestReading, TelemetryPoint
from openvpp.store import tables as t
from openvpp.store.batching import in_chunks
from openvpp.store.types import UTCDateTime

_LIVE = (ResourceStatus.ONLINE.value, ResourceStatus.FAULT.value)
_LOOKUP_SLACK = timedelta(minutes=10)
"""How much wider than its own a resource's range may be read, to share one query with others:
at most this much more of its stored readings."""
_COLUMNS = ("resource_id", "ts", "power_mw", "soc", "fault", "received_at")
_PG_TYPES = ("varchar", "timestamptz", "float8", "float8", "bool", "timestamptz")
_COPY = "COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"


def status_as_of(status: ResourceStatus, stale_before: datetime) -> sa.ColumnElement[bool]:
    """A filter on ``resources`` matching ``status`` as of now: an ONLINE or FAULT resource
    whose newest reading is older than ``stale_before`` counts as OFFLINE."""
    r = t.resources
    if status is ResourceStatus.OFFLINE:
        return sa.or_(r.c.status == status.value, _silent(stale_before))
    if status.value in _LIVE:
        return sa.and_(r.c.status == status.value, r.c.last_seen_at >= stale_before)
    return r.c.status == status.value


def _silent(stale_before: datetime | sa.BindParameter[datetime]) -> sa.ColumnElement[bool]:
    """ONLINE or FAULT, and no reading since ``stale_before``."""
    r = t.resources
    return sa.and_(
        sa.or_(*(r.c.status == s for s in _LIVE)),  # not IN: that cannot run as executemany
        sa.or_(r.c.last_seen_at.is_(None), r.c.last_seen_at < stale_before),
    )


def _record_latest_statement() -> sa.Update:
    """One UPDATE per resource (run as an executemany): the newest reading's time and its
    status. A resource in maintenance keeps its status; an update carrying an older reading
    than the stored one (a concurrent batch won) changes nothing. The SET order matters on
    MariaDB, which evaluates assignments left to right with the new values."""
    r = t.resources
    ts = sa.bindparam("b_ts", type_=UTCDateTime())
    status = sa.bindparam("b_status", type_=sa.String())
    newer = sa.or_(r.c.last_seen_at.is_(None), r.c.last_seen_at <= ts)
    keep = sa.or_(r.c.status == ResourceStatus.MAINTENANCE.value, sa.not_(newer))
    return (
        r.update()
        .where(r.c.id == sa.bindparam("b_id", type_=sa.String()))
        .ordered_values(
            (
                r.c.status_changed_at,
                sa.case(
                    (sa.or_(keep, r.c.status == status), r.c.status_changed_at),
                    else_=sa.bindparam("b_at", type_=UTCDateTime()),
                ),
            ),
            (r.c.status, sa.case((keep, r.c.status), else_=status)),
            (r.c.last_seen_at, sa.case((newer, ts), else_=r.c.last_seen_at)),
        )
    )


def _mark_offline_statement() -> sa.Update:
    r = t.resources
    return (
        r.update()
        .where(
            r.c.id == sa.bindparam("b_id", type_=sa.String()),
            _silent(sa.bindparam("b_before", type_=UTCDateTime())),
        )
        .values(
            status=ResourceStatus.OFFLINE.value,
            status_changed_at=sa.bindparam("b_at", type_=UTCDateTime()),
        )
    )


# The same rules as ``_record_latest_statement``, for every resource at once.
_RECORD_LATEST_POSTGRESQL = """
UPDATE resources AS r SET
  status_changed_at = CASE
    WHEN r.status = 'maintenance' OR r.last_seen_at > v.ts OR r.status = v.status
    THEN r.status_changed_at ELSE %(at)s::timestamptz END,
  status = CASE
    WHEN r.status = 'maintenance' OR r.last_seen_at > v.ts THEN r.status ELSE v.status END,
  last_seen_at = CASE WHEN r.last_seen_at > v.ts THEN r.last_seen_at ELSE v.ts END
FROM unnest(%(ids)s::varchar[], %(ts)s::timestamptz[], %(status)s::varchar[]) AS v(id, ts, status)
WHERE r.id = v.id
"""

_MOVE_INCOMING = (
    "INSERT INTO telemetry (resource_id, ts, power_mw, soc, fault, received_at) "
    "SELECT resource_id, ts, power_mw, soc, fault, received_at FROM telemetry_incoming "
    "ON CONFLICT DO NOTHING"
)

# Built once: a statement object memoizes its cache key.
_RECORD_LATEST = _record_latest_statement()
_MARK_OFFLINE = _mark_offline_statement()
_INSERT_SQLITE = (
    "INSERT INTO telemetry (resource_id, ts, power_mw, soc, fault, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_INSERT_IGNORE = (
    "INSERT IGNORE INTO telemetry (resource_id, ts, power_mw, soc, fault, received_at) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)


def _timestamp_processor(dialect: Dialect) -> Callable[[datetime], Any]:
    """The bind processor of ``telemetry.ts`` for ``dialect`` (UTC, the driver's format)."""
    process = t.telemetry.c.ts.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:  # pragma: no cover - UTCDateTime always converts
        return lambda value: value
    return process


def _shared_ranges(
    by_resource: dict[str, list[datetime]],
) -> list[tuple[list[str], datetime, datetime]]:
    """Resources in groups, each with the time range its members are read in. Each resource's
    times are first cut where two lie further apart than ``_LOOKUP_SLACK`` and ten times its
    median spacing (15-minute meter readings stay one piece); a group then holds pieces whose
    shared range is at most ``_LOOKUP_SLACK`` wider than any of them. A live feed's resources
    share one group (one query per chunk of ids); a resource back-filling a month gets its own
    group, so the others are not read over that month too, and its own old and new readings
    are read as two ranges, not the month between them."""
    pieces = []
    for rid, times in by_resource.items():
        ordered = sorted(times)
        gaps = [b - a for a, b in itertools.pairwise(ordered)]
        # a gap far wider than the resource's usual spacing is a hole in what it asks for
        usual = sorted(gaps)[len(gaps) // 2] if gaps else timedelta(0)  # the median spacing
        cut = max(_LOOKUP_SLACK, 10 * usual)
        start = ordered[0]
        for ts, gap in zip(ordered[1:], gaps, strict=True):
            if gap > cut:
                pieces.append((start, ts - gap, rid))
                start = ts
        pieces.append((start, ordered[-1], rid))
    groups: list[tuple[list[str], datetime, datetime]] = []
    narrowest = timedelta(0)  # of the last group's pieces
    for lo, hi, rid in sorted(pieces):
        if groups:
            ids, first, last = groups[-1]
            shared = max(last, hi) - first  # every piece starts at or after ``first``
            if shared - min(narrowest, hi - lo) <= _LOOKUP_SLACK:
                ids.append(rid)
                groups[-1] = (ids, first, max(last, hi))
                narrowest = min(narrowest, hi - lo)
                continue
        groups.append(([rid], lo, hi))
        narrowest = hi - lo
    return groups


class TelemetryRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def existing(self, points: Sequence[TelemetryPoint]) -> set[tuple[str, datetime]]:
        """The (resource, ts) keys among ``points`` that are stored already: one range query
        per group of resources whose ranges lie together (:func:`_shared_ranges`) and chunk of
        ids."""
        wanted = {(p.resource_id, p.ts) for p in points}
        by_resource: dict[str, list[datetime]] = {}
        for rid, ts in wanted:
            by_resource.setdefault(rid, []).append(ts)
        tm = t.telemetry
        found: set[tuple[str, datetime]] = set()
        for ids, lo, hi in _shared_ranges(by_resource):
            for chunk in in_chunks(ids):
                rows = self._c.execute(
                    sa.select(tm.c.resource_id, tm.c.ts).where(
                        tm.c.resource_id.in_(chunk), tm.c.ts >= lo, tm.c.ts <= hi
                    )
                )
                found.update(key for key in ((r[0], r[1]) for r in rows) if key in wanted)
        return found

    def add_many(self, points: Sequence[TelemetryPoint], received_at: datetime) -> int:
        """Insert points; a (resource, ts) stored already (a concurrent batch, a re-send) is
        skipped. Returns the number of rows inserted, exactly."""
        if not points:
            return 0
        dialect = self._c.dialect
        if dialect.name == "postgresql":
            return self._copy_postgresql(points, received_at)
        # A plain executemany of driver SQL: SQLAlchemy's per-row parameter handling would cost
        # three times the insert itself. Timestamps go through the column type's own bind
        # processor, so they are stored exactly as every other statement writes them.
        to_db = _timestamp_processor(dialect)
        at = to_db(received_at)
        rows = [(p.resource_id, to_db(p.ts), p.power_mw, p.soc, p.fault, at) for p in points]
        sql = _INSERT_SQLITE if dialect.name == "sqlite" else _INSERT_IGNORE
        return int(self._c.exec_driver_sql(sql, rows).rowcount)

    def _copy_postgresql(self, points: Sequence[TelemetryPoint], received_at: datetime) -> int:
        """Binary COPY straight into ``telemetry`` under a savepoint. The screen has already
        dropped points at or before each resource's newest reading, so a conflict needs a
        concurrent writer; then the batch is staged in a temporary table and moved with
        ``INSERT ... ON CONFLICT DO NOTHING``, whose row count is the number inserted."""
        raw: psycopg.Connection[Any] = self._c.connection.driver_connection  # type: ignore[assignment]
        try:
            with self._c.begin_nested():
                _copy(raw, "telemetry", points, received_at)
            return len(points)
        except psycopg.errors.UniqueViolation:
            pass
        self._c.exec_driver_sql(
            "CREATE TEMPORARY TABLE IF NOT EXISTS telemetry_incoming "
            "(LIKE telemetry INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        self._c.exec_driver_sql("TRUNCATE telemetry_incoming")
        _copy(raw, "telemetry_incoming", points, received_at)
        return int(self._c.exec_driver_sql(_MOVE_INCOMING).rowcount)

    def record_latest(self, latest: Sequence[LatestReading], at: datetime) -> None:
        if latest and self._c.dialect.name == "postgresql":
            # One statement over arrays instead of an UPDATE per resource.
            self._c.exec_driver_sql(
                _RECORD_LATEST_POSTGRESQL,
                {
                    "ids": [x.resource_id for x in latest],
                    "ts": [x.ts for x in latest],
                    "status": [x.status.value for x in latest],
                    "at": at,
                },
            )
        elif latest:
            self._c.execute(
                _RECORD_LATEST,
                [
                    {"b_id": x.resource_id, "b_ts": x.ts, "b_status": x.status.value, "b_at": at}
                    for x in latest
                ],
            )

    def silent(
        self, organization_id: str | None, stale_before: datetime
    ) -> list[tuple[str, datetime | None, datetime]]:
        """(id, last_seen_at, status_changed_at) of the ONLINE or FAULT resources whose newest
        reading is older than ``stale_before`` (of one organization, or of all)."""
        r = t.resources
        query = sa.select(r.c.id, r.c.last_seen_at, r.c.status_changed_at).where(
            _silent(stale_before)
        )
        if organization_id is not None:
            query = query.where(r.c.organization_id == organization_id)
        return [(row[0], row[1], row[2]) for row in self._c.execute(query.order_by(r.c.id))]

    def mark_offline(self, changes: Sequence[tuple[str, datetime]], stale_before: datetime) -> int:
        if not changes:
            return 0
        params = [{"b_id": rid, "b_at": at, "b_before": stale_before} for rid, at in changes]
        return int(self._c.execute(_MARK_OFFLINE, params).rowcount)

    def query(
        self,
        resource_id: str,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        offset: int = 0,
    ) -> list[TelemetryPoint]:
        tm = t.telemetry
        q = sa.select(tm.c.ts, tm.c.power_mw, tm.c.soc, tm.c.fault).where(
            tm.c.resource_id == resource_id
        )
        if start is not None:
            q = q.where(tm.c.ts >= start)
        if end is not None:
            q = q.where(tm.c.ts < end)
        rows = self._c.execute(q.order_by(tm.c.ts).limit(limit).offset(offset))
        return [
            TelemetryPoint(resource_id, ts, power, soc, bool(fault))
            for ts, power, soc, fault in rows
        ]

    def power_frame(
        self, resource_id: str, start: datetime, end: datetime, known_at: datetime
    ) -> pd.DataFrame:
        """Readings with ``ts`` in ``[start, end)`` received by ``known_at`` [UTC]: columns
        ``ts`` [UTC], ``power_mw`` (injection positive) and ``received_at`` [UTC]."""
        tm = t.telemetry
        rows = self._c.execute(
            sa.select(tm.c.ts, tm.c.power_mw, tm.c.received_at)
            .where(
                tm.c.resource_id == resource_id,
                tm.c.ts >= start,
                tm.c.ts < end,
                tm.c.received_at <= known_at,
            )
            .order_by(tm.c.ts)
        ).all()
        frame = pd.DataFrame(rows, columns=["ts", "power_mw", "received_at"]).astype(
            {"power_mw": "float64"}
        )
        for column in ("ts", "received_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame


def _copy(
    raw: psycopg.Connection[Any],
    table: str,
    points: Iterable[TelemetryPoint],
    received_at: datetime,
) -> None:
    """Binary COPY of ``points`` into ``table``. A unique violation propagates as is (the
    caller falls back); other driver errors become SQLAlchemy's, like those of any statement
    (e.g. a lost connection: 503)."""
    statement = _COPY.format(table=table, columns=", ".join(_COLUMNS))
    try:
        with raw.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(list(_PG_TYPES))
            write = copy.write_row
            for p in points:
                write((p.resource_id, p.ts, p.power_mw, p.soc, p.fault, received_at))
    except psycopg.errors.UniqueViolation:
        raise
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
