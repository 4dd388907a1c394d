"""Predictions of registered models, stored with the time they were issued; "what was known
at T" queries; out-of-sample evaluation of a version (a job) and live performance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.errors import Conflict, NotFound, ValidationFailed
from openvpp.core.ids import new_id
from openvpp.forecasting.metrics import quantile_scores
from openvpp.forecasting.protocol import QUANTILE_COLUMNS, TARGET
from openvpp.forecasting.registry.catalog import algorithm_for, check_data_source
from openvpp.forecasting.registry.evaluation import measured_columns, score
from openvpp.forecasting.registry.history import load_history, load_vintages, source_context
from openvpp.forecasting.registry.records import (
    AiModel,
    ModelVersion,
    PredictionRun,
    VersionStatus,
)
from openvpp.forecasting.registry.service import (
    MAX_EVAL_DAYS,
    MAX_HORIZON_DAYS,
    ModelRegistryService,
    Progress,
    UowFactory,
    check_era,
    jsonable,
    parse_utc,
)
from openvpp.ports import UnitOfWork

__all__ = ["Forecast", "PredictionService", "check_usable_at", "pick_version"]

MAX_POINTS = 5000
LIVE_RUNS = 500


@dataclass(frozen=True, slots=True)
class Forecast:
    """A stored prediction run and its points (``p10``/``p50``/``p90`` and extra columns,
    indexed by interval start [UTC])."""

    run: PredictionRun
    points: pd.DataFrame


def pick_version(uow: UnitOfWork, model: AiModel, number: int | None) -> ModelVersion:
    if number is None:
        version = uow.ai_models.latest_ready(model.id)
        if version is None:
            raise Conflict("the model has no trained version yet; train it first", field="version")
        return version
    found = uow.ai_models.get_version(model.id, number)
    if found is None:
        raise NotFound(f"model has no version {number}", field="version")
    if found.status is not VersionStatus.READY:
        raise Conflict(f"version {number} is {found.status.value}", field="version")
    return found


def check_usable_at(version: ModelVersion, instant: datetime, field: str) -> None:
    """Refuse (422 naming ``field``) a version trained on data known after ``instant``: a
    forecast issued at ``instant`` with it could carry what was published later."""
    if version.data_as_of > instant:
        raise ValidationFailed(
            f"version {version.version} was trained on the data known at "
            f"{version.data_as_of.isoformat()}, after {field}: it would see the future; "
            f"train a version with as_of at or before {field}",
            field=field,
        )


class PredictionService:
    def __init__(self, clock: Clock, registry: ModelRegistryService) -> None:
        self._clock = clock
        self._registry = registry

    def predict(
        self,
        read_uow: UnitOfWork,
        write_uow: UnitOfWork,
        organization_id: str,
        actor: str | None,
        model_id: str,
        start: datetime,
        end: datetime,
        *,
        version: int | None = None,
        issued_at: datetime | None = None,
    ) -> Forecast:
        """Forecast ``[start, end)`` with the data known at ``issued_at`` (default now) and
        store it. Target values inside the horizon are never used, even when known (a
        day-ahead price published before ``issued_at``), and a version trained on data known
        after ``issued_at`` is refused: it has seen the future."""
        now = self._clock.now()
        issued = issued_at or now
        if issued > now:
            raise ValidationFailed("issued_at must not be in the future", field="issued_at")
        check_era("issued_at", issued)
        check_era("start", start)
        check_era("end", end)
        if end <= start:
            raise ValidationFailed("end must be after start", field="end")
        if end - start > timedelta(days=MAX_HORIZON_DAYS):
            raise ValidationFailed(
                f"the horizon may span at most {MAX_HORIZON_DAYS} days", field="end"
            )
        if start < issued:
            raise ValidationFailed("start must not be before issued_at", field="start")
        with read_uow as uow:
            model = self._registry.active_model(uow, organization_id, model_id)
            chosen = pick_version(uow, model, version)
            check_usable_at(chosen, issued, "issued_at")
            source = check_data_source(chosen.data_source)
            lookback = algorithm_for(model.kind, chosen.algorithm).lookback_days
            # a day past the horizon: forecasters of local days need the whole day's
            # exogenous forecasts (the target there is hidden below)
            history, unit = load_history(
                uow,
                organization_id,
                model.kind,
                source,
                issued - timedelta(days=lookback),
                end + timedelta(days=1),
                issued,
            )
        step = pd.Timedelta(minutes=source.resolution_min)
        index = pd.date_range(pd.Timestamp(start).ceil(step), end, freq=step, inclusive="left")
        if index.empty:
            raise ValidationFailed(f"the horizon holds no {step} interval", field="end")
        if len(index) > MAX_POINTS:
            raise ValidationFailed(f"the horizon holds more than {MAX_POINTS} points", field="end")
        forecaster = self._registry.load(chosen)
        history.loc[history.index >= index[0], measured_columns(forecaster, history)] = np.nan
        try:
            frame = forecaster.predict(history, index)
        except ValueError as exc:
            raise ValidationFailed(
                f"the model cannot forecast this horizon: {exc}", field="start"
            ) from None
        values = frame[list(QUANTILE_COLUMNS)].to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValidationFailed(
                "the model gave no finite forecast for some intervals (missing inputs?)",
                field="start",
            )
        run = PredictionRun(
            id=new_id(),
            organization_id=organization_id,
            model_id=model.id,
            version_id=chosen.id,
            version=chosen.version,
            issued_at=issued,
            horizon_start=index[0].to_pydatetime(),
            horizon_end=(index[-1] + step).to_pydatetime(),
            step_s=int(step.total_seconds()),
            points=len(index),
            unit=unit,
            created_at=now,
            created_by=actor,
        )
        extra_cols = [c for c in frame.columns if c not in QUANTILE_COLUMNS]
        points = pd.DataFrame(
            {
                "target_start": index,
                **{c: frame[c].to_numpy(dtype=np.float64) for c in QUANTILE_COLUMNS},
                "extra": frame[extra_cols].astype(float).to_dict("records"),
            }
        )
        with write_uow as uow:
            uow.predictions.add_run(run, points)
            uow.record(
                AuditEvent(
                    "ai.predict",
                    "ai_prediction_run",
                    run.id,
                    after={
                        "model_id": model.id,
                        "version": chosen.version,
                        "issued_at": issued.isoformat(),
                        "points": len(index),
                    },
                )
            )
            uow.commit()
        return Forecast(run, frame)

    def known_at(
        self,
        uow: UnitOfWork,
        organization_id: str,
        model_id: str,
        start: datetime,
        end: datetime,
        as_of: datetime | None = None,
    ) -> pd.DataFrame:
        """For each interval in ``[start, end)`` the newest prediction of the model issued at
        or before ``as_of`` (default now): ``target_start``, ``p10``, ``p50``, ``p90``,
        ``extra``, ``run_id``, ``version``, ``issued_at``. A backtest asking at T sees
        exactly the forecasts that existed at T."""
        check_era("start", start)
        check_era("end", end)
        check_era("as_of", as_of)
        if end <= start:
            raise ValidationFailed("end must be after start", field="end")
        if end - start > timedelta(days=MAX_EVAL_DAYS):
            raise ValidationFailed(f"the range may span at most {MAX_EVAL_DAYS} days", field="end")
        with uow:
            model = self._registry.active_model(uow, organization_id, model_id)
            runs = uow.predictions.issued_between(organization_id, model.id, start, end, as_of)
            points = uow.predictions.points([r.id for r in runs])
        return _newest(runs, points, start, end)

    def run(self, uow: UnitOfWork, organization_id: str, run_id: str) -> Forecast:
        with uow:
            run = uow.predictions.get_run(organization_id, run_id)
            if run is None:
                raise NotFound(f"prediction {run_id!r} not found", field="run_id")
            points = uow.predictions.points([run.id])
        frame = points.set_index("target_start")[[*QUANTILE_COLUMNS, "extra"]]
        return Forecast(run, frame)

    # -- evaluation and performance -----------------------------------------------------------

    def check_evaluate(
        self, uow: UnitOfWork, organization_id: str, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Parameters of an ``ai.evaluate`` job: ``model_id``, ``version`` (default the
        newest ready), ``start`` and ``end`` of an out-of-sample period (at most 400 days,
        not before the version's training window ended)."""
        unknown = sorted(set(params) - {"model_id", "version", "start", "end"})
        if unknown:
            raise ValidationFailed(f"unknown parameters {unknown}", field=f"params.{unknown[0]}")
        start = parse_utc(params.get("start"), "params.start")
        end = parse_utc(params.get("end"), "params.end")
        check_era("params.start", start)
        check_era("params.end", end)
        if not timedelta(days=1) <= end - start <= timedelta(days=MAX_EVAL_DAYS):
            raise ValidationFailed(
                f"the period must span 1 to {MAX_EVAL_DAYS} days", field="params.end"
            )
        if end > self._clock.now():
            raise ValidationFailed("end must not be in the future", field="params.end")
        number = params.get("version")
        if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
            raise ValidationFailed("version must be a whole number", field="params.version")
        with uow:
            model = self._registry.active_model(uow, organization_id, str(params.get("model_id")))
            version = pick_version(uow, model, number)
        if start < version.train_end:
            raise ValidationFailed(
                f"the period starts before version {version.version}'s training data end "
                f"({version.train_end.isoformat()}): not out of sample",
                field="params.start",
            )
        return {
            "model_id": model.id,
            "version": version.version,
            "start": start.isoformat(),
            "end": end.isoformat(),
        }

    def evaluate(
        self,
        uow_factory: UowFactory,
        organization_id: str,
        params: Mapping[str, Any],
        progress: Progress,
    ) -> dict[str, Any]:
        """Score a stored version out of sample (the body of the ``ai.evaluate`` job): one
        forecast issued at the start of each day of the period with the target from then on
        hidden, against the seasonal-naive baseline."""
        start, end = pd.Timestamp(params["start"]), pd.Timestamp(params["end"])
        with uow_factory() as uow:
            model = self._registry.active_model(uow, organization_id, params["model_id"])
            version = pick_version(uow, model, params["version"])
            source = check_data_source(version.data_source)
            lookback = algorithm_for(model.kind, version.algorithm).lookback_days
            vintages = load_vintages(
                uow,
                organization_id,
                model.kind,
                source,
                (start - pd.Timedelta(days=lookback)).to_pydatetime(),
                end.to_pydatetime(),
                self._clock.now(),
            )
            zone = source_context(uow, organization_id, source).time_zone
        fitted = self._registry.load(version)
        try:
            result = score(
                lambda: _Fitted(fitted),
                vintages.at,  # each forecast sees the vintages of its issue time
                start,
                end,
                progress=lambda f: progress(0.05 + 0.9 * f, "evaluating"),
                tz=zone,
            )
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="params.start") from exc
        return {
            "model_id": model.id,
            "version": version.version,
            "unit": vintages.unit,
            "metrics": jsonable(result.metrics),
        }

    def performance(self, uow: UnitOfWork, organization_id: str, model_id: str) -> dict[str, Any]:
        """Each version's hold-out metrics and the live accuracy of its stored predictions
        against the values known now (the newest ``LIVE_RUNS`` runs)."""
        with uow:
            model = self._registry.active_model(uow, organization_id, model_id)
            versions = uow.ai_models.versions(model.id)
            runs = uow.predictions.runs(organization_id, model.id, LIVE_RUNS, 0)
            live: dict[int, dict[str, Any]] = {}
            if runs:
                points = uow.predictions.points([r.id for r in runs])
                now = self._clock.now()
                for v in versions:  # each version against its own data source
                    mine = [r for r in runs if r.version_id == v.id]
                    if not mine:
                        continue
                    history, _ = load_history(
                        uow,
                        organization_id,
                        model.kind,
                        check_data_source(v.data_source),
                        min(r.horizon_start for r in mine),
                        max(r.horizon_end for r in mine),
                        now,
                    )
                    live.update(_live_accuracy(mine, points, history[TARGET]))
        return {
            "model_id": model.id,
            "kind": model.kind.value,
            "versions": [
                {
                    "version": v.version,
                    "status": v.status.value,
                    "trained_at": v.trained_at,
                    "train_start": v.train_start,
                    "train_end": v.train_end,
                    "holdout": v.metrics.get("holdout"),
                    "live": live.get(v.version),
                }
                for v in versions
            ],
        }


