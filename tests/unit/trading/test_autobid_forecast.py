"""The seasonal-naive fallback forecast of automatic bidding."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.presets import load_presets
from openvpp.trading.autobid_forecast import MIN_ERRORS, same_local_time, seasonal_naive

NY = "America/New_York"
H = load_presets()["US-ISO-DA"].product("H")


def _hourly(start: datetime, days: int, price: object) -> dict[datetime, float]:
    out = {}
    for i in range(days * 24):
        t = start + timedelta(hours=i)
        out[t] = float(price(t))  # type: ignore[operator]
    return out


def _starts(day: date) -> list[datetime]:
    return [iv.start_utc for iv in delivery_intervals(H, day)]


def test_same_local_time_keeps_the_wall_clock_across_dst() -> None:
    zone = ZoneInfo(NY)
    # 2024-11-10 09:00 EST is 14:00 UTC; a week before, 09:00 EDT was 13:00 UTC
    t = datetime(2024, 11, 10, 14, tzinfo=UTC)
    assert same_local_time(t, 7, zone) == datetime(2024, 11, 3, 14, tzinfo=UTC)
    assert same_local_time(t, 7, zone).astimezone(zone).hour == 9
    t = datetime(2024, 11, 4, 14, tzinfo=UTC)  # Monday 09:00 EST; Sunday 09:00 EST
    assert same_local_time(t, 1, zone) == datetime(2024, 11, 3, 14, tzinfo=UTC)
    t = datetime(2024, 11, 3, 13, tzinfo=UTC)  # 08:00 EST on the fall-back day
    assert same_local_time(t, 1, zone).astimezone(zone).hour == 8


def test_the_p50_is_the_price_a_week_before_and_the_day_before_when_missing() -> None:
    day = date(2024, 6, 12)
    first = _starts(day)[0]
    # price = the UTC hour of the day + 100 x the day of the month: each value is unique
    history = _hourly(first - timedelta(days=30), 30, lambda t: t.hour + 100 * t.day)
    del history[first - timedelta(days=7) + timedelta(hours=5)]
    f = seasonal_naive(history, _starts(day), NY)
    assert f.missing == 0
    assert f.lags_days == [7] * 5 + [1] + [7] * 18
    for i, t in enumerate(_starts(day)):
        lag = timedelta(days=f.lags_days[i])
        assert f.quantiles[i, 1] == history[t - lag]


def test_missing_lags_leave_nan_and_are_counted() -> None:
    day = date(2024, 6, 12)
    f = seasonal_naive({}, _starts(day), NY)
    assert f.missing == 24 and f.lags_days == [0] * 24 and f.errors == 0


def test_the_spread_comes_from_the_weekly_naive_errors() -> None:
    day = date(2024, 6, 12)
    first = _starts(day)[0]
    rng = np.random.default_rng(7)
    noise = {i: float(rng.normal(0, 5)) for i in range(40 * 24)}
    history = {
        first - timedelta(days=40) + timedelta(hours=i): 50.0 + noise[i] for i in range(40 * 24)
    }
    f = seasonal_naive(history, _starts(day), NY)
    recent = [t for t in history if first - timedelta(days=28) <= t < first]
    errors = [history[t] - history[t - timedelta(days=7)] for t in recent]
    assert f.errors == len(errors) == 28 * 24
    assert f.error_p10 == pytest.approx(np.quantile(errors, 0.1))
    assert f.error_p90 == pytest.approx(np.quantile(errors, 0.9))
    assert np.allclose(f.quantiles[:, 0], f.quantiles[:, 1] + f.error_p10)
    assert f.report()["spread"] == "naive errors"


def test_too_few_errors_give_no_spread() -> None:
    day = date(2024, 6, 12)
    first = _starts(day)[0]
    history = {first - timedelta(hours=i): 40.0 + i % 24 for i in range(1, 7 * 24 + 13)}
    f = seasonal_naive(history, _starts(day), NY)
    assert f.errors < MIN_ERRORS
    assert np.array_equal(f.quantiles[:, 0], f.quantiles[:, 2])
    assert f.report()["spread"].startswith("none")


@given(
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(0, 500),
    day=st.sampled_from([date(2024, 3, 10), date(2024, 11, 3), date(2024, 6, 12)]),
)
def test_quantiles_are_ordered_on_every_day_dst_included(
    seed: int, scale: float, day: date
) -> None:
    starts = _starts(day)
    first = starts[0]
    prices = np.random.default_rng(seed).normal(40, scale + 1e-9, 35 * 24)
    history = {first - timedelta(hours=35 * 24 - i): float(p) for i, p in enumerate(prices)}
    f = seasonal_naive(history, starts, NY)
    assert f.quantiles.shape == (len(starts), 3)
    assert f.missing == 0  # an hourly UTC history holds every local hour a week or a day before
    q = f.quantiles
    assert np.all(q[:, 0] <= q[:, 1]) and np.all(q[:, 1] <= q[:, 2])
