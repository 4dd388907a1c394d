"""The aggregation engine: a VPP's flexibility per interval of a horizon, from its members'
physical models, current state and allocated shares.

Each resource type is evaluated for all its members at once over the horizon, giving a
``(members x intervals)`` stack of: baseline, lowest and highest power [MW, injection
positive], cumulative energy bounds from the horizon's start to each interval's end [MWh]
and ramp limits between consecutive intervals [MW]. The VPP's flexibility is the
share-weighted column sum of the stack (the envelope of a union is the sum of the envelopes).

Availability: a resource in fault or maintenance contributes nothing; an offline one (no fresh
telemetry) keeps its baseline but offers no flexibility, since it cannot be controlled.
Baselines without a forecast: PV follows pvlib's clear-sky output at its location, wind and EV
depots persist their latest reading, loads follow their BDEW profile (demandlib), gensets stay
at their latest output, heat pumps hold their storage at the latest demand. The forecasting
service replaces these with forecasts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.resources.model import Resource, ResourceStatus
from openvpp.resources.models.genset import GensetSpec, genset_bounds
from openvpp.resources.models.heat_pump import HeatPumpSpec, heat_pump_bounds
from openvpp.resources.models.load import bdew_shape, curtailable_bounds, local_clock
from openvpp.resources.models.load import shiftable_bounds as shiftable_model
from openvpp.resources.models.pv import FLEET_PARAMETERS, clear_sky_power_mw
from openvpp.resources.telemetry import TelemetryPoint, capacity_mw
from openvpp.resources.templates import ResourceType

FloatArray = NDArray[np.float64]

RESOLUTIONS_MIN = (15, 60)
FRESH = timedelta(hours=6)  # a reading older than this is not used as a baseline
CLEAR_SKY_TEMP_C = 20.0  # air temperature assumed with clear-sky irradiance


def horizon(start: datetime, end: datetime, resolution_min: int) -> pd.DatetimeIndex:
    """Interval starts ``[start, end)`` every ``resolution_min`` minutes, built in UTC so that
    a local day has 92, 96 or 100 quarter-hours."""
    if resolution_min not in RESOLUTIONS_MIN:
        raise ValueError(f"resolution must be one of {RESOLUTIONS_MIN} minutes")
    s, e = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    if e <= s:
        raise ValueError("end must be after start")
    if s != s.floor(f"{resolution_min}min") or e != e.floor(f"{resolution_min}min"):
        raise ValueError(f"start and end must lie on the {resolution_min}-minute grid")
    return pd.date_range(s, e, freq=f"{resolution_min}min", inclusive="left")


def local_days(day: date, days: int, tz: str) -> tuple[datetime, datetime]:
    """UTC bounds of ``days`` local days from ``day`` in ``tz`` (DST-correct)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, datetime.min.time(), zone)
    end = datetime.combine(day + timedelta(days=days), datetime.min.time(), zone)
    return start, end


@dataclass(frozen=True)
class Flex:
    """Flexibility of one resource, a stack (leading axes) or a VPP; last axis: intervals."""

    baseline_mw: FloatArray
    p_min_mw: FloatArray
    p_max_mw: FloatArray
    e_min_mwh: FloatArray  # cumulative injected energy to each interval's end, lowest
    e_max_mwh: FloatArray  # highest
    ramp_up_mw: FloatArray  # largest increase into each interval from the one before
    ramp_down_mw: FloatArray  # largest decrease

    def weighted_sum(self, w: FloatArray) -> Flex:
        """The column sum of a ``(n, T)`` stack weighted by shares ``w``: ``(n,)`` when each
        resource's share holds over the whole horizon, else ``(n, T)``.

        Energies are summed as weighted increments, so a share that changes within the
        horizon scales only the energy moved while it holds. No ``(n, T)`` temporaries:
        matrix-vector products for constant shares, ``einsum`` otherwise.
        """
        w = np.asarray(w, dtype=np.float64)
        total: Callable[[FloatArray], FloatArray]
        cumulative: Callable[[FloatArray], FloatArray]
        if w.ndim == 1:
            total = partial(_einsum, "it,i->t", w=w)
            cumulative = total  # constant weights commute with the running sum
        else:
            total = partial(_einsum, "it,it->t", w=w)

            def cumulative(e: FloatArray) -> FloatArray:
                # sum_i w_it (e_it - e_i,t-1), then the running sum over t
                step = total(e)
                step[1:] -= _einsum("it,it->t", e[:, :-1], w[:, 1:])
                return np.asarray(np.cumsum(step), dtype=np.float64)

        return Flex(
            total(self.baseline_mw),
            total(self.p_min_mw),
            total(self.p_max_mw),
            cumulative(self.e_min_mwh),
            cumulative(self.e_max_mwh),
            total(self.ramp_up_mw),
            total(self.ramp_down_mw),
        )


