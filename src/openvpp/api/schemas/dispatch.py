"""Schemas of dispatch and monitoring (``/api/vpp/dispatch``, ``/api/vpp/monitoring``).
Power [MW] positive for injection; energy [MWh]; instants UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from pydantic import Field

from openvpp.api.schemas.common import In, Out
from openvpp.dispatch.instructions_service import InstructionRecord, MonitoringRecord
from openvpp.dispatch.monitoring import LiveEstimate


class InstructionOut(Out):
    id: str
    vpp_id: str
    resource_id: str
    seq: int
    p_mw: float
    valid_from: datetime
    valid_until: datetime
    fallback_mw: float
    issued_at: datetime
    status: str = Field(description="sent, accepted, rejected, expired or stale")
    acked_at: datetime | None
    reason: str | None

    @classmethod
    def of(cls, r: InstructionRecord) -> InstructionOut:
        return cls(
            id=r.id,
            vpp_id=r.vpp_id,
            resource_id=r.resource_id,
            seq=r.seq,
            p_mw=r.p_mw,
            valid_from=r.valid_from,
            valid_until=r.valid_until,
            fallback_mw=r.fallback_mw,
            issued_at=r.issued_at,
            status=r.status.value,
            acked_at=r.acked_at,
            reason=r.reason,
        )


class DispatchRunIn(In):
    vpp_id: str = Field(min_length=1, max_length=64)


class DispatchRunOut(Out):
    vpp_id: str
    kind: str
    intervals: list[datetime]
    setpoints: int
    target_mw: list[float] = Field(default_factory=list, description="the VPP part's target")
    residual_mw: list[float] = Field(
        default_factory=list, description="what the fleet could not follow (short > 0)"
    )
    notes: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, summary: dict[str, Any]) -> DispatchRunOut:
        return cls.model_validate(summary)


class MonitoringRecordOut(Out):
    vpp_id: str
    resource_id: str | None = Field(description="null for the VPP's total")
    interval_start: datetime
    interval_min: int
    scheduled_mw: float
    metered_mw: float | None
    deviation_mw: float | None = Field(description="metered - scheduled; < 0 is a shortfall")
    deviation_mwh: float | None
    coverage: float
    severity: str | None

    @classmethod
    def of(cls, r: MonitoringRecord) -> MonitoringRecordOut:
        return cls(
            vpp_id=r.vpp_id,
            resource_id=r.resource_id or None,
            interval_start=r.interval_start,
            interval_min=r.interval_min,
            scheduled_mw=r.scheduled_mw,
            metered_mw=r.metered_mw,
            deviation_mw=r.deviation_mw,
            deviation_mwh=r.deviation_mwh,
            coverage=r.coverage,
            severity=r.severity,
        )


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


class LiveResourceOut(Out):
    resource_id: str
    scheduled_mwh: float | None
    delivered_mwh: float
    current_mw: float | None
    projected_mwh: float
    coverage: float


class LiveOut(Out):
    vpp_id: str
    dispatched: bool
    interval_start: datetime | None = None
    elapsed: float | None = None
    remaining_h: float | None = None
    scheduled_mwh: float | None = None
    delivered_mwh: float | None = None
    projected_mwh: float | None = None
    deviation_mwh: float | None = None
    to_cancel_mw: float | None = Field(
        None, description="extra power over the rest of the interval that cancels the deviation"
    )
    resources: list[LiveResourceOut] = Field(default_factory=list)

    @classmethod
    def of(cls, vpp_id: str, e: LiveEstimate | None) -> LiveOut:
        if e is None:
            return cls(vpp_id=vpp_id, dispatched=False)
        return cls(
            vpp_id=vpp_id,
            dispatched=True,
            interval_start=e.interval_start,
            elapsed=e.elapsed,
            remaining_h=e.remaining_h,
            scheduled_mwh=_num(e.vpp_scheduled_mwh),
            delivered_mwh=_num(e.vpp_delivered_mwh),
            projected_mwh=_num(e.vpp_projected_mwh),
            deviation_mwh=_num(e.vpp_deviation_mwh),
            to_cancel_mw=_num(e.vpp_to_cancel_mw),
            resources=[
                LiveResourceOut(
                    resource_id=rid,
                    scheduled_mwh=_num(e.scheduled_mwh[i]),
                    delivered_mwh=float(e.delivered_mwh[i]),
                    current_mw=_num(e.current_mw[i]),
                    projected_mwh=float(np.nan_to_num(e.projected_mwh[i])),
                    coverage=float(e.coverage[i]),
                )
                for i, rid in enumerate(e.resource_ids)
            ],
        )
