"""Real-data inputs of the device simulator: PV output per MW of DC capacity from NSRDB
irradiance (through the project's pvlib chain), load shapes from the BDEW profiles.

``parse_*`` functions are pure (a file object in, a frame out); ``read_*`` open files;
``shipped_*`` read the samples packaged in :mod:`openvpp.demo`. Weather files are replayed on
other dates by shifting whole days (:func:`replay`), which keeps the sun's time of day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import resources as package_files
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.resources.models.load import bdew_shape
from openvpp.resources.models.pv import PvSpec, pv_power_mw

__all__ = [
    "SHARED_OPSD_FILE",
    "SHARED_PV_FILE",
    "Profiles",
    "at",
    "opsd_shape",
    "parse_nsrdb",
    "parse_opsd_household",
    "pv_per_mw_dc",
    "read_nsrdb",
    "replay",
    "shipped_weather",
]

FloatArray = NDArray[np.float64]

#: The demo park's site (the shipped NSRDB sample's location) [deg, deg, m].
SITE = (40.5137, -108.5449, 1900.0)
SHIPPED_FILE = "nsrdb_2023-06-20_22.csv"
#: A whole year of the same site, half-hourly (present on the shared data volume).
SHARED_PV_FILE = Path("/work/shared/data/pv/nsrdb_psm4_2023_40.5137_-108.5449_30min.csv")
#: Open Power System Data household (Konstanz, residential 4), hourly cumulative meters.
SHARED_OPSD_FILE = Path("/work/shared/data/load/opsd_household_DE_KN_residential4_60min.csv")


def parse_opsd_household(source: IO[str] | str | Path, meter: str = "grid_import") -> pd.Series:
    """Hourly average consumption [kW] from an OPSD household file's cumulative meter
    ``*_{meter}`` [kWh] (``utc_timestamp`` index): the difference of consecutive readings,
    gaps left out."""
    raw = pd.read_csv(source)
    column = next(c for c in raw.columns if c.endswith(f"_{meter}"))
    index = pd.DatetimeIndex(pd.to_datetime(raw["utc_timestamp"], utc=True))
    cumulative = pd.Series(raw[column].to_numpy(float), index=index).dropna()
    hours = cumulative.index.to_series().diff().dt.total_seconds() / 3600
    kw = (cumulative.diff() / hours).iloc[1:]
    return pd.Series(kw[(hours.iloc[1:] > 0) & (kw >= 0)], name="load_kw")


def opsd_shape(consumption_kw: pd.Series, start: datetime, end: datetime) -> pd.Series:
    """A load shape [fraction of peak] over ``[start, end]`` from a household's hourly
    consumption: the same calendar days of the data (the first year that has them, whole days
    shifted), divided by the peak of that window."""
    first = pd.Timestamp(start).tz_convert("UTC")
    span = pd.Timestamp(end) - pd.Timestamp(start)
    idx = pd.DatetimeIndex(consumption_kw.index)
    for year in sorted(set(idx.year)):
        try:
            origin = first.replace(year=year).normalize()
        except ValueError:  # 29 February
            continue
        window = consumption_kw[(idx >= origin) & (idx <= origin + span + pd.Timedelta(days=1))]
        if len(window) >= span.total_seconds() / 3600:
            shifted = replay(window.to_frame(), first).iloc[:, 0]
            return (shifted / float(shifted.max())).rename("load_shape")
    raise ValueError(f"no {span} of household data from {first:%m-%d} on")


def parse_nsrdb(source: IO[str] | str | Path, utc_offset_h: float = -7.0) -> pd.DataFrame:
    """NSRDB rows (``Year, Month, Day, Hour, Minute, Temperature, DHI, DNI, GHI, Wind Speed``;
    extra columns ignored) as pvlib weather on a UTC index: ``ghi``, ``dni``, ``dhi``
    [W/m²], ``temp_air`` [°C], ``wind_speed`` [m/s]. NSRDB clocks are local standard time,
    ``utc_offset_h`` [h] (UTC-7 for the shipped site)."""
    raw = pd.read_csv(source)
    local = pd.DatetimeIndex(pd.to_datetime(raw[["Year", "Month", "Day", "Hour", "Minute"]]))
    index = (local - pd.Timedelta(hours=utc_offset_h)).tz_localize("UTC")
    return pd.DataFrame(
        {
            "ghi": raw["GHI"].to_numpy(float),
            "dni": raw["DNI"].to_numpy(float),
            "dhi": raw["DHI"].to_numpy(float),
            "temp_air": raw["Temperature"].to_numpy(float),
            "wind_speed": raw["Wind Speed"].to_numpy(float),
        },
        index=index,
    )


def read_nsrdb(path: str | Path, utc_offset_h: float = -7.0) -> pd.DataFrame:
    with open(path, encoding="utf-8") as f:
        return parse_nsrdb(f, utc_offset_h)


def shipped_weather() -> pd.DataFrame:
    """The NSRDB sample shipped with the demo (2023-06-20..22, half-hourly)."""
    with package_files.files("openvpp.demo").joinpath(SHIPPED_FILE).open("r") as f:
        return parse_nsrdb(f)


def replay(frame: pd.DataFrame, start: datetime) -> pd.DataFrame:
    """``frame`` shifted by whole days so that its first day is ``start``'s UTC day."""
    first = frame.index[0].normalize()
    target = pd.Timestamp(start).tz_convert("UTC").normalize()
    shifted = frame.copy()
    shifted.index = frame.index + (target - first)
    return shifted


