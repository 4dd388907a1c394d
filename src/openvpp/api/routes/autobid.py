"""Automatic bidding (``/api/vpp/trading/auto``, ``/api/vpp/trading/decisions``): the
auto-trading settings and the recorded decisions (docs/autobidding.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from openvpp.api.deps import PageDep, PrincipalDep, ReadUow, RuntimeDep, WriteUow, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.autobid import (
    AutoTradingIn,
    AutoTradingOut,
    DecisionIn,
    DecisionOut,
    DecisionStatus,
)
from openvpp.api.schemas.common import IsoDay
from openvpp.api.schemas.trading import CODE
from openvpp.identity.model import Principal
from openvpp.ports import UnitOfWork
from openvpp.trading.autobid_records import DecisionFilter

router = APIRouter(prefix=f"{API_PREFIX}/trading", tags=["automatic bidding"])


@router.get("/auto", summary="Auto-trading settings of the organization")
async def get_auto(rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep) -> list[AutoTradingOut]:
    found = await read(rt, rt.autobid.settings, uow, principal)
    return [AutoTradingOut.of(s) for s in found]


@router.put(
    "/auto",
    summary="Create or replace the auto-trading setting of a VPP on a market's product",
    description="While `enabled`, the server decides each local delivery day once, between "
    "its first gate closure minus `lead_min` and minus `margin_min`.",
)
async def put_auto(
    body: AutoTradingIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> AutoTradingOut:
    setting = await blocking(rt.autobid.set_settings, uow, principal, body.spec())
    return AutoTradingOut.of(setting)


@router.get("/decisions", summary="Automatic bidding decisions, newest first")
async def list_decisions(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    vpp_id: str | None = None,
    market: Annotated[str | None, Query(pattern=CODE)] = None,
    product: Annotated[str | None, Query(pattern=CODE)] = None,
    day: IsoDay | None = None,
    status: DecisionStatus | None = None,
) -> list[DecisionOut]:
    f = DecisionFilter(vpp_id=vpp_id, market=market, product=product, day=day, status=status)

    def query(u: UnitOfWork, p: Principal) -> list[DecisionOut]:
        found = rt.autobid.decisions(u, p, f, page.limit, page.offset)
        return [DecisionOut.of(r, full=False) for r in found]

    return await read(rt, query, uow, principal)


@router.get("/decisions/{decision_id}", summary="One decision with its inputs, result, orders")
async def get_decision(
    decision_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> DecisionOut:
    found = await read(rt, rt.autobid.decision, uow, principal, decision_id)
    return DecisionOut.of(found)


@router.post(
    "/decisions",
    status_code=201,
    summary="Make the decision of a VPP on a market's product for a delivery day now",
    description="Forecast, optimize, submit and record, as the scheduler does. 201: made now "
    "(also when it failed: `status` failed, `error` says why); 200: the day was decided "
    "already, the stored decision is returned (one decision per day).",
)
async def post_decision(
    body: DecisionIn, response: Response, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> DecisionOut:
    made = await blocking(
        rt.autobid.decide_now,
        lambda: uow,
        principal,
        body.vpp_id,
        body.market,
        body.product,
        body.day,
    )
    if not made.created:
        response.status_code = 200
    return DecisionOut.of(made.record)
