"""Operations domain objects and their state rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from openvpp.core.errors import Conflict


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass
class Alert:
    """A system alert: open → acknowledged → resolved (or open → resolved)."""

    id: str
    organization_id: str | None
    severity: Severity
    source: str
    title: str
    message: str
    status: AlertStatus
    raised_at: datetime
    raised_by: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None

    def acknowledge(self, by: str, at: datetime) -> None:
        if self.status is not AlertStatus.OPEN:
            raise Conflict(
                f"alert is {self.status.value}; only an open alert can be acknowledged",
                field="status",
            )
        self.status, self.acknowledged_at, self.acknowledged_by = AlertStatus.ACKNOWLEDGED, at, by

    def resolve(self, by: str, at: datetime) -> None:
        if self.status is AlertStatus.RESOLVED:
            raise Conflict("alert is already resolved", field="status")
        self.status, self.resolved_at, self.resolved_by = AlertStatus.RESOLVED, at, by

    def audit_view(self) -> dict[str, Any]:
        return {"severity": self.severity.value, "title": self.title, "status": self.status.value}


@dataclass
class OperationLog:
    id: str
    organization_id: str | None
    occurred_at: datetime
    level: LogLevel
    category: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    actor_id: str | None = None
    request_id: str | None = None


@dataclass
class MetricSample:
    """One measured value of a named performance metric [``unit``]."""

    id: str
    organization_id: str | None
    name: str
    value: float
    unit: str
    measured_at: datetime
    labels: dict[str, str] = field(default_factory=dict)
