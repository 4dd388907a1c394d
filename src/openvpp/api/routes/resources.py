"""Resource instances (``/api/vpp/resources``); templates are in ``templates.py``, telemetry
in ``telemetry.py``."""

from __future__ import annotations

from fastapi import APIRouter, Response

from openvpp.api.deps import PageDep, PrincipalDep, ReadUow, RuntimeDep, WriteUow, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.resources import (
    ResourceIn,
    ResourceOut,
    ResourceStatusOut,
    ResourceUpdateIn,
    ResourceUpgradeIn,
    UpgradeOut,
)
from openvpp.resources.model import ResourceStatus
from openvpp.resources.service import ResourceFilter
from openvpp.resources.templates import ResourceType

router = APIRouter(prefix=API_PREFIX, tags=["resources"])


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
        device_template=(
            (body.device_template.key, body.device_template.version)
            if body.device_template
            else None
        ),
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


@router.post(
    "/resources/{resource_id}/upgrade",
    summary="Move a resource to another template version or device template",
    description="The current parameters must fit the target: new fields take its defaults, "
    "fields it no longer has are dropped (listed in `removed_parameters`). If they do not "
    "fit, 422 names the field with its unit and range, and nothing changes.",
)
async def upgrade_resource(
    resource_id: str,
    body: ResourceUpgradeIn,
    rt: RuntimeDep,
    uow: WriteUow,
    principal: PrincipalDep,
) -> UpgradeOut:
    ref = body.device_template
    resource, plan = await blocking(
        rt.resources.upgrade,
        uow,
        principal,
        resource_id,
        template_version=body.template_version,
        device_template=(ref.key, ref.version) if ref else None,
    )
    return UpgradeOut(
        resource=ResourceOut.of(resource),
        removed_parameters=plan.removed,
        added_parameters=plan.added,
    )


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
