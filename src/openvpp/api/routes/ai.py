"""The model registry (``/api/vpp/ai``): models with immutable versions, training and
evaluation as jobs, performance, and predictions stored with the time they were issued."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query, Response

from openvpp.api.deps import PageDep, PrincipalDep, ReadUow, RuntimeDep, WriteUow, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.ai import (
    AlgorithmOut,
    EvaluateIn,
    KnownOut,
    ModelIn,
    ModelOut,
    ModelUpdateIn,
    PredictIn,
    RiskAssessIn,
    RiskOut,
    RunOut,
    TrainIn,
)
from openvpp.api.schemas.common import UTCDatetime
from openvpp.api.schemas.ops import JobOut
from openvpp.forecasting.protocol import ModelKind
from openvpp.forecasting.registry.catalog import all_algorithms

router = APIRouter(prefix=API_PREFIX, tags=["ai models"])


@router.get("/ai/algorithms", summary="Algorithms the registry can train, with their parameters")
async def algorithms(_p: PrincipalDep) -> list[AlgorithmOut]:
    return [AlgorithmOut.of(a) for _, a in sorted(all_algorithms().items())]


@router.get("/ai/models", summary="Models of the organization (archived ones are left out)")
async def list_models(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    kind: ModelKind | None = None,
) -> list[ModelOut]:
    found = await read(
        rt, rt.models.list, uow, principal.organization_id, kind, page.limit, page.offset
    )
    return [ModelOut.of(m) for m in found]


@router.post(
    "/ai/models",
    status_code=201,
    summary="Register a model",
    description="A model names what it forecasts (`kind`), how (`algorithm`, `params`) and "
    "from which data (`data_source`). Train it with `POST /ai/models/{id}/train`.",
)
async def create_model(
    body: ModelIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> ModelOut:
    model = await blocking(
        rt.models.create,
        uow,
        principal.organization_id,
        principal.user_id,
        name=body.name,
        kind=body.kind,
        algorithm=body.algorithm,
        description=body.description,
        params=body.params,
        data_source=body.data_source,
    )
    return ModelOut.of(model, [])


@router.get("/ai/models/{model_id}", summary="A model with all its versions")
async def get_model(
    model_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> ModelOut:
    model, versions = await read(rt, rt.models.get, uow, principal.organization_id, model_id)
    return ModelOut.of(model, versions)


@router.put(
    "/ai/models/{model_id}",
    summary="Change a model (the seed's PUT; the same as PATCH)",
    description="Only the fields given change; versions stay as trained.",
)
@router.patch("/ai/models/{model_id}", summary="Change a model (versions stay as trained)")
async def update_model(
    model_id: str, body: ModelUpdateIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> ModelOut:
    changes = body.model_dump(exclude_unset=True)
    model = await blocking(rt.models.update, uow, principal.organization_id, model_id, changes)
    return ModelOut.of(model)


@router.delete(
    "/ai/models/{model_id}",
    status_code=204,
    summary="Delete a model",
    description="The model is archived: it disappears from lists and can no longer be trained "
    "or asked, while its versions and stored predictions stay for backtests and audits.",
)
async def delete_model(
    model_id: str, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> Response:
    await blocking(rt.models.archive, uow, principal.organization_id, model_id)
    return Response(status_code=204)


@router.post(
    "/ai/models/{model_id}/train",
    status_code=202,
    summary="Train a new version (a job)",
    description="Submits an `ai.train` job; poll `GET /api/vpp/jobs/{id}`. The data window is "
    "read as known at `as_of`; the trailing `holdout_days` are scored out of sample against "
    "the seasonal-naive baseline before the model is refitted on the whole window.",
)
async def train_model(
    model_id: str, body: TrainIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> JobOut:
    params = {"model_id": model_id, **body.model_dump(mode="json", exclude_none=True)}
    checked = await read(
        rt, rt.models.check_train, rt.uow(readonly=True), principal.organization_id, params
    )
    job = await blocking(rt.jobs.submit, uow, principal, "ai.train", checked)
    return JobOut.of(job)


@router.post(
    "/ai/models/{model_id}/evaluate",
    status_code=202,
    summary="Evaluate a version out of sample (a job)",
    description="Submits an `ai.evaluate` job: one forecast issued at the start of each day "
    "of the period, the target hidden from then on, scored against the seasonal-naive "
    "baseline. The period must start after the version's training data end.",
)
async def evaluate_model(
    model_id: str, body: EvaluateIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> JobOut:
    params = {"model_id": model_id, **body.model_dump(mode="json", exclude_none=True)}
    checked = await read(
        rt,
        rt.predictions.check_evaluate,
        rt.uow(readonly=True),
        principal.organization_id,
        params,
    )
    job = await blocking(rt.jobs.submit, uow, principal, "ai.evaluate", checked)
    return JobOut.of(job)


@router.get(
    "/ai/models/{model_id}/performance",
    summary="Hold-out metrics of each version and the live accuracy of its stored predictions",
)
async def performance(
    model_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> dict[str, object]:
    return await read(rt, rt.predictions.performance, uow, principal.organization_id, model_id)


@router.get(
    "/ai/models/{model_id}/predictions",
    summary="What the model forecast for [start, end), as known at an instant",
    description="For each interval the newest stored prediction issued at or before `as_of` "
    "(default now): a backtest asking at T sees exactly the forecasts that existed at T.",
)
async def known_predictions(
    model_id: str,
    start: UTCDatetime,
    end: UTCDatetime,
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    as_of: Annotated[UTCDatetime | None, Query()] = None,
) -> KnownOut:
    frame = await read(
        rt, rt.predictions.known_at, uow, principal.organization_id, model_id, start, end, as_of
    )
    return KnownOut.of(model_id, as_of, frame)


@router.post(
    "/ai/predict",
    status_code=201,
    summary="Forecast a horizon with a model and store the prediction",
    description="Uses the data known at `issued_at` (default now) and never the target "
    "values inside the horizon; a version trained on the data known after `issued_at` is "
    "refused. The prediction is stored with its issue time and version.",
)
async def predict(
    body: PredictIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> RunOut:
    forecast = await blocking(
        rt.predictions.predict,
        rt.uow(readonly=True),
        uow,
        principal.organization_id,
        principal.user_id,
        body.model_id,
        body.start,
        body.end,
        version=body.version,
        issued_at=body.issued_at,
    )
    return RunOut.of_forecast(forecast)


@router.get("/ai/predictions/{run_id}", summary="A stored prediction with its points")
async def get_prediction(
    run_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> RunOut:
    forecast = await read(rt, rt.predictions.run, uow, principal.organization_id, run_id)
    return RunOut.of_forecast(forecast)


@router.post(
    "/ai/risk/assess",
    summary="VaR, CVaR and spike probabilities of a schedule from a risk model",
    description="`volumes` is energy per interval [MWh], positive = sale. With "
    "`price_model_id` the price forecast is the newest stored prediction of that price model "
    "issued by `as_of`; without it, historical simulation around the risk model's own "
    "expectation. VaR and CVaR are losses below the expected P&L [currency].",
)
async def assess_risk(
    body: RiskAssessIn, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> RiskOut:
    volumes = pd.Series(
        [v.mwh for v in body.volumes],
        index=pd.DatetimeIndex([pd.Timestamp(v.start) for v in body.volumes]),
        dtype=float,
    )
    report = await blocking(
        rt.risk.assess,
        uow,
        principal.organization_id,
        body.model_id,
        volumes,
        version=body.version,
        method=body.method,
        price_model_id=body.price_model_id,
        as_of=body.as_of,
    )
    return RiskOut.model_validate(report)
