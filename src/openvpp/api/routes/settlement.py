"""Settlement (``/api/vpp/settlement``): calculate runs, read them with their interval rows,
and the ledger's balances (docs/settlement.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from openvpp.api.deps import PageDep, PrincipalDep, ReadUow, RuntimeDep, WriteUow, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.common import IsoDay
from openvpp.api.schemas.settlement import (
    BalanceOut,
    CalculatedOut,
    CalculateIn,
    ContributionOut,
    IntervalOut,
    ResourceContributionOut,
    RunDetailOut,
    RunOut,
)
from openvpp.api.schemas.trading import CODE
from openvpp.settlement.records import RunFilter

router = APIRouter(prefix=f"{API_PREFIX}/settlement", tags=["settlement"])


@router.post(
    "/calculate",
    summary="Settle a VPP in a market for local delivery days",
    description="One transaction per day: the day's run, its interval rows and its ledger "
    "entries appear together or not at all. A day already settled on the same inputs is "
    "returned `unchanged`; on changed inputs (late meter readings, fills, revised prices) a "
    "new version is written (`revised`) and the previous one's entries are reversed.",
)
async def calculate(
    body: CalculateIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> list[CalculatedOut]:
    outcomes = await blocking(
        rt.settlement.calculate, uow, principal.organization_id, body.request()
    )
    return [CalculatedOut(status=o.status, run=RunOut.of(o.run)) for o in outcomes]


@router.get("/records", summary="Settlement runs, newest day first")
async def records(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    vpp_id: str | None = None,
    market: Annotated[str | None, Query(pattern=CODE)] = None,
    first_day: IsoDay | None = None,
    last_day: IsoDay | None = None,
    include_superseded: bool = False,
) -> list[RunOut]:
    f = RunFilter(vpp_id, market, first_day, last_day, include_superseded)
    found = await read(
        rt, rt.settlement.runs, uow, principal.organization_id, f, page.limit, page.offset
    )
    return [RunOut.of(r) for r in found]


@router.get("/records/{run_id}", summary="A run with its interval rows (the VPP's or a resource's)")
async def record(
    run_id: str,
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    resource_id: Annotated[str, Query(max_length=36)] = "",
) -> RunDetailOut:
    run, rows = await read(
        rt,
        rt.settlement.run,
        uow,
        principal.organization_id,
        run_id,
        resource_id=resource_id,
        limit=page.limit,
        offset=page.offset,
    )
    return RunDetailOut(
        run=RunOut.of(run),
        resource_id=resource_id,
        intervals=[IntervalOut.of(r, run) for r in rows],
    )


@router.get(
    "/records/{run_id}/contribution",
    summary="Each resource's share of a run's result",
    description="Market revenue at the VPP's realised price of each interval; costs (imbalance, "
    "deviation penalty, fees) by exact Shapley values of the coalitions' costs (`auto`: up to "
    "16 resources) or in proportion to the deviations (`pro_rata`). Adds up to the run's "
    "total exactly.",
)
async def contribution(
    run_id: str,
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    method: Literal["auto", "shapley", "pro_rata"] = "auto",
) -> ContributionOut:
    run, c = await blocking(
        rt.settlement.contribution, uow, principal.organization_id, run_id, method
    )
    unit = run.minor_unit
    return ContributionOut(
        run=RunOut.of(run),
        method="shapley" if c.method == "shapley" else "pro_rata",
        resources=[
            ResourceContributionOut(
                resource_id=rid,
                market_revenue=int(c.market_revenue[i]) * unit,
                costs=int(c.costs[i]) * unit,
                total=int(c.total[i]) * unit,
                total_minor=int(c.total[i]),
            )
            for i, rid in enumerate(c.resource_ids)
        ],
    )


@router.get("/ledger/balances", summary="Ledger balances by account (and period)")
async def balances(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    first_day: IsoDay | None = None,
    last_day: IsoDay | None = None,
    by: Literal["account", "period"] = "account",
    vpp_id: str | None = None,
) -> list[BalanceOut]:
    found = await read(
        rt,
        rt.settlement.balances,
        uow,
        principal.organization_id,
        first=first_day,
        last=last_day,
        by_period=by == "period",
        vpp_id=vpp_id,
    )
    return [BalanceOut(account=a, period=p, currency=c, balance_minor=v) for a, p, c, v in found]
