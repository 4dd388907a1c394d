"""Delivery grids and gate times: fixed cases from the market rules and DST property tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.markets.calendar import (
    delivery_index,
    delivery_intervals,
    gate_closure,
    gate_opening,
    is_open,
    local_to_utc,
    next_gate_closure,
)
from openvpp.markets.model import Product
from openvpp.markets.presets import load_presets

ZONES = ("Europe/Berlin", "Europe/London", "America/New_York", "Australia/Sydney", "Asia/Shanghai")
FIRST, LAST = date(2020, 1, 1), date(2040, 12, 31)
QUARTER = timedelta(minutes=15)


def _sdac(code: str = "QH") -> Product:
    return load_presets()["EU-SDAC"].product(code)


def test_berlin_dst_days() -> None:
    berlin = _sdac().model_copy(update={"time_zone": "Europe/Berlin"})
    assert len(delivery_intervals(berlin, date(2026, 3, 29))) == 92
    assert len(delivery_intervals(berlin, date(2026, 10, 25))) == 100
    assert len(delivery_intervals(berlin, date(2026, 6, 1))) == 96
    hourly = _sdac("H")
    assert len(delivery_intervals(hourly, date(2026, 3, 29))) == 23
    assert len(delivery_intervals(hourly, date(2026, 10, 25))) == 25
    idx = delivery_index(berlin, date(2026, 10, 25))
    assert len(idx) == 100 and str(idx.tz) == "Europe/Berlin"
    assert idx[0] == datetime(2026, 10, 25, tzinfo=ZoneInfo("Europe/Berlin"))


def test_market_grid_uses_settlement_period() -> None:
    assert len(delivery_intervals(load_presets()["US-ISO-RT"], date(2026, 3, 8))) == 23 * 12


def test_four_hour_products_follow_the_wall_clock() -> None:
    fcr = load_presets()["DE-FCR"].product("FCR")
    spring = delivery_intervals(fcr, date(2026, 3, 29))
    assert [i.minutes for i in spring] == [180, 240, 240, 240, 240, 240]
    assert [i.start_local.hour for i in spring] == [0, 4, 8, 12, 16, 20]
    autumn = delivery_intervals(fcr, date(2026, 10, 25))
    assert [i.minutes for i in autumn] == [300, 240, 240, 240, 240, 240]
    # bids by 08:00 D-1 (CET on 2026-03-28)
    assert gate_closure(fcr, spring[3].start_utc) == datetime(2026, 3, 28, 7, 0, tzinfo=UTC)


def test_sdac_gate_closure_across_spring_forward() -> None:
    qh = _sdac()
    d29 = delivery_intervals(qh, date(2026, 3, 29))
    assert {gate_closure(qh, i.start_utc) for i in d29} == {datetime(2026, 3, 28, 11, tzinfo=UTC)}
    d30 = delivery_intervals(qh, date(2026, 3, 30))
    assert {gate_closure(qh, i.start_utc) for i in d30} == {datetime(2026, 3, 29, 10, tzinfo=UTC)}
    opening = gate_opening(qh, d30[0].start_utc)
    assert opening is not None and opening < gate_closure(qh, d30[0].start_utc)


def test_sidc_closes_five_minutes_before_each_quarter_hour() -> None:
    qh = load_presets()["EU-SIDC"].product("QH")
    for iv in delivery_intervals(qh, date(2026, 10, 25)):
        assert gate_closure(qh, iv.start_utc) == iv.start_utc - timedelta(minutes=5)
    start = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    assert is_open(qh, start, start - timedelta(minutes=6))
    assert not is_open(qh, start, start - timedelta(minutes=5))
    # opens 16:00 local (CEST) on D-1
    assert not is_open(qh, start, datetime(2026, 5, 31, 13, 59, tzinfo=UTC))
    assert is_open(qh, start, datetime(2026, 5, 31, 14, 0, tzinfo=UTC))


def test_naive_and_nonexistent_times_refused() -> None:
    qh = _sdac()
    naive = datetime(2026, 3, 29, 10, 0)
    with pytest.raises(ValueError, match="UTC offset"):
        gate_closure(qh, naive)
    with pytest.raises(ValueError, match="UTC offset"):
        next_gate_closure(qh, naive)
    with pytest.raises(ValueError, match="UTC offset"):
        is_open(qh, datetime(2026, 3, 29, tzinfo=UTC), naive)
    with pytest.raises(ValueError, match="does not exist"):
        local_to_utc(datetime(2026, 3, 29, 2, 30), "Europe/Berlin")
    with pytest.raises(ValueError, match="naive"):
        local_to_utc(datetime(2026, 3, 29, 2, 30, tzinfo=UTC), "Europe/Berlin")
    ambiguous = datetime(2026, 10, 25, 2, 30)
    assert local_to_utc(ambiguous, "Europe/Berlin") == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    second = local_to_utc(ambiguous.replace(fold=1), "Europe/Berlin")
    assert second == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


# --- properties over 2020-2040 --------------------------------------------------------------


@cache
def _clock_change_days() -> tuple[tuple[str, date], ...]:
    out = []
    for tz in ZONES:
        zone = ZoneInfo(tz)
        day = FIRST
        while day <= LAST:
            if _day_minutes(day, zone) != 1440:
                out.append((tz, day))
            day += timedelta(days=1)
    return tuple(out)


def _day_minutes(day: date, zone: ZoneInfo) -> int:
    # independent oracle: 24 h minus the change of the UTC offset between the two midnights
    a = datetime.combine(day, time(0), zone).utcoffset()
    b = datetime.combine(day + timedelta(days=1), time(0), zone).utcoffset()
    assert a is not None and b is not None
    return 1440 - int((b - a).total_seconds()) // 60


zone_days = st.one_of(
    st.tuples(st.sampled_from(ZONES), st.dates(FIRST, LAST)),
    st.builds(lambda: None).flatmap(lambda _: st.sampled_from(_clock_change_days())),
)
rules = st.one_of(
    st.builds(
        lambda d, h, m: {"kind": "day_before", "days": d, "time": f"{h:02d}:{m:02d}"},
        st.integers(1, 3),
        st.integers(0, 23),
        st.sampled_from([0, 15, 30, 45]),
    ),
    st.builds(
        lambda m: {"kind": "before_delivery", "minutes": m},
        st.sampled_from([1, 5, 60, 65, 24 * 60, 36 * 60]),
    ),
)


def _product(tz: str, period: int, closure: dict[str, object]) -> Product:
    return Product.model_validate(
        {"code": "P", "period_min": period, "time_zone": tz, "gate_closure": closure}
    )


@settings(max_examples=300, deadline=None)
@given(zone_days, st.sampled_from([5, 15, 30, 60, 240]))
def test_local_day_grid(zone_day: tuple[str, date], period: int) -> None:
    tz, day = zone_day
    zone = ZoneInfo(tz)
    product = _product(tz, period, {"kind": "before_delivery", "minutes": 5})
    ivs = delivery_intervals(product, day)
    minutes = _day_minutes(day, zone)
    assert len(ivs) == (6 if period == 240 else minutes // period)
    assert sum(i.minutes for i in ivs) == minutes
    if period < 240:
        assert all(i.minutes == period for i in ivs)
    for a, b in pairwise(ivs):
        assert a.end_utc == b.start_utc
    assert ivs[0].start_local.replace(tzinfo=None) == datetime.combine(day, time(0))
    assert ivs[-1].end_local.replace(tzinfo=None) == datetime.combine(
        day + timedelta(days=1), time(0)
    )
    assert all(i.start_utc.tzinfo is UTC and i.start_local.tzinfo is zone for i in ivs)
    assert list(delivery_index(product, day)) == [i.start_local for i in ivs]


@settings(max_examples=200, deadline=None)
@given(zone_days, st.sampled_from([15, 60, 240]), rules)
def test_gate_closure_before_delivery(
    zone_day: tuple[str, date], period: int, closure: dict[str, object]
) -> None:
    tz, day = zone_day
    product = _product(tz, period, closure)
    for iv in delivery_intervals(product, day):
        assert gate_closure(product, iv.start_utc) < iv.start_utc


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(ZONES),
    st.sampled_from([15, 60, 240]),
    rules,
    st.datetimes(datetime(2020, 1, 2), datetime(2040, 12, 30), timezones=st.just(UTC)),
)
def test_next_gate_closure_is_the_earliest_future_one(
    tz: str, period: int, closure: dict[str, object], now: datetime
) -> None:
    product = _product(tz, period, closure)
    found, interval = next_gate_closure(product, now)
    assert found > now
    assert gate_closure(product, interval.start_utc) == found
    local_today = now.astimezone(ZoneInfo(tz)).date()
    candidates = [
        (gate_closure(product, iv.start_utc), iv.start_utc)
        for k in range(-2, 7)
        for iv in delivery_intervals(product, local_today + timedelta(days=k))
    ]
    future = [c for c in candidates if c[0] > now]
    assert min(future) == (found, interval.start_utc)


@pytest.mark.parametrize("tz", ZONES)
def test_every_day_2020_2040_has_its_grid_and_settles_its_real_length(tz: str) -> None:
    """RELIABILITY item 10, every day rather than a sample: each local day of 2020-2040 has
    ``day_minutes / 15`` quarter-hours from local midnight to local midnight, contiguous in
    UTC; every start survives the round trip local -> UTC -> local; and 1 MW sold all day at
    40.00 settles to exactly 40.00 per real hour of the day (92, 96 or 100 quarter-hours)."""
    import numpy as np

    from openvpp.settlement import engine
    from openvpp.settlement.engine import EnergyIntervals

    zone = ZoneInfo(tz)
    product = _product(tz, 15, {"kind": "before_delivery", "minutes": 5})
    settlement = load_presets()["EU-SDAC"].settlement
    lengths: set[int] = set()
    day = FIRST
    while day <= LAST:
        ivs = delivery_intervals(product, day)
        minutes = _day_minutes(day, zone)
        assert len(ivs) * 15 == minutes, day
        assert ivs[0].start_utc == datetime.combine(day, time(0), zone).astimezone(UTC), day
        end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
        assert ivs[-1].end_utc == end, day
        for a, b in pairwise(ivs):
            assert a.end_utc == b.start_utc and b.start_utc - a.start_utc == QUARTER, (day, a)
        for iv in ivs:
            assert iv.start_utc.astimezone(zone) == iv.start_local, (day, iv)
            assert iv.start_local.astimezone(UTC) == iv.start_utc, (day, iv)
        n = len(ivs)
        lines = engine.settle_energy(
            EnergyIntervals(np.full(n, 0.25), np.full(n, 0.25), np.full(n, 40.0), np.full(n, 60.0)),
            settlement,
        )
        assert int(lines["day_ahead"].sum()) == minutes * 4000 // 60, day  # cents
        lengths.add(n)
        day += timedelta(days=1)
    assert lengths == ({96} if tz == "Asia/Shanghai" else {92, 96, 100})
