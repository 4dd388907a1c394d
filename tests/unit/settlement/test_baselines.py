"""Baselines against hand-computed values: synthetic days, the BDEW H0 profile (23- and
25-hour days) and six weeks of a real household (OPSD)."""

from datetime import date, time, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openvpp.markets.model import Baseline, BaselineMethod
from openvpp.settlement.baselines import DayCalendar, Event, compute_baseline

DATA = Path(__file__).parents[2] / "data"
ZONE = "Europe/Berlin"
M = BaselineMethod


def rule(method: BaselineMethod, cap: str | None = None) -> Baseline:
    return Baseline(method=method, adjustment_cap=None if cap is None else Decimal(cap))


def level(day: date) -> float:
    return 100.0 + (day.toordinal() * 7) % 13  # distinct, not monotonic in time


def shape(hour: int) -> float:
    return 1.0 + 0.5 * np.sin(hour / 24 * 2 * np.pi)


def hourly(first: date, last: date, event_level: float | None = None) -> pd.Series:
    """Hourly load from local midnight of ``first`` to the end of ``last``: level(day) x
    shape(hour); on ``last`` (the event day) the level is ``event_level``."""
    start = pd.Timestamp(first).tz_localize(ZONE)
    end = pd.Timestamp(last + timedelta(days=1)).tz_localize(ZONE)
    index = pd.date_range(
        start.tz_convert("UTC"), end.tz_convert("UTC"), freq="1h", inclusive="left"
    )
    local = index.tz_convert(ZONE)
    days = local.date
    lv = np.array([event_level if d == last and event_level else level(d) for d in days])
    return pd.Series(lv * shape(local.hour.to_numpy()), index=index)


EVENT = Event(date(2026, 6, 15), time(14), time(18))  # a Monday
CAL = DayCalendar(holidays=frozenset({date(2026, 6, 4)}), excluded=frozenset({date(2026, 6, 10)}))
# working days before the event, most recent first, without the holiday and the past event
WORKING = [date(2026, 6, d) for d in (12, 11, 9, 8, 5, 3, 2, 1)] + [
    date(2026, 5, d) for d in (29, 28, 27, 26, 22, 21, 20, 19, 18, 15)
]


def window_value(result, hour: int) -> float:
    local = result.values.index.tz_convert(ZONE)
    return float(result.values[(local.hour == hour)].iloc[0])


def test_caiso_10_in_10_averages_the_10_most_recent_working_days_and_caps_the_ratio():
    load = hourly(date(2026, 4, 20), EVENT.day, event_level=150.0)
    got = compute_baseline(load, EVENT, rule(M.CAISO_10_IN_10, "0.2"), zone=ZONE, calendar=CAL)
    days = WORKING[:10]
    assert got.days == tuple(days)
    mean_level = sum(level(d) for d in days) / 10
    # the ratio over 10:00-13:00 is 150 / mean level (about 1.4), capped at 1.2
    assert 150 / mean_level > 1.2
    assert got.adjustment == pytest.approx(1.2)
    assert window_value(got, 15) == pytest.approx(mean_level * shape(15) * 1.2)
    assert len(got.values) == 24 and got.in_event.sum() == 4
    uncapped = compute_baseline(load, EVENT, rule(M.CAISO_10_IN_10), zone=ZONE, calendar=CAL)
    assert uncapped.adjustment == pytest.approx(150 / mean_level)


def test_high_4_of_5_drops_the_lowest_day_and_adds_the_same_day_offset():
    load = hourly(date(2026, 4, 20), EVENT.day, event_level=105.0)
    got = compute_baseline(load, EVENT, rule(M.HIGH_4_OF_5), zone=ZONE, calendar=CAL)
    five = WORKING[:5]
    kept = sorted(five, key=level, reverse=True)[:4]
    assert set(got.days) == set(kept) and len(got.days) == 4
    mean_level = sum(level(d) for d in kept) / 4
    base = mean_level * np.mean([shape(h) for h in (10, 11, 12)])
    seen = 105.0 * np.mean([shape(h) for h in (10, 11, 12)])
    assert got.adjustment == pytest.approx(seen - base)
    assert window_value(got, 16) == pytest.approx(mean_level * shape(16) + seen - base)


