"""Schemas of VPP definitions, members, parameter history, grid nodes and conflicts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from openvpp.api.schemas.common import In, Out, UTCDatetime
from openvpp.api.schemas.resources import NODE
from openvpp.vpp.conflicts import ConflictItem
from openvpp.vpp.model import GridNode, Member, SettingsVersion, Vpp, VppSettings

AREA = r"^[A-Z0-9][A-Z0-9_-]{1,39}$"
SHARE = Field(
    gt=0,
    le=100,
    max_digits=7,
    decimal_places=4,
    description="allocated share of the resource's capacity [%], exact to 4 decimals",
)


class MemberIn(In):
    resource_id: str = Field(min_length=1, max_length=36)
    share_pct: Decimal = SHARE
    valid_from: UTCDatetime | None = Field(default=None, description="default: now")
    valid_to: UTCDatetime | None = Field(default=None, description="default: open-ended")


class MemberUpdateIn(In):
    share_pct: Decimal | None = Field(default=None, gt=0, le=100, max_digits=7, decimal_places=4)
    valid_from: UTCDatetime | None = None
    valid_to: UTCDatetime | None = None


class VppIn(In):
    name: str = Field(min_length=1, max_length=200)
    market_area: str = Field(pattern=AREA, description="bidding zone or market area, e.g. DE-LU")
    description: str = Field(default="", max_length=1000)
    parameters: VppSettings | None = None
    members: list[MemberIn] = Field(default_factory=list, max_length=1000)


class VppUpdateIn(In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    market_area: str | None = Field(default=None, pattern=AREA)
    description: str | None = Field(default=None, max_length=1000)


class ParametersIn(In):
    parameters: VppSettings
    effective_from: UTCDatetime | None = Field(default=None, description="default: now")


class VppOut(Out):
    id: str
    name: str
    market_area: str
    description: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, vpp: Vpp) -> VppOut:
        return cls.model_validate(vpp)


class MemberOut(Out):
    id: str
    vpp_id: str
    resource_id: str
    share_pct: Decimal
    valid_from: datetime
    valid_to: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, member: Member) -> MemberOut:
        return cls.model_validate(member)


class ParametersOut(Out):
    id: str
    effective_from: datetime
    parameters: dict[str, Any]
    recorded_at: datetime
    recorded_by: str | None

    @classmethod
    def of(cls, version: SettingsVersion) -> ParametersOut:
        return cls(
            id=version.id,
            effective_from=version.effective_from,
            parameters=version.settings.model_dump(),
            recorded_at=version.recorded_at,
            recorded_by=version.recorded_by,
        )


class ConflictOut(Out):
    kind: str = Field(description="over_allocation, wrong_market_area or below_qualification")
    message: str
    resource_ids: list[str]
    vpp_ids: list[str]
    start: datetime
    end: datetime | None = Field(description="null: open-ended")
    detail: dict[str, Any]

    @classmethod
    def of(cls, item: ConflictItem) -> ConflictOut:
        return cls(
            kind=item.kind,
            message=item.message,
            resource_ids=list(item.resource_ids),
            vpp_ids=list(item.vpp_ids),
            start=item.start,
            end=item.end,
            detail=item.detail,
        )


class GridNodeIn(In):
    code: str = Field(pattern=NODE)
    market_area: str = Field(pattern=AREA)
    name: str = Field(default="", max_length=200)


class GridNodeOut(Out):
    code: str
    market_area: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, node: GridNode) -> GridNodeOut:
        return cls.model_validate(node)


class AggregateIn(In):
    vpp_id: str = Field(min_length=1, max_length=36)
    resolution_min: Literal[15, 60] = 15
    tz: str = Field(
        default="UTC",
        max_length=64,
        description="IANA time zone of the market: local labels, daily load windows, `day`",
    )
    start: UTCDatetime | None = Field(default=None, description="horizon start (with `end`)")
    end: UTCDatetime | None = None
    day: date | None = Field(default=None, description="first local day (instead of start/end)")
    days: int = Field(default=1, ge=1, le=31, strict=True)

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _one_horizon(self) -> AggregateIn:
        if (self.day is None) == (self.start is None or self.end is None):
            raise ValueError("give either day (and days) or both start and end")
        return self


class IntervalOut(Out):
    start: datetime
    start_local: str = Field(description="the interval's start in `tz`, ISO 8601 with offset")
    baseline_mw: float = Field(description="expected injection without intervention [MW]")
    p_min_mw: float
    p_max_mw: float
    up_mw: float = Field(description="upward flexibility: p_max - baseline [MW]")
    down_mw: float = Field(description="downward flexibility: baseline - p_min [MW]")
    e_min_mwh: float = Field(description="lowest cumulative injection to the interval's end")
    e_max_mwh: float = Field(description="highest cumulative injection to the interval's end")
    ramp_up_mw: float = Field(description="largest increase from the interval before [MW]")
    ramp_down_mw: float


class TypeContributionOut(Out):
    baseline_mw: list[float]
    p_min_mw: list[float]
    p_max_mw: list[float]


class AggregateOut(Out):
    vpp_id: str
    resolution_min: int
    tz: str
    start: datetime
    end: datetime
    intervals: list[IntervalOut]
    by_type: dict[str, TypeContributionOut] = Field(
        description="each resource type's share-weighted contribution per interval"
    )
    resources: dict[str, int] = Field(description="members counted per status")
    notes: list[str]
