"""The SQLAlchemy unit of work: one connection, one transaction, audit row written at commit."""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Self

from sqlalchemy.engine import Connection, Engine

from openvpp.audit.chain import AuditContext, AuditEvent
from openvpp.core.clock import Clock
from openvpp.ports import UnitOfWork
from openvpp.store import ai_repositories as ar
from openvpp.store import autobid_repositories as abr
from openvpp.store import dispatch_repositories as dr
from openvpp.store import market_repositories as mr
from openvpp.store import repositories as r
from openvpp.store import settlement_repositories as sr
from openvpp.store import trading_repositories as tr
from openvpp.store import vpp_repositories as vr
from openvpp.store.db import IMMEDIATE


class AuditSink:
    """Per-request flag telling the API middleware that this request was audited already."""

    def __init__(self) -> None:
        self.written = False


class SqlUnitOfWork:
    """Use as ``with uow: ...; uow.commit()``. Leaving without commit rolls back."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock,
        audit_key: bytes,
        context: AuditContext | None = None,
        sink: AuditSink | None = None,
        readonly: bool = False,
        snapshot: bool = False,
        write_lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        """``readonly`` units never write; ``snapshot`` ones also see one consistent state
        across all their statements (REPEATABLE READ on PostgreSQL and MariaDB; any SQLite
        read transaction is one)."""
        self._engine = engine
        self._clock = clock
        self._audit_key = audit_key
        self.context = context or AuditContext()
        self._sink = sink
        self._readonly = readonly
        self._snapshot = snapshot
        self._write_lock = None if readonly else write_lock
        self._conn: Connection | None = None
        self._pending: AuditEvent | None = None
        self._on_behalf: list[tuple[AuditContext, AuditSink | None, AuditEvent]] = []

    def __enter__(self) -> Self:
        conn = self._engine.connect()
        if self._write_lock is not None:
            # SQLite has one writer at a time. Writers queue here, in order, instead of in
            # SQLite's busy handler, whose sleeps grow to 100 ms per retry. Taken after the
            # checkout, so that a failed checkout cannot leave it held.
            try:
                self._write_lock.__enter__()
            except BaseException:
                conn.close()
                raise
        if not self._readonly:
            conn = conn.execution_options(**{IMMEDIATE: True})
        elif conn.dialect.name != "sqlite":
            # Server databases run at READ COMMITTED: every statement sees its own snapshot.
            # Plain reads get exactly that without BEGIN/ROLLBACK round trips (autocommit);
            # a snapshot unit (the audit verifier) gets one snapshot for all its statements.
            conn = conn.execution_options(
                isolation_level="REPEATABLE READ" if self._snapshot else "AUTOCOMMIT"
            )
        # The transaction begins with the first statement (SQLAlchemy autobegin).
        self._conn = conn
        self.organizations = r.OrganizationRepo(conn)
        self.users = r.UserRepo(conn)
        self.sessions = r.SessionRepo(conn)
        self.refresh_tokens = r.RefreshTokenRepo(conn)
        self.api_keys = r.ApiKeyRepo(conn)
        self.audit = r.AuditRepo(conn, self._audit_key)
        self.alerts = r.AlertRepo(conn)
        self.operation_logs = r.OperationLogRepo(conn)
        self.metrics = r.MetricRepo(conn)
        self.jobs = r.JobRepo(conn)
        self.resources = r.ResourceRepo(conn)
        self.telemetry = r.TelemetryRepo(conn)
        self.device_templates = r.DeviceTemplateRepo(conn)
        self.vpps = vr.VppRepo(conn)
        self.grid_nodes = vr.GridNodeRepo(conn)
        self.market_data = mr.MarketDataRepo(conn)
        self.market_imports = mr.MarketImportRepo(conn)
        self.market_connections = mr.MarketConnectionRepo(conn)
        self.ai_models = ar.AiModelRepo(conn)
        self.predictions = ar.PredictionRepo(conn)
        self.trading_orders = tr.TradingOrderRepo(conn)
        self.trading_fills = tr.TradingFillRepo(conn)
        self.trading_control = tr.TradingControlRepo(conn)
        self.dispatch = dr.DispatchRepo(conn)
        self.monitoring = dr.MonitoringRepo(conn)
        self.auto_trading = abr.AutoTradingRepo(conn)
        self.bid_decisions = abr.BidDecisionRepo(conn)
        self.settlement = sr.SettlementRepo(conn)
        self.ledger = sr.LedgerRepo(conn)
        self._pending = None
        self._on_behalf = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                try:
                    if conn.in_transaction():
                        conn.rollback()
                finally:
                    conn.close()
        finally:
            if self._write_lock is not None:
                self._write_lock.__exit__(None, None, None)

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("unit of work is not active; use it in a with-block")
        return self._conn

    def record(self, event: AuditEvent) -> None:
        if self._pending is not None:
            raise RuntimeError(
                f"one audit event per unit of work: {self._pending.action} already recorded"
            )
        self._pending = event

    def record_for(self, other: UnitOfWork, event: AuditEvent) -> None:
        if not isinstance(other, SqlUnitOfWork):
            raise TypeError("record_for takes another SqlUnitOfWork")
        self._on_behalf.append((other.context, other._sink, event))

    def audited(self) -> None:
        if self._sink is not None:
            self._sink.written = True

    def commit(self) -> None:
        conn = self.connection
        entries = [(ctx, event) for ctx, _, event in self._on_behalf]
        if self._pending is not None:
            entries.insert(0, (self.context, self._pending))
        self.trading_orders.flush()  # the exposure rows its order writes changed
        if entries:
            self.audit.append_many(entries, self._clock.now())
        conn.commit()
        if self._pending is not None and self._sink is not None:
            self._sink.written = True
        for _, sink, _ in self._on_behalf:
            if sink is not None:
                sink.written = True
        self._pending = None
        self._on_behalf = []

    def rollback(self) -> None:
        conn = self.connection
        conn.rollback()
        self.trading_orders.discard()
        self._pending = None
        self._on_behalf = []
