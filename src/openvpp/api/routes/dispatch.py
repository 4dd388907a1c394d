"""Dispatch and monitoring (``/api/vpp/dispatch``, ``/api/vpp/monitoring``): the stored
dispatch instructions, dispatching a VPP's current and next interval now, the monitoring
records and the live estimate of the interval in progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from openvpp.api.deps import PageDep, PrincipalDep, ReadUow, RuntimeDep, WriteUow, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.common import UTCDatetime
from openvpp.api.schemas.dispatch import (
    DispatchRunIn,
    DispatchRunOut,
    InstructionOut,
    LiveOut,
    MonitoringRecordOut,
)
from openvpp.core.errors import NotFound, ValidationFailed
from openvpp.dispatch.instructions_service import InstructionFilter
from openvpp.identity.model import Principal
from openvpp.ports import UnitOfWork
from openvpp.runtime_dispatch import dispatch_vpp

router = APIRouter(prefix=API_PREFIX, tags=["dispatch"])
Id = Annotated[str | None, Query(min_length=1, max_length=64)]


def _check_range(start: UTCDatetime | None, end: UTCDatetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("to must be after from", field="to")


def _vpp_of(u: UnitOfWork, p: Principal, vpp_id: str | None) -> None:
    if vpp_id is not None and u.vpps.get(p.organization_id, vpp_id) is None:
        raise NotFound(f"no VPP {vpp_id}", field="vpp_id")


@router.get("/dispatch/instructions", summary="Dispatch instructions, newest window first")
async def instructions(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    vpp_id: Id = None,
    resource_id: Id = None,
    start: Annotated[UTCDatetime | None, Query(alias="from")] = None,
    end: Annotated[UTCDatetime | None, Query(alias="to")] = None,
) -> list[InstructionOut]:
    _check_range(start, end)
    f = InstructionFilter(vpp_id, resource_id, start, end)

    def query(u: UnitOfWork, p: Principal) -> list[InstructionOut]:
        with u:
            _vpp_of(u, p, vpp_id)
            found = u.dispatch.page(p.organization_id, f, page.limit, page.offset)
        return [InstructionOut.of(r) for r in found]

    return await read(rt, query, uow, principal)


@router.post("/dispatch/run", summary="Dispatch a VPP's current and next interval now")
async def run(
    rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep, body: DispatchRunIn
) -> DispatchRunOut:
    summary = await blocking(dispatch_vpp, rt, principal.organization_id, body.vpp_id, uow=uow)
    return DispatchRunOut.of(summary)


@router.get("/monitoring", summary="Monitoring records (metered vs scheduled), newest first")
async def monitoring(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    vpp_id: Id = None,
    resource_id: Id = None,
    start: Annotated[UTCDatetime | None, Query(alias="from")] = None,
    end: Annotated[UTCDatetime | None, Query(alias="to")] = None,
) -> list[MonitoringRecordOut]:
    _check_range(start, end)

    def query(u: UnitOfWork, p: Principal) -> list[MonitoringRecordOut]:
        with u:
            _vpp_of(u, p, vpp_id)
            found = u.monitoring.page(
                p.organization_id,
                vpp_id=vpp_id,
                resource_id=resource_id,
                start=start,
                end=end,
                limit=page.limit,
                offset=page.offset,
            )
        return [MonitoringRecordOut.of(r) for r in found]

    return await read(rt, query, uow, principal)


@router.get("/monitoring/live", summary="The live estimate of the interval in progress")
async def live(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    vpp_id: Annotated[str, Query(min_length=1, max_length=64)],
) -> LiveOut:
    estimate = await read(rt, rt.dispatch.monitoring.live, uow, principal.organization_id, vpp_id)
    return LiveOut.of(vpp_id, estimate)
