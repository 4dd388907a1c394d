"""Jobs of the model registry: ``ai.train`` and ``ai.evaluate``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openvpp.audit.chain import AuditContext
from openvpp.core.errors import ValidationFailed
from openvpp.forecasting.registry.service import TrainRequest
from openvpp.jobs.registry import JobContext, JobRegistry
from openvpp.ports import UnitOfWork

if TYPE_CHECKING:
    from openvpp.runtime import Runtime

AI_ROLES = frozenset({"admin", "operator", "trader", "analyst"})


def check_evaluate_shape(params: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``ai.evaluate`` parameters; values are checked against the model when the
    job starts (and by the route before it is queued)."""
    unknown = sorted(set(params) - {"model_id", "version", "start", "end"})
    if unknown:
        raise ValidationFailed(f"unknown parameters {unknown}", field=f"params.{unknown[0]}")
    for key in ("model_id", "start", "end"):
        if not isinstance(params.get(key), str):
            raise ValidationFailed(f"{key} is required", field=f"params.{key}")
    return dict(params)


def register_ai_jobs(registry: JobRegistry, rt: Runtime) -> None:
    def context(ctx: JobContext) -> AuditContext:
        if ctx.organization_id is None:
            raise ValidationFailed("model jobs run for an organization", field="params")
        return AuditContext(
            actor_type="system", actor_id="job-runner", organization_id=ctx.organization_id
        )

    def train(ctx: JobContext) -> dict[str, Any]:
        audit = context(ctx)
        assert ctx.organization_id is not None

        def uow() -> UnitOfWork:
            return rt.uow(audit)

        return rt.models.train(
            uow,
            ctx.organization_id,
            ctx.params,
            ctx.job_id,
            lambda fraction, message: ctx.progress(fraction, message),
        )

    def evaluate(ctx: JobContext) -> dict[str, Any]:
        audit = context(ctx)
        assert ctx.organization_id is not None
        params = rt.predictions.check_evaluate(
            rt.uow(audit, readonly=True), ctx.organization_id, ctx.params
        )
        return rt.predictions.evaluate(
            lambda: rt.uow(audit, readonly=True),
            ctx.organization_id,
            params,
            lambda fraction, message: ctx.progress(fraction, message),
        )

    registry.register(
        "ai.train",
        train,
        description="Train a new version of a registered model on its data source (as known "
        "at as_of), score its hold-out days against the seasonal-naive baseline and store it.",
        # the route also checks the model exists in the caller's organization; a job submitted
        # through /jobs naming another organization's model fails (the handler scopes by org)
        check_params=lambda params: TrainRequest(params, rt.clock.now()).as_params(),
        roles=AI_ROLES,
    )
    registry.register(
        "ai.evaluate",
        evaluate,
        description="Score a stored model version out of sample over a period (one forecast "
        "issued per day with the target hidden from then on) against the seasonal-naive "
        "baseline.",
        check_params=check_evaluate_shape,
        roles=AI_ROLES,
    )
