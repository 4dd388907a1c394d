"""The demo's zero-carbon industrial park: rooftop PV, a wind turbine, two batteries, a
curtailable and a shiftable process load and an EV charging depot, in two VPPs, with three
days of telemetry up to now derived from real data (see ``README.md`` here):

* PV and wind from NSRDB weather (irradiance, temperature, wind speed) of 2023-06-20..22 at
  40.51 N, 108.54 W, through the PV (pvlib) and wind (windpowerlib) models;
* the EV depot from 107 real charging sessions of ACN site 0002 (2021-09-08..10), charged on
  arrival at up to each charger's power;
* the process loads from the BDEW G25 commercial profile (demandlib) and the shiftable load's
  own model; the batteries from a simple operating rule (charge on PV surplus, discharge in
  the evening peak), kept feasible by the battery model.

The real days are moved so that the last reading is now; every reading goes through the
telemetry ingest path like a device's would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from importlib import resources as package_files
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from openvpp.identity.model import Principal
from openvpp.resources.models.battery import BatterySpec, clip_to_feasible, soc_trajectory
from openvpp.resources.models.ev import fleet_bounds
from openvpp.resources.models.load import bdew_shape, local_clock, shiftable_bounds
from openvpp.resources.models.pv import PvSpec, pv_power_mw
from openvpp.resources.models.wind import WindSpec, wind_power_mw
from openvpp.resources.telemetry import TelemetryPoint
from openvpp.resources.templates import ResourceType
from openvpp.runtime import Runtime
from openvpp.vpp.model import VppSettings
from openvpp.vpp.service import MemberSpec

LATITUDE, LONGITUDE, ALTITUDE_M = 40.5137, -108.5449, 1900.0
TZ = "America/Denver"
NODE, AREA = "WACM-115-PARK", "US-WACM"
STEP = timedelta(minutes=30)
WIND_MEASURED_AT_M = 2.0  # NSRDB wind speed height
WEATHER_FILE = "nsrdb_2023-06-20_22.csv"
SESSIONS_FILE = "acn_site0002_2021-09-08_10.csv"

RESOURCES: list[dict[str, Any]] = [
    {"key": "pv", "name": "Rooftop PV", "type": ResourceType.PV,
     "parameters": {"dc_capacity_mw": 2.0, "ac_capacity_mw": 1.6, "tilt_deg": 25.0}},
    {"key": "wind", "name": "Wind turbine E-82", "type": ResourceType.WIND,
     "parameters": {"turbine_type": "E-82/2350", "hub_height_m": 98.0}},
    {"key": "battery_a", "name": "Battery A", "type": ResourceType.BATTERY,
     "parameters": {"energy_mwh": 4.0, "p_charge_max_mw": 2.0, "p_discharge_max_mw": 2.0}},
    {"key": "battery_b", "name": "Battery B", "type": ResourceType.BATTERY,
     "parameters": {"energy_mwh": 2.0, "p_charge_max_mw": 1.0, "p_discharge_max_mw": 1.0}},
    {"key": "process", "name": "Process load (curtailable)", "type": ResourceType.CURTAILABLE_LOAD,
     "parameters": {"peak_mw": 1.5, "profile": "G25", "max_curtailment_fraction": 0.3}},
    {"key": "cold_store", "name": "Cold store (shiftable)", "type": ResourceType.SHIFTABLE_LOAD,
     "parameters": {"power_mw": 0.5, "energy_per_day_mwh": 3.0, "window_start_h": 6.0,
                    "window_end_h": 20.0}},
    {"key": "ev", "name": "EV charging depot", "type": ResourceType.EV_FLEET,
     "parameters": {"chargers": 54, "charger_power_kw": 6.6}},
]  # fmt: skip

VPPS: list[dict[str, Any]] = [
    {"name": "Park Energy", "description": "generation and storage of the industrial park",
     "members": [("pv", 100), ("wind", 100), ("battery_a", 60)]},
    {"name": "Park Flex", "description": "demand response of the industrial park",
     "members": [("battery_a", 40), ("battery_b", 100), ("process", 100), ("cold_store", 100),
                 ("ev", 100)]},
]  # fmt: skip


@dataclass(frozen=True)
class ParkResult:
    resources: dict[str, str]  # key -> resource id
    vpps: list[str]
    readings: int


def _open(name: str) -> IO[str]:
    return package_files.files("openvpp.demo").joinpath(name).open("r", encoding="utf-8")


def read_nsrdb(source: str | Path | IO[str]) -> pd.DataFrame:
    """NSRDB half-hourly rows (``Year, Month, Day, Hour, Minute, Temperature, DHI, DNI, GHI,
    Wind Speed``) as pvlib weather indexed in UTC; the files' clock is local standard time,
    UTC-7 for this site."""
    raw = pd.read_csv(source)
    local = pd.to_datetime(raw[["Year", "Month", "Day", "Hour", "Minute"]])
    index = pd.DatetimeIndex(local).tz_localize("Etc/GMT+7").tz_convert("UTC")
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


def weather() -> pd.DataFrame:
    """The shipped NSRDB days (2023-06-20..22)."""
    with _open(WEATHER_FILE) as f:
        return read_nsrdb(f)


def profiles(now: datetime) -> tuple[pd.DatetimeIndex, dict[str, tuple[Any, Any]]]:
    """Per resource key: power [MW] (and state of charge, for batteries) at each reading time
    of the three days ending at ``now``."""
    w = weather()
    n = len(w)
    times = pd.date_range(end=pd.Timestamp(now), periods=n, freq=STEP)
    dt_h = STEP.total_seconds() / 3600
    out: dict[str, tuple[Any, Any]] = {}
    pv = pv_power_mw(PvSpec(LATITUDE, LONGITUDE, ALTITUDE_M, 25.0, 180.0, 2.0, 1.6), w)
    out["pv"] = (pv.to_numpy(), None)
    wind = wind_power_mw(
        WindSpec("E-82/2350", 98.0), w["wind_speed"].to_numpy(), WIND_MEASURED_AT_M
    )
    out["wind"] = (wind, None)
    grid = pd.date_range(times[0].floor("15min"), periods=n, freq=STEP)
    process = 1.5 * bdew_shape("G25", grid)
    out["process"] = (-process, None)
    hours, days = local_clock(times, TZ)
    store = shiftable_bounds(0.5, 3.0, 6.0, 20.0, hours, days, dt_h)
    out["cold_store"] = (store.baseline_mw, None)
    # The sessions keep their local time of day: hours from their first local midnight in
    # Los Angeles are laid onto hours from the park's first local midnight.
    with _open(SESSIONS_FILE) as f:
        sessions = pd.read_csv(f)
    arrival = pd.to_datetime(sessions["arrival_utc"], utc=True)
    departure = pd.to_datetime(sessions["departure_utc"], utc=True)
    hour = pd.Timedelta(hours=1)
    ev_day0 = arrival.min().tz_convert("America/Los_Angeles").normalize()
    park_day0 = times[0].tz_convert(TZ).normalize()
    ev = fleet_bounds(
        np.asarray((arrival - ev_day0) / hour, dtype=np.float64),
        np.asarray((departure - ev_day0) / hour, dtype=np.float64),
        sessions["kwh_delivered"].to_numpy(float) / 1000,
        np.full(len(sessions), 0.0066),
        np.asarray((times - park_day0) / hour, dtype=np.float64),
        dt_h,
    )
    out["ev"] = (-np.diff(ev.e_max_mwh, prepend=0.0) / dt_h, None)
    surplus = pv.to_numpy() + wind - process
    for key, energy, power in (("battery_a", 4.0, 2.0), ("battery_b", 2.0, 1.0)):
        spec = BatterySpec(energy, power, power, 0.95, 0.95, 0.05, 0.95)
        want = np.where(surplus > 0.2, -np.minimum(surplus, power), 0.0)
        want = np.where((hours >= 17) & (hours < 21), power * 0.8, want)
        p = clip_to_feasible(spec, want, 0.5 * energy, dt_h)
        soc = soc_trajectory(spec, p, 0.5 * energy, dt_h) / energy
        out[key] = (p, soc)
    return times, out


def seed_park(rt: Runtime, actor: Principal, now: datetime) -> ParkResult:
    """Create the park's grid node, resources, VPPs and telemetry in ``actor``'s organization."""
    rt.vpps.add_node(rt.uow(), actor, code=NODE, market_area=AREA, name="Park substation 115 kV")
    ids: dict[str, str] = {}
    for spec in RESOURCES:
        created = rt.resources.create(
            rt.uow(),
            actor,
            name=spec["name"],
            resource_type=spec["type"],
            template_version=1,
            parameters=spec["parameters"],
            grid_node=NODE,
            latitude=LATITUDE,
            longitude=LONGITUDE,
        )
        ids[spec["key"]] = created.id
    times, series = profiles(now)
    points = [
        TelemetryPoint(
            resource_id=ids[key],
            ts=ts.to_pydatetime(),
            power_mw=round(float(power[i]), 6),
            soc=None if soc is None else round(float(soc[i]), 6),
        )
        for key, (power, soc) in series.items()
        for i, ts in enumerate(times)
    ]
    result = rt.telemetry.ingest(rt.uow(), actor, points)
    vpps = []
    since = times[0].to_pydatetime()
    for spec in VPPS:
        created_vpp = rt.vpps.create(
            rt.uow(),
            actor,
            name=spec["name"],
            market_area=AREA,
            description=spec["description"],
            settings=VppSettings(markets=["US-ISO-DR"]),
            members=[MemberSpec(ids[k], Decimal(share), since) for k, share in spec["members"]],
        )
        vpps.append(created_vpp.id)
    return ParkResult(ids, vpps, result.accepted)