def test_last_5_working_days_and_top_5_of_10():
    load = hourly(date(2026, 4, 20), EVENT.day)
    jiangsu = compute_baseline(load, EVENT, rule(M.LAST_5_WORKING_DAYS), zone=ZONE, calendar=CAL)
    assert jiangsu.days == tuple(WORKING[:5]) and jiangsu.adjustment == 0.0
    assert window_value(jiangsu, 14) == pytest.approx(
        np.mean([level(d) for d in WORKING[:5]]) * shape(14)
    )
    beijing = compute_baseline(load, EVENT, rule(M.TOP_5_OF_10), zone=ZONE, calendar=CAL)
    # D-12 .. D-2 = 3 .. 13 June: working days 3, 5, 8, 9, 11, 12 (4th a holiday, 10th excluded)
    window = [d for d in WORKING if date(2026, 6, 3) <= d <= date(2026, 6, 13)]
    assert len(window) == 6
    top = sorted(window, key=level, reverse=True)[:5]
    assert set(beijing.days) == set(top)
    assert window_value(beijing, 17) == pytest.approx(np.mean([level(d) for d in top]) * shape(17))


def test_pre_event_takes_the_reading_15_minutes_before_control():
    load = hourly(date(2026, 6, 1), EVENT.day, event_level=120.0)
    got = compute_baseline(load, EVENT, rule(M.PRE_EVENT), zone=ZONE)
    # 13:45 lies in the 13:00 hourly reading
    assert set(got.values.round(9)) == {round(120.0 * shape(13), 9)}


def test_missing_history_or_data_is_named():
    load = hourly(date(2026, 6, 1), EVENT.day)
    with pytest.raises(ValueError, match="caiso_10_in_10 needs 10 eligible working days"):
        compute_baseline(load, EVENT, rule(M.CAISO_10_IN_10), zone=ZONE, calendar=CAL)
    gappy = load.drop(load.index[30])  # a reading missing on 2 June
    with pytest.raises(ValueError, match="regular"):
        compute_baseline(gappy, EVENT, rule(M.LAST_5_WORKING_DAYS), zone=ZONE)
    history = hourly(date(2026, 4, 20), date(2026, 6, 14))  # nothing on the event day
    with pytest.raises(ValueError, match="adjustment window"):
        compute_baseline(history, EVENT, rule(M.CAISO_10_IN_10), zone=ZONE, calendar=CAL)
    naive = load.tz_convert(None)
    with pytest.raises(ValueError, match="tz-aware"):
        compute_baseline(naive, EVENT, rule(M.LAST_5_WORKING_DAYS), zone=ZONE)
    with pytest.raises(ValueError, match="after its start"):
        compute_baseline(load, Event(EVENT.day, time(18), time(14)), rule(M.PRE_EVENT), zone=ZONE)


def test_an_incomplete_day_is_not_a_candidate():
    load = hourly(date(2026, 4, 20), EVENT.day)
    load[(load.index.tz_convert(ZONE).date == date(2026, 6, 12)) & (load.index.hour == 3)] = np.nan
    got = compute_baseline(load, EVENT, rule(M.LAST_5_WORKING_DAYS), zone=ZONE, calendar=CAL)
    assert got.days == tuple(WORKING[1:6])


# ------------------------------------------------------------------- BDEW H0 on DST days


def bdew_h0() -> pd.DataFrame:
    """The BDEW H0 winter profile, rows weekday 1..7 (Monday..Sunday), columns 'HH:MM'."""
    raw = pd.read_csv(DATA / "settlement" / "bdew_h0_winter.csv", dtype={"time": str})
    return raw.pivot(index="weekday", columns="time", values="h0")


def h0_load(first: date, last: date) -> pd.Series:
    profile = bdew_h0()
    start = pd.Timestamp(first).tz_localize(ZONE).tz_convert("UTC")
    end = pd.Timestamp(last + timedelta(days=1)).tz_localize(ZONE).tz_convert("UTC")
    index = pd.date_range(start, end, freq="15min", inclusive="left")
    local = index.tz_convert(ZONE)
    values = [
        profile.at[d.isoweekday(), f"{h:02d}:{m:02d}"]
        for d, h, m in zip(local.date, local.hour, local.minute, strict=True)
    ]
    return pd.Series(values, index=index, dtype=float)


@pytest.mark.parametrize(
    ("day", "quarter_hours"), [(date(2026, 10, 25), 100), (date(2026, 3, 29), 92)]
)
def test_caiso_on_a_dst_sunday_follows_the_wall_clock(day, quarter_hours):
    load = h0_load(day - timedelta(days=50), day)
    event = Event(day, time(17), time(20))
    got = compute_baseline(load, event, rule(M.CAISO_10_IN_10, "0.2"), zone=ZONE)
    assert len(got.values) == quarter_hours and got.in_event.sum() == 12
    # a Sunday: 4 in 4 over the last two Saturdays and Sundays -> (Sat + Sun) / 2 by wall time
    assert [d.isoweekday() for d in got.days] == [6, 7, 6, 7]
    profile = bdew_h0()
    both = (profile.loc[6] + profile.loc[7]) / 2
    adj = [f"{h:02d}:{m:02d}" for h in (13, 14, 15) for m in (0, 15, 30, 45)]
    ratio = profile.loc[7, adj].mean() / both[adj].mean()
    ratio = min(max(ratio, 0.8), 1.2)
    assert got.adjustment == pytest.approx(ratio)
    local = got.values.index.tz_convert(ZONE)
    labels = [f"{h:02d}:{m:02d}" for h, m in zip(local.hour, local.minute, strict=True)]
    assert np.allclose(got.values.to_numpy(), both[labels].to_numpy() * ratio)
    if quarter_hours == 100:
        twice = got.values[local.hour == 2]
        assert len(twice) == 8 and np.allclose(twice.iloc[:4].to_numpy(), twice.iloc[4:].to_numpy())
    else:
        assert not (local.hour == 2).any()


