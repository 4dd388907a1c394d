"""The model registry service: models and versions, training and evaluation (run as jobs),
predictions stored with their issue time, and performance."""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import joblib
import numpy as np
import pandas as pd

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.errors import Conflict, NotFound, ValidationFailed
from openvpp.core.ids import new_id
from openvpp.forecasting.protocol import TARGET, Forecaster, ModelKind
from openvpp.forecasting.registry.catalog import (
    algorithm_for,
    check_data_source,
    check_params,
    parsed_params,
)
from openvpp.forecasting.registry.evaluation import score
from openvpp.forecasting.registry.history import load_vintages, source_context
from openvpp.forecasting.registry.records import (
    AiModel,
    ModelStatus,
    ModelVersion,
    VersionStatus,
)
from openvpp.jobs.model import JobStatus
from openvpp.ports import ArtifactStore, UnitOfWork

__all__ = ["MAX_HORIZON_DAYS", "MAX_TRAIN_DAYS", "ModelRegistryService", "TrainRequest"]

MAX_TRAIN_DAYS = 6 * 366
MAX_HORIZON_DAYS = 14
MAX_EVAL_DAYS = 400
DEFAULT_TRAIN_DAYS = 365
ABANDONED_AFTER = timedelta(days=1)
"""A command-line training still ``training`` after this long died with its process."""
_NAME_MAX = 100

Progress = Callable[[float, str], None]
UowFactory = Callable[[], UnitOfWork]


