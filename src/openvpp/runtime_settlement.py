"""Composition of settlement: the ``settlement.calculate`` job kind and the periodic loop of
the API server that settles every ended market day of a VPP with fills (docs/settlement.md)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from openvpp.core.errors import DomainError, ValidationFailed
from openvpp.jobs.registry import JobContext, JobRegistry
from openvpp.ports import UnitOfWork
from openvpp.runtime_loops import every
from openvpp.runtime_trading import system_uow
from openvpp.settlement.service import CalculateRequest

if TYPE_CHECKING:
    from openvpp.runtime import Runtime

log = logging.getLogger(__name__)

JOB_PARAMS = ("vpp_id", "market", "first_day", "last_day")
OPTIONAL_PARAMS = ("area", "product", "real_time_market", "real_time_product")
RETRY_AFTER = timedelta(hours=1)
"""A day whose automatic settlement failed (prices not stored yet, say) is tried again after
this long."""


def settlement_uow(rt: Runtime, organization_id: str) -> UnitOfWork:
    """A unit of work whose audit rows name the settlement system as actor."""
    return system_uow(rt, organization_id, "settlement")


class SettlementScheduler:
    """Settles the due days of every organization; remembers failures to retry them later.
    Which days had their final calculation (after ``settlement_revision_h``) the runs store
    (``checked_at``), so a restart does not calculate them again."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._failed: dict[tuple[str, str, str, date], datetime] = {}

    def tick(self) -> list[dict[str, Any]]:
        rt, s = self._rt, self._rt.settings
        now = rt.clock.now()
        revise = timedelta(hours=s.settlement_revision_h) if s.settlement_revision_h else None
        done: list[dict[str, Any]] = []
        with rt.uow(readonly=True) as uow:
            orgs = [o.id for o in uow.organizations.list()]
        oldest = now.date() - timedelta(days=s.settlement_lookback_days + 2)
        self._failed = {k: t for k, t in self._failed.items() if k[3] >= oldest}
        for org in orgs:
            due = rt.settlement.due(
                settlement_uow(rt, org),
                org,
                delay=timedelta(minutes=s.settlement_delay_min),
                lookback_days=s.settlement_lookback_days,
                revise_after=revise,
            )
            for req in due:
                key = (org, req.vpp_id, req.market, req.first_day)
                failed_at = self._failed.get(key)
                if failed_at is not None and now - failed_at < RETRY_AFTER:
                    continue
                try:
                    [outcome] = rt.settlement.calculate(settlement_uow(rt, org), org, req)
                except DomainError as e:
                    self._failed[key] = now
                    log.warning(
                        "settlement of %s %s %s: %s", req.vpp_id, req.market, req.first_day, e
                    )
                    continue
                self._failed.pop(key, None)
                done.append(
                    {
                        "vpp_id": req.vpp_id,
                        "market": req.market,
                        "day": req.first_day.isoformat(),
                        "run_id": outcome.run.id,
                        "status": outcome.status,
                        "total": outcome.run.total,
                    }
                )
        return done


async def settlement_loop(rt: Runtime, interval_s: float) -> None:
    """Settle the due days every ``interval_s`` [s]."""
    await every(interval_s, SettlementScheduler(rt).tick, "settlement", log)


def check_settlement_params(params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(JOB_PARAMS) - set(OPTIONAL_PARAMS))
    if unknown:
        raise ValidationFailed(f"unknown parameters {unknown}", field=f"params.{unknown[0]}")
    for name in JOB_PARAMS:
        if not isinstance(params.get(name), str) or not params[name]:
            raise ValidationFailed(f"{name} is required (a string)", field=f"params.{name}")
    for name in OPTIONAL_PARAMS:
        if name in params and not isinstance(params[name], str):
            raise ValidationFailed(f"{name} must be a string", field=f"params.{name}")
    for name in ("first_day", "last_day"):
        try:
            date.fromisoformat(params[name])
        except ValueError:
            raise ValidationFailed(
                f"{name} must be an ISO date (YYYY-MM-DD), got {params[name]!r}",
                field=f"params.{name}",
            ) from None
    if params["last_day"] < params["first_day"]:
        raise ValidationFailed("last_day must not be before first_day", field="params.last_day")
    return dict(params)


def register_settlement_jobs(registry: JobRegistry, rt: Runtime) -> None:
    def calculate(ctx: JobContext) -> dict[str, Any]:
        org = ctx.organization_id
        if org is None:
            raise ValidationFailed("the job needs an organization", field="organization_id")
        p = ctx.params
        req = CalculateRequest(
            **{
                **{k: p[k] for k in OPTIONAL_PARAMS if k in p},
                "vpp_id": p["vpp_id"],
                "market": p["market"],
                "first_day": date.fromisoformat(p["first_day"]),
                "last_day": date.fromisoformat(p["last_day"]),
            }
        )
        days = (req.last_day - req.first_day).days + 1
        outcomes = []
        for k in range(days):
            day = req.first_day + timedelta(days=k)
            ctx.progress(k / days, f"settling {day}", force=True)
            one = CalculateRequest(**{**asdict(req), "first_day": day, "last_day": day})
            outcomes += rt.settlement.calculate(settlement_uow(rt, org), org, one)
        return {
            "runs": [
                {
                    "day": o.run.day.isoformat(),
                    "run_id": o.run.id,
                    "status": o.status,
                    "total": o.run.total,
                }
                for o in outcomes
            ]
        }

    registry.register(
        "settlement.calculate",
        calculate,
        description="Settle a VPP in a market for local delivery days (one transaction per "
        "day; resumable: days settled on the same inputs are unchanged).",
        check_params=check_settlement_params,
        roles=frozenset({"admin", "operator", "trader"}),
    )
