"""The demo's live market: the shipped PJM prices cycled onto any dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from openvpp.demo.live_market import LIVE_MARKET, _sample_rows, cycled_prices, price_frame
from openvpp.markets.model import Product
from openvpp.markets.presets import load_presets
from openvpp.simulation.history import to_series

PRESETS = load_presets()
H = PRESETS[LIVE_MARKET].product("H")


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


def _day_by_day(product: Product, first: date, last: date) -> pd.Series:
    """The former construction, one local day at a time through the calendar: the reference."""
    rows = _sample_rows()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    picked = np.stack([rows[d.toordinal() % len(rows)] for d in days])
    return to_series(product, np.array(days, dtype="datetime64[D]"), picked)


@pytest.mark.parametrize(
    "product",
    [
        H,
        PRESETS["US-ISO-RT"].product("M5"),
        PRESETS["EU-SDAC"].product("QH"),
        PRESETS["DE-FCR"].product("FCR"),  # 4-hour wall-clock blocks: day by day
        H.model_copy(update={"time_zone": "America/Santiago"}),  # falls back at midnight
        H.model_copy(update={"time_zone": "Asia/Kolkata", "period_min": 15}),
    ],
    ids=lambda p: f"{p.code}@{p.time_zone}",
)
@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2026, 12, 10), date(2026, 12, 10)),
        (date(2026, 2, 20), date(2026, 4, 10)),  # the spring changes (America, Europe)
        (date(2026, 10, 20), date(2026, 11, 10)),  # the autumn ones
        (date(2025, 8, 30), date(2025, 9, 9)),  # Santiago: spring forward at midnight
    ],
)
def test_one_pass_equals_the_day_by_day_construction(
    product: Product, first: date, last: date
) -> None:
    pd.testing.assert_series_equal(
        cycled_prices(product, first, last), _day_by_day(product, first, last), check_exact=True
    )


def test_a_clock_change_off_the_grid_is_refused_as_before() -> None:
    # Lord Howe moves its clocks by 30 minutes: its days are not whole hours
    lord_howe = H.model_copy(update={"time_zone": "Australia/Lord_Howe"})
    with pytest.raises(ValueError, match="not a multiple of 60 min"):
        _day_by_day(lord_howe, date(2026, 4, 1), date(2026, 4, 10))
    with pytest.raises(ValueError, match="not a multiple of 60 min"):
        cycled_prices(lord_howe, date(2026, 4, 1), date(2026, 4, 10))
    with pytest.raises(ValueError, match="before"):
        cycled_prices(H, date(2026, 4, 2), date(2026, 4, 1))
