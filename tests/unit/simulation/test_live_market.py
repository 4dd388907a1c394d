"""The demo's live market: the shipped PJM prices cycled onto any dates."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from openvpp.demo.live_market import LIVE_MARKET, cycled_prices, price_frame
from openvpp.markets.presets import load_presets

H = load_presets()[LIVE_MARKET].product("H")


def test_a_date_always_gets_the_same_sample_day_and_two_weeks_repeat() -> None:
    a = cycled_prices(H, date(2026, 12, 1), date(2026, 12, 29))
    b = cycled_prices(H, date(2026, 12, 10), date(2026, 12, 10))
    np.testing.assert_array_equal(a.loc[b.index].to_numpy(), b.to_numpy())
    day1 = cycled_prices(H, date(2026, 12, 1), date(2026, 12, 1)).to_numpy()
    day15 = cycled_prices(H, date(2026, 12, 15), date(2026, 12, 15)).to_numpy()
    np.testing.assert_array_equal(day1, day15)
    assert a.min() > 0 and a.max() < 200  # real PJM prices of December 2018 [USD/MWh]


def test_dst_days_have_23_and_25_hours() -> None:
    assert len(cycled_prices(H, date(2026, 3, 8), date(2026, 3, 8))) == 23
    assert len(cycled_prices(H, date(2026, 11, 1), date(2026, 11, 1))) == 25


def test_market_data_rows_are_known_the_afternoon_before() -> None:
    f = price_frame(H, date(2026, 12, 7), date(2026, 12, 7), "US-WACM")
    assert len(f) == 24 and set(f["series"]) == {"price"}
    assert (f["known_at"] == pd.Timestamp(datetime(2026, 12, 6, 18, 30, tzinfo=UTC))).all()
    assert (f["known_at"] < f["start"]).all()