FIELDS = tuple(f.name for f in fields(Flex))


def _einsum(spec: str, a: FloatArray, w: FloatArray) -> FloatArray:
    return np.asarray(np.einsum(spec, a, w), dtype=np.float64)


def _flex(
    baseline: FloatArray,
    p_min: FloatArray,
    p_max: FloatArray,
    dt_h: float,
    *,
    e_min: FloatArray | None = None,
    e_max: FloatArray | None = None,
    ramp: FloatArray | None = None,
) -> Flex:
    """A stack from powers; energy bounds default to the cumulative power bounds, ramps to the
    whole range (inverter-coupled resources move within one interval)."""
    span = p_max - p_min
    return Flex(
        baseline,
        p_min,
        p_max,
        np.cumsum(p_min * dt_h, axis=-1) if e_min is None else e_min,
        np.cumsum(p_max * dt_h, axis=-1) if e_max is None else e_max,
        span if ramp is None else np.minimum(ramp, span),
        span if ramp is None else np.minimum(ramp, span),
    )


@dataclass(frozen=True, slots=True)
class Unit:
    """What the engine needs of a member resource."""

    id: str
    resource_type: ResourceType
    parameters: dict[str, Any]
    latitude: float | None
    longitude: float | None
    status: ResourceStatus


@dataclass
class Context:
    index: pd.DatetimeIndex  # interval starts, UTC
    dt_h: float
    tz: str  # local time of the market: load windows, profiles
    now: datetime
    readings: dict[str, TelemetryPoint]
    notes: list[str] = field(default_factory=list)

    def fresh(self, resource_id: str) -> TelemetryPoint | None:
        reading = self.readings.get(resource_id)
        if reading is None or self.now - reading.ts > FRESH:
            return None
        return reading

    def persisted(self, resources: Sequence[Unit], lo: float, hi: float) -> FloatArray:
        """Latest fresh reading of each resource, clipped to ``[lo, hi]``, as a flat baseline
        (zero, with a note, where there is none)."""
        values = np.zeros(len(resources))
        missing = 0
        for i, r in enumerate(resources):
            reading = self.fresh(r.id)
            if reading is None:
                missing += 1
            else:
                values[i] = reading.power_mw
        if missing:
            kind = resources[0].resource_type.value
            self.notes.append(f"{kind}: {missing} resource(s) without fresh telemetry, baseline 0")
        return np.repeat(np.clip(values, lo, hi)[:, None], len(self.index), axis=1)


def _p(resources: Sequence[Unit], name: str) -> FloatArray:
    return np.array([float(r.parameters[name]) for r in resources], dtype=np.float64)


def _pv(resources: Sequence[Unit], ctx: Context) -> Flex:
    """Clear-sky output at each plant's location and orientation, over interval midpoints."""
    mid = ctx.index + pd.Timedelta(hours=ctx.dt_h / 2)
    out = np.zeros((len(resources), len(ctx.index)))
    placed = [
        i for i, r in enumerate(resources) if r.latitude is not None and r.longitude is not None
    ]
    if len(placed) < len(resources):
        ctx.notes.append(
            f"pv: {len(resources) - len(placed)} plant(s) without a location, baseline 0"
        )
    if placed:
        plants = [resources[i] for i in placed]
        out[placed] = clear_sky_power_mw(
            np.array([r.latitude for r in plants], dtype=np.float64),
            np.array([r.longitude for r in plants], dtype=np.float64),
            {name: _p(plants, name) for name in FLEET_PARAMETERS},
            times=mid,
            temp_air_c=CLEAR_SKY_TEMP_C,
        )
    return _flex(out, np.zeros_like(out), out, ctx.dt_h)