# ------------------------------------------------------------------- a real household


def household() -> pd.Series:
    raw = pd.read_csv(DATA / "forecasting" / "opsd_household_grid_import_6w.csv")
    meter = pd.Series(
        raw["DE_KN_residential4_grid_import"].to_numpy(),
        index=pd.DatetimeIndex(pd.to_datetime(raw["utc_timestamp"], utc=True)),
    )
    # energy of the hour starting at each reading [kWh]
    return (meter.shift(-1) - meter).iloc[:-1]


def test_opsd_household_baselines_against_hand_computation():
    load = household()
    event = Event(date(2016, 12, 12), time(17), time(20))  # a Monday evening
    local = load.index.tz_convert(ZONE)

    def by_hand(days: list[date], hour: int) -> float:
        return float(
            np.mean([load[(local.date == d) & (local.hour == hour)].iloc[0] for d in days])
        )

    jiangsu = compute_baseline(load, event, rule(M.LAST_5_WORKING_DAYS), zone=ZONE)
    five = [date(2016, 12, d) for d in (9, 8, 7, 6, 5)]
    assert jiangsu.days == tuple(five)
    for hour in (17, 18, 19):
        assert window_value(jiangsu, hour) == pytest.approx(by_hand(five, hour))

    caiso = compute_baseline(load, event, rule(M.CAISO_10_IN_10, "0.2"), zone=ZONE)
    ten = five + [date(2016, 12, d) for d in (2, 1)] + [date(2016, 11, d) for d in (30, 29, 28)]
    assert caiso.days == tuple(ten)
    base = np.mean([by_hand(ten, h) for h in (13, 14, 15)])
    seen = np.mean(
        [load[(local.date == event.day) & (local.hour == h)].iloc[0] for h in (13, 14, 15)]
    )
    ratio = min(max(seen / base, 0.8), 1.2)
    assert caiso.adjustment == pytest.approx(ratio)
    assert window_value(caiso, 18) == pytest.approx(by_hand(ten, 18) * ratio)

    pjm = compute_baseline(load, event, rule(M.HIGH_4_OF_5), zone=ZONE)
    means = {d: np.mean([by_hand([d], h) for h in (17, 18, 19)]) for d in five}
    kept = sorted(five, key=lambda d: -means[d])[:4]
    assert set(pjm.days) == set(kept)
    # golden: the household's Jiangsu baseline over the event [kWh]
    assert float(jiangsu.values[jiangsu.in_event].sum()) == pytest.approx(
        sum(by_hand(five, h) for h in (17, 18, 19))
    )


SHARED = Path(__file__).parents[4] / "shared" / "data" / "load"


@pytest.mark.skipif(
    not (SHARED / "opsd_household_DE_KN_residential4_60min.csv").exists(),
    reason="../shared/data is absent (the real-data set is not shipped with the project)",
)
def test_opsd_household_on_its_25_hour_day():
    raw = pd.read_csv(SHARED / "opsd_household_DE_KN_residential4_60min.csv")
    meter = pd.Series(
        raw["DE_KN_residential4_grid_import"].to_numpy(),
        index=pd.DatetimeIndex(pd.to_datetime(raw["utc_timestamp"], utc=True)),
    )
    load = (meter.shift(-1) - meter).iloc[:-1].loc["2016-08-01":"2016-11-01"]
    event = Event(date(2016, 10, 30), time(1), time(4))  # Sunday, clocks go back at 03:00
    got = compute_baseline(load, event, rule(M.CAISO_10_IN_10, "0.2"), zone=ZONE)
    local = got.values.index.tz_convert(ZONE)
    assert len(got.values) == 25 and got.in_event.sum() == 4  # 01:00, 02:00 twice, 03:00
    twice = got.values[local.hour == 2]
    assert len(twice) == 2 and twice.iloc[0] == twice.iloc[1]
    assert [d.isoweekday() for d in got.days] == [6, 7, 6, 7]