class _Fitted:
    """A fitted forecaster whose ``fit`` keeps it as it is (evaluation of a stored version)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.kind = inner.kind
        self.measured = getattr(inner, "measured", (TARGET,))

    def fit(self, history: pd.DataFrame) -> _Fitted:
        return self

    def predict(self, history: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
        result: pd.DataFrame = self._inner.predict(history, index)
        return result


def _newest(
    runs: list[PredictionRun], points: pd.DataFrame, start: datetime, end: datetime
) -> pd.DataFrame:
    """Per interval, the point of the newest run; ``runs`` come oldest first (by issue time,
    then by the time they were stored), so ties in the issue time go to the later run."""
    columns = ["target_start", *QUANTILE_COLUMNS, "extra", "run_id", "version", "issued_at"]
    if not runs or points.empty:
        return pd.DataFrame(columns=columns)
    meta = pd.DataFrame(
        {
            "run_id": [r.id for r in runs],
            "version": [r.version for r in runs],
            "issued_at": pd.to_datetime([r.issued_at for r in runs], utc=True),
            "rank": range(len(runs)),
        }
    )
    joined = points.merge(meta, on="run_id")
    joined = joined[
        (joined["target_start"] >= pd.Timestamp(start))
        & (joined["target_start"] < pd.Timestamp(end))
    ]
    joined = joined.sort_values(["target_start", "rank"], kind="stable")
    newest = joined.drop_duplicates("target_start", keep="last")
    return newest[columns].reset_index(drop=True)


def _live_accuracy(
    runs: list[PredictionRun], points: pd.DataFrame, actual: pd.Series
) -> dict[int, dict[str, Any]]:
    version_of = {r.id: r.version for r in runs}
    frame = points.assign(
        version=points["run_id"].map(version_of),
        actual=actual.reindex(pd.DatetimeIndex(points["target_start"])).to_numpy(),
    )
    frame = frame[frame["actual"].notna()]
    out: dict[int, dict[str, Any]] = {}
    for number, part in frame.groupby("version"):
        scores = quantile_scores(part["actual"].to_numpy(), part[list(QUANTILE_COLUMNS)].to_numpy())
        out[int(str(number))] = {
            **scores,
            "intervals": len(part),
            "runs": int(part["run_id"].nunique()),
        }
    return out
