"""Built-in templates (``/api/vpp/templates``) and the organization's device templates
(``/api/vpp/device-templates``), with library import and export in JSON or YAML."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from openvpp.api.deps import PageDep, PrincipalDep, ReadUow, RuntimeDep, WriteUow, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.common import ErrorOut, inline_schema
from openvpp.api.schemas.resources import TemplateOut
from openvpp.api.schemas.templates import (
    DeviceTemplateIn,
    DeviceTemplateOut,
    ImportOut,
    LibraryDocument,
)
from openvpp.core.errors import NotFound, ValidationFailed
from openvpp.resources.device_templates import MAX_VERSION, MEDIA_TYPES, LibraryFormat
from openvpp.resources.templates import BUILTIN, ResourceType, json_schema

router = APIRouter(prefix=API_PREFIX, tags=["templates"])

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
FORMATS: dict[str, LibraryFormat] = {
    "application/json": LibraryFormat.JSON,
    **dict.fromkeys(YAML_TYPES, LibraryFormat.YAML),
}


def _library_content() -> dict[str, Any]:
    schema = inline_schema(LibraryDocument)
    return {media: {"schema": schema} for media in ("application/json", *YAML_TYPES)}


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


@router.get("/device-templates", summary="The organization's device templates")
async def list_device_templates(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    resource_type: ResourceType | None = None,
    key: Annotated[str | None, Query(max_length=80)] = None,
) -> list[DeviceTemplateOut]:
    found = await read(
        rt,
        rt.device_templates.list,
        uow,
        principal.organization_id,
        resource_type,
        key,
        page.limit,
        page.offset,
    )
    return [DeviceTemplateOut.model_validate(t) for t in found]


@router.post(
    "/device-templates",
    status_code=201,
    summary="Create a device template (immutable: a changed device is a new version)",
)
async def create_device_template(
    body: DeviceTemplateIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> DeviceTemplateOut:
    created = await blocking(
        rt.device_templates.create, uow, principal.organization_id, body.spec()
    )
    return DeviceTemplateOut.model_validate(created)


@router.get(
    "/device-templates/export",
    summary="The template library document: built-ins and the organization's device templates",
    response_class=Response,
    responses={
        200: {
            "description": "the library document, as JSON or YAML",
            "content": {
                media: {"schema": inline_schema(LibraryDocument)} for media in MEDIA_TYPES.values()
            },
        }
    },
)
async def export_device_templates(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    fmt: Annotated[LibraryFormat, Query(alias="format")] = LibraryFormat.JSON,
) -> Response:
    text = await read(rt, rt.device_templates.export, uow, principal.organization_id, fmt)
    return Response(content=text, media_type=MEDIA_TYPES[fmt])


@router.post(
    "/device-templates/import",
    summary="Import a template library document (JSON or YAML), all or nothing",
    description="Creates the document's device templates; `builtin_templates` are ignored. "
    "An existing key and version with identical content is left alone; with other content "
    "it is a 409 (versions are immutable). One invalid template: 422 naming "
    "`templates[i].field`, and nothing is stored.",
    openapi_extra={"requestBody": {"required": True, "content": _library_content()}},
    responses={415: {"model": ErrorOut, "description": "Not JSON or YAML (Content-Type)"}},
)
async def import_device_templates(
    request: Request, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> ImportOut:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = FORMATS.get(media)
    if fmt is None:
        raise HTTPException(
            415, f"send the library as application/json or application/yaml, not {media!r}"[:200]
        )
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("body: must be UTF-8 text", field="body") from None
    result = await blocking(
        rt.device_templates.import_library, uow, principal.organization_id, text, fmt
    )
    return ImportOut(
        created=[DeviceTemplateOut.model_validate(t) for t in result.created],
        unchanged=[DeviceTemplateOut.model_validate(t) for t in result.unchanged],
    )


@router.get("/device-templates/{key}/{version}", summary="One device template version")
async def get_device_template(
    key: Annotated[str, Path(max_length=80)],
    version: Annotated[int, Path(ge=1, le=MAX_VERSION)],
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
) -> DeviceTemplateOut:
    found = await read(rt, rt.device_templates.get, uow, principal.organization_id, key, version)
    return DeviceTemplateOut.model_validate(found)
