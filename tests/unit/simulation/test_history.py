"""Hourly day rows laid onto local delivery days, DST included."""

from __future__ import annotations

from datetime import date

import numpy as np

from openvpp.markets.presets import load_presets
from openvpp.simulation.history import day_values, to_series

SDAC = load_presets()["EU-SDAC"]
ROW = np.arange(24, dtype=np.float64) * 10


def test_a_normal_day_takes_each_hour_once() -> None:
    s = day_values(SDAC.product("H"), date(2024, 6, 3), ROW)
    assert len(s) == 24 and s.index[0].isoformat() == "2024-06-02T22:00:00+00:00"
    np.testing.assert_array_equal(s.to_numpy(), ROW)


def test_spring_drops_the_skipped_hour_and_autumn_repeats_it() -> None:
    spring = day_values(SDAC.product("H"), date(2024, 3, 31), ROW)
    assert len(spring) == 23 and 20.0 not in spring.to_numpy()  # 02:00 local does not exist
    autumn = day_values(SDAC.product("H"), date(2024, 10, 27), ROW)
    assert len(autumn) == 25 and list(autumn.to_numpy()[:4]) == [0.0, 10.0, 20.0, 20.0]


def test_quarter_hours_repeat_the_hour_and_series_concatenate() -> None:
    qh = day_values(SDAC.product("QH"), date(2024, 10, 27), ROW)
    assert len(qh) == 100 and list(qh.to_numpy()[:5]) == [0.0] * 4 + [10.0]
    dates = np.array(["2024-03-30", "2024-03-31"], dtype="datetime64[D]")
    s = to_series(SDAC.product("H"), dates, np.stack([ROW, ROW + 1]))
    assert len(s) == 47 and s.index.is_monotonic_increasing and s.index.is_unique
