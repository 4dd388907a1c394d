"""EV fleet bounds from sessions (synthetic cases and the ACN 2021 sessions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.resources.models.ev import fleet_bounds

SHARED = (
    Path(__file__).parents[4] / "shared" / "data" / "ev" / ("acn_data_sessions_site0002_2021.csv")
)
GRID = np.arange(0.0, 24.0, 0.25)


def test_one_session() -> None:
    b = fleet_bounds(
        np.array([1.0]), np.array([5.0]), np.array([0.02]), np.array([0.01]), GRID, 0.25
    )
    assert b.p_charge_max_mw[GRID < 1].sum() == 0
    assert b.p_charge_max_mw[(GRID >= 1) & (GRID < 5)].max() == pytest.approx(0.01)
    # Earliest: full after 2 h of charging (t=3); latest: starts at 3 h, full at departure.
    assert b.e_max_mwh[GRID == 2.75][0] == pytest.approx(0.02)
    assert b.e_min_mwh[GRID == 2.75][0] == pytest.approx(0.0)
    assert b.e_min_mwh[GRID == 4.75][0] == pytest.approx(0.02)
    assert b.served_mwh == pytest.approx(0.02)


def test_request_beyond_what_fits_is_capped() -> None:
    b = fleet_bounds(
        np.array([0.0]), np.array([1.0]), np.array([1.0]), np.array([0.011]), GRID, 0.25
    )
    assert b.served_mwh == pytest.approx(0.011)


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 20), st.floats(0.25, 10), st.floats(0.001, 0.08), st.floats(0.003, 0.02)
        ),
        min_size=1,
        max_size=30,
    )
)
def test_bounds_are_consistent(sessions: list[tuple[float, float, float, float]]) -> None:
    a = np.array([s[0] for s in sessions])
    d = a + np.array([s[1] for s in sessions])
    b = fleet_bounds(
        a, d, np.array([s[2] for s in sessions]), np.array([s[3] for s in sessions]), GRID, 0.25
    )
    assert np.all(b.e_min_mwh <= b.e_max_mwh + 1e-12)
    assert np.all(np.diff(b.e_min_mwh) >= -1e-12)
    assert np.all(np.diff(b.e_max_mwh) >= -1e-12)
    # Energy can grow by at most the power cap per interval.
    assert np.all(np.diff(b.e_max_mwh) <= b.p_charge_max_mw[1:] * 0.25 + 1e-9)
    assert b.e_max_mwh[-1] <= b.served_mwh + 1e-9


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data (ACN sessions) not present")
def test_acn_sessions_of_one_day() -> None:
    raw = pd.read_csv(SHARED, parse_dates=["connectionTime_utc", "disconnectTime_utc"])
    day = pd.Timestamp("2021-06-01 07:00", tz="UTC")  # local midnight, PDT
    sessions = raw[
        (raw["connectionTime_utc"] >= day)
        & (raw["connectionTime_utc"] < day + pd.Timedelta(hours=24))
    ]
    a = ((sessions["connectionTime_utc"] - day).dt.total_seconds() / 3600).to_numpy()
    d = ((sessions["disconnectTime_utc"] - day).dt.total_seconds() / 3600).to_numpy()
    e = sessions["kWhDelivered"].to_numpy() / 1000
    # Level-2 chargers deliver 6.6 kW; some stations here delivered more (30 kWh in 50 min),
    # so each session's power limit is at least what it actually averaged.
    p = np.maximum(0.0066, e / (d - a))
    b = fleet_bounds(a, d, e, p, np.arange(0.0, 36.0, 0.25), 0.25)
    assert len(a) > 5
    # What the vehicles actually received is deliverable within the bounds.
    assert b.served_mwh == pytest.approx(e.sum())
    assert b.e_max_mwh[-1] == pytest.approx(b.served_mwh)
    assert b.e_min_mwh[-1] == pytest.approx(b.served_mwh)  # all gone before 36 h
    assert b.p_charge_max_mw.max() <= p.sum()
