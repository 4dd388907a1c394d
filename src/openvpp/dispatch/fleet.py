"""A dispatch :class:`~openvpp.dispatch.disaggregate.Fleet` built from the project's resources:
the aggregation engine's per-type flexibility stacks (same baselines and bounds as the VPP's
offer) and, for batteries, their stored energy tracked with the battery model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from openvpp.aggregation.engine import BUILDERS, FIELDS, Context, Flex, Unit
from openvpp.dispatch.disaggregate import Fleet, Storage
from openvpp.resources.models.battery import BatterySpec
from openvpp.resources.telemetry import TelemetryPoint
from openvpp.resources.templates import ResourceType

__all__ = ["battery_spec", "fleet_from_units"]


def battery_spec(parameters: dict[str, Any]) -> BatterySpec:
    """The battery model's spec from a battery resource's parameters."""
    names = (
        "energy_mwh",
        "p_charge_max_mw",
        "p_discharge_max_mw",
        "eta_charge",
        "eta_discharge",
        "soc_min",
        "soc_max",
        "self_discharge_per_h",
    )
    return BatterySpec(*(float(parameters[k]) for k in names))


def fleet_from_units(
    units: Sequence[Unit],
    index: pd.DatetimeIndex,
    *,
    tz: str,
    now: datetime,
    readings: dict[str, TelemetryPoint] | None = None,
    p0_mw: Sequence[float] | None = None,
) -> tuple[Fleet, list[ResourceType], list[str]]:
    """The fleet of ``units`` over the intervals starting at ``index`` (regular, UTC), rows in
    the order of ``units``; the resource types (for the fallback rule) and the engine's notes.

    Batteries start from their fresh reading's state of charge, else mid-band (as the engine's
    baseline does). ``p0_mw``: each unit's power before the horizon (None: no ramp constraint
    into the first interval).
    """
    dt_h = (index[1] - index[0]).total_seconds() / 3600 if len(index) > 1 else 0.25
    ctx = Context(index, dt_h, tz, now, dict(readings or {}))
    t_len = len(index)
    stacks = {name: np.zeros((len(units), t_len)) for name in FIELDS}
    kinds = [u.resource_type for u in units]
    for kind in ResourceType:
        rows = [i for i, k in enumerate(kinds) if k is kind]
        if not rows:
            continue
        flex = BUILDERS[kind]([units[i] for i in rows], ctx)
        for name in FIELDS:
            stacks[name][rows] = np.broadcast_to(getattr(flex, name), (len(rows), t_len))
    storage = None
    bat = [i for i, k in enumerate(kinds) if k is ResourceType.BATTERY]
    if bat:
        specs = [battery_spec(units[i].parameters) for i in bat]
        energy = []
        for i, spec in zip(bat, specs, strict=True):
            reading = ctx.fresh(units[i].id)
            soc = (spec.soc_min + spec.soc_max) / 2
            if reading is not None and reading.soc is not None:
                soc = min(max(reading.soc, spec.soc_min), spec.soc_max)
            energy.append(soc * spec.energy_mwh)
        storage = Storage.from_specs(bat, specs, energy)
    flex = Flex(*(stacks[name] for name in FIELDS))
    p0 = None if p0_mw is None else np.asarray(p0_mw, dtype=np.float64)
    fleet = Fleet.from_flex([u.id for u in units], flex, storage=storage, p0_mw=p0)
    return fleet, kinds, ctx.notes
