"""Schemas of the model registry (``/api/vpp/ai``): models, versions, training, predictions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pandas as pd
from pydantic import Field, model_validator

from openvpp.api.schemas.common import In, Out, UTCDatetime
from openvpp.forecasting.protocol import ModelKind
from openvpp.forecasting.registry.catalog import Algorithm
from openvpp.forecasting.registry.predictions import Forecast
from openvpp.forecasting.registry.records import AiModel, ModelVersion, PredictionRun

NAME = r"^[^\x00-\x1f]{1,100}$"


class ModelIn(In):
    name: str = Field(pattern=NAME)
    kind: ModelKind = Field(description="what the model forecasts")
    algorithm: str = Field(
        min_length=1, max_length=40, description="see GET /api/vpp/ai/algorithms"
    )
    description: str = Field(default="", max_length=1000)
    params: dict[str, Any] = Field(default_factory=dict, max_length=50)
    data_source: dict[str, Any] = Field(
        description="`{type: market_data, target: {market, area, product, series}, "
        "exogenous: {column: series}, resolution_min}` or `{type: telemetry, resource_id, "
        "exogenous, resolution_min}` (target in kW, consumption positive for load models)"
    )


class ModelUpdateIn(In):
    """Fields to change; versions trained before keep their parameters and data source."""

    name: str | None = Field(default=None, pattern=NAME)
    description: str | None = Field(default=None, max_length=1000)
    params: dict[str, Any] | None = Field(default=None, max_length=50)
    data_source: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if value is None:
                    raise ValueError(f"{key} may not be null; leave it out to keep it")
        return data


class TrainIn(In):
    train_start: UTCDatetime | None = Field(
        default=None,
        description="first interval of the training data [UTC]; default: one year before train_end",
    )
    train_end: UTCDatetime | None = Field(
        default=None, description="end of the training data (exclusive) [UTC]; default as_of"
    )
    as_of: UTCDatetime | None = Field(
        default=None, description="use the data as known at this instant [UTC]; default now"
    )
    holdout_days: int = Field(
        default=7, ge=0, le=90, description="trailing days scored out of sample [days]"
    )


class EvaluateIn(In):
    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="default: newest ready"
    )
    start: UTCDatetime = Field(description="first day of the out-of-sample period [UTC]")
    end: UTCDatetime = Field(description="end of the period (exclusive) [UTC], ≤ 400 days")


class PredictIn(In):
    model_id: str = Field(min_length=1, max_length=36)
    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="default: newest ready"
    )
    start: UTCDatetime = Field(description="first interval to forecast [UTC]")
    end: UTCDatetime = Field(description="end of the horizon (exclusive) [UTC], ≤ 14 days")
    issued_at: UTCDatetime | None = Field(
        default=None,
        description="forecast with the data known at this instant [UTC] (a backtest's "
        "clock); default now, never in the future",
    )


class VolumeIn(In):
    start: UTCDatetime = Field(description="interval start [UTC]")
    mwh: float = Field(
        ge=-1e6,
        le=1e6,
        allow_inf_nan=False,
        description="energy of the interval [MWh], positive = sale / injection",
    )


class RiskAssessIn(In):
    model_id: str = Field(min_length=1, max_length=36, description="a risk model")
    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="default: newest ready"
    )
    volumes: list[VolumeIn] = Field(min_length=1, max_length=2000)
    method: Literal["historical", "quantile"] | None = Field(
        default=None,
        description="default: quantile with a price model, else historical simulation",
    )
    price_model_id: str | None = Field(
        default=None,
        max_length=36,
        description="a price model whose stored predictions (known at as_of) are the "
        "price forecast",
    )
    as_of: UTCDatetime | None = Field(default=None, description="default now [UTC]")


class SpikeOut(Out):
    start: datetime
    p: float | None


class RiskOut(Out):
    model_id: str
    version: int
    as_of: datetime
    method: str
    alpha: float
    expected_pnl: float | None = Field(description="[currency]")
    var: float | None = Field(description="value at risk, a loss below the expected P&L [currency]")
    cvar: float | None = Field(description="expected loss beyond the VaR [currency]")
    n_scenarios: int
    threshold: float | None = Field(description="spike threshold [currency/MWh]")
    spike_prob_max: float | None = Field(description="probability that any interval spikes")
    spike_prob: list[SpikeOut]
    price_model_id: str | None
    schedule_span: str


class VersionOut(Out):
    id: str
    version: int
    status: str
    algorithm: str
    params: dict[str, Any]
    data_source: dict[str, Any]
    train_start: datetime
    train_end: datetime
    data_as_of: datetime
    metrics: dict[str, Any]
    artifact_sha256: str | None
    artifact_bytes: int | None
    job_id: str | None
    error: str | None
    created_at: datetime
    trained_at: datetime | None

    @classmethod
    def of(cls, v: ModelVersion) -> VersionOut:
        return cls.model_validate(v)


class ModelOut(Out):
    id: str
    name: str
    kind: ModelKind
    algorithm: str
    description: str
    params: dict[str, Any]
    data_source: dict[str, Any]
    status: str
    latest_version: int
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    versions: list[VersionOut] | None = None

    @classmethod
    def of(cls, m: AiModel, versions: list[ModelVersion] | None = None) -> ModelOut:
        out = cls.model_validate(m)
        if versions is not None:
            out.versions = [VersionOut.of(v) for v in versions]
        return out


class AlgorithmOut(Out):
    name: str
    kinds: list[ModelKind]
    description: str
    params_schema: dict[str, Any]

    @classmethod
    def of(cls, a: Algorithm) -> AlgorithmOut:
        return cls(
            name=a.name,
            kinds=sorted(a.kinds),
            description=a.description,
            params_schema=a.params.model_json_schema(),
        )


class PointOut(Out):
    start: datetime = Field(description="interval start [UTC]")
    p10: float
    p50: float = Field(description="the point forecast")
    p90: float
    extra: dict[str, float | None] = Field(default_factory=dict)
    run_id: str | None = None
    version: int | None = None
    issued_at: datetime | None = None


def _points(frame: pd.DataFrame, starts: pd.DatetimeIndex, with_run: bool) -> list[PointOut]:
    """Points from a frame with ``p10``/``p50``/``p90`` and either an ``extra`` column of
    dicts or extra value columns (and, ``with_run``, ``run_id``/``version``/``issued_at``)."""
    quantiles = frame[["p10", "p50", "p90"]].to_numpy(dtype=float)
    if "extra" in frame.columns:
        extras: list[dict[str, float | None]] = [dict(e) for e in frame["extra"]]
    else:
        named = [c for c in frame.columns if c not in ("p10", "p50", "p90")]
        values = frame[named].to_numpy(dtype=float)
        extras = [dict(zip(named, map(float, row), strict=True)) for row in values]
    points = [
        PointOut(start=ts.to_pydatetime(), p10=q[0], p50=q[1], p90=q[2], extra=extra)
        for ts, q, extra in zip(starts, quantiles.tolist(), extras, strict=True)
    ]
    if with_run:
        issued = pd.DatetimeIndex(frame["issued_at"])
        for point, run_id, version, at in zip(
            points, frame["run_id"], frame["version"], issued, strict=True
        ):
            point.run_id, point.version, point.issued_at = str(run_id), int(version), at
    return points


class RunOut(Out):
    id: str
    model_id: str
    version: int
    issued_at: datetime
    horizon_start: datetime
    horizon_end: datetime
    step_s: int = Field(description="interval length [s]")
    unit: str = Field(description="unit of the values, e.g. EUR/MWh or kW")
    count: int = Field(description="number of intervals")
    created_at: datetime
    points: list[PointOut]

    @classmethod
    def of(cls, run: PredictionRun, frame: pd.DataFrame) -> RunOut:
        return cls(
            id=run.id,
            model_id=run.model_id,
            version=run.version,
            issued_at=run.issued_at,
            horizon_start=run.horizon_start,
            horizon_end=run.horizon_end,
            step_s=run.step_s,
            unit=run.unit,
            count=run.points,
            created_at=run.created_at,
            points=_points(frame, pd.DatetimeIndex(frame.index), with_run=False),
        )

    @classmethod
    def of_forecast(cls, f: Forecast) -> RunOut:
        return cls.of(f.run, f.points)


class KnownOut(Out):
    model_id: str
    as_of: datetime | None
    points: list[PointOut]

    @classmethod
    def of(cls, model_id: str, as_of: datetime | None, frame: pd.DataFrame) -> KnownOut:
        starts = pd.DatetimeIndex(frame["target_start"])
        return cls(model_id=model_id, as_of=as_of, points=_points(frame, starts, with_run=True))