def pv_per_mw_dc(
    weather: pd.DataFrame,
    *,
    tilt_deg: float = 25.0,
    azimuth_deg: float = 180.0,
    site: tuple[float, float, float] = SITE,
) -> pd.Series:
    """AC output [MW] of 1 MW DC at ``site`` (lat, lon [deg], altitude [m]) before the
    inverter's AC limit (applied per plant by the simulator), from the weather's irradiance
    through :func:`openvpp.resources.models.pv.pv_power_mw`."""
    spec = PvSpec(site[0], site[1], site[2], tilt_deg, azimuth_deg, 1.0, 1e9)
    return pv_power_mw(spec, weather)


@dataclass(frozen=True)
class Profiles:
    """Time series the simulator interpolates, on UTC indexes: PV output per MW DC [MW/MW]
    and a load shape [fraction of peak]."""

    pv_per_mw_dc: pd.Series
    load_shape: pd.Series

    @classmethod
    def from_data(
        cls,
        start: datetime,
        end: datetime,
        *,
        weather: pd.DataFrame | None = None,
        load_profile: str = "G25",
    ) -> Profiles:
        """Profiles covering ``[start, end]``: the weather (default: the shared year-long
        NSRDB file when present, else the shipped sample, replayed day by day from ``start``)
        and the load shape: the BDEW profile ``load_profile`` on a 15-min grid, or with
        ``load_profile="opsd"`` the OPSD household's measured consumption (shared data)."""
        if weather is None:
            if SHARED_PV_FILE.exists():
                year = read_nsrdb(SHARED_PV_FILE)
                day = pd.Timestamp(start).tz_convert("UTC")
                same = pd.DatetimeIndex(year.index).dayofyear >= day.dayofyear
                weather = replay(year[same] if same.any() else year, start)
            else:
                weather = replay(shipped_weather(), start)
            span = pd.Timestamp(end) - pd.Timestamp(start)
            weather = _tiled(weather, span)
        lo = pd.Timestamp(start) - pd.Timedelta(hours=1)
        hi = pd.Timestamp(end) + pd.Timedelta(hours=1)
        inside = (weather.index >= lo) & (weather.index <= hi)
        pv = pv_per_mw_dc(weather[inside] if inside.sum() >= 2 else weather)
        grid = pd.date_range(
            pd.Timestamp(start).tz_convert("UTC").floor("15min"),
            pd.Timestamp(end).tz_convert("UTC").ceil("15min") + pd.Timedelta(minutes=15),
            freq="15min",
        )
        if load_profile.lower() == "opsd":
            return cls(pv, opsd_shape(parse_opsd_household(SHARED_OPSD_FILE), start, end))
        shape = pd.Series(bdew_shape(load_profile, grid), index=grid, name="load_shape")
        return cls(pv, shape)


def _tiled(weather: pd.DataFrame, span: pd.Timedelta) -> pd.DataFrame:
    """The weather repeated (whole days) until it covers ``span`` from its first day."""
    days = int(np.ceil((weather.index[-1] - weather.index[0]).total_seconds() / 86400))
    days = max(days, 1)
    parts = [weather]
    covered = weather.index[-1] - weather.index[0]
    k = 1
    while covered < span + pd.Timedelta(days=1):
        part = weather.copy()
        part.index = weather.index + pd.Timedelta(days=days * k)
        parts.append(part)
        covered = part.index[-1] - weather.index[0]
        k += 1
    return pd.concat(parts)


def at(series: pd.Series, when_s: float | FloatArray) -> FloatArray:
    """``series`` (UTC index) linearly interpolated at POSIX times ``when_s`` [s]; the end
    values beyond its range."""
    x = pd.DatetimeIndex(series.index).as_unit("ns").asi8 / 1e9
    return np.asarray(np.interp(when_s, x, series.to_numpy(np.float64)), dtype=np.float64)