def _wind(resources: Sequence[Unit], ctx: Context) -> Flex:
    cap = np.array([capacity_mw(r) for r in resources])
    base = np.minimum(ctx.persisted(resources, 0.0, float(cap.max())), cap[:, None])
    return _flex(base, np.zeros_like(base), base, ctx.dt_h)


def _battery(resources: Sequence[Unit], ctx: Context) -> Flex:
    n, t = len(resources), len(ctx.index)
    energy = _p(resources, "energy_mwh")
    lo_soc, hi_soc = _p(resources, "soc_min"), _p(resources, "soc_max")
    soc = (lo_soc + hi_soc) / 2
    for i, r in enumerate(resources):
        reading = ctx.fresh(r.id)
        if reading is not None and reading.soc is not None:
            soc[i] = min(max(reading.soc, lo_soc[i]), hi_soc[i])
    p_ch, p_dis = _p(resources, "p_charge_max_mw"), _p(resources, "p_discharge_max_mw")
    p_min = np.repeat(-p_ch[:, None], t, axis=1)
    p_max = np.repeat(p_dis[:, None], t, axis=1)
    steps = np.arange(1, t + 1) * ctx.dt_h
    can_give = (soc - lo_soc) * energy * _p(resources, "eta_discharge")
    can_take = (hi_soc - soc) * energy / _p(resources, "eta_charge")
    return _flex(
        np.zeros((n, t)),
        p_min,
        p_max,
        ctx.dt_h,
        e_min=np.maximum(-p_ch[:, None] * steps, -can_take[:, None]),
        e_max=np.minimum(p_dis[:, None] * steps, can_give[:, None]),
    )


def _curtailable(resources: Sequence[Unit], ctx: Context) -> Flex:
    load = np.zeros((len(resources), len(ctx.index)))
    shapes: dict[str, FloatArray | None] = {}
    for i, r in enumerate(resources):
        profile = str(r.parameters["profile"])
        if profile not in shapes:
            try:
                shapes[profile] = bdew_shape(profile, ctx.index)
            except ValueError as exc:
                ctx.notes.append(f"curtailable_load profile {profile!r}: {exc}; baseline 0")
                shapes[profile] = None
        shape = shapes[profile]
        if shape is not None:
            load[i] = float(r.parameters["peak_mw"]) * shape
    b = curtailable_bounds(
        load,
        _p(resources, "max_curtailment_fraction"),
        _p(resources, "max_curtailment_h"),
        ctx.dt_h,
    )
    return _flex(b.baseline_mw, b.p_min_mw, b.p_max_mw, ctx.dt_h)


def _shiftable(resources: Sequence[Unit], ctx: Context) -> Flex:
    hours, days = local_clock(ctx.index, ctx.tz)
    b = shiftable_model(
        _p(resources, "power_mw"),
        _p(resources, "energy_per_day_mwh"),
        _p(resources, "window_start_h"),
        _p(resources, "window_end_h"),
        hours,
        days,
        ctx.dt_h,
    )
    return _flex(
        b.baseline_mw,
        b.p_min_mw,
        b.p_max_mw,
        ctx.dt_h,
        e_min=-b.e_max_mwh,
        e_max=-b.e_min_mwh,
    )


def _ev(resources: Sequence[Unit], ctx: Context) -> Flex:
    cap = np.array([capacity_mw(r) for r in resources])
    base = np.maximum(ctx.persisted(resources, -float(cap.max()), 0.0), -cap[:, None])
    p_min = np.repeat(-cap[:, None], len(ctx.index), axis=1)
    return _flex(base, p_min, np.zeros_like(base), ctx.dt_h)


