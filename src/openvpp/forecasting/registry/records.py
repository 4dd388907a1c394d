"""Stored records of the model registry: models, their immutable versions, and predictions
stored with the time they were issued."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from openvpp.forecasting.protocol import ModelKind

__all__ = [
    "AiModel",
    "ModelStatus",
    "ModelVersion",
    "PredictionPoint",
    "PredictionRun",
    "VersionStatus",
]


class ModelStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"
    """Deleted by a user: hidden, never trained or asked again; its versions and predictions
    stay, so that backtests and audits can still read what it said."""


class VersionStatus(StrEnum):
    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AiModel:
    """A registered model: what it forecasts (``kind``), how (``algorithm`` with
    ``params``), and from which data (``data_source``). Changing ``params`` or
    ``data_source`` affects the versions trained afterwards; versions never change."""

    id: str
    organization_id: str
    name: str
    kind: ModelKind
    algorithm: str
    description: str
    params: dict[str, Any]
    data_source: dict[str, Any]
    status: ModelStatus
    latest_version: int
    """Number of the newest version, 0 before the first training."""
    created_at: datetime
    updated_at: datetime
    created_by: str | None

    def audit_view(self) -> dict[str, Any]:
        view = asdict(self)
        view["kind"] = self.kind.value
        view["status"] = self.status.value
        return view


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One training of a model: its parameters and data window as used, the metrics of its
    hold-out evaluation, and the artifact (a joblib file in the artifact store, checked by
    its SHA-256 before every load)."""

    id: str
    model_id: str
    organization_id: str
    version: int
    status: VersionStatus
    algorithm: str
    params: dict[str, Any]
    data_source: dict[str, Any]
    train_start: datetime
    train_end: datetime
    data_as_of: datetime
    """Training used the data known at this instant [UTC]."""
    metrics: dict[str, Any]
    artifact: str | None
    artifact_sha256: str | None
    artifact_bytes: int | None
    job_id: str | None
    error: str | None
    created_at: datetime
    trained_at: datetime | None

    def audit_view(self) -> dict[str, Any]:
        view = asdict(self)
        view["status"] = self.status.value
        return view


@dataclass(frozen=True, slots=True)
class PredictionRun:
    """One forecast issued by one model version: the points are stored with it, so that a
    later reader can ask what the model said at ``issued_at`` and nothing newer."""

    id: str
    organization_id: str
    model_id: str
    version_id: str
    version: int
    issued_at: datetime
    horizon_start: datetime
    horizon_end: datetime
    step_s: int
    points: int
    unit: str
    created_at: datetime
    created_by: str | None


@dataclass(frozen=True, slots=True)
class PredictionPoint:
    """One forecast interval of a run [UTC], the quantiles in the model's unit, and extra
    values the model gives (e.g. ``spike_prob`` of a risk model)."""

    run_id: str
    target_start: datetime
    p10: float
    p50: float
    p90: float
    extra: dict[str, float]
