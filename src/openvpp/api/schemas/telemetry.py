"""Schemas of telemetry ingestion and queries."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, StrictBool

from openvpp.api.schemas.common import In, Out, UTCDatetime
from openvpp.resources.telemetry import MAX_BATCH_POINTS


class TelemetryPointIn(In):
    resource_id: str = Field(min_length=1, max_length=36)
    ts: UTCDatetime
    power_mw: float = Field(strict=True, description="injection positive [MW]")
    soc: float | None = Field(default=None, strict=True, description="state of charge [0-1]")
    fault: StrictBool = Field(default=False, description="the device reports a fault")


class TelemetryBatchIn(In):
    points: list[TelemetryPointIn] = Field(min_length=1, max_length=MAX_BATCH_POINTS)


class IngestOut(Out):
    accepted: int
    duplicates: int
    rejected: dict[str, int] = Field(
        description=(
            "count per reason: unknown_resource, not_finite, out_of_range, in_future "
            "(more than 5 min ahead of the server), out_of_order"
        )
    )
    examples: list[str]


class TelemetryOut(Out):
    ts: datetime
    power_mw: float
    soc: float | None
    fault: bool


class TelemetryBucketOut(Out):
    start: datetime = Field(description="bucket start (UTC), inclusive")
    end: datetime = Field(description="bucket end (UTC), exclusive")
    power_mw_mean: float
    power_mw_min: float
    power_mw_max: float
    soc_last: float | None = Field(description="the last soc reported in the bucket")
    count: int = Field(description="readings in the bucket")
    fault: bool = Field(description="any reading in the bucket flagged a fault")
