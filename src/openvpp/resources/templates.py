"""The built-in template library: typed parameters with units, ranges and defaults per type.

A template is a (type, version) pair whose parameter model never changes once released;
instances pin a version. ``json_schema`` exports what a UI needs to render an editor: every
property carries its ``unit`` and its allowed range.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from openvpp.resources.models.wind import turbine_types


class ResourceType(StrEnum):
    PV = "pv"
    WIND = "wind"
    BATTERY = "battery"
    CURTAILABLE_LOAD = "curtailable_load"
    SHIFTABLE_LOAD = "shiftable_load"
    EV_FLEET = "ev_fleet"
    GENSET = "genset"
    HEAT_PUMP = "heat_pump"


def _f(default: Any, unit: str, description: str, **limits: Any) -> Any:
    return Field(default, description=description, json_schema_extra={"unit": unit}, **limits)


class Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PvParameters(Parameters):
    dc_capacity_mw: float = _f(1.0, "MW", "DC (module) capacity", gt=0, le=5000)
    ac_capacity_mw: float = _f(0.9, "MW", "inverter AC limit", gt=0, le=5000)
    tilt_deg: float = _f(25.0, "deg", "module tilt from horizontal", ge=0, le=90)
    azimuth_deg: float = _f(180.0, "deg", "module azimuth, 180 = south", ge=0, lt=360)
    gamma_pdc: float = _f(-0.0035, "1/K", "power temperature coefficient", ge=-0.01, le=0)
    system_losses: float = _f(0.14, "fraction", "wiring, soiling and mismatch losses", ge=0, lt=1)
    inverter_efficiency: float = _f(0.96, "fraction", "inverter efficiency", gt=0.5, le=1)


class WindParameters(Parameters):
    turbine_type: str = Field(
        "E-101/3050", description="windpowerlib turbine library type", min_length=1, max_length=60
    )
    hub_height_m: float = _f(99.0, "m", "hub height", gt=10, le=250)
    turbines: int = _f(1, "count", "number of turbines", ge=1, le=1000)
    roughness_length_m: float = _f(0.15, "m", "surface roughness length", gt=0, le=2)
    farm_efficiency: float = _f(0.9, "fraction", "wake and availability factor", gt=0, le=1)

    @field_validator("turbine_type")
    @classmethod
    def _known_turbine(cls, value: str) -> str:
        if value not in turbine_types():
            raise ValueError(f"unknown turbine type {value!r}; see windpowerlib's library")
        return value


class BatteryParameters(Parameters):
    energy_mwh: float = _f(2.0, "MWh", "usable energy capacity", gt=0, le=10000)
    p_charge_max_mw: float = _f(1.0, "MW", "maximum charging power", gt=0, le=5000)
    p_discharge_max_mw: float = _f(1.0, "MW", "maximum discharging power", gt=0, le=5000)
    eta_charge: float = _f(0.95, "fraction", "charging efficiency", gt=0.5, le=1)
    eta_discharge: float = _f(0.95, "fraction", "discharging efficiency", gt=0.5, le=1)
    soc_min: float = _f(0.05, "fraction", "lowest state of charge", ge=0, lt=1)
    soc_max: float = _f(0.95, "fraction", "highest state of charge", gt=0, le=1)
    self_discharge_per_h: float = _f(0.0, "1/h", "stored energy lost per hour", ge=0, le=0.05)
    degradation_cost_per_mwh: float = _f(
        10.0, "EUR/MWh", "cost per MWh of throughput", ge=0, le=1000
    )

    @model_validator(mode="after")
    def _soc_band(self) -> BatteryParameters:
        if self.soc_min >= self.soc_max:
            raise ValueError("soc_min must be below soc_max")
        return self


class CurtailableLoadParameters(Parameters):
    peak_mw: float = _f(1.0, "MW", "peak consumption", gt=0, le=5000)
    profile: str = Field(
        "G25",
        description="baseline profile (BDEW standard load profile)",
        pattern=r"^[A-Za-z0-9]{2,4}$",
    )
    max_curtailment_fraction: float = _f(
        0.3, "fraction", "largest share that can be shed", ge=0, le=1
    )
    max_curtailment_h: float = _f(2.0, "h", "longest continuous curtailment", gt=0, le=24)


class ShiftableLoadParameters(Parameters):
    power_mw: float = _f(0.5, "MW", "power while running", gt=0, le=5000)
    energy_per_day_mwh: float = _f(4.0, "MWh", "energy to serve each day", gt=0, le=100000)
    window_start_h: float = _f(0.0, "h", "earliest start, local time of day", ge=0, lt=24)
    window_end_h: float = _f(24.0, "h", "latest end, local time of day", gt=0, le=24)


class EvFleetParameters(Parameters):
    chargers: int = _f(20, "count", "charge points", ge=1, le=100000)
    charger_power_kw: float = _f(11.0, "kW", "power per charge point", gt=0, le=1000)
    efficiency: float = _f(0.92, "fraction", "charging efficiency", gt=0.5, le=1)


class GensetParameters(Parameters):
    p_min_mw: float = _f(0.3, "MW", "minimum stable output", ge=0, le=5000)
    p_max_mw: float = _f(1.0, "MW", "maximum output", gt=0, le=5000)
    ramp_mw_per_min: float = _f(0.1, "MW/min", "ramp limit", gt=0, le=1000)
    min_up_h: float = _f(1.0, "h", "minimum up time", ge=0, le=48)
    min_down_h: float = _f(1.0, "h", "minimum down time", ge=0, le=48)
    fuel_cost_per_mwh: float = _f(90.0, "EUR/MWh", "marginal fuel cost", ge=0, le=10000)


class HeatPumpParameters(Parameters):
    p_el_max_mw: float = _f(0.2, "MW", "maximum electric power", gt=0, le=1000)
    cop: float = _f(3.2, "1", "coefficient of performance", gt=1, le=8)
    thermal_capacity_mwh: float = _f(1.0, "MWh_th", "thermal storage capacity", gt=0, le=10000)
    comfort_min_c: float = _f(19.0, "degC", "lowest comfortable temperature", ge=-30, le=60)
    comfort_max_c: float = _f(23.0, "degC", "highest comfortable temperature", ge=-30, le=90)


class FuelCostPoint(BaseModel):
    """One breakpoint of a genset's fuel cost curve."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    p_mw: float = _f(..., "MW", "output", ge=0, le=5000)
    cost_eur_per_h: float = _f(..., "EUR/h", "fuel cost rate at this output", ge=0, le=1e7)


