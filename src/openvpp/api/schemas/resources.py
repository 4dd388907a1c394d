"""Schemas of templates and resource instances."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, StrictBool

from openvpp.api.schemas.common import In, Out, UTCDatetime
from openvpp.resources.model import Resource, ResourceStatus
from openvpp.resources.templates import ResourceType

NODE = r"^[A-Za-z0-9_.:-]{1,100}$"


class TemplateOut(Out):
    resource_type: ResourceType
    version: int
    parameters_schema: dict[str, Any] = Field(
        description="JSON Schema of the parameters: units, ranges, defaults"
    )


class ResourceIn(In):
    name: str = Field(min_length=1, max_length=200)
    resource_type: ResourceType
    template_version: int = Field(default=1, ge=1, le=1000, strict=True)
    parameters: dict[str, Any] = Field(default_factory=dict)
    grid_node: str = Field(pattern=NODE, description="grid connection node")
    latitude: float | None = Field(default=None, ge=-90, le=90, strict=True)
    longitude: float | None = Field(default=None, ge=-180, le=180, strict=True)


class ResourceUpdateIn(In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    parameters: dict[str, Any] | None = Field(
        default=None, description="changed parameters only; validated against the pinned version"
    )
    grid_node: str | None = Field(default=None, pattern=NODE)
    latitude: float | None = Field(default=None, ge=-90, le=90, strict=True)
    longitude: float | None = Field(default=None, ge=-180, le=180, strict=True)
    maintenance: StrictBool | None = Field(
        default=None, description="true: put into maintenance; false: take out"
    )


class ResourceOut(Out):
    id: str
    name: str
    resource_type: ResourceType
    template_version: int
    parameters: dict[str, Any]
    grid_node: str
    latitude: float | None
    longitude: float | None
    status: ResourceStatus
    status_changed_at: datetime
    last_seen_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, resource: Resource) -> ResourceOut:
        return cls.model_validate(resource)


class TelemetryPointIn(In):
    resource_id: str = Field(min_length=1, max_length=36)
    ts: UTCDatetime
    power_mw: float = Field(strict=True, description="injection positive [MW]")
    soc: float | None = Field(default=None, strict=True, description="state of charge [0-1]")


class TelemetryBatchIn(In):
    points: list[TelemetryPointIn] = Field(min_length=1, max_length=50_000)


class IngestOut(Out):
    accepted: int
    duplicates: int
    rejected: dict[str, int] = Field(
        description="count per reason: unknown_resource, not_finite, out_of_range, out_of_order"
    )
    examples: list[str]


class TelemetryOut(Out):
    ts: datetime
    power_mw: float
    soc: float | None


class ResourceStatusOut(Out):
    id: str
    status: ResourceStatus
    status_changed_at: datetime
    last_seen_at: datetime | None
