"""The registry's rolling evaluation: day-ahead windows on local days (DST), the model's own
leads, and the history as known at each issue time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from openvpp.forecasting.baseline import SeasonalNaiveForecaster
from openvpp.forecasting.registry.evaluation import _windows, lead_window, rolling_forecasts

H = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)


def test_day_ahead_windows_follow_local_days_across_dst() -> None:
    start = pd.Timestamp("2024-03-29 23:00", tz="UTC")  # local midnight of Mar 30 (CET)
    end = pd.Timestamp("2024-04-01 22:00", tz="UTC")  # local midnight of Apr 2 (CEST)
    windows = _windows(start, end, pd.Timedelta(0), DAY, DAY, "Europe/Berlin")
    spans = [(hi - lo) / H for _, lo, hi in windows]
    assert spans == [24, 23, 24]  # Mar 31 has 23 hours
    for issued, lo, _ in windows:
        assert issued == lo and lo.tz_convert("Europe/Berlin").hour == 0


def test_direct_models_are_asked_for_their_own_leads() -> None:
    class Direct:
        min_lead = pd.Timedelta(hours=13)
        horizon = pd.Timedelta(hours=38)

    lead, every, span = lead_window(Direct(), H, DAY, DAY)
    assert (lead, every, span) == (13 * H, DAY, DAY)  # at most a day of leads per issue
    lead, every, span = lead_window(object(), H, DAY, DAY)
    assert (lead, every, span) == (pd.Timedelta(0), DAY, DAY)


def test_each_forecast_sees_the_history_as_known_at_its_issue_time() -> None:
    index = pd.date_range("2024-01-01", periods=10 * 24, freq="h", tz="UTC")
    truth = pd.DataFrame({"target": np.arange(len(index), dtype=float)}, index=index)
    seen: list[pd.Timestamp | None] = []

    def as_known(when: pd.Timestamp | None) -> pd.DataFrame:
        seen.append(when)
        if when is None:
            return truth
        known = truth.copy()
        known.loc[known.index >= when, "target"] = np.nan  # nothing published after it
        return known

    model = SeasonalNaiveForecaster(season_hours=24).fit(truth.iloc[: 5 * 24])
    start = index[7 * 24]
    out = rolling_forecasts(model, as_known, start, index[-1] + H)
    assert seen[0] is None and seen[1:] == [start, start + DAY, start + 2 * DAY]
    # same hour the day before the issue day: day D's forecast is D-1's values
    assert out["p50"].iloc[0] == pytest.approx(truth["target"].iloc[6 * 24])
    assert len(out) == 3 * 24  # three whole days scored
