"""Operations services: alerts (raise, list, acknowledge, resolve), operation logs, metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.errors import NotFound, ValidationFailed
from openvpp.core.ids import new_id
from openvpp.identity.model import Principal
from openvpp.ops.model import Alert, AlertStatus, LogLevel, MetricSample, OperationLog, Severity
from openvpp.ports import UnitOfWork

MAX_METRIC_BATCH = 10_000


class OpsService:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def raise_alert(
        self,
        uow: UnitOfWork,
        principal: Principal,
        *,
        severity: Severity,
        source: str,
        title: str,
        message: str,
    ) -> Alert:
        alert = Alert(
            id=new_id(),
            organization_id=principal.organization_id,
            severity=severity,
            source=source,
            title=title,
            message=message,
            status=AlertStatus.OPEN,
            raised_at=self._clock.now(),
            raised_by=principal.id,
        )
        with uow:
            uow.alerts.add(alert)
            uow.record(AuditEvent("alert.raise", "alert", alert.id, after=alert.audit_view()))
            uow.commit()
        return alert

    def list_alerts(
        self,
        uow: UnitOfWork,
        principal: Principal,
        status: AlertStatus | None,
        limit: int,
        offset: int,
    ) -> list[Alert]:
        with uow:
            return uow.alerts.list(principal.organization_id, status, limit, offset)

    def get_alert(self, uow: UnitOfWork, principal: Principal, alert_id: str) -> Alert:
        with uow:
            return self._alert(uow, principal, alert_id)

    def acknowledge_alert(self, uow: UnitOfWork, principal: Principal, alert_id: str) -> Alert:
        return self._transition(uow, principal, alert_id, "acknowledge")

    def resolve_alert(self, uow: UnitOfWork, principal: Principal, alert_id: str) -> Alert:
        return self._transition(uow, principal, alert_id, "resolve")

    def _transition(self, uow: UnitOfWork, principal: Principal, alert_id: str, verb: str) -> Alert:
        with uow:
            alert = self._alert(uow, principal, alert_id, for_update=True)
            before = alert.audit_view()
            getattr(alert, verb)(principal.id, self._clock.now())
            uow.alerts.update(alert)
            uow.record(
                AuditEvent(
                    f"alert.{verb}", "alert", alert.id, before=before, after=alert.audit_view()
                )
            )
            uow.commit()
        return alert

    @staticmethod
    def _alert(
        uow: UnitOfWork, principal: Principal, alert_id: str, *, for_update: bool = False
    ) -> Alert:
        alert = uow.alerts.get(principal.organization_id, alert_id, for_update=for_update)
        if alert is None:
            raise NotFound(f"alert {alert_id!r} not found", field="alert_id")
        return alert

    def log_operation(
        self,
        uow: UnitOfWork,
        principal: Principal,
        *,
        level: LogLevel,
        category: str,
        message: str,
        details: dict[str, Any],
        request_id: str | None,
    ) -> OperationLog:
        entry = OperationLog(
            id=new_id(),
            organization_id=principal.organization_id,
            occurred_at=self._clock.now(),
            level=level,
            category=category,
            message=message,
            details=details,
            actor_id=principal.id,
            request_id=request_id,
        )
        with uow:
            uow.operation_logs.add(entry)
            uow.record(
                AuditEvent(
                    "operation_log.create",
                    "operation_log",
                    entry.id,
                    after={"category": category, "level": level.value},
                )
            )
            uow.commit()
        return entry

    def list_operation_logs(
        self,
        uow: UnitOfWork,
        principal: Principal,
        category: str | None,
        limit: int,
        offset: int,
    ) -> list[OperationLog]:
        with uow:
            return uow.operation_logs.list(principal.organization_id, category, limit, offset)

    def record_metrics(
        self, uow: UnitOfWork, principal: Principal, samples: Sequence[MetricInput]
    ) -> list[MetricSample]:
        if not samples:
            raise ValidationFailed("at least one sample is needed", field="samples")
        if len(samples) > MAX_METRIC_BATCH:
            raise ValidationFailed(f"at most {MAX_METRIC_BATCH} samples per call", field="samples")
        now = self._clock.now()
        rows = [
            MetricSample(
                id=new_id(),
                organization_id=principal.organization_id,
                name=s.name,
                value=s.value,
                unit=s.unit,
                measured_at=s.measured_at or now,
                labels=s.labels,
            )
            for s in samples
        ]
        with uow:
            uow.metrics.add_many(rows)
            uow.record(
                AuditEvent(
                    "metrics.record",
                    "performance_metric",
                    None,
                    after={"count": len(rows), "names": sorted({r.name for r in rows})},
                )
            )
            uow.commit()
        return rows

    def list_metrics(
        self,
        uow: UnitOfWork,
        principal: Principal,
        *,
        name: str | None,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        offset: int,
    ) -> list[MetricSample]:
        if start is not None and end is not None and end <= start:
            raise ValidationFailed("end must be after start", field="end")
        with uow:
            return uow.metrics.list(principal.organization_id, name, start, end, limit, offset)


@dataclass(frozen=True)
class MetricInput:
    name: str
    value: float
    unit: str
    labels: dict[str, str]
    measured_at: datetime | None = None
