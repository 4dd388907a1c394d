"""The records the dispatch loop stores: dispatch instructions (one per setpoint sent, with the
device's answer) and monitoring records (metered against scheduled per interval). Plain
frozen dataclasses; the store maps them to ``dispatch_instructions`` and
``monitoring_records`` (migration 0009). Power [MW], injection positive; instants UTC."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from openvpp.dispatch.protocol import Ack, AckStatus, Setpoint

__all__ = [
    "VPP_TOTAL",
    "InstructionFilter",
    "InstructionRecord",
    "InstructionStatus",
    "MonitoringRecord",
    "instruction_of",
]

VPP_TOTAL = ""
"""The ``resource_id`` of a VPP's total in the monitoring records."""


class InstructionStatus(StrEnum):
    SENT = "sent"  # handed to the gateway, no answer yet
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"  # arrived after its window, or never answered before it ended
    STALE = "stale"  # the device had accepted a newer one

    @classmethod
    def of_ack(cls, status: AckStatus) -> InstructionStatus:
        return cls(status.value)


@dataclass(frozen=True, slots=True)
class InstructionRecord:
    """A stored setpoint: the instruction ``id`` is the setpoint's ``instruction_id``."""

    id: str
    organization_id: str
    vpp_id: str
    resource_id: str
    seq: int
    p_mw: float
    valid_from: datetime
    valid_until: datetime
    fallback_mw: float
    issued_at: datetime
    status: InstructionStatus = InstructionStatus.SENT
    acked_at: datetime | None = None
    reason: str | None = None

    def acked(self, ack: Ack) -> InstructionRecord:
        return replace(
            self,
            status=InstructionStatus.of_ack(ack.status),
            acked_at=ack.at,
            reason=ack.reason or None,
        )


def instruction_of(setpoint: Setpoint, vpp_id: str) -> InstructionRecord:
    return InstructionRecord(
        id=setpoint.instruction_id,
        organization_id=setpoint.organization_id,
        vpp_id=vpp_id,
        resource_id=setpoint.resource_id,
        seq=setpoint.seq,
        p_mw=setpoint.p_mw,
        valid_from=setpoint.valid_from,
        valid_until=setpoint.valid_until,
        fallback_mw=setpoint.fallback_mw,
        issued_at=setpoint.issued_at,
    )


@dataclass(frozen=True, slots=True)
class InstructionFilter:
    vpp_id: str | None = None
    resource_id: str | None = None
    start: datetime | None = None  # valid_from >= start
    end: datetime | None = None  # valid_from < end


@dataclass(frozen=True, slots=True)
class MonitoringRecord:
    """Scheduled against metered of one resource (``resource_id``; :data:`VPP_TOTAL` for the
    VPP) in one interval: interval averages [MW], the deviation's energy [MWh] (metered -
    scheduled: negative = shortfall), the metered fraction of the interval, and the severity
    of the alert it raised (None: none)."""

    id: str
    organization_id: str
    vpp_id: str
    resource_id: str
    interval_start: datetime
    interval_min: int
    scheduled_mw: float
    metered_mw: float | None
    deviation_mw: float | None
    deviation_mwh: float | None
    coverage: float
    severity: str | None
    created_at: datetime
