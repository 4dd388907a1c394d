"""Resource instances: a template version with parameters, placed in an organization."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from openvpp.resources.templates import ResourceType


class ResourceStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    MAINTENANCE = "maintenance"
    FAULT = "fault"


@dataclass
class Resource:
    id: str
    organization_id: str
    name: str
    resource_type: ResourceType
    template_version: int
    parameters: dict[str, Any]
    grid_node: str
    latitude: float | None
    longitude: float | None
    status: ResourceStatus
    status_changed_at: datetime
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime | None = None
    device_template_id: str | None = None  # the device template it was created from, if any

    def audit_view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.resource_type.value,
            "template_version": self.template_version,
            "grid_node": self.grid_node,
            "status": self.status.value,
            "parameters": self.parameters,
        }
