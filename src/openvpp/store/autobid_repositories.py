"""Automatic bidding: auto-trading settings and bidding decisions (one per delivery day, the
unique key decides). Like every repository, these never commit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from openvpp.store import loop_tables as lt
from openvpp.trading.autobid_records import (
    AutoTradingSetting,
    DecisionFilter,
    DecisionRecord,
    DuplicateDecision,
)

DecidedKey = tuple[str, str, str, str, date]
"""(organization, VPP, market, product, delivery day) of a stored decision."""

_a = lt.auto_trading
_d = lt.bid_decisions
_SETTING_KEY = ("organization_id", "vpp_id", "market", "product")


def _setting(row: Mapping[str, Any] | RowMapping) -> AutoTradingSetting:
    return AutoTradingSetting(
        organization_id=row["organization_id"],
        vpp_id=row["vpp_id"],
        market=row["market"],
        product=row["product"],
        enabled=bool(row["enabled"]),
        strategy=row["strategy"],
        connection_id=row["connection_id"],
        price_model_id=row["price_model_id"],
        lead_min=int(row["lead_min"]),
        margin_min=int(row["margin_min"]),
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def _setting_row(s: AutoTradingSetting) -> dict[str, Any]:
    return {
        "organization_id": s.organization_id,
        "vpp_id": s.vpp_id,
        "market": s.market,
        "product": s.product,
        "enabled": s.enabled,
        "strategy": s.strategy,
        "connection_id": s.connection_id,
        "price_model_id": s.price_model_id,
        "lead_min": s.lead_min,
        "margin_min": s.margin_min,
        "updated_at": s.updated_at,
        "updated_by": s.updated_by,
    }


class AutoTradingRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def get(
        self, organization_id: str, vpp_id: str, market: str, product: str
    ) -> AutoTradingSetting | None:
        row = (
            self._c.execute(
                sa.select(_a).where(
                    _a.c.organization_id == organization_id,
                    _a.c.vpp_id == vpp_id,
                    _a.c.market == market,
                    _a.c.product == product,
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else _setting(row)

    def of_org(self, organization_id: str) -> list[AutoTradingSetting]:
        query = (
            sa.select(_a)
            .where(_a.c.organization_id == organization_id)
            .order_by(_a.c.vpp_id, _a.c.market, _a.c.product)
        )
        return [_setting(r) for r in self._c.execute(query).mappings()]

    def enabled(self) -> list[AutoTradingSetting]:
        """The enabled settings of every organization."""
        query = (
            sa.select(_a)
            .where(_a.c.enabled.is_(True))
            .order_by(_a.c.organization_id, _a.c.vpp_id, _a.c.market, _a.c.product)
        )
        return [_setting(r) for r in self._c.execute(query).mappings()]

    def upsert(self, setting: AutoTradingSetting) -> None:
        """Insert, or (the primary key taken, also by a concurrent insert) update."""
        row = _setting_row(setting)
        try:
            with self._c.begin_nested():
                self._c.execute(_a.insert().values(**row))
            return
        except IntegrityError:
            pass
        where = [_a.c[name] == row[name] for name in _SETTING_KEY]
        values = {k: v for k, v in row.items() if k not in _SETTING_KEY}
        self._c.execute(_a.update().where(*where).values(**values))


def _decision(row: Mapping[str, Any] | RowMapping) -> DecisionRecord:
    return DecisionRecord(
        id=row["id"],
        organization_id=row["organization_id"],
        vpp_id=row["vpp_id"],
        market=row["market"],
        product=row["product"],
        delivery_day=date.fromisoformat(row["delivery_day"]),
        gate_closure=row["gate_closure"],
        status=row["status"],
        strategy=row["strategy"],
        inputs=row["inputs"],
        result=row["result"],
        orders=row["orders"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class BidDecisionRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def insert(self, record: DecisionRecord) -> None:
        """Insert; :class:`DuplicateDecision` when the day is decided already (the unique key
        decides, also between concurrent inserts; in a savepoint, so the transaction goes
        on)."""
        row = {
            "id": record.id,
            "organization_id": record.organization_id,
            "vpp_id": record.vpp_id,
            "market": record.market,
            "product": record.product,
            "delivery_day": record.delivery_day.isoformat(),
            "gate_closure": record.gate_closure,
            "status": record.status,
            "strategy": record.strategy,
            "inputs": record.inputs,
            "result": record.result,
            "orders": record.orders,
            "error": record.error,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
        }
        try:
            with self._c.begin_nested():
                self._c.execute(_d.insert().values(**row))
        except IntegrityError as exc:
            raise DuplicateDecision(record.delivery_day.isoformat()) from exc

    def update(self, record: DecisionRecord) -> None:
        """Write the outcome: status, inputs, result, orders, error, updated_at."""
        self._c.execute(
            _d.update()
            .where(_d.c.id == record.id, _d.c.organization_id == record.organization_id)
            .values(
                status=record.status,
                inputs=record.inputs,
                result=record.result,
                orders=record.orders,
                error=None if record.error is None else record.error[:1000],
                updated_at=record.updated_at,
            )
        )

    def get(self, organization_id: str, decision_id: str) -> DecisionRecord | None:
        row = (
            self._c.execute(
                sa.select(_d).where(_d.c.organization_id == organization_id, _d.c.id == decision_id)
            )
            .mappings()
            .first()
        )
        return None if row is None else _decision(row)

    def of_day(
        self, organization_id: str, vpp_id: str, market: str, product: str, day: date
    ) -> DecisionRecord | None:
        row = (
            self._c.execute(
                sa.select(_d).where(
                    _d.c.organization_id == organization_id,
                    _d.c.vpp_id == vpp_id,
                    _d.c.market == market,
                    _d.c.product == product,
                    _d.c.delivery_day == day.isoformat(),
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else _decision(row)

    def page(
        self, organization_id: str, f: DecisionFilter, limit: int, offset: int
    ) -> list[DecisionRecord]:
        """Newest first."""
        query = sa.select(_d).where(_d.c.organization_id == organization_id)
        for name in ("vpp_id", "market", "product", "status"):
            value = getattr(f, name)
            if value is not None:
                query = query.where(_d.c[name] == value)
        if f.day is not None:
            query = query.where(_d.c.delivery_day == f.day.isoformat())
        query = query.order_by(_d.c.created_at.desc(), _d.c.id).limit(limit).offset(offset)
        return [_decision(r) for r in self._c.execute(query).mappings()]

    def decided_since(
        self, first_day: date, *, stale_before: datetime | None = None
    ) -> set[DecidedKey]:
        """The (organization, VPP, market, product, day) of every decision for ``first_day``
        or later, of every organization; with ``stale_before``, without the ``pending`` ones
        untouched since then (abandoned: their day is to be decided again)."""
        query = sa.select(
            _d.c.organization_id, _d.c.vpp_id, _d.c.market, _d.c.product, _d.c.delivery_day
        ).where(_d.c.delivery_day >= first_day.isoformat())
        if stale_before is not None:
            query = query.where(sa.or_(_d.c.status != "pending", _d.c.updated_at >= stale_before))
        return {
            (org, vpp, market, product, date.fromisoformat(day))
            for org, vpp, market, product, day in self._c.execute(query)
        }

    def claim_stale(
        self, organization_id: str, decision_id: str, stale_before: datetime, now: datetime
    ) -> bool:
        """Take over a ``pending`` decision untouched since ``stale_before`` (its maker
        stopped): ``updated_at`` set to ``now`` if it still is; whether this call won."""
        done = self._c.execute(
            _d.update()
            .where(
                _d.c.organization_id == organization_id,
                _d.c.id == decision_id,
                _d.c.status == "pending",
                _d.c.updated_at < stale_before,
            )
            .values(updated_at=now)
        )
        return done.rowcount == 1

    def fail_abandoned(self, stale_before: datetime, now: datetime, error: str) -> list[str]:
        """Mark ``failed`` with ``error`` every ``pending`` decision untouched since
        ``stale_before`` whose gate has closed by ``now`` (it can no longer be made); their
        ids."""
        stale = sa.and_(
            _d.c.status == "pending", _d.c.updated_at < stale_before, _d.c.gate_closure <= now
        )
        ids = [r[0] for r in self._c.execute(sa.select(_d.c.id).where(stale))]
        if ids:
            self._c.execute(
                _d.update()
                .where(_d.c.id.in_(ids), stale)
                .values(status="failed", error=error[:1000], updated_at=now)
            )
        return ids
