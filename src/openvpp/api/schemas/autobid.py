"""Schemas of automatic bidding: auto-trading settings and bidding decisions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from openvpp.api.schemas.common import In, IsoDay, Out
from openvpp.api.schemas.trading import CODE, ID
from openvpp.trading.autobid_records import AutoTradingSetting, DecisionRecord
from openvpp.trading.autobid_service import MAX_LEAD_MIN, SettingSpec

Day = Annotated[IsoDay, Field(description="the market's local delivery day")]
Strategy = Literal["schedule", "curve"]
DecisionStatus = Literal["pending", "submitted", "partial", "rejected", "failed"]


class AutoTradingIn(In):
    vpp_id: ID
    market: str = Field(pattern=CODE, description="an auction market, e.g. US-ISO-DA")
    product: str = Field(pattern=CODE)
    enabled: bool
    strategy: Strategy = Field(
        default="schedule",
        description="schedule: price-taking orders of the optimal schedule; curve: "
        "price-quantity curves over the forecast quantiles",
    )
    connection_id: ID | None = Field(
        default=None, description="default: the organization's connection serving the market"
    )
    price_model_id: ID | None = Field(
        default=None,
        description="a registered price model; default (or when it fails): seasonal naive "
        "from stored prices",
    )
    lead_min: int = Field(
        default=360, ge=1, le=MAX_LEAD_MIN, description="due from the gate closure minus this"
    )
    margin_min: int = Field(
        default=15, ge=0, le=MAX_LEAD_MIN, description="and until the gate closure minus this"
    )

    def spec(self) -> SettingSpec:
        return SettingSpec(
            vpp_id=self.vpp_id,
            market=self.market,
            product=self.product,
            enabled=self.enabled,
            strategy=self.strategy,
            connection_id=self.connection_id,
            price_model_id=self.price_model_id,
            lead_min=self.lead_min,
            margin_min=self.margin_min,
        )


class AutoTradingOut(Out):
    vpp_id: str
    market: str
    product: str
    enabled: bool
    strategy: str
    connection_id: str | None
    price_model_id: str | None
    lead_min: int
    margin_min: int
    updated_at: datetime
    updated_by: str | None

    @classmethod
    def of(cls, s: AutoTradingSetting) -> AutoTradingOut:
        return cls(
            vpp_id=s.vpp_id,
            market=s.market,
            product=s.product,
            enabled=s.enabled,
            strategy=s.strategy,
            connection_id=s.connection_id,
            price_model_id=s.price_model_id,
            lead_min=s.lead_min,
            margin_min=s.margin_min,
            updated_at=s.updated_at,
            updated_by=s.updated_by,
        )


class DecisionIn(In):
    vpp_id: ID
    market: str = Field(pattern=CODE)
    product: str = Field(pattern=CODE)
    day: Day


class DecisionOut(Out):
    id: str
    vpp_id: str
    market: str
    product: str
    delivery_day: date
    gate_closure: datetime
    status: str = Field(description="pending, submitted, partial, rejected or failed")
    strategy: str
    error: str | None
    created_at: datetime
    updated_at: datetime
    inputs: dict[str, Any] | None = Field(
        default=None, description="forecast (source, version, issued_at, p10/p50/p90) and "
        "flexibility; in the single-decision view"
    )  # fmt: skip
    result: dict[str, Any] | None = Field(
        default=None, description="optimizer report, schedule, expected revenue"
    )
    orders: dict[str, Any] | None = Field(
        default=None, description="client order id -> order id and state, or the error"
    )

    @classmethod
    def of(cls, r: DecisionRecord, *, full: bool = True) -> DecisionOut:
        return cls(
            id=r.id,
            vpp_id=r.vpp_id,
            market=r.market,
            product=r.product,
            delivery_day=r.delivery_day,
            gate_closure=r.gate_closure,
            status=r.status,
            strategy=r.strategy,
            error=r.error,
            created_at=r.created_at,
            updated_at=r.updated_at,
            inputs=r.inputs if full else None,
            result=r.result if full else None,
            orders=r.orders if full else None,
        )
