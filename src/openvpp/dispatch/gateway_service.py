"""What the dispatch loop needs around the device gateways: the device simulator's fleet built
from the project's resources, and gateway telemetry as stored readings. Power [MW] injection
positive; energy [MWh]; instants UTC."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

import numpy as np

from openvpp.aggregation.engine import Unit
from openvpp.dispatch.fleet import battery_spec
from openvpp.dispatch.protocol import DeviceMode, GatewayEvents
from openvpp.dispatch.sim_fleet import SIMULATED, SimFleet
from openvpp.resources.telemetry import TelemetryPoint
from openvpp.resources.templates import ResourceType

__all__ = ["sim_fleet", "telemetry_points"]


def _load_peak(unit: Unit) -> float:
    p = unit.parameters
    kind = unit.resource_type
    if kind is ResourceType.CURTAILABLE_LOAD:
        return float(p["peak_mw"])
    if kind is ResourceType.SHIFTABLE_LOAD:
        return float(p["power_mw"])
    if kind is ResourceType.EV_FLEET:
        return float(p["chargers"]) * float(p["charger_power_kw"]) / 1000.0
    return float(p.get("p_el_max_mw", 0.2))


def sim_fleet(units: Sequence[Unit], readings: dict[str, TelemetryPoint]) -> SimFleet:
    """The simulator's devices of ``units`` (kinds it simulates): PV (DC/AC capacity),
    batteries (their spec, state of charge from the latest reading, else mid-band), loads
    (peak demand; the curtailable share of a curtailable load, half of the others').
    Initial fallback (before any setpoint: the device's own operation): PV uncurtailed,
    batteries idle, loads at their demand."""
    units = [u for u in units if u.resource_type in SIMULATED]
    n = len(units)
    z = np.zeros(n)
    cols: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {
        k: z.copy()
        for k in (
            "pv_dc_mw",
            "pv_ac_mw",
            "load_peak_mw",
            "load_curtailable",
            "energy_mwh",
            "p_charge_max_mw",
            "p_discharge_max_mw",
            "self_discharge_per_h",
            "fallback_mw",
            "ramp_mw_per_s",
        )
    }
    for k in ("eta_charge", "eta_discharge", "soc_max", "soc0"):
        cols[k] = np.ones(n) if k != "soc0" else np.full(n, 0.5)
    cols["soc_min"] = z.copy()
    for i, u in enumerate(units):
        p = u.parameters
        if u.resource_type is ResourceType.PV:
            cols["pv_dc_mw"][i] = float(p["dc_capacity_mw"])
            cols["pv_ac_mw"][i] = float(p["ac_capacity_mw"])
            cols["fallback_mw"][i] = cols["pv_ac_mw"][i]
            cols["ramp_mw_per_s"][i] = cols["pv_ac_mw"][i] / 10.0
        elif u.resource_type is ResourceType.BATTERY:
            spec = battery_spec(p)
            for name in (
                "energy_mwh",
                "p_charge_max_mw",
                "p_discharge_max_mw",
                "eta_charge",
                "eta_discharge",
                "soc_min",
                "soc_max",
                "self_discharge_per_h",
            ):
                cols[name][i] = float(getattr(spec, name))
            reading = readings.get(u.id)
            soc = (spec.soc_min + spec.soc_max) / 2
            if reading is not None and reading.soc is not None:
                soc = reading.soc
            cols["soc0"][i] = min(max(soc, spec.soc_min), spec.soc_max)
            cols["ramp_mw_per_s"][i] = spec.p_charge_max_mw + spec.p_discharge_max_mw
        else:
            peak = _load_peak(u)
            cols["load_peak_mw"][i] = peak
            cut = p.get("max_curtailment_fraction", 0.5)
            cols["load_curtailable"][i] = float(cut)
            cols["fallback_mw"][i] = -peak
            cols["ramp_mw_per_s"][i] = peak / 60.0
    return SimFleet(
        resource_ids=tuple(u.id for u in units),
        kinds=tuple(u.resource_type for u in units),
        **cols,
    )


def _soc(soc: float | None) -> float | None:
    """The simulator's state of charge rounded into [0, 1] (its float arithmetic can step a
    hair outside); a value that is not finite is passed on for the screen to count."""
    if soc is None or not np.isfinite(soc):
        return soc
    return round(min(max(float(soc), 0.0), 1.0), 6)


def telemetry_points(events: GatewayEvents) -> list[TelemetryPoint]:
    """The gateway's samples as stored readings (fault flag from the device's mode); a
    reading that is not finite is left to the telemetry screen, which counts it."""
    return [
        TelemetryPoint(
            s.resource_id,
            s.at.astimezone(UTC),
            round(float(s.p_mw), 6),
            _soc(s.soc),
            s.mode is DeviceMode.FAULT,
        )
        for s in events.telemetry
    ]
