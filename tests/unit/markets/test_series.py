"""Market data vintages and resampling (pure)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.markets.series import latest_known, resample


def frame(starts: pd.DatetimeIndex, period_min: int, values: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "start": starts,
            "period_min": period_min,
            "value": values,
            "known_at": starts - pd.Timedelta(hours=12),
        }
    )


def test_latest_known_never_shows_a_later_vintage() -> None:
    start = pd.Timestamp("2026-06-01 10:00", tz="UTC")
    f = pd.DataFrame(
        {
            "start": [start, start, start + pd.Timedelta(hours=1)],
            "period_min": 60,
            "value": [1.0, 2.0, 3.0],
            "known_at": [start - pd.Timedelta(hours=2), start - pd.Timedelta(hours=1), start],
        }
    )
    assert latest_known(f, start - pd.Timedelta(hours=3)).empty
    assert latest_known(f, start - pd.Timedelta(minutes=90))["value"].tolist() == [1.0]
    assert latest_known(f, start)["value"].tolist() == [2.0, 3.0]
    assert latest_known(f, None)["value"].tolist() == [2.0, 3.0]


def test_blocks_starting_off_the_utc_grid_are_weighted_by_overlap() -> None:
    # FCR blocks of 4 h start at 00:00 CET = 23:00 UTC
    starts = pd.date_range("2021-01-01 23:00", periods=2, freq="4h", tz="UTC")
    out = resample(frame(starts, 240, [11.19, 20.04]), 240)
    assert out["start"].astype(str).tolist()[:2] == [
        "2021-01-01 20:00:00+00:00",
        "2021-01-02 00:00:00+00:00",
    ]
    assert out["coverage"].tolist() == [0.25, 1.0, 0.75]
    assert out["value"].iloc[1] == pytest.approx(0.75 * 11.19 + 0.25 * 20.04)


def test_hourly_values_repeat_in_quarter_hours() -> None:
    starts = pd.date_range("2026-06-01", periods=2, freq="h", tz="UTC")
    out = resample(frame(starts, 60, [10.0, 20.0]), 15)
    assert out["value"].tolist() == [10.0] * 4 + [20.0] * 4
    assert (out["coverage"] == 1.0).all()


@pytest.mark.parametrize(
    ("zone", "first", "hours"),
    [
        ("Europe/Berlin", "2026-03-28 23:00", 23),
        ("Europe/Berlin", "2026-10-24 22:00", 25),
        ("Asia/Kolkata", "2026-01-01 18:30", 24),
    ],
)
def test_local_days(zone: str, first: str, hours: int) -> None:
    starts = pd.date_range(first, periods=hours, freq="h", tz="UTC")
    out = resample(frame(starts, 60, [float(i) for i in range(hours)]), 1440, zone)
    assert len(out) == 1
    assert out["end"].iloc[0] - out["start"].iloc[0] == pd.Timedelta(hours=hours)
    assert out["value"].iloc[0] == pytest.approx((hours - 1) / 2)
    assert out["coverage"].iloc[0] == 1.0


@settings(max_examples=80, deadline=None)
@given(
    offset=st.integers(0, 95).map(lambda q: q * 15),
    period=st.sampled_from([15, 30, 60, 240]),
    n=st.integers(1, 30),
    resolution=st.sampled_from([15, 30, 60, 240, 1440]),
    seed=st.integers(0, 2**16),
)
def test_resampling_keeps_the_time_weighted_total(
    offset: int, period: int, n: int, resolution: int, seed: int
) -> None:
    starts = pd.Timestamp("2026-03-28", tz="UTC") + pd.to_timedelta(
        offset + period * np.arange(n), unit="min"
    )
    values = np.random.default_rng(seed).uniform(-100, 100, n).round(3).tolist()
    out = resample(frame(pd.DatetimeIndex(starts), period, values), resolution, "Europe/Berlin")
    minutes = (out["end"] - out["start"]).dt.total_seconds() / 60 * out["coverage"]
    assert minutes.sum() == pytest.approx(period * n)
    assert (out["value"] * minutes).sum() == pytest.approx(sum(values) * period, abs=1e-6)
    assert (out["coverage"] > 0).all() and (out["coverage"] <= 1).all()
