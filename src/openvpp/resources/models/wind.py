"""Wind turbine and farm output from wind speed with windpowerlib: power curves from its
turbine library (OEDB snapshot shipped in the package), hub-height correction of the wind
speed, and a farm efficiency for wake and availability losses."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from windpowerlib import get_turbine_types, power_output, wind_speed

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class PowerCurve:
    wind_speed_ms: FloatArray
    power_w: FloatArray

    @property
    def max_power_mw(self) -> float:
        """The highest power on the curve [MW] (can differ from the nameplate)."""
        return float(self.power_w.max()) / 1e6


@cache
def turbine_types() -> frozenset[str]:
    """Turbine types with a power curve in windpowerlib's library."""
    table = get_turbine_types(print_out=False)
    return frozenset(table.loc[table["has_power_curve"], "turbine_type"])


@cache
def power_curve(turbine_type: str) -> PowerCurve:
    """The library power curve of ``turbine_type`` (e.g. ``"E-101/3050"``)."""
    from windpowerlib import WindTurbine

    if turbine_type not in turbine_types():
        raise ValueError(f"unknown turbine type {turbine_type!r}")
    curve = WindTurbine(hub_height=100.0, turbine_type=turbine_type).power_curve
    return PowerCurve(curve["wind_speed"].to_numpy(float), curve["value"].to_numpy(float))


@dataclass(frozen=True)
class WindSpec:
    turbine_type: str
    hub_height_m: float
    turbines: int = 1
    roughness_length_m: float = 0.15
    farm_efficiency: float = 0.9  # wakes and availability


def hub_wind_speed(
    speed_ms: FloatArray, measured_at_m: float, hub_height_m: float, roughness_length_m: float
) -> FloatArray:
    """Wind speed at hub height [m/s] by the logarithmic profile."""
    series = pd.Series(np.asarray(speed_ms, dtype=np.float64))
    out = wind_speed.logarithmic_profile(series, measured_at_m, hub_height_m, roughness_length_m)
    return np.asarray(out, dtype=np.float64)


def wind_power_mw(spec: WindSpec, speed_ms: FloatArray, measured_at_m: float) -> FloatArray:
    """Farm output [MW] per interval for wind speeds measured at ``measured_at_m`` [m]."""
    curve = power_curve(spec.turbine_type)
    hub = hub_wind_speed(speed_ms, measured_at_m, spec.hub_height_m, spec.roughness_length_m)
    per_turbine_w = power_output.power_curve(
        pd.Series(hub), pd.Series(curve.wind_speed_ms), pd.Series(curve.power_w)
    )
    farm = np.asarray(per_turbine_w, dtype=np.float64) / 1e6 * spec.turbines
    return np.clip(farm * spec.farm_efficiency, 0.0, None)
