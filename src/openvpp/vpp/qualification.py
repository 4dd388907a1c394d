"""Market qualification minimums and what a resource counts towards them.

A market admits a VPP only above a minimum size, e.g. Guangdong's spot market: >= 1 MW of
response sustained for >= 1 h (MARKETS.md). The minimums below are the built-in set until
market presets carry them; figures marked (check) in MARKETS.md stay to be confirmed.

What a resource counts is nominal, from its parameters (not from the weather of a particular
day), so that a check on write is deterministic:

* ``capacity`` basis (energy markets): the power the resource can inject or draw;
* ``response`` basis (balancing, demand response): the change of power it can hold for the
  required duration. Weather-dependent generation is not firm and counts zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from openvpp.resources.model import Resource
from openvpp.resources.telemetry import capacity_mw
from openvpp.resources.templates import ResourceType

Basis = Literal["capacity", "response"]


@dataclass(frozen=True)
class Qualification:
    market: str
    min_mw: float
    min_duration_h: float
    basis: Basis
    source: str


QUALIFICATIONS: dict[str, Qualification] = {
    q.market: q
    for q in (
        Qualification("CN-GD-SPOT", 1.0, 1.0, "response", "Guangdong 2024-11 scheme"),
        Qualification("CN-GD-DR", 5.0, 1.0, "response", "Guangdong demand response"),
        Qualification("DE-FCR", 1.0, 0.25, "response", "regelleistung.net minimum bid (check)"),
        Qualification("DE-AFRR", 1.0, 1.0, "response", "regelleistung.net minimum bid (check)"),
        Qualification("EU-SDAC", 0.1, 0.0, "capacity", "SDAC minimum order 0.1 MW"),
        Qualification("EU-SIDC", 0.1, 0.0, "capacity", "SIDC minimum order 0.1 MW"),
        Qualification("US-ISO-DER", 0.1, 1.0, "response", "FERC Order 2222: 100 kW"),
    )
}


def firm_response_mw(resource: Resource, duration_h: float) -> float:
    """The power change [MW] the whole resource can hold for ``duration_h`` hours, from its
    parameters: storage is limited by its usable energy, curtailment by how long it may last."""
    p: dict[str, Any] = resource.parameters
    h = max(duration_h, 1e-9)
    match resource.resource_type:
        case ResourceType.PV | ResourceType.WIND | ResourceType.EV_FLEET:
            return 0.0  # depends on weather or on vehicles being plugged in: not firm
        case ResourceType.BATTERY:
            usable = (float(p["soc_max"]) - float(p["soc_min"])) * float(p["energy_mwh"])
            discharge = min(float(p["p_discharge_max_mw"]), usable * float(p["eta_discharge"]) / h)
            charge = min(float(p["p_charge_max_mw"]), usable / (float(p["eta_charge"]) * h))
            return max(discharge, charge)
        case ResourceType.CURTAILABLE_LOAD:
            if float(p["max_curtailment_h"]) < duration_h:
                return 0.0
            return float(p["peak_mw"]) * float(p["max_curtailment_fraction"])
        case ResourceType.SHIFTABLE_LOAD:
            window_h = float(p["window_end_h"]) - float(p["window_start_h"])
            run_h = float(p["energy_per_day_mwh"]) / float(p["power_mw"])
            return float(p["power_mw"]) if window_h - run_h >= duration_h else 0.0
        case ResourceType.GENSET:
            return float(p["p_max_mw"])
        case ResourceType.HEAT_PUMP:
            # switched off, its storage carries the heat demand for at most capacity / (cop * p)
            thermal = float(p["thermal_capacity_mwh"]) / (float(p["cop"]) * h)
            return min(float(p["p_el_max_mw"]), thermal)


def counted_mw(resource: Resource, qualification: Qualification) -> float:
    """What the whole resource counts towards ``qualification`` [MW]."""
    if qualification.basis == "capacity":
        return capacity_mw(resource)
    return firm_response_mw(resource, qualification.min_duration_h)
