"""System alerts, operation logs and performance metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from openvpp.api.deps import (
    InfoDep,
    PageDep,
    PrincipalDep,
    ReadUow,
    RuntimeDep,
    WriteUow,
    blocking,
    read,
)
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.common import UTCDatetime
from openvpp.api.schemas.ops import (
    AlertIn,
    AlertOut,
    MetricBatchIn,
    MetricSampleOut,
    OperationLogIn,
    OperationLogOut,
    RecordedOut,
)
from openvpp.ops.model import AlertStatus
from openvpp.ops.service import MetricInput

router = APIRouter(prefix=API_PREFIX, tags=["operations"])


@router.get("/alerts", summary="System alerts, newest first")
async def list_alerts(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    status: AlertStatus | None = None,
) -> list[AlertOut]:
    alerts = await read(rt, rt.ops.list_alerts, uow, principal, status, page.limit, page.offset)
    return [AlertOut.model_validate(a) for a in alerts]


@router.post("/alerts", status_code=201, summary="Raise an alert")
async def raise_alert(
    body: AlertIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> AlertOut:
    alert = await blocking(
        rt.ops.raise_alert,
        uow,
        principal,
        severity=body.severity,
        source=body.source,
        title=body.title,
        message=body.message,
    )
    return AlertOut.model_validate(alert)


@router.get("/alerts/{alert_id}", summary="One alert")
async def get_alert(
    alert_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> AlertOut:
    return AlertOut.model_validate(await read(rt, rt.ops.get_alert, uow, principal, alert_id))


@router.post("/alerts/{alert_id}/acknowledge", summary="Acknowledge an open alert")
async def acknowledge_alert(
    alert_id: str, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> AlertOut:
    return AlertOut.model_validate(
        await blocking(rt.ops.acknowledge_alert, uow, principal, alert_id)
    )


@router.post("/alerts/{alert_id}/resolve", summary="Resolve an alert")
async def resolve_alert(
    alert_id: str, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> AlertOut:
    return AlertOut.model_validate(await blocking(rt.ops.resolve_alert, uow, principal, alert_id))


@router.get("/operation-logs", summary="Operation logs, newest first")
async def list_operation_logs(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    category: Annotated[str | None, Query(max_length=64)] = None,
) -> list[OperationLogOut]:
    logs = await read(
        rt, rt.ops.list_operation_logs, uow, principal, category, page.limit, page.offset
    )
    return [OperationLogOut.model_validate(e) for e in logs]


@router.post("/operation-logs", status_code=201, summary="Record an operation")
async def log_operation(
    body: OperationLogIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep, info: InfoDep
) -> OperationLogOut:
    entry = await blocking(
        rt.ops.log_operation,
        uow,
        principal,
        level=body.level,
        category=body.category,
        message=body.message,
        details=body.details,
        request_id=info.request_id,
    )
    return OperationLogOut.model_validate(entry)


@router.get("/performance-metrics", summary="Performance metric samples, oldest first")
async def list_metrics(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    name: Annotated[str | None, Query(max_length=100)] = None,
    start: UTCDatetime | None = None,
    end: UTCDatetime | None = None,
) -> list[MetricSampleOut]:
    samples = await read(
        rt,
        rt.ops.list_metrics,
        uow,
        principal,
        name=name,
        start=start,
        end=end,
        limit=page.limit,
        offset=page.offset,
    )
    return [MetricSampleOut.model_validate(s) for s in samples]


@router.post("/performance-metrics", status_code=201, summary="Record metric samples")
async def record_metrics(
    body: MetricBatchIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> RecordedOut:
    rows = await blocking(
        rt.ops.record_metrics,
        uow,
        principal,
        [
            MetricInput(
                name=s.name, value=s.value, unit=s.unit, labels=s.labels, measured_at=s.measured_at
            )
            for s in body.samples
        ],
    )
    return RecordedOut(recorded=len(rows))
