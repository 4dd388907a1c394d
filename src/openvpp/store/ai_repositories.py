"""The model registry's tables: models, versions, prediction runs and their points. Like every
repository, these never commit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from openvpp.forecasting.protocol import ModelKind
from openvpp.forecasting.registry.records import (
    AiModel,
    ModelStatus,
    ModelVersion,
    PredictionRun,
    VersionStatus,
)
from openvpp.store import tables as t
from openvpp.store.batching import in_chunks

__all__ = ["AiModelRepo", "FileArtifactStore", "PredictionRepo"]


def _model_row(model: AiModel) -> dict[str, Any]:
    row = asdict(model)
    row["kind"] = model.kind.value
    row["status"] = model.status.value
    row["active_name"] = model.name if model.status is ModelStatus.ACTIVE else None
    return row


def _model(row: Any) -> AiModel:
    data = dict(row)
    data.pop("active_name", None)
    data["kind"] = ModelKind(data["kind"])
    data["status"] = ModelStatus(data["status"])
    return AiModel(**data)


def _version(row: Any) -> ModelVersion:
    data = dict(row)
    data["status"] = VersionStatus(data["status"])
    return ModelVersion(**data)


def _version_row(version: ModelVersion) -> dict[str, Any]:
    row = asdict(version)
    row["status"] = version.status.value
    return row


class AiModelRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, model: AiModel) -> None:
        self._c.execute(t.ai_models.insert().values(**_model_row(model)))

    def update(self, model: AiModel) -> None:
        am = t.ai_models
        self._c.execute(am.update().where(am.c.id == model.id).values(**_model_row(model)))

    def get(
        self, organization_id: str, model_id: str, *, for_update: bool = False
    ) -> AiModel | None:
        am = t.ai_models
        query = sa.select(am).where(am.c.organization_id == organization_id, am.c.id == model_id)
        if for_update:
            query = query.with_for_update()
        row = self._c.execute(query).mappings().first()
        return None if row is None else _model(row)

    def name_taken(self, organization_id: str, name: str, except_id: str | None = None) -> bool:
        am = t.ai_models
        query = sa.select(am.c.id).where(
            am.c.organization_id == organization_id, am.c.active_name == name
        )
        if except_id is not None:
            query = query.where(am.c.id != except_id)
        return self._c.execute(query.limit(1)).first() is not None

    def page(
        self, organization_id: str, kind: ModelKind | None, limit: int, offset: int
    ) -> list[AiModel]:
        am = t.ai_models
        query = sa.select(am).where(
            am.c.organization_id == organization_id, am.c.status == ModelStatus.ACTIVE.value
        )
        if kind is not None:
            query = query.where(am.c.kind == kind.value)
        rows = self._c.execute(query.order_by(am.c.name, am.c.id).limit(limit).offset(offset))
        return [_model(r) for r in rows.mappings()]

    def add_version(self, version: ModelVersion) -> None:
        self._c.execute(t.ai_model_versions.insert().values(**_version_row(version)))

    def update_version(self, version: ModelVersion) -> None:
        mv = t.ai_model_versions
        self._c.execute(mv.update().where(mv.c.id == version.id).values(**_version_row(version)))

    def versions(self, model_id: str) -> list[ModelVersion]:
        mv = t.ai_model_versions
        rows = self._c.execute(
            sa.select(mv).where(mv.c.model_id == model_id).order_by(mv.c.version)
        )
        return [_version(r) for r in rows.mappings()]

    def get_version(self, model_id: str, version: int) -> ModelVersion | None:
        mv = t.ai_model_versions
        row = (
            self._c.execute(sa.select(mv).where(mv.c.model_id == model_id, mv.c.version == version))
            .mappings()
            .first()
        )
        return None if row is None else _version(row)

    def latest_ready(self, model_id: str) -> ModelVersion | None:
        mv = t.ai_model_versions
        row = (
            self._c.execute(
                sa.select(mv)
                .where(mv.c.model_id == model_id, mv.c.status == VersionStatus.READY.value)
                .order_by(mv.c.version.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return None if row is None else _version(row)


class PredictionRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add_run(self, run: PredictionRun, points: pd.DataFrame) -> None:
        self._c.execute(t.ai_prediction_runs.insert().values(**asdict(run)))
        rows = [
            {
                "run_id": run.id,
                "target_start": ts.to_pydatetime(),
                "p10": float(p10),
                "p50": float(p50),
                "p90": float(p90),
                "extra": {k: (v if math.isfinite(v) else None) for k, v in extra.items()},
            }
            for ts, p10, p50, p90, extra in zip(
                pd.DatetimeIndex(points["target_start"]),
                points["p10"],
                points["p50"],
                points["p90"],
                points["extra"],
                strict=True,
            )
        ]
        for i in range(0, len(rows), 1000):
            self._c.execute(t.ai_predictions.insert(), rows[i : i + 1000])

    def get_run(self, organization_id: str, run_id: str) -> PredictionRun | None:
        pr = t.ai_prediction_runs
        row = (
            self._c.execute(
                sa.select(pr).where(pr.c.organization_id == organization_id, pr.c.id == run_id)
            )
            .mappings()
            .first()
        )
        return None if row is None else PredictionRun(**row)

    def runs(
        self, organization_id: str, model_id: str, limit: int, offset: int
    ) -> list[PredictionRun]:
        pr = t.ai_prediction_runs
        rows = self._c.execute(
            sa.select(pr)
            .where(pr.c.organization_id == organization_id, pr.c.model_id == model_id)
            .order_by(pr.c.issued_at.desc(), pr.c.id)
            .limit(limit)
            .offset(offset)
        ).mappings()
        return [PredictionRun(**r) for r in rows]

    def issued_between(
        self,
        organization_id: str,
        model_id: str,
        start: datetime,
        end: datetime,
        issued_by: datetime | None,
    ) -> list[PredictionRun]:
        pr = t.ai_prediction_runs
        query = sa.select(pr).where(
            pr.c.organization_id == organization_id,
            pr.c.model_id == model_id,
            pr.c.horizon_start < end,
            pr.c.horizon_end > start,
        )
        if issued_by is not None:
            query = query.where(pr.c.issued_at <= issued_by)
        rows = self._c.execute(query.order_by(pr.c.issued_at, pr.c.created_at, pr.c.id)).mappings()
        return [PredictionRun(**r) for r in rows]

    def points(self, run_ids: Sequence[str]) -> pd.DataFrame:
        ap = t.ai_predictions
        columns = ["run_id", "target_start", "p10", "p50", "p90", "extra"]
        rows: list[Any] = []
        for chunk in in_chunks(list(run_ids)):
            rows += self._c.execute(
                sa.select(*(ap.c[c] for c in columns))
                .where(ap.c.run_id.in_(chunk))
                .order_by(ap.c.run_id, ap.c.target_start)
            ).all()
        frame = pd.DataFrame(rows, columns=columns).astype(
            {"p10": "float64", "p50": "float64", "p90": "float64"}
        )
        frame["target_start"] = pd.to_datetime(frame["target_start"], utc=True)
        return frame


class FileArtifactStore:
    """Artifacts as files below a root folder (``var/models`` by default)."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def _path(self, location: str) -> Path:
        path = (self._root / location).resolve()
        if not path.is_relative_to(self._root):
            raise ValueError(f"artifact location {location!r} leaves the artifact folder")
        return path

    def save(self, key: str, data: bytes) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader never sees half a file
        return key

    def load(self, location: str) -> bytes:
        try:
            return self._path(location).read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"artifact {location!r} is missing") from None
