"""Resource instances: create, list, update, delete, status."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.errors import NotFound, ValidationFailed
from openvpp.core.ids import new_id
from openvpp.identity.model import Principal
from openvpp.ports import UnitOfWork
from openvpp.resources.model import Resource, ResourceStatus
from openvpp.resources.telemetry import IngestResult, TelemetryPoint, screen
from openvpp.resources.templates import ResourceType, parameters_model


def validated_parameters(
    resource_type: ResourceType, version: int, raw: dict[str, Any]
) -> dict[str, Any]:
    """Parameters checked against the template version; the error names field, unit, range."""
    try:
        model = parameters_model(resource_type, version)
    except KeyError as exc:
        raise ValidationFailed(str(exc.args[0]), field="template_version") from None
    try:
        return model.model_validate(raw).model_dump()
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]]
        field = ".".join(["parameters", *loc])
        prop = model.model_json_schema().get("properties", {}).get(loc[0], {}) if loc else {}
        limits = ", ".join(
            f"{k} {prop[k]}"
            for k in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
            if k in prop
        )
        detail = first["msg"]
        if "unit" in prop:
            detail += f" [{prop['unit']}]"
        if limits:
            detail += f" (allowed: {limits})"
        raise ValidationFailed(f"{field}: {detail}", field=field) from None


@dataclass(frozen=True)
class ResourceFilter:
    resource_type: ResourceType | None = None
    status: ResourceStatus | None = None
    grid_node: str | None = None


class ResourceService:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def create(
        self,
        uow: UnitOfWork,
        principal: Principal,
        *,
        name: str,
        resource_type: ResourceType,
        template_version: int,
        parameters: dict[str, Any],
        grid_node: str,
        latitude: float | None,
        longitude: float | None,
    ) -> Resource:
        checked = validated_parameters(resource_type, template_version, parameters)
        now = self._clock.now()
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
        )
        with uow:
            uow.resources.add(resource)
            uow.record(
                AuditEvent("resource.create", "resource", resource.id, after=resource.audit_view())
            )
            uow.commit()
        return resource

    def get(self, uow: UnitOfWork, principal: Principal, resource_id: str) -> Resource:
        with uow:
            return self.find(uow, principal, resource_id)

    def list(
        self, uow: UnitOfWork, principal: Principal, flt: ResourceFilter, limit: int, offset: int
    ) -> list[Resource]:
        with uow:
            return uow.resources.list(
                principal.organization_id,
                flt.resource_type,
                flt.status,
                flt.grid_node,
                limit,
                offset,
            )

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
                updated = replace(
                    updated,
                    parameters=validated_parameters(
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

    def delete(self, uow: UnitOfWork, principal: Principal, resource_id: str) -> None:
        with uow:
            current = self.find(uow, principal, resource_id, for_update=True)
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


class TelemetryService:
    """Batch ingestion and range queries of resource telemetry."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def ingest(
        self, uow: UnitOfWork, principal: Principal, points: list[TelemetryPoint]
    ) -> IngestResult:
        ids = sorted({p.resource_id for p in points})
        now = self._clock.now()
        with uow:
            known = {r.id: r for r in uow.resources.get_many(principal.organization_id, ids)}
            keep, result = screen(points, known)
            stored = uow.telemetry.existing(keep)
            if stored:  # re-sent points the latest-reading check could not see
                keep = [p for p in keep if (p.resource_id, p.ts) not in stored]
                result.duplicates += result.accepted - len(keep)
                result.accepted = len(keep)
            uow.telemetry.add_many(keep, now)
            newest: dict[str, datetime] = {}
            for p in keep:
                newest[p.resource_id] = max(p.ts, newest.get(p.resource_id, p.ts))
            for rid, last in newest.items():
                uow.telemetry.mark_seen(rid, last, now)
            uow.record(
                AuditEvent(
                    "telemetry.ingest",
                    "telemetry",
                    None,
                    after={
                        "accepted": result.accepted,
                        "duplicates": result.duplicates,
                        "rejected": dict(result.rejected),
                    },
                )
            )
            uow.commit()
        return result

    def query(
        self,
        uow: UnitOfWork,
        principal: Principal,
        resource_id: str,
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[TelemetryPoint]:
        with uow:
            ResourceService.find(uow, principal, resource_id)
            return uow.telemetry.query(resource_id, start, end, limit)