def _genset_spec(p: dict[str, Any]) -> GensetSpec:
    if "fuel_cost_curve" in p:  # v2
        curve = tuple((float(c["p_mw"]), float(c["cost_eur_per_h"])) for c in p["fuel_cost_curve"])
        return GensetSpec(
            float(p["p_min_mw"]),
            float(p["p_max_mw"]),
            float(p["ramp_mw_per_min"]),
            float(p["min_up_h"]),
            float(p["min_down_h"]),
            curve,
            float(p.get("no_load_cost_eur_per_h", 0.0)),
        )
    return GensetSpec.linear(
        float(p["p_min_mw"]),
        float(p["p_max_mw"]),
        float(p["ramp_mw_per_min"]),
        float(p["min_up_h"]),
        float(p["min_down_h"]),
        float(p["fuel_cost_per_mwh"]),
    )


def _genset(resources: Sequence[Unit], ctx: Context) -> Flex:
    """From the latest output (running when at or above p_min), with ramps; the time already
    spent on or off is unknown and taken as long enough."""
    t = len(ctx.index)
    rows: list[Flex] = []
    for r in resources:
        spec = _genset_spec(r.parameters)
        reading = ctx.fresh(r.id)
        p0 = reading.power_mw if reading is not None else 0.0
        on = p0 >= spec.p_min_mw - 1e-9 and p0 > 0.0
        p0 = min(max(p0, spec.p_min_mw), spec.p_max_mw) if on else 0.0
        b = genset_bounds(spec, t, ctx.dt_h, on=on, p0_mw=p0, hours_in_state=1e6)
        base = np.clip(np.full(t, p0), b.p_min_mw, b.p_max_mw)
        ramp = np.full(t, spec.ramp_mw_per_min * 60.0 * ctx.dt_h)
        rows.append(_flex(base, b.p_min_mw, b.p_max_mw, ctx.dt_h, ramp=ramp))
    return Flex(*(np.stack([getattr(f, name) for f in rows]) for name in FIELDS))


def _heat_pump(resources: Sequence[Unit], ctx: Context) -> Flex:
    """Heat demand persisted from the latest consumption; storage level from the reading's
    ``soc`` (fraction of the thermal capacity), else the middle of the band."""
    t = len(ctx.index)
    rows: list[Flex] = []
    for r in resources:
        p = r.parameters
        spec = HeatPumpSpec(
            float(p["p_el_max_mw"]),
            float(p["cop"]),
            float(p["thermal_capacity_mwh"]),
            float(p["comfort_min_c"]),
            float(p["comfort_max_c"]),
        )
        reading = ctx.fresh(r.id)
        drawn = max(0.0, -reading.power_mw) if reading is not None else 0.0
        level = reading.soc if reading is not None and reading.soc is not None else 0.5
        b = heat_pump_bounds(
            spec, np.full(t, drawn * spec.cop), level * spec.thermal_capacity_mwh, ctx.dt_h
        )
        rows.append(
            _flex(
                -b.baseline_mw,
                -b.p_el_max_mw,
                -b.p_el_min_mw,
                ctx.dt_h,
                e_min=-b.e_max_mwh,
                e_max=-b.e_min_mwh,
            )
        )
    return Flex(*(np.stack([getattr(f, name) for f in rows]) for name in FIELDS))


BUILDERS: dict[ResourceType, Callable[[Sequence[Unit], Context], Flex]] = {
    ResourceType.PV: _pv,
    ResourceType.WIND: _wind,
    ResourceType.BATTERY: _battery,
    ResourceType.CURTAILABLE_LOAD: _curtailable,
    ResourceType.SHIFTABLE_LOAD: _shiftable,
    ResourceType.EV_FLEET: _ev,
    ResourceType.GENSET: _genset,
    ResourceType.HEAT_PUMP: _heat_pump,
}


