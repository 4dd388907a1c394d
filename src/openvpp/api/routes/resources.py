"""Resource templates and instances (``/api/vpp/templates``, ``/api/vpp/resources``)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from openvpp.api.deps import PageDep, PrincipalDep, ReadUow, RuntimeDep, WriteUow, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.common import UTCDatetime
from openvpp.api.schemas.resources import (
    IngestOut,
    ResourceIn,
    ResourceOut,
    ResourceStatusOut,
    ResourceUpdateIn,
    TelemetryBatchIn,
    TelemetryOut,
    TemplateOut,
)
from openvpp.core.errors import NotFound
from openvpp.resources.model import ResourceStatus
from openvpp.resources.service import ResourceFilter
from openvpp.resources.telemetry import TelemetryPoint
from openvpp.resources.templates import BUILTIN, ResourceType, json_schema

router = APIRouter(prefix=API_PREFIX, tags=["resources"])


@router.get("/templates", summary="The template library: every type and version")
async def list_templates() -> list[TemplateOut]:
    return [
        TemplateOut(
            resource_type=kind, version=version, parameters_schema=json_schema(kind, version)
        )
        for kind, version in sorted(BUILTIN)
    ]


@router.get("/templates/{resource_type}/{version}", summary="One template version")
async def get_template(resource_type: ResourceType, version: int) -> TemplateOut:
    if (resource_type, version) not in BUILTIN:
        raise NotFound(f"no template {resource_type.value} v{version}", field="version")
    return TemplateOut(
        resource_type=resource_type,
        version=version,
        parameters_schema=json_schema(resource_type, version),
    )


@router.get("/resources", summary="Resources of the organization, with filters and paging")
async def list_resources(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    resource_type: ResourceType | None = None,
    status: ResourceStatus | None = None,
    grid_node: str | None = None,
) -> list[ResourceOut]:
    found = await read(
        rt,
        rt.resources.list,
        uow,
        principal,
        ResourceFilter(resource_type, status, grid_node),
        page.limit,
        page.offset,
    )
    return [ResourceOut.of(r) for r in found]


@router.post("/resources", status_code=201, summary="Register a resource")
async def create_resource(
    body: ResourceIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> ResourceOut:
    created = await blocking(
        rt.resources.create,
        uow,
        principal,
        name=body.name,
        resource_type=body.resource_type,
        template_version=body.template_version,
        parameters=body.parameters,
        grid_node=body.grid_node,
        latitude=body.latitude,
        longitude=body.longitude,
    )
    return ResourceOut.of(created)


@router.get("/resources/{resource_id}", summary="One resource")
async def get_resource(
    resource_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> ResourceOut:
    return ResourceOut.of(await read(rt, rt.resources.get, uow, principal, resource_id))


@router.patch("/resources/{resource_id}", summary="Change a resource")
async def update_resource(
    resource_id: str, body: ResourceUpdateIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> ResourceOut:
    changes = body.model_dump(exclude_unset=True)
    return ResourceOut.of(await blocking(rt.resources.update, uow, principal, resource_id, changes))


@router.delete("/resources/{resource_id}", status_code=204, summary="Delete a resource")
async def delete_resource(
    resource_id: str, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> Response:
    await blocking(rt.resources.delete, uow, principal, resource_id)
    return Response(status_code=204)


@router.get("/resources/{resource_id}/status", summary="A resource's current status")
async def resource_status(
    resource_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> ResourceStatusOut:
    found = await read(rt, rt.resources.get, uow, principal, resource_id)
    return ResourceStatusOut(
        id=found.id,
        status=found.status,
        status_changed_at=found.status_changed_at,
        last_seen_at=found.last_seen_at,
    )


@router.post("/telemetry", summary="Ingest a batch of telemetry points")
async def ingest_telemetry(
    body: TelemetryBatchIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> IngestOut:
    points = [TelemetryPoint(p.resource_id, p.ts, p.power_mw, p.soc) for p in body.points]
    result = await blocking(rt.telemetry.ingest, uow, principal, points)
    return IngestOut(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=dict(result.rejected),
        examples=result.examples,
    )


@router.get("/resources/{resource_id}/telemetry", summary="Telemetry of a resource, oldest first")
async def resource_telemetry(
    resource_id: str,
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    start: UTCDatetime | None = None,
    end: UTCDatetime | None = None,
) -> list[TelemetryOut]:
    points = await read(rt, rt.telemetry.query, uow, principal, resource_id, start, end, page.limit)
    return [TelemetryOut(ts=p.ts, power_mw=p.power_mw, soc=p.soc) for p in points]
