"""VPP definitions (``/api/vpp/vpps``), grid nodes and conflict reports."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Response

from openvpp.aggregation.engine import Aggregate, horizon, local_days
from openvpp.api.deps import PageDep, PrincipalDep, ReadUow, RuntimeDep, WriteUow, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.vpps import (
    AggregateIn,
    AggregateOut,
    ConflictOut,
    GridNodeIn,
    GridNodeOut,
    IntervalOut,
    MemberIn,
    MemberOut,
    MemberUpdateIn,
    ParametersIn,
    ParametersOut,
    TypeContributionOut,
    VppIn,
    VppOut,
    VppUpdateIn,
)
from openvpp.core.errors import ValidationFailed
from openvpp.vpp.service import MemberSpec, aggregate

router = APIRouter(prefix=API_PREFIX, tags=["vpps"])
MAX_INTERVALS = 31 * 96


def _spec(m: MemberIn) -> MemberSpec:
    return MemberSpec(m.resource_id, m.share_pct, m.valid_from, m.valid_to)


@router.get("/vpps", summary="VPPs of the organization")
async def list_vpps(
    rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep, page: PageDep
) -> list[VppOut]:
    found = await read(rt, rt.vpps.list_vpps, uow, principal, page.limit, page.offset)
    return [VppOut.of(v) for v in found]


@router.post(
    "/vpps",
    status_code=201,
    summary="Define a VPP, optionally with members and parameters (409 on conflicts)",
)
async def create_vpp(body: VppIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep) -> VppOut:
    created = await blocking(
        rt.vpps.create,
        uow,
        principal,
        name=body.name,
        market_area=body.market_area,
        description=body.description,
        settings=body.parameters,
        members=[_spec(m) for m in body.members],
    )
    return VppOut.of(created)


@router.get("/vpps/{vpp_id}", summary="One VPP")
async def get_vpp(vpp_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep) -> VppOut:
    return VppOut.of(await read(rt, rt.vpps.get, uow, principal, vpp_id))


@router.patch("/vpps/{vpp_id}", summary="Rename a VPP or move it to another market area")
async def update_vpp(
    vpp_id: str, body: VppUpdateIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> VppOut:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    return VppOut.of(await blocking(rt.vpps.update, uow, principal, vpp_id, changes))


@router.delete("/vpps/{vpp_id}", status_code=204, summary="Delete a VPP and its memberships")
async def delete_vpp(
    vpp_id: str, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> Response:
    await blocking(rt.vpps.delete, uow, principal, vpp_id)
    return Response(status_code=204)


@router.get("/vpps/{vpp_id}/members", summary="Member resources with shares and validity")
async def list_members(
    vpp_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> list[MemberOut]:
    return [MemberOut.of(m) for m in await read(rt, rt.vpps.members, uow, principal, vpp_id)]


@router.post(
    "/vpps/{vpp_id}/members", status_code=201, summary="Allocate a resource (409 on conflicts)"
)
async def add_member(
    vpp_id: str, body: MemberIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> MemberOut:
    return MemberOut.of(await blocking(rt.vpps.add_member, uow, principal, vpp_id, _spec(body)))


@router.patch("/vpps/{vpp_id}/members/{member_id}", summary="Change a share or validity period")
async def update_member(
    vpp_id: str,
    member_id: str,
    body: MemberUpdateIn,
    rt: RuntimeDep,
    uow: WriteUow,
    principal: PrincipalDep,
) -> MemberOut:
    # null means "unchanged" except for valid_to, where it means open-ended
    changes = {
        k: v
        for k, v in body.model_dump(exclude_unset=True).items()
        if v is not None or k == "valid_to"
    }
    updated = await blocking(rt.vpps.update_member, uow, principal, vpp_id, member_id, changes)
    return MemberOut.of(updated)


@router.delete(
    "/vpps/{vpp_id}/members/{member_id}", status_code=204, summary="Remove a member resource"
)
async def remove_member(
    vpp_id: str, member_id: str, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> Response:
    await blocking(rt.vpps.remove_member, uow, principal, vpp_id, member_id)
    return Response(status_code=204)


@router.get("/vpps/{vpp_id}/parameters", summary="Parameter history, oldest first")
async def parameter_history(
    vpp_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> list[ParametersOut]:
    history = await read(rt, rt.vpps.settings_history, uow, principal, vpp_id)
    return [ParametersOut.of(v) for v in history]


@router.post(
    "/vpps/{vpp_id}/parameters",
    status_code=201,
    summary="Record a new parameter version from a point in time (409 on conflicts)",
)
async def set_parameters(
    vpp_id: str, body: ParametersIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> ParametersOut:
    version = await blocking(
        rt.vpps.set_settings, uow, principal, vpp_id, body.parameters, body.effective_from
    )
    return ParametersOut.of(version)


@router.get("/vpps/{vpp_id}/conflicts", summary="Conflicts of one VPP, from now on")
async def vpp_conflicts(
    vpp_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> list[ConflictOut]:
    return [ConflictOut.of(c) for c in await read(rt, rt.vpps.conflicts, uow, principal, vpp_id)]


@router.get("/conflicts", summary="Every conflict in the organization's VPPs, from now on")
async def all_conflicts(rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep) -> list[ConflictOut]:
    return [ConflictOut.of(c) for c in await read(rt, rt.vpps.conflicts, uow, principal)]


@router.get("/grid-nodes", summary="Grid nodes and the market area each lies in")
async def list_nodes(rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep) -> list[GridNodeOut]:
    return [GridNodeOut.of(n) for n in await read(rt, rt.vpps.list_nodes, uow, principal)]


@router.post("/grid-nodes", status_code=201, summary="Register a grid node in a market area")
async def add_node(
    body: GridNodeIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> GridNodeOut:
    node = await blocking(
        rt.vpps.add_node,
        uow,
        principal,
        code=body.code,
        market_area=body.market_area,
        name=body.name,
    )
    return GridNodeOut.of(node)


@router.delete("/grid-nodes/{code}", status_code=204, summary="Remove a grid node (409 if used)")
async def delete_node(
    code: str, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> Response:
    await blocking(rt.vpps.delete_node, uow, principal, code)
    return Response(status_code=204)


@router.post(
    "/resources/aggregate",
    summary="A VPP's flexibility per interval: baseline, power and energy bounds, ramps",
)
async def aggregate_resources(
    body: AggregateIn, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> AggregateOut:
    if body.start is not None and body.end is not None:
        start, end = body.start, body.end
    else:
        assert body.day is not None  # the schema requires one of the two
        start, end = local_days(body.day, body.days, body.tz)
    try:
        index = horizon(start, end, body.resolution_min)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="start") from None
    if len(index) > MAX_INTERVALS:
        raise ValidationFailed(f"at most {MAX_INTERVALS} intervals per request", field="end")
    result = await read(
        rt, aggregate, uow, principal, body.vpp_id, index, tz=body.tz, now=rt.clock.now()
    )
    return aggregate_out(body.vpp_id, body.resolution_min, body.tz, result)


def aggregate_out(vpp_id: str, resolution_min: int, tz: str, result: Aggregate) -> AggregateOut:
    t = result.total

    def r(a: Any) -> list[float]:
        return [float(x) for x in np.round(a, 6)]

    local = result.index.tz_convert(tz)
    columns = {
        "baseline_mw": r(t.baseline_mw),
        "p_min_mw": r(t.p_min_mw),
        "p_max_mw": r(t.p_max_mw),
        "up_mw": r(t.p_max_mw - t.baseline_mw),
        "down_mw": r(t.baseline_mw - t.p_min_mw),
        "e_min_mwh": r(t.e_min_mwh),
        "e_max_mwh": r(t.e_max_mwh),
        "ramp_up_mw": r(t.ramp_up_mw),
        "ramp_down_mw": r(t.ramp_down_mw),
    }
    intervals = [
        IntervalOut(
            start=ts.to_pydatetime(),
            start_local=local[i].isoformat(),
            **{k: v[i] for k, v in columns.items()},
        )
        for i, ts in enumerate(result.index)
    ]
    step = pd.Timedelta(minutes=resolution_min)
    return AggregateOut(
        vpp_id=vpp_id,
        resolution_min=resolution_min,
        tz=tz,
        start=result.index[0].to_pydatetime(),
        end=(result.index[-1] + step).to_pydatetime(),
        intervals=intervals,
        by_type={
            kind.value: TypeContributionOut(
                baseline_mw=r(f.baseline_mw), p_min_mw=r(f.p_min_mw), p_max_mw=r(f.p_max_mw)
            )
            for kind, f in result.by_type.items()
        },
        resources=result.resources,
        notes=result.notes,
    )
