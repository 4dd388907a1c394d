"""Schemas of settlement: calculation requests, runs, interval rows and ledger balances.

Amounts are exact decimal strings in the run's currency; ``*_minor`` fields give the same
as integers of the minor unit (cents, fen)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from openvpp.api.schemas.common import In, IsoDay, Out
from openvpp.api.schemas.trading import CODE, ID
from openvpp.settlement.records import AMOUNT_COLUMNS, SettlementRun
from openvpp.settlement.service import MAX_DAYS, CalculateRequest


class CalculateIn(In):
    vpp_id: ID
    market: str = Field(
        pattern=CODE, description="the market whose rules and day-ahead prices apply, e.g. EU-SDAC"
    )
    first_day: IsoDay = Field(description="first local delivery day")
    last_day: IsoDay = Field(description=f"last local delivery day, at most {MAX_DAYS} days on")
    area: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="price area; default: the VPP's market area",
    )
    product: str | None = Field(
        default=None,
        pattern=CODE,
        description="product of the day-ahead price; default: the one with the settlement period",
    )
    real_time_market: str | None = Field(
        default=None,
        pattern=CODE,
        description="market of the real-time price; default: the same market",
    )
    real_time_product: str = Field(
        default="IMB",
        pattern=CODE,
        description="IMB: the stored imbalance prices (long and short); another product: its price",
    )

    def request(self) -> CalculateRequest:
        return CalculateRequest(
            vpp_id=self.vpp_id,
            market=self.market,
            first_day=self.first_day,
            last_day=self.last_day,
            area=self.area,
            product=self.product,
            real_time_market=self.real_time_market,
            real_time_product=self.real_time_product,
        )


class RunOut(Out):
    id: str
    vpp_id: str
    market: str
    area: str
    day: date
    version: int
    superseded_by: str | None
    currency: str
    minor_unit: Decimal
    totals: dict[str, Decimal]
    total: Decimal
    totals_minor: dict[str, int]
    total_minor: int
    intervals: int
    resources: int
    estimated_intervals: int = Field(
        description="intervals settled at their schedule for want of a meter reading"
    )
    input_hash: str
    inputs: dict[str, Any]
    created_at: datetime
    created_by: str | None
    checked_at: datetime | None = Field(
        description="the latest calculation that found the same inputs and left this version "
        "in place (null: none since it was stored)"
    )

    @classmethod
    def of(cls, run: SettlementRun) -> RunOut:
        unit = run.minor_unit
        return cls(
            id=run.id,
            vpp_id=run.vpp_id,
            market=run.market,
            area=run.area,
            day=run.day,
            version=run.version,
            superseded_by=run.superseded_by,
            currency=run.currency,
            minor_unit=unit,
            totals={k: v * unit for k, v in run.totals.items()},
            total=run.total * unit,
            totals_minor=run.totals,
            total_minor=run.total,
            intervals=run.intervals,
            resources=run.resources,
            estimated_intervals=run.estimated_intervals,
            input_hash=run.input_hash,
            inputs=run.inputs,
            created_at=run.created_at,
            created_by=run.created_by,
            checked_at=run.checked_at,
        )


class CalculatedOut(Out):
    status: Literal["created", "unchanged", "revised"]
    run: RunOut


class IntervalOut(Out):
    interval_start: datetime
    interval_min: int
    scheduled_mwh: Decimal = Field(
        description="position (VPP) or dispatched schedule (resource), injection positive"
    )
    metered_mwh: Decimal
    estimated: bool
    amounts: dict[str, Decimal]

    @classmethod
    def of(cls, row: dict[str, Any], run: SettlementRun) -> IntervalOut:
        step, unit = run.energy_step_mwh, run.minor_unit
        return cls(
            interval_start=row["interval_start"],
            interval_min=row["interval_min"],
            scheduled_mwh=int(row["scheduled"]) * step,
            metered_mwh=int(row["metered"]) * step,
            estimated=bool(row["estimated"]),
            amounts={k: int(row[k]) * unit for k in AMOUNT_COLUMNS},
        )


class RunDetailOut(Out):
    run: RunOut
    resource_id: str = Field(description='"" for the VPP\'s own intervals')
    intervals: list[IntervalOut]


class BalanceOut(Out):
    account: str
    period: date | None
    currency: str
    balance_minor: int = Field(description="debit positive, credit negative")


class ResourceContributionOut(Out):
    resource_id: str
    market_revenue: Decimal
    costs: Decimal
    total: Decimal
    total_minor: int


class ContributionOut(Out):
    run: RunOut
    method: Literal["shapley", "pro_rata"]
    resources: list[ResourceContributionOut]


class RevenueRowOut(Out):
    group: dict[str, str] = Field(
        description="the group's keys, e.g. {'day': ..., 'currency': ...}"
    )
    currency: str
    revenue_minor: int
    costs_minor: int
    pnl_minor: int

    @classmethod
    def of(cls, row: dict[str, Any], keys: list[str]) -> RevenueRowOut:
        return cls(
            group={k: str(row[k]) for k in dict.fromkeys([*keys, "currency"])},
            currency=str(row["currency"]),
            revenue_minor=int(row["revenue"]),
            costs_minor=int(row["costs"]),
            pnl_minor=int(row["pnl"]),
        )


class PerformanceOut(Out):
    run_id: str
    vpp_id: str
    market: str
    day: date
    currency: str
    scheduled_mwh: Decimal
    metered_mwh: Decimal
    scheduled_abs_mwh: Decimal
    deviation_abs_mwh: Decimal
    deviation_share: float | None = Field(description="absolute deviation / absolute schedule")
    estimated_intervals: int
    intervals: int
    pnl: Decimal
    pnl_per_mwh: Decimal | None


class StrategyOut(Out):
    id: str = Field(description="'<vpp_id>:<market>:<product>'")
    vpp_id: str
    market: str
    product: str
    strategy: str
    enabled: bool


class StrategyDayOut(Out):
    day: date
    decision_id: str
    status: str
    strategy: str
    expected_revenue: float | None = Field(description="the decision's expected revenue")
    settled_revenue: Decimal | None = Field(description="the settled day-ahead line")
    pnl: Decimal | None = Field(description="the settled run's total")
    perfect_foresight_revenue: float | None = Field(
        description="the decision's flexibility optimised at the realised prices"
    )
    capture_ratio: float | None


class StrategyPerformanceOut(Out):
    strategy_id: str
    vpp_id: str
    market: str
    product: str
    strategy: str
    currency: str
    days: list[StrategyDayOut]
    compared_days: int
    settled_revenue: Decimal
    perfect_foresight_revenue: float
    capture_ratio: float | None
