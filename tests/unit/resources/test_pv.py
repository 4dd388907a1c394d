"""PV model with pvlib on real irradiance (NSRDB sample shipped; full year from ../shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.resources.models.pv import PvSpec, pv_power_mw

DATA = Path(__file__).parents[2] / "data" / "nsrdb_2023_jun20-22_sample.csv"
SHARED = (
    Path(__file__).parents[4]
    / "shared"
    / "data"
    / "pv"
    / ("nsrdb_psm4_2023_40.5137_-108.5449_30min.csv")
)
SPEC = PvSpec(
    latitude=40.5137,
    longitude=-108.5449,
    altitude_m=1900.0,
    tilt_deg=30.0,
    azimuth_deg=180.0,
    dc_capacity_mw=1.0,
    ac_capacity_mw=0.85,
)


def read_nsrdb(path: Path) -> pd.DataFrame:
    """NSRDB half-hourly rows; timestamps are local standard time, UTC-7."""
    raw = pd.read_csv(path)
    stamps = pd.to_datetime(
        raw[["Year", "Month", "Day", "Hour", "Minute"]].rename(columns=str.lower)
    ).dt.tz_localize("Etc/GMT+7")
    return pd.DataFrame(
        {
            "ghi": raw["GHI"].to_numpy(float),
            "dni": raw["DNI"].to_numpy(float),
            "dhi": raw["DHI"].to_numpy(float),
            "temp_air": raw["Temperature"].to_numpy(float),
            "wind_speed": raw["Wind Speed"].to_numpy(float),
        },
        index=pd.DatetimeIndex(stamps),
    )


def test_summer_days_have_a_plausible_shape() -> None:
    weather = read_nsrdb(DATA)
    power = pv_power_mw(SPEC, weather)
    assert (power >= 0).all()
    assert power.max() <= SPEC.ac_capacity_mw + 1e-12
    assert (power[weather["ghi"] == 0] == 0).all()  # night
    daily = power.groupby(power.index.date).sum() * 0.5  # [MWh]
    # A clear June day at 40° N with 30° tilt yields 6-8 kWh per kWp; cloudy days less.
    assert daily.max() == pytest.approx(7.0, abs=1.0)
    noon = power[power.index.hour == 12]
    assert noon.max() > 0.6


def test_naive_index_is_refused() -> None:
    weather = read_nsrdb(DATA).tz_localize(None)
    with pytest.raises(ValueError, match="tz-aware"):
        pv_power_mw(SPEC, weather)


@settings(max_examples=30, deadline=None)
@given(ghi=st.lists(st.floats(0, 1200), min_size=24, max_size=24), temp=st.floats(-30, 45))
def test_never_negative_and_never_above_the_inverter(ghi: list[float], temp: float) -> None:
    index = pd.date_range("2024-03-20", periods=24, freq="h", tz="UTC")
    g = np.array(ghi)
    weather = pd.DataFrame(
        {"ghi": g, "dni": g * 0.7, "dhi": g * 0.3, "temp_air": temp}, index=index
    )
    power = pv_power_mw(SPEC, weather)
    assert (power >= 0).all()
    assert (power <= SPEC.ac_capacity_mw + 1e-12).all()


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data (full NSRDB year) not present")
def test_full_year_capacity_factor() -> None:
    power = pv_power_mw(SPEC, read_nsrdb(SHARED))
    capacity_factor = power.mean() / SPEC.dc_capacity_mw
    # Fixed-tilt PV in north-west Colorado: about 18-22 % of DC capacity.
    assert 0.16 < capacity_factor < 0.24
