"""PV plant output from weather with pvlib: solar position → plane-of-array irradiance →
cell temperature → PVWatts DC → inverter losses and AC limit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


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


FLEET_PARAMETERS = (
    "tilt_deg",
    "azimuth_deg",
    "dc_capacity_mw",
    "ac_capacity_mw",
    "gamma_pdc",
    "system_losses",
    "inverter_efficiency",
)
"""The ``PvParameters`` fields ``clear_sky_power_mw`` takes, one array each."""


def clear_sky_power_mw(
    latitude: FloatArray,
    longitude: FloatArray,
    params: Mapping[str, FloatArray],
    times: pd.DatetimeIndex,
    temp_air_c: float = 20.0,
) -> FloatArray:
    """Clear-sky AC power [MW] of ``n`` plants at ``times`` (tz-aware), shape ``(n, T)``.
    ``params`` holds one array of ``n`` per name in ``FLEET_PARAMETERS``.

    Vectorized over plants: the solar geometry uses pvlib's analytical functions (Spencer's
    declination and equation of time, computed once for all plants; accurate to a fraction of
    a degree), clear-sky irradiance pvlib's simplified Solis model, then the same
    transposition, cell temperature and PVWatts chain as ``pv_power_mw``. Never negative,
    zero with the sun below the horizon.
    """
    if times.tz is None:
        raise ValueError("times must be tz-aware")
    lat, lon = (np.asarray(a, dtype=np.float64)[:, None] for a in (latitude, longitude))
    tilt, azimuth, dc, ac, gamma, losses, inverter = (
        np.asarray(params[k], dtype=np.float64)[:, None] for k in FLEET_PARAMETERS
    )
    utc = times.tz_convert("UTC")
    doy = np.asarray(utc.dayofyear, dtype=np.float64)
    declination = pvlib.solarposition.declination_spencer71(doy)[None, :]
    eot = pvlib.solarposition.equation_of_time_spencer71(doy)[None, :]
    hours = np.asarray(utc.hour + utc.minute / 60 + utc.second / 3600, dtype=np.float64)[None, :]
    hour_angle = (hours - 12.0) * 15.0 + lon + eot / 4.0  # [deg]
    lat_r, ha_r = np.radians(lat), np.radians(hour_angle)
    zenith_r = pvlib.solarposition.solar_zenith_analytical(lat_r, ha_r, declination)
    azimuth_r = pvlib.solarposition.solar_azimuth_analytical(lat_r, ha_r, declination, zenith_r)
    zenith = np.degrees(zenith_r)
    elevation = 90.0 - zenith
    sky = pvlib.clearsky.simplified_solis(np.clip(elevation, 0.0, None))
    up = elevation > 0.0
    ghi, dni, dhi = (np.where(up, np.nan_to_num(sky[k]), 0.0) for k in ("ghi", "dni", "dhi"))
    dni_extra = np.asarray(pvlib.irradiance.get_extra_radiation(doy), dtype=np.float64)[None, :]
    poa = pvlib.irradiance.get_total_irradiance(
        surface_tilt=tilt,
        surface_azimuth=azimuth,
        solar_zenith=zenith,
        solar_azimuth=np.degrees(azimuth_r),
        dni=dni,
        ghi=ghi,
        dhi=dhi,
        dni_extra=dni_extra,
        model="haydavies",
    )
    poa_global = np.clip(np.nan_to_num(np.asarray(poa["poa_global"], dtype=np.float64)), 0, None)
    temp_cell = pvlib.temperature.faiman(poa_global, temp_air_c, 1.0)
    pdc = pvlib.pvsystem.pvwatts_dc(poa_global, temp_cell, dc, gamma)
    pac = np.asarray(pdc, dtype=np.float64) * (1.0 - losses) * inverter
    return np.where(up, np.minimum(np.clip(pac, 0.0, None), ac), 0.0)
