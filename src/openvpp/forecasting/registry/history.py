"""History frames for the registry's forecasters, read through the unit of work "as known at"
an instant, so that neither training nor a prediction issued at T sees anything published
after T."""

from __future__ import annotations

from dataclasses import dataclass
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

__all__ = [
    "Vintages",
    "load_history",
    "load_vintages",
    "market_zone",
    "series_on_grid",
    "source_context",
]

KW_PER_MW = 1000.0


def market_zone(market: str) -> str:
    """The market's time zone (UTC for a market without a preset)."""
    preset = load_presets().get(market)
    return preset.time_zone if preset is not None else "UTC"


def _stored(
    uow: UnitOfWork,
    organization_id: str,
    ref: SeriesRef,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> pd.DataFrame:
    """Every vintage of ``ref`` for intervals starting in ``[start - 2 days, end]`` that was
    known at ``as_of`` (``start``, ``known_at``, ``period_min``, ``value``, ``unit``)."""
    key = SeriesKey(ref.market, ref.area, ref.product, ref.series)
    stored = uow.market_data.stored(organization_id, key, start - timedelta(days=2), end)
    return stored[stored["known_at"] <= pd.Timestamp(as_of)].reset_index(drop=True)


def _on_grid(
    vintages: pd.DataFrame,
    ref: SeriesRef,
    known_at: datetime,
    resolution_min: int,
    start: datetime,
    end: datetime,
    *,
    first_if_unknown: bool = False,
) -> pd.Series:
    """The values of ``vintages`` known at ``known_at``, averaged on the ``resolution_min``
    grid (time-weighted), for ``[start, end)``. With ``first_if_unknown`` an interval of which
    no vintage was known at ``known_at`` takes its first published vintage."""
    frame = latest_known(vintages, known_at)
    if first_if_unknown and len(vintages):
        first = vintages.sort_values(["start", "known_at"], kind="stable").drop_duplicates("start")
        late = first[~first["start"].isin(frame["start"])]
        if len(late):
            frame = late if frame.empty else pd.concat([frame, late])
            frame = frame.sort_values("start", kind="stable")
    if frame.empty:
        return pd.Series(dtype=np.float64)
    starts = pd.DatetimeIndex(frame["start"]).tz_convert("UTC")
    on_grid = (frame["period_min"] == resolution_min).all() and (
        (starts.as_unit("s").asi8 // 60) % resolution_min == 0
    ).all()
    if on_grid:  # already the grid: no resampling needed
        values = pd.Series(frame["value"].to_numpy(dtype=np.float64), index=starts)
    else:
        points = resample(frame, resolution_min, market_zone(ref.market))
        values = pd.Series(
            points["value"].to_numpy(dtype=np.float64),
            index=pd.DatetimeIndex(points["start"]).tz_convert("UTC"),
        )
    return values[(values.index >= start) & (values.index < end)]


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
    vintages = _stored(uow, organization_id, ref, start, end, as_of)
    unit = str(vintages["unit"].iloc[0]) if len(vintages) else None
    return _on_grid(vintages, ref, as_of, resolution_min, start, end), unit


@dataclass(frozen=True)
class Vintages:
    """Everything a data source published for ``[start, end)`` up to ``as_of``, with the
    time each value became known, so that the history frame can be rebuilt as known at any
    earlier instant (:meth:`at`): a rolling evaluation issued at T sees the vintages of T,
    not the revisions and actuals published after it.

    unit : the target's unit.
    """

    source: MarketDataSource | TelemetrySource
    kind: ModelKind
    start: datetime
    end: datetime
    as_of: datetime
    unit: str
    target: pd.DataFrame
    exogenous: dict[str, pd.DataFrame]

    def at(self, known_at: datetime | None = None) -> pd.DataFrame:
        """The history frame (protocol of :mod:`openvpp.forecasting.protocol`) on the
        source's grid as known at ``known_at`` (default ``as_of``): each exogenous value in
        the newest vintage known then (a later revision or a value published later stays
        out); each target value in the newest vintage known then, or, if it was first
        published later (history imported in bulk, telemetry received late), in its first
        vintage. Evaluations hide the target from their issue time on, so only the past
        target can come from that fallback, never a value of the horizon."""
        when = min(known_at or self.as_of, self.as_of)
        res = self.source.resolution_min
        step = pd.Timedelta(minutes=res)
        grid = pd.date_range(
            pd.Timestamp(self.start).ceil(step), pd.Timestamp(self.end), freq=step,
            inclusive="left",
        )  # fmt: skip
        if isinstance(self.source, MarketDataSource):
            target = _on_grid(
                self.target, self.source.target, when, res, self.start, self.end,
                first_if_unknown=True,
            )  # fmt: skip
        else:
            target = _bucket(self.target, self.kind, res)
        frame = pd.DataFrame({TARGET: target.reindex(grid)}, index=grid)
        for column, ref in self.source.exogenous.items():
            values = _on_grid(self.exogenous[column], ref, when, res, self.start, self.end)
            frame[column] = values.reindex(grid)
        frame.index.name = "start"
        return frame


def load_vintages(
    uow: UnitOfWork,
    organization_id: str,
    kind: ModelKind,
    source: MarketDataSource | TelemetrySource,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> Vintages:
    """What ``source`` published for ``[start, end)`` [UTC] up to ``as_of``."""
    if isinstance(source, MarketDataSource):
        target = _stored(uow, organization_id, source.target, start, end, as_of)
        stored_unit = str(target["unit"].iloc[0]) if len(target) else None
    else:
        if uow.resources.get(organization_id, source.resource_id) is None:
            raise NotFound(
                f"resource {source.resource_id!r} not found", field="data_source.resource_id"
            )
        target = uow.telemetry.power_frame(source.resource_id, start, end, as_of)
        stored_unit = "kW"  # telemetry MW, as the target in kW (see _bucket)
    exogenous = {
        column: _stored(uow, organization_id, ref, start, end, as_of)
        for column, ref in source.exogenous.items()
    }
    return Vintages(source, kind, start, end, as_of, stored_unit or "unknown", target, exogenous)


def load_history(
    uow: UnitOfWork,
    organization_id: str,
    kind: ModelKind,
    source: MarketDataSource | TelemetrySource,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> tuple[pd.DataFrame, str]:
    """The history frame on the source's grid for ``[start, end)`` [UTC]: ``target`` and
    the exogenous columns as known at ``as_of`` (exogenous values may reach past it: they
    are forecasts). Returns the frame and the target's unit."""
    vintages = load_vintages(uow, organization_id, kind, source, start, end, as_of)
    return vintages.at(as_of), vintages.unit


def _bucket(readings: pd.DataFrame, kind: ModelKind, res: int) -> pd.Series:
    """Telemetry (one reading per time; received by the vintages' ``as_of``) as mean power
    per ``res`` minutes [kW]: generation positive, consumption positive for load models
    (telemetry is injection positive [MW])."""
    if readings.empty:
        return pd.Series(dtype=np.float64)
    power = pd.Series(
        readings["power_mw"].to_numpy(dtype=np.float64),
        index=pd.DatetimeIndex(readings["ts"]).tz_convert("UTC"),
    )
    sign = -1.0 if kind is ModelKind.LOAD else 1.0
    return sign * KW_PER_MW * power.resample(f"{res}min").mean().dropna()


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