class GensetParametersV2(Parameters):
    """v2: the constant marginal cost of v1 (``fuel_cost_per_mwh``) is replaced by a convex
    piecewise-linear fuel cost curve plus a no-load cost."""

    p_min_mw: float = _f(0.3, "MW", "minimum stable output", ge=0, le=5000)
    p_max_mw: float = _f(1.0, "MW", "maximum output", gt=0, le=5000)
    ramp_mw_per_min: float = _f(0.1, "MW/min", "ramp limit", gt=0, le=1000)
    min_up_h: float = _f(1.0, "h", "minimum up time", ge=0, le=48)
    min_down_h: float = _f(1.0, "h", "minimum down time", ge=0, le=48)
    no_load_cost_eur_per_h: float = _f(
        10.0, "EUR/h", "cost per hour of running, on top of the fuel cost curve", ge=0, le=1e6
    )
    fuel_cost_curve: tuple[FuelCostPoint, ...] = Field(
        (
            FuelCostPoint(p_mw=0.3, cost_eur_per_h=27.0),
            FuelCostPoint(p_mw=0.6, cost_eur_per_h=54.0),
            FuelCostPoint(p_mw=1.0, cost_eur_per_h=94.0),
        ),
        description=(
            "fuel cost rate at increasing outputs, linear in between; convex (marginal cost"
            " non-decreasing) and covering p_min_mw ... p_max_mw"
        ),
        min_length=2,
        max_length=10,
    )

    @field_validator("fuel_cost_curve")
    @classmethod
    def _convex_curve(cls, value: tuple[FuelCostPoint, ...]) -> tuple[FuelCostPoint, ...]:
        points = [(point.p_mw, point.cost_eur_per_h) for point in value]
        if any(p1 <= p0 for (p0, _), (p1, _) in pairwise(points)):
            raise ValueError("fuel_cost_curve p_mw must be strictly increasing")
        marginal = [(c1 - c0) / (p1 - p0) for (p0, c0), (p1, c1) in pairwise(points)]
        scale = max(1.0, *(abs(m) for m in marginal))
        if any(m1 < m0 - 1e-9 * scale for m0, m1 in pairwise(marginal)):
            raise ValueError(
                "fuel_cost_curve must be convex: the marginal cost (EUR/MWh) between"
                " successive points must not decrease"
            )
        return value

    @model_validator(mode="after")
    def _ranges(self) -> GensetParametersV2:
        if self.p_min_mw > self.p_max_mw:
            raise ValueError("p_min_mw must not exceed p_max_mw")
        curve = self.fuel_cost_curve
        if curve[0].p_mw > self.p_min_mw or curve[-1].p_mw < self.p_max_mw:
            raise ValueError("fuel_cost_curve must cover p_min_mw ... p_max_mw")
        return self


