"""Market qualification minimums and what a resource counts towards them.

A market admits a VPP only above a minimum size, e.g. a Chinese provincial spot market: >= 1 MW
of response sustained for >= 1 h (MARKETS.md). The minimums come from the market presets
(``markets/presets/*.yaml``, field ``qualification``); figures marked (check) there stay to be
confirmed. The codes a VPP registers for are the preset market codes; the codes of the first
built-in table are still read (``LEGACY_CODES``).

What a resource counts is nominal, from its parameters (not from the weather of a particular
day), so that a check on write is deterministic:

* ``capacity`` basis (energy markets): the power the resource can inject or draw;
* ``response`` basis (balancing, demand response): the change of power it can hold for the
  required duration. Weather-dependent generation is not firm and counts zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from openvpp.markets.presets import load_presets
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


LEGACY_CODES: dict[str, str] = {
    "CN-GD-SPOT": "CN-SD-DA",
    "CN-GD-DR": "CN-SD-DR",
    "DE-AFRR": "DE-AFRR-CAP",
    "US-ISO-DER": "US-ISO-DR",
}
"""Market codes of the built-in table of 0.2.0, read as their preset successors."""


def qualifications() -> dict[str, Qualification]:
    """Minimums of the known markets that have one (presets and user-defined markets)."""
    found: dict[str, Qualification] = {}
    for code, market in load_presets().items():
        q = market.qualification
        if q is not None:
            source = market.sources[0] if market.sources else market.name
            found[code] = Qualification(
                code, float(q.min_mw), float(q.min_duration_h), q.basis, source
            )
    return found


def market_codes() -> frozenset[str]:
    """Markets a VPP may register for: every known market."""
    return frozenset(load_presets())


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
