"""Schemas of audit records, alerts, operation logs, performance metrics and jobs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from openvpp.api.schemas.common import In, Out, UTCDatetime
from openvpp.audit.chain import AuditRecord
from openvpp.jobs.model import Job, JobStatus
from openvpp.ops.model import AlertStatus, LogLevel, Severity

NAME = r"^[A-Za-z0-9_.:-]+$"


class AuditRecordOut(Out):
    seq: int
    occurred_at: datetime
    request_id: str | None
    actor_type: str
    actor_id: str | None
    organization_id: str | None
    action: str
    object_type: str | None
    object_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    outcome: str
    status_code: int | None
    hash: str

    @classmethod
    def of(cls, rec: AuditRecord) -> AuditRecordOut:
        return cls(
            seq=rec.seq,
            occurred_at=rec.occurred_at,
            request_id=rec.request_id,
            actor_type=rec.actor_type,
            actor_id=rec.actor_id,
            organization_id=rec.organization_id,
            action=rec.action,
            object_type=rec.object_type,
            object_id=rec.object_id,
            before=json.loads(rec.before) if rec.before else None,
            after=json.loads(rec.after) if rec.after else None,
            outcome=rec.outcome,
            status_code=rec.status_code,
            hash=rec.hash,
        )


class VerifyOut(Out):
    ok: bool
    checked: int
    first_bad_seq: int | None
    problem: str | None


class AlertIn(In):
    severity: Severity
    source: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=200)
    message: str = Field(default="", max_length=10_000)


class AlertOut(Out):
    id: str
    severity: Severity
    source: str
    title: str
    message: str
    status: AlertStatus
    raised_at: datetime
    raised_by: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None


class OperationLogIn(In):
    level: LogLevel = LogLevel.INFO
    category: str = Field(min_length=1, max_length=64, pattern=NAME)
    message: str = Field(min_length=1, max_length=10_000)
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("details")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value)) > 20_000:
            raise ValueError("details must serialize to at most 20000 characters")
        return value


class OperationLogOut(Out):
    id: str
    occurred_at: datetime
    level: LogLevel
    category: str
    message: str
    details: dict[str, Any]
    actor_id: str | None
    request_id: str | None


class MetricSampleIn(In):
    name: str = Field(min_length=1, max_length=100, pattern=NAME)
    value: float = Field(allow_inf_nan=False, strict=True)
    unit: str = Field(default="", max_length=20)
    labels: dict[str, str] = Field(default_factory=dict, max_length=20)
    measured_at: UTCDatetime | None = None


class MetricBatchIn(In):
    samples: list[MetricSampleIn] = Field(min_length=1, max_length=10_000)


class MetricSampleOut(Out):
    id: str
    name: str
    value: float
    unit: str
    labels: dict[str, str]
    measured_at: datetime


class RecordedOut(Out):
    recorded: int


class JobIn(In):
    kind: str = Field(min_length=1, max_length=64, pattern=NAME)
    params: dict[str, Any] = Field(default_factory=dict)


class JobOut(Out):
    id: str
    kind: str
    params: dict[str, Any]
    status: JobStatus
    progress: float
    message: str
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    cancel_requested: bool
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls.model_validate(job)


class JobKindOut(Out):
    kind: str
    description: str
    roles: list[str]
