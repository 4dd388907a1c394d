"""Resource instances: create, list, update, delete, status."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.errors import Conflict, NotFound, ValidationFailed
from openvpp.core.ids import new_id
from openvpp.identity.model import Principal
from openvpp.ports import UnitOfWork
from openvpp.resources.device_templates import (
    DeviceTemplate,
    DeviceTemplateSpec,
    LibraryFormat,
    Upgrade,
    apply,
    export_library,
    parse_library_entries,
    upgraded_parameters,
    validate_spec,
)
from openvpp.resources.model import Resource, ResourceStatus
from openvpp.resources.parameters import validated_parameters
from openvpp.resources.telemetry import DEFAULT_STALE_AFTER, current_status
from openvpp.resources.templates import BUILTIN, ResourceType
from openvpp.vpp.service import enforce_no_conflicts


@dataclass(frozen=True)
class ResourceFilter:
    resource_type: ResourceType | None = None
    status: ResourceStatus | None = None
    grid_node: str | None = None


class ResourceService:
    def __init__(self, clock: Clock, stale_after: timedelta = DEFAULT_STALE_AFTER) -> None:
        self._clock = clock
        self._stale_after = stale_after  # reads report a resource silent this long as offline

    def create(
        self,
        uow: UnitOfWork,
        principal: Principal,
        *,
        name: str,
        resource_type: ResourceType | None,
        template_version: int | None,
        parameters: dict[str, Any],
        grid_node: str,
        latitude: float | None,
        longitude: float | None,
        device_template: tuple[str, int] | None = None,
    ) -> Resource:
        """A new resource. With ``device_template`` (key, version) the type and model version
        come from it, and the parameters are its defaults plus ``parameters``, within its
        limits."""
        now = self._clock.now()
        with uow:
            template = None
            if device_template is not None:
                template = DeviceTemplateService.find(
                    uow, principal.organization_id, *device_template
                )
                if resource_type is not None and resource_type is not template.resource_type:
                    raise ValidationFailed(
                        f"resource_type: device template {template.label} is a "
                        f"{template.resource_type.value} template",
                        field="resource_type",
                    )
                if template_version is not None and template_version != template.model_version:
                    raise ValidationFailed(
                        f"template_version: device template {template.label} pins "
                        f"{template.resource_type.value} v{template.model_version}",
                        field="template_version",
                    )
                resource_type, template_version = template.resource_type, template.model_version
                checked = apply(template, parameters)
            else:
                if resource_type is None:
                    raise ValidationFailed(
                        "resource_type: required unless a device_template is given",
                        field="resource_type",
                    )
                template_version = template_version or 1
                checked = validated_parameters(resource_type, template_version, parameters)
            resource = Resource(
                id=new_id(),
                organization_id=principal.organization_id,
                name=name,
                resource_type=resource_type,
                template_version=template_version,
                parameters=checked,
                grid_node=grid_node,
                latitude=latitude,
                longitude=longitude,
                status=ResourceStatus.OFFLINE,
                status_changed_at=now,
                created_at=now,
                updated_at=now,
                device_template_id=template.id if template is not None else None,
            )
            uow.resources.add(resource)
            after = resource.audit_view()
            if template is not None:
                after["device_template"] = template.label
            uow.record(AuditEvent("resource.create", "resource", resource.id, after=after))
            uow.commit()
        return resource

    def get(self, uow: UnitOfWork, principal: Principal, resource_id: str) -> Resource:
        with uow:
            found = self.find(uow, principal, resource_id)
        return current_status(found, self._clock.now(), self._stale_after)

    def list(
        self, uow: UnitOfWork, principal: Principal, flt: ResourceFilter, limit: int, offset: int
    ) -> list[Resource]:
        now = self._clock.now()
        with uow:
            found = uow.resources.list(
                principal.organization_id,
                flt.resource_type,
                flt.status,
                flt.grid_node,
                limit,
                offset,
                stale_before=now - self._stale_after,
            )
        return [current_status(r, now, self._stale_after) for r in found]

    def update(
        self,
        uow: UnitOfWork,
        principal: Principal,
        resource_id: str,
        changes: dict[str, Any],
    ) -> Resource:
        """Apply ``changes`` (name, grid_node, latitude, longitude, parameters, maintenance)."""
        with uow:
            current = self.find(uow, principal, resource_id, for_update=True)
            before = current.audit_view()
            updated = current
            if "parameters" in changes:
                merged = {**current.parameters, **changes["parameters"]}
                template = self._pinned_template(uow, current)
                updated = replace(
                    updated,
                    parameters=apply(template, merged)
                    if template is not None
                    else validated_parameters(
                        current.resource_type, current.template_version, merged
                    ),
                )
            for field in ("name", "grid_node", "latitude", "longitude"):
                if field in changes:
                    updated = replace(updated, **{field: changes[field]})
            now = self._clock.now()
            if "maintenance" in changes:
                wanted = (
                    ResourceStatus.MAINTENANCE if changes["maintenance"] else ResourceStatus.OFFLINE
                )
                if wanted is not updated.status:
                    updated = replace(updated, status=wanted, status_changed_at=now)
            updated = replace(updated, updated_at=now)
            uow.resources.update(updated)
            if "parameters" in changes or updated.grid_node != current.grid_node:
                enforce_no_conflicts(
                    uow, principal.organization_id, now, resource_ids=[resource_id]
                )
            uow.record(
                AuditEvent(
                    "resource.update",
                    "resource",
                    resource_id,
                    before=before,
                    after=updated.audit_view(),
                )
            )
            uow.commit()
        return updated

    def upgrade(
        self,
        uow: UnitOfWork,
        principal: Principal,
        resource_id: str,
        *,
        template_version: int | None = None,
        device_template: tuple[str, int] | None = None,
    ) -> tuple[Resource, Upgrade]:
        """Move a resource to another built-in model version of its type, or to a device
        template (key, version) of its type. The current parameters must fit the target
        (new fields take its defaults, fields it no longer has are dropped); otherwise a
        ``ValidationFailed`` names the field, its unit and range, and nothing changes."""
        if (template_version is None) == (device_template is None):
            raise ValidationFailed(
                "give either template_version or device_template", field="template_version"
            )
        with uow:
            current = self.find(uow, principal, resource_id, for_update=True)
            before = current.audit_view()
            before["device_template"] = self._label(uow, current)
            template = None
            if device_template is not None:
                template = DeviceTemplateService.find(
                    uow, principal.organization_id, *device_template
                )
                if template.resource_type is not current.resource_type:
                    raise ValidationFailed(
                        f"device_template: {template.label} is a {template.resource_type.value}"
                        f" template; the resource is a {current.resource_type.value}",
                        field="device_template",
                    )
                target = template.model_version
            else:
                assert template_version is not None
                target = template_version
            plan = upgraded_parameters(current.parameters, current.resource_type, target, template)
            updated = replace(
                current,
                template_version=target,
                parameters=plan.parameters,
                device_template_id=template.id if template is not None else None,
                updated_at=self._clock.now(),
            )
            uow.resources.update(updated)
            enforce_no_conflicts(
                uow, principal.organization_id, updated.updated_at, resource_ids=[resource_id]
            )
            after = updated.audit_view()
            after["device_template"] = template.label if template is not None else None
            after["removed_parameters"] = plan.removed
            uow.record(
                AuditEvent("resource.upgrade", "resource", resource_id, before=before, after=after)
            )
            uow.commit()
        return updated, plan

    @staticmethod
    def _pinned_template(uow: UnitOfWork, resource: Resource) -> DeviceTemplate | None:
        if resource.device_template_id is None:
            return None
        return uow.device_templates.get_by_id(resource.organization_id, resource.device_template_id)

    @classmethod
    def _label(cls, uow: UnitOfWork, resource: Resource) -> str | None:
        template = cls._pinned_template(uow, resource)
        return template.label if template is not None else None

    def delete(self, uow: UnitOfWork, principal: Principal, resource_id: str) -> None:
        with uow:
            current = self.find(uow, principal, resource_id, for_update=True)
            vpps = uow.vpps.vpp_ids_of(resource_id)
            if vpps:
                raise Conflict(
                    f"resource {resource_id!r} is a member of {len(vpps)} VPP(s); remove it "
                    "from them first",
                    field="resource_id",
                    details=[{"vpp_ids": sorted(vpps)}],
                )
            uow.resources.delete(current.id)
            uow.record(
                AuditEvent("resource.delete", "resource", resource_id, before=current.audit_view())
            )
            uow.commit()

    @staticmethod
    def find(
        uow: UnitOfWork, principal: Principal, resource_id: str, *, for_update: bool = False
    ) -> Resource:
        """The resource in the caller's organization, or ``NotFound``."""
        found = uow.resources.get(principal.organization_id, resource_id, for_update=for_update)
        if found is None:
            raise NotFound(f"resource {resource_id!r} not found", field="resource_id")
        return found


