"""Composition of automatic bidding: the service, the ``trading.autobid`` job kind and the
periodic loop of the API server that makes every due decision (docs/autobidding.md)."""

from __future__ import annotations

import logging
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any

from openvpp.core.errors import ValidationFailed
from openvpp.jobs.registry import JobContext, JobRegistry
from openvpp.runtime_loops import every
from openvpp.runtime_trading import TRADERS, system_uow
from openvpp.trading.autobid_service import AutobidService, system_principal

if TYPE_CHECKING:
    from openvpp.runtime import Runtime

log = logging.getLogger(__name__)
JOB_PARAMS = ("vpp_id", "market", "product", "day")


def build_autobid(rt: Runtime) -> AutobidService:
    return AutobidService(
        rt.clock, rt.trading.submissions.submit_many, rt.predictions, rt.market_data
    )


def autobid_tick(rt: Runtime) -> list[dict[str, Any]]:
    """One round of the loop: every decision due now, made and recorded."""
    return rt.autobid.run_due(partial(system_uow, rt))


async def autobid_loop(rt: Runtime, interval_s: float) -> None:
    """Make the due decisions every ``interval_s`` [s]."""
    await every(interval_s, partial(autobid_tick, rt), "automatic bidding", log)


def check_autobid_params(params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(JOB_PARAMS))
    if unknown:
        raise ValidationFailed(f"unknown parameters {unknown}", field=f"params.{unknown[0]}")
    for name in JOB_PARAMS:
        if not isinstance(params.get(name), str) or not params[name]:
            raise ValidationFailed(f"{name} is required (a string)", field=f"params.{name}")
    try:
        date.fromisoformat(params["day"])
    except ValueError:
        raise ValidationFailed(
            f"day must be an ISO date (YYYY-MM-DD), got {params['day']!r}", field="params.day"
        ) from None
    return dict(params)


def register_autobid_jobs(registry: JobRegistry, rt: Runtime) -> None:
    def autobid_job(ctx: JobContext) -> dict[str, Any]:
        org = ctx.organization_id
        if org is None:
            raise ValidationFailed("the job needs an organization", field="organization_id")
        ctx.progress(0.1, "forecasting, optimizing and submitting", force=True)
        p = ctx.params
        made = rt.autobid.decide_now(
            partial(system_uow, rt, org),
            system_principal(org),
            p["vpp_id"],
            p["market"],
            p["product"],
            date.fromisoformat(p["day"]),
        )
        r = made.record
        return {
            "decision_id": r.id,
            "created": made.created,
            "status": r.status,
            "orders": len(r.orders),
            "error": r.error,
        }

    registry.register(
        "trading.autobid",
        autobid_job,
        description="Make the automatic bidding decision of a VPP on a market's product for "
        "a local delivery day now (params vpp_id, market, product, day): forecast, optimize, "
        "submit, record. A day decided already returns that decision.",
        check_params=check_autobid_params,
        roles=TRADERS,
    )