def jsonable(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (stored JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


EARLIEST_YEAR, LATEST_YEAR = 1900, 2199


def check_era(field: str, *values: datetime | date | None) -> None:
    """A 422 naming ``field`` for a time outside the years 1900-2199 (what the time series
    code can represent)."""
    for value in values:
        if value is not None and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
            raise ValidationFailed(
                f"{field} must lie in the years {EARLIEST_YEAR}-{LATEST_YEAR}", field=field
            )


def parse_utc(value: Any, field: str) -> datetime:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{field} must be an ISO 8601 time", field=field) from None
    if stamp.tzinfo is None:
        raise ValidationFailed(f"{field} must carry a UTC offset", field=field)
    return stamp.tz_convert("UTC").to_pydatetime()


class TrainRequest:
    """Checked parameters of a training: data window ``[train_start, train_end)`` as known
    at ``as_of``, and the trailing ``holdout_days`` scored out of sample."""

    def __init__(self, params: Mapping[str, Any], now: datetime) -> None:
        unknown = sorted(
            set(params) - {"model_id", "train_start", "train_end", "as_of", "holdout_days"}
        )
        if unknown:
            raise ValidationFailed(f"unknown parameters {unknown}", field=f"params.{unknown[0]}")
        model_id = params.get("model_id")
        if not isinstance(model_id, str) or not 0 < len(model_id) <= 36:
            raise ValidationFailed("model_id must be a model id", field="params.model_id")
        self.model_id = model_id
        self.as_of = parse_utc(params["as_of"], "params.as_of") if params.get("as_of") else now
        if self.as_of > now:
            raise ValidationFailed("as_of must not be in the future", field="params.as_of")
        check_era("params.as_of", self.as_of)
        self.train_end = (
            parse_utc(params["train_end"], "params.train_end")
            if params.get("train_end")
            else self.as_of
        )
        self.train_start = (
            parse_utc(params["train_start"], "params.train_start")
            if params.get("train_start")
            else self.train_end - timedelta(days=DEFAULT_TRAIN_DAYS)
        )
        check_era("params.train_start", self.train_start)
        check_era("params.train_end", self.train_end)
        if self.train_end > self.as_of + timedelta(days=2):
            raise ValidationFailed(
                "train_end lies more than 2 days after as_of: no data is known there yet",
                field="params.train_end",
            )
        span = self.train_end - self.train_start
        if not timedelta(days=2) <= span <= timedelta(days=MAX_TRAIN_DAYS):
            raise ValidationFailed(
                f"the training window must span 2 to {MAX_TRAIN_DAYS} days",
                field="params.train_start",
            )
        holdout = params.get("holdout_days", 7)
        if not isinstance(holdout, int) or isinstance(holdout, bool) or not 0 <= holdout <= 90:
            raise ValidationFailed("holdout_days must be 0..90", field="params.holdout_days")
        if timedelta(days=holdout) >= span:
            raise ValidationFailed(
                "holdout_days must be shorter than the training window", field="params.holdout_days"
            )
        self.holdout_days = holdout

    def as_params(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "train_start": self.train_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "holdout_days": self.holdout_days,
        }


class ModelRegistryService:
    def __init__(self, clock: Clock, artifacts: ArtifactStore, cache_size: int = 16) -> None:
        self._clock = clock
        self._artifacts = artifacts
        self._cache: OrderedDict[str, Forecaster] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    # -- models ------------------------------------------------------------------------------

    def create(
        self,
        uow: UnitOfWork,
        organization_id: str,
        actor: str | None,
        *,
        name: str,
        kind: ModelKind,
        algorithm: str,
        description: str = "",
        params: Mapping[str, Any] | None = None,
        data_source: Mapping[str, Any],
    ) -> AiModel:
        algo = algorithm_for(kind, algorithm)
        checked = check_params(algo, params or {})
        source = check_data_source(data_source).model_dump(mode="json")
        now = self._clock.now()
        model = AiModel(
            id=new_id(),
            organization_id=organization_id,
            name=name,
            kind=kind,
            algorithm=algorithm,
            description=description,
            params=checked,
            data_source=source,
            status=ModelStatus.ACTIVE,
            latest_version=0,
            created_at=now,
            updated_at=now,
            created_by=actor,
        )
        with uow:
            if uow.ai_models.name_taken(organization_id, name):
                raise Conflict(f"a model named {name!r} exists already", field="name")
            uow.ai_models.add(model)
            uow.record(
                AuditEvent("ai.model.create", "ai_model", model.id, after=model.audit_view())
            )
            uow.commit()
        return model

    def update(
        self, uow: UnitOfWork, organization_id: str, model_id: str, changes: Mapping[str, Any]
    ) -> AiModel:
        """Change name, description, params or data source; versions trained before keep
        theirs."""
        with uow:
            model = self.active_model(uow, organization_id, model_id, for_update=True)
            new = model
            if "name" in changes and changes["name"] != model.name:
                if uow.ai_models.name_taken(organization_id, changes["name"], model.id):
                    raise Conflict(
                        f"a model named {changes['name']!r} exists already", field="name"
                    )
                new = replace(new, name=changes["name"])
            if "description" in changes:
                new = replace(new, description=changes["description"])
            if "params" in changes:
                algo = algorithm_for(model.kind, model.algorithm)
                new = replace(new, params=check_params(algo, changes["params"]))
            if "data_source" in changes:
                source = check_data_source(changes["data_source"])
                new = replace(new, data_source=source.model_dump(mode="json"))
            new = replace(new, updated_at=self._clock.now())
            uow.ai_models.update(new)
            uow.record(
                AuditEvent(
                    "ai.model.update",
                    "ai_model",
                    model.id,
                    before=model.audit_view(),
                    after=new.audit_view(),
                )
            )
            uow.commit()
        return new

    def archive(self, uow: UnitOfWork, organization_id: str, model_id: str) -> AiModel:
        """Delete for users: the model disappears from lists and is never trained or asked
        again; its versions and predictions stay for backtests and audits."""
        with uow:
            model = self.active_model(uow, organization_id, model_id, for_update=True)
            new = replace(model, status=ModelStatus.ARCHIVED, updated_at=self._clock.now())
            uow.ai_models.update(new)
            uow.record(
                AuditEvent(
                    "ai.model.delete",
                    "ai_model",
                    model.id,
                    before=model.audit_view(),
                    after=new.audit_view(),
                )
            )
            uow.commit()
        return new

    def get(
        self, uow: UnitOfWork, organization_id: str, model_id: str
    ) -> tuple[AiModel, list[ModelVersion]]:
        with uow:
            model = self.active_model(uow, organization_id, model_id)
            return model, uow.ai_models.versions(model.id)

    def list(
        self, uow: UnitOfWork, organization_id: str, kind: ModelKind | None, limit: int, offset: int
    ) -> list[AiModel]:
        with uow:
            return uow.ai_models.page(organization_id, kind, limit, offset)

    @staticmethod
    def active_model(
        uow: UnitOfWork, organization_id: str, model_id: str, *, for_update: bool = False
    ) -> AiModel:
        """An active model of the organization; 404 naming ``model_id`` otherwise."""
        model = uow.ai_models.get(organization_id, model_id, for_update=for_update)
        if model is None or model.status is ModelStatus.ARCHIVED:
            raise NotFound(f"model {model_id!r} not found", field="model_id")
        return model

    # -- training ----------------------------------------------------------------------------

    def check_train(
        self, uow: UnitOfWork, organization_id: str, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The parameters of an ``ai.train`` job, checked against the model (404 for a model
        of another organization)."""
        request = TrainRequest(params, self._clock.now())
        with uow:
            self.active_model(uow, organization_id, request.model_id)
        return request.as_params()

    def train(
        self,
        uow_factory: UowFactory,
        organization_id: str,
        params: Mapping[str, Any],
        job_id: str | None,
        progress: Progress,
    ) -> dict[str, Any]:
        """Train a new version (the body of the ``ai.train`` job): read the window as known at
        ``as_of``, score the trailing hold-out days out of sample against the seasonal-naive
        baseline, refit on the whole window, store the artifact and the version."""
        request = TrainRequest(params, self._clock.now())
        with uow_factory() as uow:
            model = self.active_model(uow, organization_id, request.model_id, for_update=True)
            self._fail_abandoned(uow, model.id, job_id)
            number = model.latest_version + 1
            version = ModelVersion(
                id=new_id(),
                model_id=model.id,
                organization_id=organization_id,
                version=number,
                status=VersionStatus.TRAINING,
                algorithm=model.algorithm,
                params=model.params,
                data_source=model.data_source,
                train_start=request.train_start,
                train_end=request.train_end,
                data_as_of=request.as_of,
                metrics={},
                artifact=None,
                artifact_sha256=None,
                artifact_bytes=None,
                job_id=job_id,
                error=None,
                created_at=self._clock.now(),
                trained_at=None,
            )
            uow.ai_models.add_version(version)
            uow.ai_models.update(replace(model, latest_version=number))
            uow.commit()
        try:
            finished = self._fit_version(uow_factory, model, version, request, progress)
        except Exception as exc:
            failed = replace(version, status=VersionStatus.FAILED, error=str(exc)[:500])
            with uow_factory() as uow:
                uow.ai_models.update_version(failed)
                uow.record(
                    AuditEvent(
                        "ai.model.train",
                        "ai_model_version",
                        version.id,
                        after=failed.audit_view(),
                        outcome="error",
                    )
                )
                uow.commit()
            if isinstance(exc, ValueError):
                raise ValidationFailed(str(exc), field="params") from exc
            raise
        return {
            "model_id": model.id,
            "version": finished.version,
            "version_id": finished.id,
            "metrics": finished.metrics,
            "artifact_bytes": finished.artifact_bytes,
        }

    def _fail_abandoned(self, uow: UnitOfWork, model_id: str, job_id: str | None) -> None:
        """Mark FAILED the versions left ``training`` by a training that died (its worker was
        killed): their job no longer runs, is this job (a retry), or, for a training started
        from the command line, it began over a day ago."""
        now = self._clock.now()
        for v in uow.ai_models.versions(model_id):
            if v.status is not VersionStatus.TRAINING:
                continue
            if v.job_id is None:
                dead = now - v.created_at > ABANDONED_AFTER
            else:
                job = uow.jobs.get(v.job_id)
                dead = v.job_id == job_id or job is None or job.status is not JobStatus.RUNNING
            if dead:
                uow.ai_models.update_version(
                    replace(v, status=VersionStatus.FAILED, error="training interrupted")
                )

    def _fit_version(
        self,
        uow_factory: UowFactory,
        model: AiModel,
        version: ModelVersion,
        request: TrainRequest,
        progress: Progress,
    ) -> ModelVersion:
        algo = algorithm_for(model.kind, model.algorithm)
        source = check_data_source(model.data_source)
        progress(0.05, "reading history")
        with uow_factory() as uow:
            vintages = load_vintages(
                uow,
                model.organization_id,
                model.kind,
                source,
                request.train_start,
                # a day past the window: the hold-out's last local day needs its exogenous
                # forecasts; no target value past train_end is ever fitted on
                request.train_end + timedelta(days=1),
                request.as_of,
            )
            context = source_context(uow, model.organization_id, source)
        full, unit = vintages.at(), vintages.unit
        history = full[full.index < pd.Timestamp(request.train_end)]
        known = int(history[TARGET].notna().sum())
        if known < 2:
            raise ValueError(
                f"the data source has {known} known target values in the training window"
            )
        typed = parsed_params(algo, model.params)

        def factory() -> Forecaster:
            return algo.build(model.kind, typed, context)

        metrics: dict[str, Any] = {"unit": unit, "train_values": known}
        if request.holdout_days:
            # issue times on the data's grid: the window's end, floored to the step
            end = pd.Timestamp(request.train_end).floor(f"{source.resolution_min}min")
            start = end - pd.Timedelta(days=request.holdout_days)
            result = score(
                factory,
                vintages.at,  # each hold-out forecast sees the vintages of its issue time
                start,
                end,
                progress=lambda f: progress(0.1 + 0.6 * f, "hold-out evaluation"),
                tz=context.time_zone,
            )
            metrics["holdout"] = result.metrics
        progress(0.75, "fitting on the whole window")
        fitted = factory().fit(history)
        buffer = io.BytesIO()
        joblib.dump(fitted, buffer, compress=3)
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        location = self._artifacts.save(
            f"{model.organization_id}/{model.id}/v{version.version}-{digest[:12]}.joblib", data
        )
        done = replace(
            version,
            status=VersionStatus.READY,
            metrics=jsonable(metrics),
            artifact=location,
            artifact_sha256=digest,
            artifact_bytes=len(data),
            trained_at=self._clock.now(),
        )
        with uow_factory() as uow:
            uow.ai_models.update_version(done)
            uow.record(
                AuditEvent("ai.model.train", "ai_model_version", done.id, after=done.audit_view())
            )
            uow.commit()
        progress(1.0, f"version {done.version} ready")
        return done

    def load(self, version: ModelVersion) -> Forecaster:
        """The fitted forecaster of a ready version; its artifact's SHA-256 is checked before
        unpickling, so a file changed on disk is refused."""
        if version.status is not VersionStatus.READY or version.artifact is None:
            raise Conflict(f"version {version.version} is {version.status.value}", field="version")
        with self._lock:
            cached = self._cache.get(version.id)
            if cached is not None:
                self._cache.move_to_end(version.id)
                return cached
        try:
            data = self._artifacts.load(version.artifact)
        except FileNotFoundError:
            raise Conflict(
                f"the artifact of version {version.version} is missing; retrain the model",
                field="version",
            ) from None
        if hashlib.sha256(data).hexdigest() != version.artifact_sha256:
            raise Conflict(
                f"the artifact of version {version.version} does not match its SHA-256; "
                "retrain the model",
                field="version",
            )
        forecaster: Forecaster = joblib.load(io.BytesIO(data))
        with self._lock:
            self._cache[version.id] = forecaster
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return forecaster
