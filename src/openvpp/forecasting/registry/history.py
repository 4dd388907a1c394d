"""History frames for the registry's forecasters, read through the unit of work "as known at"
an instant, so that neither training nor a prediction issued at T sees anything published
after T."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from openvpp.core.errors import NotFound, ValidationFailed
from openvpp.forecasting.protocol import TARGET, ModelKind
from openvpp.forecasting.registry.catalog import (
    MarketDataSource,
    SeriesRef,
    SourceContext,
    TelemetrySource,
)
from openvpp.markets.presets import load_presets
from openvpp.markets.records import SeriesKey
from openvpp.markets.series import latest_known, resample
from openvpp.ports import UnitOfWork

__all__ = ["load_history", "market_zone", "series_on_grid", "source_context", "unit_of"]

KW_PER_MW = 1000.0


def market_zone(market: str) -> str:
    """The market's time zone (UTC for a market without a preset)."""
    preset = load_presets().get(market)
    return preset.time_zone if preset is not None else "UTC"


def series_on_grid(
    uow: UnitOfWork,
    organization_id: str,
    ref: SeriesRef,
    start: datetime,
    end: datetime,
    as_of: datetime,
    resolution_min: int,
) -> tuple[pd.Series, str | None]:
    """Values of ``ref`` on the ``resolution_min`` grid for ``[start, end)`` as known at
    ``as_of`` (time-weighted means of finer values), with the stored unit."""
    key = SeriesKey(ref.market, ref.area, ref.product, ref.series)
    stored = uow.market_data.stored(organization_id, key, start - timedelta(days=2), end)
    frame = latest_known(stored, as_of)
    if frame.empty:
        return pd.Series(dtype=np.float64), None
    unit = str(frame["unit"].iloc[0])
    points = resample(frame, resolution_min, market_zone(ref.market))
    values = pd.Series(
        points["value"].to_numpy(dtype=np.float64),
        index=pd.DatetimeIndex(points["start"]).tz_convert("UTC"),
    )
    return values[(values.index >= start) & (values.index < end)], unit


def unit_of(kind: ModelKind, source: MarketDataSource | TelemetrySource, stored: str | None) -> str:
    """The unit of a model's target and forecasts."""
    if isinstance(source, TelemetrySource):
        return "kW"
    return stored or "unknown"


def load_history(
    uow: UnitOfWork,
    organization_id: str,
    kind: ModelKind,
    source: MarketDataSource | TelemetrySource,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> tuple[pd.DataFrame, str]:
    """The history frame (protocol of :mod:`openvpp.forecasting.protocol`) on the source's
    grid for ``[start, end)`` [UTC]: ``target`` known at ``as_of`` and the exogenous
    columns known at ``as_of`` (which may reach past it: they are forecasts). Returns the
    frame and the target's unit."""
    step = pd.Timedelta(minutes=source.resolution_min)
    grid = pd.date_range(
        pd.Timestamp(start).ceil(step), pd.Timestamp(end), freq=step, inclusive="left"
    )
    if isinstance(source, MarketDataSource):
        target, stored_unit = series_on_grid(
            uow, organization_id, source.target, start, end, as_of, source.resolution_min
        )
    else:
        target, stored_unit = _telemetry(uow, organization_id, kind, source, start, end, as_of)
    frame = pd.DataFrame({TARGET: target.reindex(grid)}, index=grid)
    for column, ref in source.exogenous.items():
        values, _ = series_on_grid(
            uow, organization_id, ref, start, end, as_of, source.resolution_min
        )
        frame[column] = values.reindex(grid)
    frame.index.name = "start"
    return frame, unit_of(kind, source, stored_unit)


def _telemetry(
    uow: UnitOfWork,
    organization_id: str,
    kind: ModelKind,
    source: TelemetrySource,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> tuple[pd.Series, str]:
    resource = uow.resources.get(organization_id, source.resource_id)
    if resource is None:
        raise NotFound(
            f"resource {source.resource_id!r} not found", field="data_source.resource_id"
        )
    readings = uow.telemetry.power_frame(source.resource_id, start, end, as_of)
    if readings.empty:
        return pd.Series(dtype=np.float64), "kW"
    power = pd.Series(
        readings["power_mw"].to_numpy(dtype=np.float64),
        index=pd.DatetimeIndex(readings["ts"]).tz_convert("UTC"),
    )
    sign = -1.0 if kind is ModelKind.LOAD else 1.0  # load models forecast consumption [kW]
    bucketed = power.resample(f"{source.resolution_min}min").mean().dropna()
    return sign * KW_PER_MW * bucketed, "kW"


def source_context(
    uow: UnitOfWork, organization_id: str, source: MarketDataSource | TelemetrySource
) -> SourceContext:
    """Time zone (of the market, or UTC), location and parameters of the source's resource."""
    if isinstance(source, MarketDataSource):
        return SourceContext(time_zone=market_zone(source.target.market))
    resource = uow.resources.get(organization_id, source.resource_id)
    if resource is None:
        raise ValidationFailed(
            f"resource {source.resource_id!r} not found", field="data_source.resource_id"
        )
    return SourceContext(
        time_zone="UTC",
        latitude=resource.latitude,
        longitude=resource.longitude,
        resource_params=dict(resource.parameters),
    )
