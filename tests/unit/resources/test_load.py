"""Loads: BDEW 2025 profile shapes, curtailable and shiftable load bounds."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.resources.models import load as load_model
from openvpp.resources.models.load import (
    BDEW_PROFILES,
    bdew_shape,
    curtailable_bounds,
    local_clock,
    shiftable_bounds,
)

BERLIN = "Europe/Berlin"


def _year(freq: str, year: int = 2026) -> pd.DatetimeIndex:
    return pd.date_range(
        pd.Timestamp(year=year, month=1, day=1, tz=BERLIN),
        pd.Timestamp(year=year + 1, month=1, day=1, tz=BERLIN),
        freq=freq,
        inclusive="left",
    )


def _day(date: str, freq: str) -> pd.DatetimeIndex:
    """One local calendar day (23, 24 or 25 hours)."""
    start = pd.Timestamp(date)
    end = start + pd.Timedelta(days=1)
    return pd.date_range(
        start.tz_localize(BERLIN), end.tz_localize(BERLIN), freq=freq, inclusive="left"
    )


@pytest.mark.parametrize("profile", BDEW_PROFILES)
def test_shape_peaks_at_one_over_a_year(profile: str) -> None:
    quarter = bdew_shape(profile, _year("15min"))
    assert len(quarter) == 35040
    assert quarter.max() == pytest.approx(1.0, abs=1e-9)
    assert quarter.min() >= 0.0
    hourly = bdew_shape(profile, _year("h"))
    # Hours are the mean of their quarter-hours (so the hourly peak is at most 1).
    np.testing.assert_allclose(hourly, quarter.reshape(-1, 4).mean(axis=1), rtol=1e-12)
    assert hourly.min() >= 0.0 and hourly.max() <= 1.0 + 1e-12


def test_dynamic_profiles_peak_at_one_in_other_years_too() -> None:
    assert bdew_shape("S25", _year("15min", 2028)).max() == pytest.approx(1.0, abs=1e-9)


def test_golden_values_weekday_noon_above_sunday_noon() -> None:
    # g25.csv, June 12:00-12:15: WT 54.234 kWh, FT (Sunday) 20.537 kWh; annual peak 68.225.
    wednesday = bdew_shape("G25", _day("2026-06-10", "15min"))
    sunday = bdew_shape("G25", _day("2026-06-14", "15min"))
    assert wednesday[48] == pytest.approx(54.234 / 68.225, rel=1e-9)
    assert sunday[48] == pytest.approx(20.537 / 68.225, rel=1e-9)
    assert (
        bdew_shape("g25", _day("2026-06-10", "h"))[12]
        > bdew_shape("G25", _day("2026-06-14", "h"))[12]
    )


@pytest.mark.parametrize(("date", "quarters"), [("2026-03-29", 92), ("2026-10-25", 100)])
@pytest.mark.parametrize("profile", BDEW_PROFILES)
def test_dst_days(date: str, quarters: int, profile: str) -> None:
    quarter = bdew_shape(profile, _day(date, "15min"))
    hourly = bdew_shape(profile, _day(date, "h"))
    assert quarter.shape == (quarters,) and hourly.shape == (quarters // 4,)
    assert np.all(np.isfinite(quarter)) and np.all((quarter >= 0) & (quarter <= 1))
    np.testing.assert_allclose(hourly, quarter.reshape(-1, 4).mean(axis=1), rtol=1e-12)


def test_profile_follows_the_berlin_clock_whatever_the_index_zone() -> None:
    berlin = _day("2026-10-25", "15min")
    np.testing.assert_allclose(
        bdew_shape("H25", berlin.tz_convert("UTC")), bdew_shape("H25", berlin)
    )
    # An hourly index starting at half past still averages four quarter-hours.
    shifted = pd.date_range("2026-06-10 10:30", periods=3, freq="h", tz=BERLIN)
    quarters = bdew_shape("G25", pd.date_range(shifted[0], periods=12, freq="15min"))
    np.testing.assert_allclose(bdew_shape("G25", shifted), quarters.reshape(3, 4).mean(axis=1))


def test_results_are_cached_and_read_only() -> None:
    index = _day("2026-06-10", "15min")
    first = bdew_shape("h25", index)
    assert bdew_shape("H25", pd.DatetimeIndex(list(index))) is first  # no freq: inferred
    assert not first.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        first[0] = 2.0


def test_no_warnings_escape_from_demandlib() -> None:
    load_model._bdew_shape.cache_clear()
    load_model._annual_max_kw.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bdew_shape("P25", _day("2026-03-29", "15min"))


def test_bad_profiles_and_indexes_are_refused() -> None:
    index = _day("2026-06-10", "15min")
    with pytest.raises(ValueError, match="G25, H25, L25, P25, S25"):
        bdew_shape("H0", index)
    with pytest.raises(ValueError, match="tz-aware"):
        bdew_shape("G25", index.tz_localize(None))
    with pytest.raises(ValueError, match="multiple of 15 min"):
        bdew_shape("G25", pd.date_range("2026-06-10", periods=4, freq="10min", tz=BERLIN))
    with pytest.raises(ValueError, match="quarter-hour"):
        bdew_shape("G25", pd.date_range("2026-06-10 00:05", periods=4, freq="h", tz=BERLIN))
    with pytest.raises(ValueError, match="regular"):
        bdew_shape("G25", index.delete(3))


def test_curtailable_bounds() -> None:
    load = np.array([1.0, 2.0, -0.5])
    b = curtailable_bounds(load, 0.25, 2.0, 0.25)
    np.testing.assert_allclose(b.baseline_mw, [-1.0, -2.0, 0.0])
    np.testing.assert_allclose(b.p_min_mw, [-1.0, -2.0, 0.0])
    np.testing.assert_allclose(b.p_max_mw, [-0.75, -1.5, 0.0])
    np.testing.assert_allclose(b.shed_max_mw, [0.25, 0.5, 0.0])
    assert int(b.max_intervals) == 8
    stack = curtailable_bounds(
        np.array([[1.0, 1.0], [2.0, 4.0]]), np.array([0.1, 0.5]), np.array([0.5, 0.2]), 0.25
    )
    np.testing.assert_allclose(stack.p_max_mw, [[-0.9, -0.9], [-1.0, -2.0]])
    assert stack.max_intervals.tolist() == [2, 0]
    with pytest.raises(ValueError, match="max_fraction"):
        curtailable_bounds(load, 1.5, 2.0, 0.25)


def test_shiftable_bounds_by_hand() -> None:
    hours = np.arange(24.0)
    b = shiftable_bounds(0.5, 1.0, 6.0, 10.0, hours, np.zeros(24, dtype=int), 1.0)
    expected_p_min = np.where((hours >= 6) & (hours < 10), -0.5, 0.0)
    np.testing.assert_allclose(b.p_min_mw, expected_p_min)
    np.testing.assert_allclose(b.p_max_mw, np.zeros(24))
    np.testing.assert_allclose(b.baseline_mw[5:9], [0.0, -0.5, -0.5, 0.0])
    np.testing.assert_allclose(b.e_max_mwh[5:9], [0.0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(b.e_min_mwh[7:11], [0.0, 0.5, 1.0, 1.0])
    assert b.e_min_mwh[-1] == b.e_max_mwh[-1] == 1.0
    np.testing.assert_allclose(b.shortfall_mwh, [0.0])


def test_window_edges_inside_an_interval_count_pro_rata() -> None:
    hours = np.arange(24.0)
    b = shiftable_bounds(1.0, 10.0, 6.5, 9.25, hours, np.zeros(24, dtype=int), 1.0)
    np.testing.assert_allclose(b.p_min_mw[5:10], [0.0, -0.5, -1.0, -1.0, -0.25])
    np.testing.assert_allclose(b.shortfall_mwh, [10.0 - 2.75])


def test_energy_that_does_not_fit_is_reported_per_day() -> None:
    hours, days = local_clock(pd.date_range("2026-03-28", periods=3 * 24, freq="h", tz=BERLIN))
    assert days.tolist() == [0] * 24 + [1] * 23 + [2] * 24 + [3]
    assert hours[24 + 2] == 3.0  # 2:00 does not exist on 2026-03-29
    b = shiftable_bounds(1.0, 24.0, 0.0, 24.0, hours[:71], days[:71], 1.0)
    np.testing.assert_allclose(b.shortfall_mwh, [0.0, 1.0, 0.0])  # the DST day has 23 h
    assert b.days.tolist() == [0, 1, 2]
    np.testing.assert_allclose(b.e_max_mwh[[23, 46, 70]], [24.0, 47.0, 71.0])


def test_partial_days_at_both_ends() -> None:
    # From 12:00 to 12:00 next day, window 8-20, 0.5 MW for 4 MWh a day.
    hours, days = local_clock(pd.date_range("2026-06-10 12:00", periods=24, freq="h", tz=BERLIN))
    b = shiftable_bounds(0.5, 4.0, 8.0, 20.0, hours, days, 1.0, served_first_day_mwh=1.5)
    # First day: 2.5 MWh left, 8 h of window left (4 MWh): no shortfall, done by 17:00.
    np.testing.assert_allclose(b.shortfall_mwh, [0.0, 0.0])
    assert b.e_max_mwh[4] == pytest.approx(2.5)
    assert b.e_min_mwh[7] == pytest.approx(2.5)
    # Last day: 8:00-12:00 in the horizon, 8 more hours after it: nothing is forced yet.
    assert b.e_min_mwh[-1] == pytest.approx(2.5)
    assert b.e_max_mwh[-1] == pytest.approx(2.5 + 2.0)


def test_wrapping_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="no wrap"):
        shiftable_bounds(1.0, 1.0, 22.0, 6.0, np.arange(24.0), np.zeros(24, dtype=int), 1.0)


@st.composite
def shiftable_cases(draw: st.DrawFn) -> dict[str, Any]:
    dt = draw(st.sampled_from([0.25, 1.0]))
    start = draw(st.integers(0, 3)) * 6.0  # horizon starts at 0, 6, 12 or 18 h
    steps = draw(st.integers(1, int(72 / dt)))
    clock = start + dt * np.arange(steps)
    ws = draw(st.integers(0, 95)) / 4
    we = draw(st.integers(int(ws * 4) + 1, 96)) / 4
    return {
        "power_mw": draw(st.floats(0.1, 2.0)),
        "energy_per_day_mwh": draw(st.floats(0.0, 30.0)),
        "window_start_h": ws,
        "window_end_h": we,
        "local_hour_of_day": clock % 24,
        "day_index": (clock // 24).astype(int),
        "dt_h": dt,
    }


@settings(max_examples=300)
@given(case=shiftable_cases())
def test_shiftable_bounds_are_consistent(case: dict[str, Any]) -> None:
    b = shiftable_bounds(**case)
    dt = float(case["dt_h"])
    power, energy = float(case["power_mw"]), float(case["energy_per_day_mwh"])
    ws, we = float(case["window_start_h"]), float(case["window_end_h"])
    hours = np.asarray(case["local_hour_of_day"])
    days = np.asarray(case["day_index"])
    room = -b.p_min_mw * dt  # most energy per interval
    for e in (b.e_min_mwh, b.e_max_mwh):
        step = np.diff(e, prepend=0.0)
        assert np.all(step >= -1e-9) and np.all(step <= room + 1e-9)
    assert np.all(b.e_min_mwh <= b.e_max_mwh + 1e-9)
    assert np.all((b.p_min_mw <= b.baseline_mw + 1e-12) & (b.baseline_mw <= b.p_max_mw + 1e-12))
    np.testing.assert_allclose(-b.baseline_mw * dt, np.diff(b.e_max_mwh, prepend=0.0), atol=1e-9)
    assert np.all(b.shortfall_mwh >= 0.0)
    # Every whole day gets its energy (or what fits), reached at the window's end.
    window_h = we - ws
    for k, d in enumerate(b.days):
        rows = np.flatnonzero(days == d)
        if len(rows) * dt < 24 - 1e-9:
            continue
        got = min(energy, power * window_h)
        assert b.shortfall_mwh[k] == pytest.approx(energy - got, abs=1e-9)
        before = b.e_max_mwh[rows[0] - 1] if rows[0] > 0 else 0.0
        last_in_window = rows[hours[rows] < we][-1]
        assert b.e_min_mwh[last_in_window] - before == pytest.approx(got, abs=1e-9)
        assert b.e_max_mwh[last_in_window] - before == pytest.approx(got, abs=1e-9)


def test_shiftable_bounds_are_vectorized_over_resources() -> None:
    hours, days = local_clock(pd.date_range("2026-06-10 05:00", periods=60, freq="h", tz=BERLIN))
    params = {
        "power_mw": np.array([0.5, 1.0, 2.0]),
        "energy_per_day_mwh": np.array([4.0, 1.0, 30.0]),
        "window_start_h": np.array([0.0, 6.0, 18.0]),
        "window_end_h": np.array([24.0, 9.0, 22.0]),
    }
    stacked = shiftable_bounds(**params, local_hour_of_day=hours, day_index=days, dt_h=1.0)
    assert stacked.e_min_mwh.shape == (3, 60)
    for i in range(3):
        one = shiftable_bounds(
            **{k: float(v[i]) for k, v in params.items()},
            local_hour_of_day=hours,
            day_index=days,
            dt_h=1.0,
        )
        for field in ("p_min_mw", "baseline_mw", "e_min_mwh", "e_max_mwh", "shortfall_mwh"):
            np.testing.assert_allclose(getattr(stacked, field)[i], getattr(one, field))
