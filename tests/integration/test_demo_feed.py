"""The live demo's price feed (``openvpp.runtime_demo``): after the seed, the server publishes
each day's day-ahead prices on its eve at 13:30 New York time and the imbalance prices of each
new tomorrow, so that a demo left running keeps forecasting, bidding and settling. The test's
ShiftClock moves time; the feed is called one round at a time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from openvpp.demo.live_market import LIVE_MARKET, LIVE_PRODUCT, cycled_prices
from openvpp.markets.presets import load_presets
from openvpp.runtime import Runtime
from openvpp.runtime_autobid import autobid_tick
from openvpp.runtime_demo import IMBALANCE, PRICES, DemoFeed
from openvpp.seed import seed_demo
from openvpp.trading.autobid_records import DecisionFilter
from tests.support import ShiftClock

NY = ZoneInfo("America/New_York")
PRODUCT = load_presets()[LIVE_MARKET].product(LIVE_PRODUCT)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"demo_live_market": True}


def _last_days(rt: Runtime, org: str) -> dict[str, date]:
    catalog = rt.market_data.catalog(rt.uow(readonly=True), org, LIVE_MARKET)
    last = {i.key: i.last_start.astimezone(NY).date() for i in catalog}
    return {"prices": last[PRICES], "imbalance": last[IMBALANCE]}


def _next_clock_change(after: date) -> date:
    """The first New York day after ``after`` with 23 or 25 hours (within a year)."""
    day = after + timedelta(days=1)
    while len(cycled_prices(PRODUCT, day, day)) == 24:
        day += timedelta(days=1)
    return day


@pytest.mark.parametrize("when", ["today", "around the next clock change"])
def test_the_feed_publishes_each_day_on_its_eve_and_the_imbalance_prices_ahead(
    runtime: Runtime, clock: ShiftClock, when: str
) -> None:
    rt = runtime
    start = rt.clock.now().astimezone(NY).date()
    if when != "today":  # the 23- or 25-hour day is the one published at the second step
        start = _next_clock_change(start) - timedelta(days=5)
    # seeded in the morning: nothing more is due until 13:30
    clock.move_to(datetime.combine(start, time(9), NY))
    org = seed_demo(rt, park=True).organization_id
    feed = DemoFeed(rt)
    assert feed.tick() == [], "the seed stored everything due"
    # four days later, in the morning: the day's prices came out yesterday, tomorrow's not yet
    clock.move_to(datetime.combine(start + timedelta(days=4), time(10), NY))
    [made] = feed.tick()
    assert made["organization_id"] == org and made["values_stored"] > 0
    assert _last_days(rt, org) == {
        "prices": start + timedelta(days=4),
        "imbalance": start + timedelta(days=5),
    }
    assert feed.tick() == [], "nothing new until 13:30"
    # 13:31: tomorrow's prices, one import of exactly its hours
    clock.move_to(datetime.combine(start + timedelta(days=4), time(13, 31), NY))
    tomorrow = start + timedelta(days=5)
    [made] = feed.tick()
    hours = len(cycled_prices(PRODUCT, tomorrow, tomorrow))
    assert made["values_stored"] == hours and (when == "today" or hours != 24)
    assert _last_days(rt, org)["prices"] == tomorrow
    assert feed.tick() == []
    # the stored prices are the exchange's: the cycled real prices, known on their eve
    first = datetime.combine(start + timedelta(days=1), time(0), NY)
    end = datetime.combine(tomorrow + timedelta(days=1), time(0), NY)
    stored = rt.market_data.series(rt.uow(readonly=True), org, PRICES, first, end).points
    expected = cycled_prices(PRODUCT, start + timedelta(days=1), tomorrow)
    np.testing.assert_allclose(stored["value"].to_numpy(), expected.to_numpy(), rtol=0, atol=1e-6)
    eve = stored["start"].dt.tz_convert(NY).dt.date - timedelta(days=1)
    assert (stored["known_at"].dt.tz_convert(NY).dt.date == eve).all()


def test_a_demo_left_running_for_weeks_still_bids(runtime: Runtime, clock: ShiftClock) -> None:
    rt = runtime
    org = seed_demo(rt, park=True).organization_id
    later = rt.clock.now().astimezone(NY).date() + timedelta(days=30)
    clock.move_to(datetime.combine(later, time(14), NY))
    assert DemoFeed(rt).tick(), "a month of prices was due"
    autobid_tick(rt)
    with rt.uow(readonly=True) as uow:
        decisions = uow.bid_decisions.page(org, DecisionFilter(), 50, 0)
    upcoming = [d for d in decisions if d.delivery_day > later]
    assert upcoming, "a decision for the days ahead"
    assert all(d.status == "submitted" for d in upcoming), [d.error for d in upcoming]


def test_a_demo_seeded_without_the_park_has_no_feed(runtime: Runtime) -> None:
    seed_demo(runtime, park=False)
    assert DemoFeed(runtime).tick() == []
