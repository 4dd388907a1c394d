"""Analysis (``/api/vpp/analysis``): revenue, costs and P&L of the settled runs by time, VPP,
market, resource or resource type, and delivery performance (docs/settlement.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from openvpp.api.deps import PrincipalDep, ReadUow, RuntimeDep, blocking
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.common import IsoDay
from openvpp.api.schemas.settlement import PerformanceOut, RevenueRowOut
from openvpp.core.errors import ValidationFailed
from openvpp.settlement.analysis import GROUPS

router = APIRouter(prefix=f"{API_PREFIX}/analysis", tags=["analysis"])

By = Annotated[
    str,
    Query(
        pattern=r"^[a-z_]+(,[a-z_]+)*$",
        description=f"comma-separated groups, each of {', '.join(GROUPS)}",
    ),
]


def groups(by: str) -> list[str]:
    """``by`` as a list; 422 naming the first unknown group."""
    found = by.split(",")
    for g in found:
        if g not in GROUPS:
            raise ValidationFailed(f"unknown group {g!r}; one of {list(GROUPS)}", field="by")
    return found


@router.get("/revenue", summary="Revenue, costs and P&L of the settled runs, grouped")
async def revenue(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    first_day: IsoDay,
    last_day: IsoDay,
    by: By = "day",
    vpp_id: str | None = None,
) -> list[RevenueRowOut]:
    keys = groups(by)
    table = await blocking(
        rt.settlement.revenue,
        uow,
        principal.organization_id,
        first=first_day,
        last=last_day,
        by=keys,
        vpp_id=vpp_id,
    )
    return [
        RevenueRowOut.of({str(k): v for k, v in row.items()}, keys)
        for row in table.to_dict("records")
    ]


@router.get("/performance", summary="Delivery performance and P&L per settled run")
async def performance(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    first_day: IsoDay,
    last_day: IsoDay,
    vpp_id: str | None = None,
) -> list[PerformanceOut]:
    rows = await blocking(
        rt.settlement.performance,
        uow,
        principal.organization_id,
        first=first_day,
        last=last_day,
        vpp_id=vpp_id,
    )
    return [PerformanceOut(**r) for r in rows]
