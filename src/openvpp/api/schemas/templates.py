"""Schemas of device templates and template library documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from openvpp.api.schemas.common import In, Out
from openvpp.resources.device_templates import (
    FORMAT_VERSION,
    KEY_PATTERN,
    MAX_DESCRIPTION,
    MAX_ENUM,
    MAX_VERSION,
    DeviceTemplateSpec,
)
from openvpp.resources.templates import ResourceType

KEY = KEY_PATTERN.pattern


class DeviceTemplateRef(In):
    """Names a device template of the caller's organization."""

    key: str = Field(pattern=KEY, description="device template key, e.g. megapack-2xl")
    version: int = Field(ge=1, le=MAX_VERSION, strict=True)


class LimitIn(In):
    """Narrows a parameter's built-in range: minimum/maximum (numbers) or enum (text)."""

    minimum: float | None = Field(default=None, strict=True, allow_inf_nan=False)
    maximum: float | None = Field(default=None, strict=True, allow_inf_nan=False)
    enum: list[str] | None = Field(default=None, min_length=1, max_length=MAX_ENUM)


class DeviceTemplateIn(In):
    key: str = Field(pattern=KEY, description="lower case: a-z, 0-9, '.', '_', '-'")
    version: int = Field(ge=1, le=MAX_VERSION, strict=True, description="immutable once created")
    resource_type: ResourceType
    model_version: int = Field(
        default=1, ge=1, le=1000, strict=True, description="the built-in template version"
    )
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    defaults: dict[str, Any] = Field(
        default_factory=dict, description="parameter values; checked against the model version"
    )
    limits: dict[str, LimitIn] = Field(
        default_factory=dict, description="per parameter; may only narrow the built-in range"
    )

    def spec(self) -> DeviceTemplateSpec:
        return DeviceTemplateSpec(
            key=self.key,
            version=self.version,
            resource_type=self.resource_type,
            model_version=self.model_version,
            description=self.description,
            defaults=dict(self.defaults),
            limits={k: v.model_dump(exclude_none=True) for k, v in self.limits.items()},
        )


class DeviceTemplateOut(Out):
    id: str
    key: str
    version: int
    resource_type: ResourceType
    model_version: int
    description: str
    defaults: dict[str, Any]
    limits: dict[str, dict[str, Any]]
    created_at: datetime


class BuiltinTemplateEntry(BaseModel):
    resource_type: ResourceType
    version: int
    parameters_schema: dict[str, Any]


class LibraryDocument(In):
    """A template library document (JSON or YAML). Import ignores ``builtin_templates``."""

    format_version: Literal[1] = Field(description=f"always {FORMAT_VERSION}")
    builtin_templates: list[BuiltinTemplateEntry] = Field(
        default_factory=list, description="the built-in templates, for reference only"
    )
    templates: list[DeviceTemplateIn] = Field(description="the device templates")


class ImportOut(Out):
    created: list[DeviceTemplateOut]
    unchanged: list[DeviceTemplateOut] = Field(
        description="already stored with identical content; left alone"
    )
