"""Strategies (``/api/vpp/strategies``): the automatic bidding strategies and how they did
against settlement and perfect foresight (docs/settlement.md)."""

from __future__ import annotations

from fastapi import APIRouter

from openvpp.api.deps import PrincipalDep, ReadUow, RuntimeDep, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.common import IsoDay
from openvpp.api.schemas.settlement import StrategyOut, StrategyPerformanceOut
from openvpp.settlement.strategy_service import strategy_id

router = APIRouter(prefix=f"{API_PREFIX}/strategies", tags=["analysis"])


@router.get("", summary="Automatic bidding strategies (auto-trading settings)")
async def strategies(rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep) -> list[StrategyOut]:
    found = await read(rt, rt.strategies.strategies, uow, principal.organization_id)
    return [
        StrategyOut(
            id=strategy_id(s.vpp_id, s.market, s.product),
            vpp_id=s.vpp_id,
            market=s.market,
            product=s.product,
            strategy=s.strategy,
            enabled=s.enabled,
        )
        for s in found
    ]


@router.get(
    "/{strategy_id}/performance",
    summary="A strategy's days: expected, settled and perfect-foresight revenue",
    description="For each decided day: the decision's expected revenue, the settled "
    "day-ahead revenue and P&L, the decision's recorded flexibility optimised at the prices "
    "known now (perfect foresight) and the capture ratio; the period's sums.",
)
async def performance(
    strategy_id: str,
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    first_day: IsoDay,
    last_day: IsoDay,
) -> StrategyPerformanceOut:
    result = await blocking(
        rt.strategies.performance, uow, principal.organization_id, strategy_id, first_day, last_day
    )
    return StrategyPerformanceOut(**result)
