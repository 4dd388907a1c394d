"""The device-gateway contract: setpoints down, acknowledgements, telemetry and heartbeats up.

Sign convention: power [MW] positive = injection into the grid (generation, discharge),
negative = withdrawal (consumption, charging). Instants are tz-aware UTC.

Every setpoint carries a validity window ``[valid_from, valid_until)`` and the device's safe
``fallback_mw``; a device applies a setpoint only inside its window, ignores one whose ``seq``
is not newer than the last it accepted, and falls back when the window ends without a successor
or when the link to the controller is lost (:mod:`openvpp.dispatch.device`). Two gateways
implement :class:`DeviceGateway`: the in-process device simulator and MQTT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = [
    "Ack",
    "AckStatus",
    "DeviceGateway",
    "DeviceMode",
    "GatewayEvents",
    "Heartbeat",
    "Setpoint",
    "TelemetrySample",
]


@dataclass(frozen=True, slots=True)
class Setpoint:
    """One control instruction for one resource.

    ``instruction_id`` is unique (the device acknowledges it by id); ``seq`` increases per
    resource, so a late or repeated delivery of an older instruction is ignored.
    """

    instruction_id: str
    organization_id: str
    resource_id: str
    seq: int
    p_mw: float
    valid_from: datetime
    valid_until: datetime
    fallback_mw: float
    issued_at: datetime


class AckStatus(StrEnum):
    ACCEPTED = "accepted"  # will be applied inside its window
    REJECTED = "rejected"  # outside the device's limits or malformed (``reason`` says)
    EXPIRED = "expired"  # arrived after ``valid_until``: never applied
    STALE = "stale"  # ``seq`` not newer than the last accepted one


class DeviceMode(StrEnum):
    FOLLOWING = "following"  # applying a valid setpoint
    FALLBACK = "fallback"  # no valid setpoint or link lost: at its safe setpoint
    FAULT = "fault"  # out of service


@dataclass(frozen=True, slots=True)
class Ack:
    instruction_id: str
    resource_id: str
    status: AckStatus
    at: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TelemetrySample:
    """A reading: power [MW, injection positive], state of charge [fraction] for storage.
    ``seq`` increases per device (de-duplication with ``resource_id``)."""

    resource_id: str
    at: datetime
    p_mw: float
    seq: int
    soc: float | None = None
    mode: DeviceMode = DeviceMode.FOLLOWING


@dataclass(frozen=True, slots=True)
class Heartbeat:
    resource_id: str
    at: datetime
    mode: DeviceMode
    instruction_id: str | None = None


@dataclass(slots=True)
class GatewayEvents:
    """What arrived from the devices since the last :meth:`DeviceGateway.drain`."""

    acks: list[Ack] = field(default_factory=list)
    telemetry: list[TelemetrySample] = field(default_factory=list)
    heartbeats: list[Heartbeat] = field(default_factory=list)


@runtime_checkable
class DeviceGateway(Protocol):
    """Async access to the devices of one organization."""

    async def send(self, setpoints: Sequence[Setpoint]) -> None:
        """Deliver the setpoints (at least once; devices de-duplicate by ``seq``)."""
        ...

    async def drain(self) -> GatewayEvents:
        """Acknowledgements, telemetry and heartbeats received since the last call."""
        ...

    async def aclose(self) -> None: ...
