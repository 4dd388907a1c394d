"""What the registry can train: algorithms per model kind with their parameters, and the data
sources a model reads its history from.

An algorithm is a name, the kinds it serves, a pydantic model of its parameters (unknown or
out-of-range parameters are refused, naming the field) and a builder that makes an unfitted
:class:`~openvpp.forecasting.protocol.Forecaster` from the checked parameters and the
context of the data source (time zone, location of the resource ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from openvpp.core.errors import ValidationFailed
from openvpp.forecasting.protocol import Forecaster, ModelKind

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "DataSource",
    "MarketDataSource",
    "SeriesRef",
    "SourceContext",
    "Strict",
    "TelemetrySource",
    "algorithm_for",
    "all_algorithms",
    "check_data_source",
    "check_params",
    "register_algorithm",
]

_CODE = r"^[A-Z0-9_-]{1,32}$"
_SERIES = r"^[a-z0-9_]{1,64}$"
_COLUMN = r"^[a-z][a-z0-9_]{0,39}$"


class Strict(BaseModel):
    """Base of parameter models: unknown fields are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SeriesRef(Strict):
    """A market data series (``/api/vpp/market/data``)."""

    market: str = Field(pattern=_CODE)
    area: str = Field(pattern=_CODE)
    product: str = Field(pattern=_CODE)
    series: str = Field("price", pattern=_SERIES)


class MarketDataSource(Strict):
    """History from the market data store, each value as known at the issue time.

    ``target`` is the series to forecast; ``exogenous`` names further series (forecasts of
    load, wind ... known before delivery) as columns of the history frame.
    """

    type: Literal["market_data"] = "market_data"
    target: SeriesRef
    exogenous: dict[Annotated[str, Field(pattern=_COLUMN)], SeriesRef] = Field(
        default_factory=dict, max_length=8
    )
    resolution_min: Literal[15, 30, 60] = 60


class TelemetrySource(Strict):
    """History from a resource's telemetry (power, injection positive [MW]), averaged per
    ``resolution_min`` bucket; a reading counts as known from the time it was received.

    The target is in kW: consumption positive for ``load`` models, generation positive for
    ``pv`` and ``wind``. ``exogenous`` series come from the market data store (e.g. a weather
    forecast imported in the OpenVPP long format).
    """

    type: Literal["telemetry"] = "telemetry"
    resource_id: str = Field(min_length=1, max_length=36)
    exogenous: dict[Annotated[str, Field(pattern=_COLUMN)], SeriesRef] = Field(
        default_factory=dict, max_length=8
    )
    resolution_min: Literal[15, 30, 60] = 60


DataSource = Annotated[MarketDataSource | TelemetrySource, Field(discriminator="type")]
_SOURCE: TypeAdapter[MarketDataSource | TelemetrySource] = TypeAdapter(DataSource)


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What a builder may need to know about where the data come from."""

    time_zone: str = "UTC"
    latitude: float | None = None
    longitude: float | None = None
    altitude_m: float | None = None
    resource_params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Algorithm:
    """A trainable algorithm: the kinds it serves, its parameter model and its builder."""

    name: str
    kinds: frozenset[ModelKind]
    description: str
    params: type[BaseModel]
    build: Callable[[ModelKind, Any, SourceContext], Forecaster]
    lookback_days: int = 35
    """History before the issue time that ``predict`` needs [days]."""


ALGORITHMS: dict[str, Algorithm] = {}
"""Registered algorithms by name; :func:`all_algorithms` loads the built-in ones first."""


def register_algorithm(algorithm: Algorithm) -> None:
    """Make ``algorithm`` available to the registry (once per name)."""
    if algorithm.name in ALGORITHMS:
        raise ValueError(f"algorithm {algorithm.name!r} registered twice")
    ALGORITHMS[algorithm.name] = algorithm


def all_algorithms() -> dict[str, Algorithm]:
    """Every registered algorithm, the built-in ones (``registry.algorithms``) included."""
    import openvpp.forecasting.registry.algorithms  # noqa: F401 - registers the built-ins

    return ALGORITHMS


def algorithm_for(kind: ModelKind, name: str) -> Algorithm:
    """The algorithm ``name`` if it serves ``kind``; else a 422 naming ``algorithm``."""
    algorithm = all_algorithms().get(name)
    if algorithm is None:
        raise ValidationFailed(
            f"unknown algorithm {name!r}; known: {sorted(ALGORITHMS)}", field="algorithm"
        )
    if kind not in algorithm.kinds:
        serving = sorted(a.name for a in ALGORITHMS.values() if kind in a.kinds)
        raise ValidationFailed(
            f"algorithm {name!r} does not forecast {kind.value!r}; for {kind.value}: {serving}",
            field="algorithm",
        )
    return algorithm


def _first_error(exc: ValidationError, prefix: str) -> ValidationFailed:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    where = f"{prefix}.{loc}" if loc else prefix
    return ValidationFailed(f"{where}: {err['msg']}", field=where)


def check_params(algorithm: Algorithm, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` checked and completed with defaults; a 422 naming ``params.<name>``."""
    try:
        return algorithm.params.model_validate(dict(params)).model_dump(mode="json")
    except ValidationError as exc:
        raise _first_error(exc, "params") from None


def parsed_params(algorithm: Algorithm, params: Mapping[str, Any]) -> BaseModel:
    """The typed parameter object of stored (already checked) ``params``."""
    return algorithm.params.model_validate(dict(params))


def check_data_source(source: Mapping[str, Any]) -> MarketDataSource | TelemetrySource:
    """The data source, checked; a 422 naming ``data_source.<field>``."""
    try:
        return _SOURCE.validate_python(dict(source))
    except ValidationError as exc:
        raise _first_error(exc, "data_source") from None
