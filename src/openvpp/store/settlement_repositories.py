"""Settlement runs, their interval details and the ledger in SQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from openvpp.settlement.ledger import JournalEntry, Posting
from openvpp.settlement.records import (
    AMOUNT_COLUMNS,
    DuplicateRun,
    IntervalDetails,
    RunFilter,
    SettlementRun,
)
from openvpp.store import settlement_tables as st
from openvpp.store import tables

__all__ = ["LedgerRepo", "SettlementRepo"]

_CHUNK = 20_000  # rows per executemany
_INTERVAL_COLUMNS = (
    "run_id",
    "resource_id",
    "interval_start",
    "interval_min",
    "scheduled",
    "metered",
    "estimated",
    *AMOUNT_COLUMNS,
)
_INTERVAL_PG_TYPES = (
    "varchar",
    "varchar",
    "timestamptz",
    "int4",
    "int8",
    "int8",
    "bool",
    *("int8" for _ in AMOUNT_COLUMNS),
)

# driver SQL from the constant column names above (no input reaches the text)
_INSERT_INTERVALS = {
    mark: f"INSERT INTO settlement_intervals ({', '.join(_INTERVAL_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(mark for _ in _INTERVAL_COLUMNS)})"
    for mark in ("?", "%s")
}


def _copy(
    conn: Connection, columns: Sequence[str], types: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """Binary COPY of ``rows`` into ``settlement_intervals``; driver errors become
    SQLAlchemy's, like those of any statement."""
    raw: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    statement = f"COPY settlement_intervals ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    try:
        with raw.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(list(types))
            write = copy.write_row
            for row in rows:
                write(row)
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def _run(row: RowMapping) -> SettlementRun:
    data = dict(row)
    data["minor_unit"] = Decimal(data["minor_unit"])
    data["energy_step_mwh"] = Decimal(data["energy_step_mwh"])
    data["totals"] = {k: int(v) for k, v in data["totals"].items()}
    data["total"] = int(data["total"])
    data["prices"] = {k: [int(x) for x in v] for k, v in data["prices"].items()}
    return SettlementRun(**data)


class SettlementRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, run: SettlementRun, details: IntervalDetails) -> None:
        values = {
            **{f: getattr(run, f) for f in SettlementRun.__slots__},
            "minor_unit": str(run.minor_unit),
            "energy_step_mwh": str(run.energy_step_mwh),
        }
        try:
            self._c.execute(st.settlement_runs.insert(), [values])
        except IntegrityError:
            raise DuplicateRun(f"{run.vpp_id} {run.market} {run.day} v{run.version}") from None
        self._add_details(run.id, details)

    def _add_details(self, run_id: str, details: IntervalDetails) -> None:
        """The interval rows: binary COPY on PostgreSQL, a driver-level executemany elsewhere
        (SQLAlchemy's per-row parameter handling would cost more than the inserts)."""
        columns = [
            details.minutes.tolist(),
            details.scheduled.tolist(),
            details.metered.tolist(),
            details.estimated.tolist(),
            *(details.amounts[name].tolist() for name in AMOUNT_COLUMNS),
        ]
        dialect = self._c.dialect
        if dialect.name == "postgresql":
            rows = zip(
                [run_id] * len(details), details.resource_ids, details.starts, *columns,
                strict=True,
            )  # fmt: skip
            _copy(self._c, _INTERVAL_COLUMNS, _INTERVAL_PG_TYPES, rows)
            return
        process = st.settlement_intervals.c.interval_start.type.dialect_impl(
            dialect
        ).bind_processor(dialect)
        assert process is not None  # UTCDateTime always converts
        starts = [process(s) for s in details.starts]
        sql = _INSERT_INTERVALS["?" if dialect.name == "sqlite" else "%s"]
        rows_list = list(
            zip([run_id] * len(details), details.resource_ids, starts, *columns, strict=True)
        )
        for i in range(0, len(rows_list), _CHUNK):
            self._c.exec_driver_sql(sql, rows_list[i : i + _CHUNK])

    def latest(
        self, organization_id: str, vpp_id: str, market: str, day: date
    ) -> SettlementRun | None:
        r = st.settlement_runs
        row = (
            self._c.execute(
                r.select()
                .where(
                    r.c.organization_id == organization_id,
                    r.c.vpp_id == vpp_id,
                    r.c.market == market,
                    r.c.day == day,
                )
                .order_by(r.c.version.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return None if row is None else _run(row)

    def fill_days(
        self, organization_id: str, start: datetime, end: datetime
    ) -> list[tuple[str, str, datetime]]:
        """Distinct (VPP, market, delivery start) of the organization's fills delivering in
        ``[start, end)``."""
        f = tables.trading_fills
        rows = self._c.execute(
            sa.select(f.c.vpp_id, f.c.market, f.c.delivery_start)
            .where(
                f.c.organization_id == organization_id,
                f.c.vpp_id.is_not(None),
                f.c.delivery_start >= start,
                f.c.delivery_start < end,
            )
            .distinct()
        )
        return [(str(v), str(m), d) for v, m, d in rows]

    def settled(
        self, organization_id: str, first: date, last: date
    ) -> dict[tuple[str, str, date], datetime]:
        """(VPP, market, day) of every run on the days ``first`` … ``last``, with the time of
        its latest calculation [UTC]: its latest version stored, or found unchanged since."""
        r = st.settlement_runs
        latest = sa.func.max(sa.func.coalesce(r.c.checked_at, r.c.created_at))
        rows = self._c.execute(
            sa.select(r.c.vpp_id, r.c.market, r.c.day, latest)
            .where(r.c.organization_id == organization_id, r.c.day >= first, r.c.day <= last)
            .group_by(r.c.vpp_id, r.c.market, r.c.day)
        )
        return {(str(v), str(m), d): t for v, m, d, t in rows}

    def checked(self, run_id: str, at: datetime) -> None:
        """A calculation that read its inputs from ``at`` on found the run's inputs unchanged
        (a version superseded meanwhile, or checked later already, is left alone)."""
        r = st.settlement_runs
        self._c.execute(
            r.update()
            .where(
                r.c.id == run_id,
                r.c.superseded_by.is_(None),
                sa.or_(r.c.checked_at.is_(None), r.c.checked_at < at),
            )
            .values(checked_at=at)
        )

    def supersede(self, run_id: str, by: str) -> None:
        r = st.settlement_runs
        self._c.execute(r.update().where(r.c.id == run_id).values(superseded_by=by))

    def get(self, organization_id: str, run_id: str) -> SettlementRun | None:
        r = st.settlement_runs
        row = (
            self._c.execute(
                r.select().where(r.c.organization_id == organization_id, r.c.id == run_id)
            )
            .mappings()
            .first()
        )
        return None if row is None else _run(row)

    def page(
        self, organization_id: str, f: RunFilter, limit: int, offset: int
    ) -> list[SettlementRun]:
        r = st.settlement_runs
        query = r.select().where(r.c.organization_id == organization_id)
        if f.vpp_id is not None:
            query = query.where(r.c.vpp_id == f.vpp_id)
        if f.market is not None:
            query = query.where(r.c.market == f.market)
        if f.first_day is not None:
            query = query.where(r.c.day >= f.first_day)
        if f.last_day is not None:
            query = query.where(r.c.day <= f.last_day)
        if not f.include_superseded:
            query = query.where(r.c.superseded_by.is_(None))
        query = query.order_by(r.c.day.desc(), r.c.vpp_id, r.c.market, r.c.version.desc())
        rows = self._c.execute(query.limit(limit).offset(offset)).mappings()
        return [_run(row) for row in rows]

    def delivery(self, run_ids: Sequence[str]) -> dict[str, tuple[int, int, int, int]]:
        """Per run, from the VPP's interval rows [energy steps]: the sum of absolute schedules,
        of absolute deviations (metered - scheduled), the scheduled and the metered sums."""
        d = st.settlement_intervals
        out: dict[str, tuple[int, int, int, int]] = {}
        for i in range(0, len(run_ids), 500):
            rows = self._c.execute(
                sa.select(
                    d.c.run_id,
                    sa.func.sum(sa.func.abs(d.c.scheduled)),
                    sa.func.sum(sa.func.abs(d.c.metered - d.c.scheduled)),
                    sa.func.sum(d.c.scheduled),
                    sa.func.sum(d.c.metered),
                )
                .where(d.c.run_id.in_(run_ids[i : i + 500]), d.c.resource_id == "")
                .group_by(d.c.run_id)
            )
            for run_id, a, b, c, e in rows:
                out[str(run_id)] = (int(a or 0), int(b or 0), int(c or 0), int(e or 0))
        return out

    def columns(self, run_id: str, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Columns of a run's interval rows in (resource id, start) order: ``resource_id``
        (object) and each of ``names`` (``int64``)."""
        d = st.settlement_intervals
        rows = self._c.execute(
            sa.select(d.c.resource_id, *(d.c[n] for n in names))
            .where(d.c.run_id == run_id)
            .order_by(d.c.resource_id, d.c.interval_start)
        ).all()
        values = list(zip(*rows, strict=True)) if rows else [()] * (len(names) + 1)
        out = {"resource_id": np.array(values[0], dtype=object)}
        for name, column in zip(names, values[1:], strict=True):
            out[name] = np.array(column, dtype=np.int64)
        return out

    def details(
        self, run_id: str, resource_id: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """Interval rows of a run (``resource_id`` ``None``: all; ``""``: the VPP's)."""
        d = st.settlement_intervals
        query = d.select().where(d.c.run_id == run_id)
        if resource_id is not None:
            query = query.where(d.c.resource_id == resource_id)
        query = query.order_by(d.c.resource_id, d.c.interval_start)
        return [dict(row) for row in self._c.execute(query.limit(limit).offset(offset)).mappings()]


class LedgerRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def post(
        self,
        organization_id: str,
        run_id: str | None,
        entries: Sequence[JournalEntry],
        at: datetime,
    ) -> None:
        """Insert ``entries`` and their postings; an id posted before fails the transaction
        (primary key), so an entry is never posted twice."""
        if not entries:
            return
        self._c.execute(
            st.ledger_entries.insert(),
            [
                {
                    "id": e.entry_id,
                    "organization_id": organization_id,
                    "run_id": run_id,
                    "period": e.period,
                    "description": e.description[:200],
                    "currency": e.currency,
                    "created_at": at,
                }
                for e in entries
            ],
        )
        self._c.execute(
            st.ledger_postings.insert(),
            [
                {
                    "entry_id": e.entry_id,
                    "organization_id": organization_id,
                    "period": e.period,
                    "account": p.account,
                    "amount": p.amount,
                    "currency": e.currency,
                    "vpp_id": dict(p.dimensions).get("vpp"),
                    "market": dict(p.dimensions).get("market"),
                    "dimensions": dict(p.dimensions),
                }
                for e in entries
                for p in e.postings
            ],
        )

    def entries_of_run(self, run_id: str) -> list[JournalEntry]:
        le, lp = st.ledger_entries, st.ledger_postings
        rows = self._c.execute(
            sa.select(
                le.c.id,
                le.c.period,
                le.c.description,
                le.c.currency,
                lp.c.account,
                lp.c.amount,
                lp.c.dimensions,
            )
            .join(lp, lp.c.entry_id == le.c.id)
            .where(le.c.run_id == run_id)
            .order_by(le.c.id, lp.c.id)
        ).all()
        grouped: dict[str, list[Any]] = defaultdict(list)
        heads: dict[str, tuple[date, str, str]] = {}
        for eid, period, desc, cur, account, amount, dims in rows:
            heads[eid] = (period, desc, cur)
            grouped[eid].append(Posting(account, int(amount), tuple(sorted(dims.items()))))
        return [
            JournalEntry(eid, heads[eid][0], heads[eid][1], tuple(ps), heads[eid][2])
            for eid, ps in grouped.items()
        ]

    def balances(
        self,
        organization_id: str,
        *,
        first: date | None,
        last: date | None,
        by_period: bool,
        vpp_id: str | None = None,
    ) -> list[tuple[str, date | None, str, int]]:
        """Balances [minor units, debit positive]: account, period (``None`` unless
        ``by_period``), currency, amount."""
        lp = st.ledger_postings
        keys: list[Any] = [lp.c.account, lp.c.currency]
        if by_period:
            keys.insert(1, lp.c.period)
        query = sa.select(*keys, sa.func.sum(lp.c.amount)).where(
            lp.c.organization_id == organization_id
        )
        if first is not None:
            query = query.where(lp.c.period >= first)
        if last is not None:
            query = query.where(lp.c.period <= last)
        if vpp_id is not None:
            query = query.where(lp.c.vpp_id == vpp_id)
        query = query.group_by(*keys).order_by(*keys)
        out: list[tuple[str, date | None, str, int]] = []
        for row in self._c.execute(query):
            values = tuple(row)
            period = values[1] if by_period else None
            account, currency, amount = values[0], values[-2], values[-1]
            out.append((str(account), period, str(currency), int(amount)))
        return out
