"""Envelopes of single resources from their physical models, ready to be stacked.

All arrays are per interval of one horizon [MW], injection positive. A resource's envelope
says what it would do on its own (baseline) and how far it can be moved (p_min … p_max).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from openvpp.aggregation.envelope import Envelope
from openvpp.resources.models.battery import BatterySpec
from openvpp.resources.models.ev import FleetBounds

FloatArray = NDArray[np.float64]


def generator_envelope(forecast_mw: FloatArray) -> Envelope:
    """PV or wind: produces its forecast; can be curtailed down to zero."""
    f = np.clip(np.asarray(forecast_mw, dtype=np.float64), 0.0, None)
    return Envelope(baseline_mw=f, p_min_mw=np.zeros_like(f), p_max_mw=f)


def battery_envelope(spec: BatterySpec, intervals: int) -> Envelope:
    """Idle by default; can charge or discharge up to its power limits (energy limits are
    tracked separately, since they couple the intervals)."""
    return Envelope(
        baseline_mw=np.zeros(intervals),
        p_min_mw=np.full(intervals, -spec.p_charge_max_mw),
        p_max_mw=np.full(intervals, spec.p_discharge_max_mw),
    )


def curtailable_load_envelope(load_mw: FloatArray, max_curtailment: float) -> Envelope:
    """A load drawing ``load_mw`` (positive numbers) that can shed up to ``max_curtailment``
    of it: injection between ``-load`` and ``-load · (1 - max_curtailment)``."""
    load = np.clip(np.asarray(load_mw, dtype=np.float64), 0.0, None)
    return Envelope(baseline_mw=-load, p_min_mw=-load, p_max_mw=-load * (1.0 - max_curtailment))


def ev_fleet_envelope(bounds: FleetBounds, dt_h: float) -> Envelope:
    """Uncontrolled charging (as early as possible) as baseline; anything from full power to
    pausing as flexibility."""
    early = np.diff(bounds.e_max_mwh, prepend=0.0) / dt_h
    return Envelope(
        baseline_mw=-early,
        p_min_mw=-bounds.p_charge_max_mw,
        p_max_mw=np.zeros_like(early),
    )


def genset_envelope(
    p_max_mw: float, intervals: int, *, running: bool = False, p_min_mw: float = 0.0
) -> Envelope:
    """Off (or at minimum when ``running``) by default; up to ``p_max_mw`` when dispatched."""
    floor = p_min_mw if running else 0.0
    return Envelope(
        baseline_mw=np.full(intervals, floor),
        p_min_mw=np.full(intervals, floor),
        p_max_mw=np.full(intervals, p_max_mw),
    )


def heat_pump_envelope(demand_el_mw: FloatArray, p_el_max_mw: float) -> Envelope:
    """Draws ``demand_el_mw`` to hold the comfort band; its thermal storage lets it run
    anywhere between off and full power in an interval (the band couples the intervals)."""
    demand = np.clip(np.asarray(demand_el_mw, dtype=np.float64), 0.0, p_el_max_mw)
    return Envelope(
        baseline_mw=-demand,
        p_min_mw=np.full_like(demand, -p_el_max_mw),
        p_max_mw=np.zeros_like(demand),
    )
