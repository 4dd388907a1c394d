"""Repositories of the dispatch loop: dispatch instructions, monitoring records, and the fills
a VPP's position is made of. Repositories never commit (the unit of work does)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from openvpp.dispatch.instructions_service import (
    InstructionFilter,
    InstructionRecord,
    InstructionStatus,
    MonitoringRecord,
)
from openvpp.dispatch.protocol import Ack
from openvpp.settlement.positions import MeterRow
from openvpp.store import loop_tables as lt
from openvpp.store import tables as t

__all__ = ["DispatchRepo", "FillPosition", "MonitoringRepo"]

LONGEST_PRODUCT = timedelta(minutes=240)
FillPosition = tuple[str, str, datetime, str, Decimal, Decimal]
"""market, product, delivery start [UTC], side, quantity [MW], price [currency/MWh]"""


def _instruction(row: RowMapping) -> InstructionRecord:
    values: dict[str, Any] = dict(row)
    values["status"] = InstructionStatus(values["status"])
    return InstructionRecord(**values)


class DispatchRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add_many(self, records: Sequence[InstructionRecord]) -> None:
        """Insert the instructions (one statement); a (resource, seq) stored already raises
        ``IntegrityError`` (two dispatchers raced: the unit of work rolls back)."""
        if records:
            rows = [{**asdict(r), "status": r.status.value} for r in records]
            self._c.execute(lt.dispatch_instructions.insert(), rows)

    def apply_acks(self, organization_id: str, acks: Iterable[Ack]) -> int:
        """Record the devices' answers on the instructions still ``sent`` (a repeated or late
        ack never overwrites an earlier answer); returns the number of rows changed."""
        d = lt.dispatch_instructions
        changed = 0
        for ack in acks:
            done = self._c.execute(
                d.update()
                .where(
                    d.c.id == ack.instruction_id,
                    d.c.organization_id == organization_id,
                    d.c.status == InstructionStatus.SENT.value,
                )
                .values(
                    status=InstructionStatus.of_ack(ack.status).value,
                    acked_at=ack.at,
                    reason=(ack.reason or None) and ack.reason[:500],
                )
            )
            changed += done.rowcount or 0
        return changed

    def expire_unanswered(self, organization_id: str, now: datetime) -> int:
        """Instructions never answered whose window has ended: ``expired``."""
        d = lt.dispatch_instructions
        done = self._c.execute(
            d.update()
            .where(
                d.c.organization_id == organization_id,
                d.c.status == InstructionStatus.SENT.value,
                d.c.valid_until <= now,
            )
            .values(
                status=InstructionStatus.EXPIRED.value, reason="no answer before the window ended"
            )
        )
        return done.rowcount or 0

    def next_seq(self, resource_ids: Sequence[str]) -> dict[str, int]:
        """The next free sequence number per resource (1 for a resource never instructed)."""
        d = lt.dispatch_instructions
        out = dict.fromkeys(resource_ids, 1)
        if resource_ids:
            rows = self._c.execute(
                sa.select(d.c.resource_id, sa.func.max(d.c.seq))
                .where(d.c.resource_id.in_(list(resource_ids)))
                .group_by(d.c.resource_id)
            )
            for rid, seq in rows:
                out[rid] = int(seq) + 1
        return out

    def between(
        self, organization_id: str, vpp_id: str, start: datetime, end: datetime
    ) -> list[InstructionRecord]:
        """The VPP's instructions whose window starts in ``[start, end)``, by start then seq."""
        d = lt.dispatch_instructions
        rows = self._c.execute(
            d.select()
            .where(
                d.c.organization_id == organization_id,
                d.c.vpp_id == vpp_id,
                d.c.valid_from >= start,
                d.c.valid_from < end,
            )
            .order_by(d.c.valid_from, d.c.seq)
        ).mappings()
        return [_instruction(r) for r in rows]

    def page(
        self, organization_id: str, f: InstructionFilter, limit: int, offset: int
    ) -> list[InstructionRecord]:
        d = lt.dispatch_instructions
        query = d.select().where(d.c.organization_id == organization_id)
        if f.vpp_id is not None:
            query = query.where(d.c.vpp_id == f.vpp_id)
        if f.resource_id is not None:
            query = query.where(d.c.resource_id == f.resource_id)
        if f.start is not None:
            query = query.where(d.c.valid_from >= f.start)
        if f.end is not None:
            query = query.where(d.c.valid_from < f.end)
        query = query.order_by(d.c.valid_from.desc(), d.c.resource_id, d.c.seq.desc())
        rows = self._c.execute(query.limit(limit).offset(offset)).mappings()
        return [_instruction(r) for r in rows]

    def vpps_with_instructions(
        self, organization_id: str, start: datetime, end: datetime
    ) -> list[tuple[str, datetime]]:
        """(VPP, window start) of the instructions starting in ``[start, end)``."""
        d = lt.dispatch_instructions
        rows = self._c.execute(
            sa.select(d.c.vpp_id, d.c.valid_from)
            .where(
                d.c.organization_id == organization_id,
                d.c.valid_from >= start,
                d.c.valid_from < end,
            )
            .distinct()
        )
        return [(vpp, at) for vpp, at in rows]

    def fills(
        self, organization_id: str, vpp_id: str, start: datetime, end: datetime
    ) -> list[FillPosition]:
        """The VPP's fills whose delivery may overlap ``[start, end)`` (products up to four
        hours long): market, product, delivery start, side, quantity, price."""
        f = t.trading_fills
        rows = self._c.execute(
            sa.select(
                f.c.market, f.c.product, f.c.delivery_start, f.c.side, f.c.quantity, f.c.price
            ).where(
                f.c.organization_id == organization_id,
                f.c.vpp_id == vpp_id,
                f.c.delivery_start > start - LONGEST_PRODUCT,
                f.c.delivery_start < end,
            )
        )
        return [(m, p, ds, side, Decimal(q), Decimal(pr)) for m, p, ds, side, q, pr in rows]