@dataclass(frozen=True)
class ImportResult:
    created: list[DeviceTemplate]
    unchanged: list[DeviceTemplate]
    """Already stored with identical content (an import is idempotent)."""


class DeviceTemplateService:
    """Device templates of an organization: create, list, get, import and export libraries.
    Templates are immutable; a changed device is a new version."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def create(
        self, uow: UnitOfWork, organization_id: str, spec: DeviceTemplateSpec
    ) -> DeviceTemplate:
        checked = validate_spec(spec)
        with uow:
            if uow.device_templates.get(organization_id, checked.key, checked.version):
                raise Conflict(
                    f"device template {checked.label} exists; versions are immutable: create "
                    f"version {self._next_version(uow, organization_id, checked.key)}",
                    field="version",
                )
            template = self._new(organization_id, checked)
            uow.device_templates.add(template)
            uow.record(
                AuditEvent(
                    "device_template.create",
                    "device_template",
                    template.id,
                    after=template.audit_view(),
                    organization_id=organization_id,
                )
            )
            uow.commit()
        return template

    def list(
        self,
        uow: UnitOfWork,
        organization_id: str,
        resource_type: ResourceType | None,
        key: str | None,
        limit: int,
        offset: int,
    ) -> list[DeviceTemplate]:
        with uow:
            return uow.device_templates.list(organization_id, resource_type, key, limit, offset)

    def get(self, uow: UnitOfWork, organization_id: str, key: str, version: int) -> DeviceTemplate:
        with uow:
            return self.find(uow, organization_id, key, version)

    def import_library(
        self, uow: UnitOfWork, organization_id: str, text: str, fmt: LibraryFormat | str
    ) -> ImportResult:
        """Create the device templates of a library document, all or nothing. An existing
        (key, version) with identical content is left alone; with other content it is a
        ``Conflict``: versions are immutable."""
        specs = parse_library_entries(text, fmt)
        created: list[DeviceTemplate] = []
        unchanged: list[DeviceTemplate] = []
        with uow:
            for i, spec in specs:  # i: the position in the document's templates list
                existing = uow.device_templates.get(organization_id, spec.key, spec.version)
                if existing is None:
                    template = self._new(organization_id, spec)
                    uow.device_templates.add(template)
                    created.append(template)
                elif existing.spec == spec:
                    unchanged.append(existing)
                else:
                    raise Conflict(
                        f"templates[{i}]: device template {spec.label} exists with other "
                        "content; versions are immutable: import it as version "
                        f"{self._next_version(uow, organization_id, spec.key)}",
                        field=f"templates[{i}]",
                    )
            uow.record(
                AuditEvent(
                    "device_template.import",
                    "device_template",
                    None,
                    after={
                        "created": [t.label for t in created],
                        "unchanged": [t.label for t in unchanged],
                    },
                    organization_id=organization_id,
                )
            )
            uow.commit()
        return ImportResult(created, unchanged)

    def export(self, uow: UnitOfWork, organization_id: str, fmt: LibraryFormat | str) -> str:
        """The library document of the organization: built-ins and its device templates."""
        with uow:
            templates = uow.device_templates.list(organization_id)
        return export_library(BUILTIN, templates, fmt)

    def _new(self, organization_id: str, spec: DeviceTemplateSpec) -> DeviceTemplate:
        return DeviceTemplate(
            id=new_id(),
            organization_id=organization_id,
            created_at=self._clock.now(),
            **{**spec.document(), "resource_type": spec.resource_type},
        )

    @staticmethod
    def _next_version(uow: UnitOfWork, organization_id: str, key: str) -> int:
        versions = [t.version for t in uow.device_templates.list(organization_id, key=key)]
        return max(versions, default=0) + 1

    @staticmethod
    def find(uow: UnitOfWork, organization_id: str, key: str, version: int) -> DeviceTemplate:
        """The device template of the organization, or ``NotFound``."""
        found = uow.device_templates.get(organization_id, key, version)
        if found is None:
            raise NotFound(f"device template {key!r} v{version} not found", field="device_template")
        return found
