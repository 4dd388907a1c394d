"""PV model with pvlib on real irradiance (NSRDB sample shipped; full year from ../shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import openvpp.demo
from openvpp.demo.park import WEATHER_FILE, read_nsrdb
from openvpp.resources.models.pv import PvSpec, pv_power_mw

DATA = Path(openvpp.demo.__file__).parent / WEATHER_FILE
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


def test_summer_days_have_a_plausible_shape() -> None:
    weather = read_nsrdb(DATA)
    power = pv_power_mw(SPEC, weather)
    assert (power >= 0).all()
    assert power.max() <= SPEC.ac_capacity_mw + 1e-12
    assert (power[weather["ghi"] == 0] == 0).all()  # night
    daily = power.groupby(power.index.date).sum() * 0.5  # [MWh]
    # A clear June day at 40° N with 30° tilt yields 6-8 kWh per kWp; cloudy days less.
    assert daily.max() == pytest.approx(7.0, abs=1.0)
    noon = power[power.index.tz_convert("Etc/GMT+7").hour == 12]  # local standard time
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


def test_vectorized_clear_sky_matches_the_pvlib_chain() -> None:
    import numpy as np
    import pandas as pd
    import pvlib

    from openvpp.resources.models.pv import clear_sky_power_mw

    times = pd.date_range("2026-06-21", periods=96, freq="15min", tz="Europe/Berlin")
    lat, lon = np.array([48.1, 52.5, -33.9]), np.array([11.6, 13.4, 18.4])
    params = {
        "tilt_deg": np.array([30.0, 10.0, 25.0]),
        "azimuth_deg": np.array([180.0, 135.0, 0.0]),  # the southern plant faces north
        "dc_capacity_mw": np.array([1.0, 2.0, 1.0]),
        "ac_capacity_mw": np.array([0.9, 1.0, 1.0]),
        "gamma_pdc": np.full(3, -0.0035),
        "system_losses": np.full(3, 0.14),
        "inverter_efficiency": np.full(3, 0.96),
    }
    fleet = clear_sky_power_mw(lat, lon, params, times)
    assert fleet.shape == (3, 96)
    assert fleet.min() >= 0.0
    for i in range(3):
        spec = PvSpec(
            lat[i],
            lon[i],
            0.0,
            *(
                float(params[k][i])
                for k in ("tilt_deg", "azimuth_deg", "dc_capacity_mw", "ac_capacity_mw")
            ),
        )
        sky = pvlib.location.Location(lat[i], lon[i]).get_clearsky(times, model="simplified_solis")
        reference = pv_power_mw(spec, sky.assign(temp_air=20.0)).to_numpy()
        # The analytical sun position differs from SPA by a fraction of a degree.
        assert np.abs(fleet[i] - reference).max() <= 0.05 * max(reference.max(), 0.1)
    assert fleet[1].max() == pytest.approx(1.0)  # AC-limited


TMY3 = Path(__file__).parents[4] / "shared" / "data" / "pv" / "723170TYA_Greensboro_TMY3.csv"


@pytest.mark.skipif(not TMY3.exists(), reason="../shared/data (TMY3 Greensboro) not present")
def test_tmy3_greensboro_year() -> None:
    """A typical meteorological year (NREL TMY3, Greensboro NC, UTC-5, hour-ending stamps):
    the file's annual GHI, and a plausible yield of a south-facing 25 deg system."""
    import pvlib

    weather, meta = pvlib.iotools.read_tmy3(TMY3, coerce_year=2021, map_variables=True)
    weather.index = weather.index - pd.Timedelta(minutes=30)  # hour-ending -> mid-hour
    assert weather["ghi"].sum() / 1000 == pytest.approx(1566, abs=2)  # kWh/m2, per the README
    spec = PvSpec(meta["latitude"], meta["longitude"], meta["altitude"], 25.0, 180.0, 1.0, 0.9)
    power = pv_power_mw(spec, weather[["ghi", "dni", "dhi", "temp_air", "wind_speed"]])
    assert (power >= 0).all()
    night = weather["ghi"] == 0
    assert (power[night] == 0).all()
    yield_kwh_per_kwp = power.sum() * 1000 / 1000  # MWh per MWp == kWh per kWp
    # 1,399 kWh/kWp here (golden); fixed-tilt systems in North Carolina typically yield
    # 1,300-1,500 kWh/kWp a year.
    assert 1300 < yield_kwh_per_kwp < 1500
