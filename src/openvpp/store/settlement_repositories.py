"""Settlement runs, their interval details and the ledger in SQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

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

_CHUNK = 5_000  # rows per INSERT statement (executemany)


def _run(row: RowMapping) -> SettlementRun:
    data = dict(row)
    data["minor_unit"] = Decimal(data["minor_unit"])
    data["energy_step_mwh"] = Decimal(data["energy_step_mwh"])
    data["totals"] = {k: int(v) for k, v in data["totals"].items()}
    data["total"] = int(data["total"])
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
        columns = {name: details.amounts[name].tolist() for name in AMOUNT_COLUMNS}
        scheduled, metered = details.scheduled.tolist(), details.metered.tolist()
        estimated, minutes = details.estimated.tolist(), details.minutes.tolist()
        rows: list[dict[str, Any]] = []
        for i in range(len(details)):
            row = {
                "run_id": run.id,
                "resource_id": details.resource_ids[i],
                "interval_start": details.starts[i],
                "interval_min": minutes[i],
                "scheduled": scheduled[i],
                "metered": metered[i],
                "estimated": estimated[i],
            }
            for name in AMOUNT_COLUMNS:
                row[name] = columns[name][i]
            rows.append(row)
            if len(rows) == _CHUNK:
                self._c.execute(st.settlement_intervals.insert(), rows)
                rows = []
        if rows:
            self._c.execute(st.settlement_intervals.insert(), rows)

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

    def settled(self, organization_id: str, first: date, last: date) -> set[tuple[str, str, date]]:
        """(VPP, market, day) of every run on the days ``first`` … ``last``."""
        r = st.settlement_runs
        rows = self._c.execute(
            sa.select(r.c.vpp_id, r.c.market, r.c.day)
            .where(r.c.organization_id == organization_id, r.c.day >= first, r.c.day <= last)
            .distinct()
        )
        return {(str(v), str(m), d) for v, m, d in rows}

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
