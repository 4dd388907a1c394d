"""PV plant output from weather with pvlib: solar position → plane-of-array irradiance →
cell temperature → PVWatts DC → inverter losses and AC limit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib


@dataclass(frozen=True)
class PvSpec:
    latitude: float  # [deg]
    longitude: float  # [deg]
    altitude_m: float
    tilt_deg: float
    azimuth_deg: float  # 180 = facing south
    dc_capacity_mw: float
    ac_capacity_mw: float
    gamma_pdc: float = -0.0035  # power temperature coefficient [1/K]
    system_losses: float = 0.14  # wiring, soiling, mismatch [fraction]
    inverter_efficiency: float = 0.96


def pv_power_mw(spec: PvSpec, weather: pd.DataFrame) -> pd.Series:
    """AC power [MW] per timestamp. ``weather`` has a tz-aware index and columns ``ghi``,
    ``dni``, ``dhi`` [W/m²], ``temp_air`` [°C] and optionally ``wind_speed`` [m/s].

    Never negative; zero when the sun is below the horizon.
    """
    index = weather.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError("weather needs a tz-aware DatetimeIndex")
    solpos = pvlib.solarposition.get_solarposition(
        index, spec.latitude, spec.longitude, altitude=spec.altitude_m
    )
    poa = pvlib.irradiance.get_total_irradiance(
        surface_tilt=spec.tilt_deg,
        surface_azimuth=spec.azimuth_deg,
        solar_zenith=solpos["apparent_zenith"],
        solar_azimuth=solpos["azimuth"],
        dni=weather["dni"],
        ghi=weather["ghi"],
        dhi=weather["dhi"],
        dni_extra=pvlib.irradiance.get_extra_radiation(index),
        model="haydavies",
    )
    poa_global = poa["poa_global"].fillna(0.0).clip(lower=0.0)
    wind = weather.get("wind_speed", 1.0)
    temp_cell = pvlib.temperature.faiman(poa_global, weather["temp_air"], wind)
    pdc_w = pvlib.pvsystem.pvwatts_dc(
        poa_global, temp_cell, spec.dc_capacity_mw * 1e6, spec.gamma_pdc
    )
    pac_mw = pdc_w / 1e6 * (1.0 - spec.system_losses) * spec.inverter_efficiency
    pac_mw = np.minimum(pac_mw.clip(lower=0.0), spec.ac_capacity_mw)
    night = solpos["apparent_elevation"] <= 0.0
    return pd.Series(np.where(night, 0.0, pac_mw), index=index, name="pv_mw")