@dataclass(frozen=True, slots=True)
class Allocation:
    """A member's share of a resource over ``[valid_from, valid_to)``."""

    unit: Unit
    share_pct: Decimal
    valid_from: datetime
    valid_to: datetime | None

    @classmethod
    def of(
        cls, resource: Resource, share_pct: Decimal, valid_from: datetime, valid_to: datetime | None
    ) -> Allocation:
        unit = Unit(
            resource.id,
            resource.resource_type,
            resource.parameters,
            resource.latitude,
            resource.longitude,
            resource.status,
        )
        return cls(unit, share_pct, valid_from, valid_to)


@dataclass(frozen=True)
class Aggregate:
    index: pd.DatetimeIndex
    total: Flex
    by_type: dict[ResourceType, Flex]
    resources: dict[str, int]  # counted per status
    notes: list[str]


def aggregate_vpp(
    allocations: Sequence[Allocation],
    readings: dict[str, TelemetryPoint],
    index: pd.DatetimeIndex,
    *,
    tz: str,
    now: datetime,
) -> Aggregate:
    """The VPP's flexibility over the intervals starting at ``index`` (regular, UTC)."""
    dt_h = (index[1] - index[0]).total_seconds() / 3600 if len(index) > 1 else 0.25
    ctx = Context(index, dt_h, tz, now, readings)
    starts = index.as_unit("us").asi8  # since the epoch, UTC
    by_type: dict[ResourceType, list[Allocation]] = defaultdict(list)
    for a in allocations:
        by_type[a.unit.resource_type].append(a)
    zeros = np.zeros(len(index))
    parts: dict[ResourceType, Flex] = {}
    statuses: Counter[str] = Counter()
    for kind in ResourceType:
        group = by_type.get(kind, [])
        if not group:
            continue
        flex = BUILDERS[kind]([a.unit for a in group], ctx)
        status = [a.unit.status for a in group]
        statuses.update(x.value for x in status)
        # Out of service (fault, maintenance): no output, no flexibility.
        share = np.array(
            [
                0.0 if x in OUT_OF_SERVICE else float(a.share_pct) / 100
                for x, a in zip(status, group, strict=True)
            ]
        )
        since = np.array([_us(a.valid_from) for a in group])
        until = np.array([_us(a.valid_to) if a.valid_to else FOREVER for a in group])
        valid = (starts >= since[:, None]) & (starts < until[:, None])
        w = np.where(valid, share[:, None], 0.0)
        controllable = np.array([x is ResourceStatus.ONLINE for x in status])
        if not controllable.all():
            flex = _frozen(flex, controllable, dt_h)
        constant = bool(np.all(w == w[:, :1]))
        parts[kind] = flex.weighted_sum(w[:, 0] if constant else w)
    total = (
        Flex(*(sum(getattr(f, n) for f in parts.values()) for n in FIELDS))
        if parts
        else Flex(*(zeros for _ in FIELDS))
    )
    return Aggregate(index, total, parts, dict(statuses), ctx.notes)


def _us(at: datetime) -> int:
    """Microseconds since the epoch (the unit of ``index.as_unit("us").asi8``)."""
    return (at - EPOCH) // timedelta(microseconds=1)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FOREVER = np.iinfo(np.int64).max
OUT_OF_SERVICE = frozenset({ResourceStatus.FAULT, ResourceStatus.MAINTENANCE})


def _frozen(flex: Flex, controllable: NDArray[np.bool_], dt_h: float) -> Flex:
    """The stack with the uncontrollable rows held at their baseline."""
    keep = controllable[:, None]
    base = flex.baseline_mw
    fixed_e = np.cumsum(base * dt_h, axis=-1)
    return Flex(
        base,
        np.where(keep, flex.p_min_mw, base),
        np.where(keep, flex.p_max_mw, base),
        np.where(keep, flex.e_min_mwh, fixed_e),
        np.where(keep, flex.e_max_mwh, fixed_e),
        np.where(keep, flex.ramp_up_mw, 0.0),
        np.where(keep, flex.ramp_down_mw, 0.0),
    )
