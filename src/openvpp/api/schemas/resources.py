"""Schemas of templates and resource instances."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, StrictBool, model_validator

from openvpp.api.schemas.common import In, Out
from openvpp.api.schemas.templates import DeviceTemplateRef
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
    resource_type: ResourceType | None = Field(
        default=None, description="required unless device_template is given"
    )
    template_version: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        strict=True,
        description="built-in template version; default 1, or the device template's",
    )
    device_template: DeviceTemplateRef | None = Field(
        default=None,
        description="create from this device template: its type, model version and defaults; "
        "parameters must stay within its limits",
    )
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
    device_template_id: str | None = Field(
        default=None, description="the device template the resource is pinned to, if any"
    )

    @classmethod
    def of(cls, resource: Resource) -> ResourceOut:
        return cls.model_validate(resource)


class ResourceUpgradeIn(In):
    """The target: a built-in template version of the resource's type, or a device template
    of its type (exactly one)."""

    template_version: int | None = Field(default=None, ge=1, le=1000, strict=True)
    device_template: DeviceTemplateRef | None = None

    @model_validator(mode="after")
    def _one_target(self) -> ResourceUpgradeIn:
        if (self.template_version is None) == (self.device_template is None):
            raise ValueError("give exactly one of template_version and device_template")
        return self


class UpgradeOut(Out):
    resource: ResourceOut
    removed_parameters: list[str] = Field(
        description="parameters the target version no longer has (dropped)"
    )
    added_parameters: list[str] = Field(
        description="parameters new in the target version (filled from its defaults)"
    )


class ResourceStatusOut(Out):
    id: str
    status: ResourceStatus
    status_changed_at: datetime
    last_seen_at: datetime | None