def _monitoring(row: RowMapping) -> MonitoringRecord:
    return MonitoringRecord(**dict(row))


class MonitoringRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def upsert(self, records: Sequence[MonitoringRecord]) -> list[bool]:
        """Insert each record, or update the stored one of its (VPP, resource, interval)
        (the unique key, tried in a savepoint: the same on SQLite, PostgreSQL and MariaDB).
        Returns per record whether it was new."""
        m = lt.monitoring_records
        out: list[bool] = []
        for rec in records:
            try:
                with self._c.begin_nested():
                    self._c.execute(m.insert().values(**asdict(rec)))
                out.append(True)
            except IntegrityError:
                values = asdict(rec)
                for key in ("id", "organization_id", "vpp_id", "resource_id", "interval_start"):
                    values.pop(key)
                self._c.execute(
                    m.update()
                    .where(
                        m.c.organization_id == rec.organization_id,
                        m.c.vpp_id == rec.vpp_id,
                        m.c.resource_id == rec.resource_id,
                        m.c.interval_start == rec.interval_start,
                    )
                    .values(**values)
                )
                out.append(False)
        return out

    def monitored(
        self, organization_id: str, vpp_id: str, starts: Sequence[datetime]
    ) -> set[datetime]:
        """Which of the interval starts have the VPP's total recorded already."""
        m = lt.monitoring_records
        if not starts:
            return set()
        rows = self._c.execute(
            sa.select(m.c.interval_start).where(
                m.c.organization_id == organization_id,
                m.c.vpp_id == vpp_id,
                m.c.resource_id == "",
                m.c.interval_start.in_(list(starts)),
            )
        )
        return {r[0] for r in rows}

    def page(
        self,
        organization_id: str,
        *,
        vpp_id: str | None,
        resource_id: str | None,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        offset: int,
    ) -> list[MonitoringRecord]:
        m = lt.monitoring_records
        query = m.select().where(m.c.organization_id == organization_id)
        if vpp_id is not None:
            query = query.where(m.c.vpp_id == vpp_id)
        if resource_id is not None:
            query = query.where(m.c.resource_id == resource_id)
        if start is not None:
            query = query.where(m.c.interval_start >= start)
        if end is not None:
            query = query.where(m.c.interval_start < end)
        query = query.order_by(m.c.interval_start.desc(), m.c.vpp_id, m.c.resource_id)
        return [
            _monitoring(r) for r in self._c.execute(query.limit(limit).offset(offset)).mappings()
        ]

    def meter_rows(
        self,
        organization_id: str,
        vpp_id: str,
        start: datetime,
        end: datetime,
        *,
        vpp_only: bool = False,
    ) -> list[MeterRow]:
        """The VPP's monitoring rows starting in ``[start, end)``: resource id (``""`` for the
        VPP), interval start, length [min], scheduled and metered power [MW]; ``vpp_only``:
        the VPP's own rows only."""
        m = lt.monitoring_records
        rows = self._c.execute(
            sa.select(
                m.c.resource_id,
                m.c.interval_start,
                m.c.interval_min,
                m.c.scheduled_mw,
                m.c.metered_mw,
            ).where(
                m.c.organization_id == organization_id,
                m.c.vpp_id == vpp_id,
                m.c.interval_start >= start,
                m.c.interval_start < end,
                *((m.c.resource_id == "",) if vpp_only else ()),
            )
        )
        # the column types deliver str, datetime, int and float already
        return [tuple(row) for row in rows.all()]
