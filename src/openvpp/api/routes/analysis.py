"""Analysis (``/api/vpp/analysis``): revenue, costs and P&L of the settled runs by time, VPP,
market, resource or resource type, and delivery performance (docs/settlement.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from openvpp.api.deps import PrincipalDep, ReadUow, RuntimeDep, blocking
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.common import IsoDay
from openvpp.api.schemas.settlement import PerformanceOut, RevenueRowOut
from openvpp.core.errors import ValidationFailed
from openvpp.settlement.analysis import GROUPS
from openvpp.settlement.reports import FORMATS

router = APIRouter(prefix=f"{API_PREFIX}/analysis", tags=["analysis"])
reports = APIRouter(prefix=f"{API_PREFIX}/reports", tags=["analysis"])

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


@reports.get(
    "/generate",
    summary="The settlement report of a period as CSV, XLSX, HTML or PDF",
    description="Totals, P&L per day (chart), per day, VPP and market, per market, per "
    "resource type and delivery performance. CSV: the per-day table.",
    response_class=Response,
    responses={200: {"content": {m: {} for m, _ in FORMATS.values()}}},
)
async def generate(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    first_day: IsoDay,
    last_day: IsoDay,
    format: Literal["csv", "xlsx", "html", "pdf"] = "pdf",
    vpp_id: str | None = None,
) -> Response:
    body, media, name = await blocking(
        rt.settlement.report,
        uow,
        principal.organization_id,
        first=first_day,
        last=last_day,
        fmt=format,
        vpp_id=vpp_id,
    )
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