class HeatPumpParametersV2(Parameters):
    """v2: adds the building's heat loss and indoor setpoint (to derive heat demand from the
    outdoor temperature) and checks the comfort band."""

    p_el_max_mw: float = _f(0.2, "MW", "maximum electric power", gt=0, le=1000)
    cop: float = _f(3.2, "1", "coefficient of performance", gt=1, le=8)
    thermal_capacity_mwh: float = _f(1.0, "MWh_th", "thermal storage capacity", gt=0, le=10000)
    comfort_min_c: float = _f(19.0, "degC", "lowest comfortable temperature", ge=-30, le=60)
    comfort_max_c: float = _f(23.0, "degC", "highest comfortable temperature", ge=-30, le=90)
    heat_loss_mw_per_k: float = _f(
        0.01, "MW_th/K", "building heat loss per kelvin of indoor-outdoor difference", gt=0, le=100
    )
    indoor_setpoint_c: float = _f(21.0, "degC", "indoor temperature to hold", ge=-30, le=90)

    @model_validator(mode="after")
    def _comfort_band(self) -> HeatPumpParametersV2:
        if self.comfort_min_c >= self.comfort_max_c:
            raise ValueError("comfort_min_c must be below comfort_max_c")
        if not self.comfort_min_c <= self.indoor_setpoint_c <= self.comfort_max_c:
            raise ValueError("indoor_setpoint_c must lie within comfort_min_c ... comfort_max_c")
        return self


BUILTIN: dict[tuple[ResourceType, int], type[Parameters]] = {
    (ResourceType.PV, 1): PvParameters,
    (ResourceType.WIND, 1): WindParameters,
    (ResourceType.BATTERY, 1): BatteryParameters,
    (ResourceType.CURTAILABLE_LOAD, 1): CurtailableLoadParameters,
    (ResourceType.SHIFTABLE_LOAD, 1): ShiftableLoadParameters,
    (ResourceType.EV_FLEET, 1): EvFleetParameters,
    (ResourceType.GENSET, 1): GensetParameters,
    (ResourceType.HEAT_PUMP, 1): HeatPumpParameters,
    (ResourceType.GENSET, 2): GensetParametersV2,
    (ResourceType.HEAT_PUMP, 2): HeatPumpParametersV2,
}
"""Released template versions. Never edit one: add ``(type, version + 1)`` instead."""


def parameters_model(resource_type: ResourceType, version: int) -> type[Parameters]:
    try:
        return BUILTIN[(resource_type, version)]
    except KeyError:
        raise KeyError(f"no template {resource_type.value} v{version}") from None


@cache
def schema_of(model: type[Parameters]) -> dict[str, Any]:
    """The JSON Schema of a parameter model, built once (released models never change; do
    not mutate the result)."""
    return model.model_json_schema()


def json_schema(resource_type: ResourceType, version: int) -> dict[str, Any]:
    """The JSON Schema of a template's parameters, with units, ranges and defaults."""
    return schema_of(parameters_model(resource_type, version))
