"""VPP definitions: a VPP, its member resources with allocated shares, its parameter history,
and the grid nodes that place resources in market areas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from openvpp.core.errors import ValidationFailed
from openvpp.dispatch.monitoring import thresholds_from
from openvpp.vpp.qualification import LEGACY_CODES, market_codes


@dataclass
class Vpp:
    id: str
    organization_id: str
    name: str
    market_area: str  # e.g. "DE-LU", "CN-GD": where the VPP trades
    description: str
    created_at: datetime
    updated_at: datetime

    def audit_view(self) -> dict[str, Any]:
        return {"name": self.name, "market_area": self.market_area}


SHARE_QUANTUM = Decimal("0.0001")  # shares are exact to 4 decimals of a percent


@dataclass
class Member:
    """A resource allocated to a VPP: ``share_pct`` of its capacity, in ``[valid_from,
    valid_to)`` (``valid_to`` ``None``: open-ended)."""

    id: str
    vpp_id: str
    resource_id: str
    share_pct: Decimal  # 0 < share <= 100, exact
    valid_from: datetime
    valid_to: datetime | None
    created_at: datetime
    updated_at: datetime

    def audit_view(self) -> dict[str, Any]:
        return {
            "vpp_id": self.vpp_id,
            "resource_id": self.resource_id,
            "share_pct": str(self.share_pct),
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
        }

    def active(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


@dataclass(frozen=True)
class GridNode:
    organization_id: str
    code: str
    market_area: str
    name: str
    created_at: datetime


class VppSettings(BaseModel):
    """The time-varying parameters of a VPP. Each change is a new version with the time it
    takes effect; earlier versions are kept as history."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    markets: list[str] = Field(
        default_factory=list,
        description="markets the VPP is registered for (qualification minimums apply)",
        max_length=20,
    )
    export_limit_mw: float | None = Field(
        None, ge=0, le=100000, strict=True, description="grid export limit of the VPP [MW]"
    )
    import_limit_mw: float | None = Field(
        None, ge=0, le=100000, strict=True, description="grid import limit of the VPP [MW]"
    )
    monitoring_thresholds: dict[str, float] = Field(
        default_factory=dict,
        max_length=8,
        description="deviation alert thresholds of this VPP (warning_mw, warning_pct, "
        "critical_mw, critical_pct, tolerance_mw, tolerance_pct, min_coverage, consecutive); "
        "keys left out keep the server's OPENVPP_MONITORING_THRESHOLDS",
    )

    @field_validator("monitoring_thresholds")
    @classmethod
    def _valid_thresholds(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        if isinstance(info.context, dict) and info.context.get("stored", False):
            return value  # read as stored; monitoring falls back to the server's if unusable
        try:
            thresholds_from(value)
        except ValidationFailed as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("markets")
    @classmethod
    def _known_markets(cls, value: list[str], info: ValidationInfo) -> list[str]:
        value = [LEGACY_CODES.get(code, code) for code in value]
        known = market_codes()
        unknown = sorted(set(value) - known)
        # stored versions are read as they are: a market file removed from the configuration
        # must not make the VPP unreadable (its conflicts check skips unknown markets)
        stored = isinstance(info.context, dict) and info.context.get("stored", False)
        if unknown and not stored:
            raise ValueError(f"unknown market {unknown[0]!r}; known: {', '.join(sorted(known))}")
        if len(set(value)) != len(value):
            raise ValueError("a market is listed twice")
        return value


@dataclass(frozen=True)
class SettingsVersion:
    id: str
    vpp_id: str
    effective_from: datetime
    settings: VppSettings
    recorded_at: datetime
    recorded_by: str | None


def settings_at(history: list[SettingsVersion], at: datetime) -> VppSettings:
    """The settings in force at ``at``: the latest version effective at or before it
    (defaults before the first)."""
    current = VppSettings()
    for version in sorted(history, key=lambda v: (v.effective_from, v.recorded_at)):
        if version.effective_from <= at:
            current = version.settings
    return current
