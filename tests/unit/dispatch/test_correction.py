"""Within-interval correction and the intraday residual."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from openvpp.dispatch.correction import (
    IntradayPolicy,
    Side,
    expected_deviation,
    intraday_product,
    intraday_residual,
    within_interval,
)
from openvpp.markets.model import Market
from openvpp.markets.presets import load_presets

QH = timedelta(minutes=15)
HOUR = timedelta(hours=1)
NOW = datetime(2026, 12, 6, 10, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def sidc() -> Market:
    return load_presets()["EU-SIDC"]


# --------------------------------------------------------------------------- within interval


def test_cancels_the_deviation_exactly_when_headroom_allows() -> None:
    # 10 MW scheduled for a quarter-hour (2.5 MWh); 6 minutes gone with 0.8 MWh delivered;
    # both resources run at 4 MW. (2.5 - 0.8) / 0.15 h = 11.33 MW are needed: +3.33 MW.
    c = within_interval(
        2.5, 0.8, QH, 0.4, np.array([4.0, 4.0]), np.array([0.0, 0.0]), np.array([6.0, 10.0])
    )
    assert c.remaining_h == pytest.approx(0.15)
    assert c.needed_mw == pytest.approx(10 / 3)
    # headroom 2 and 6 MW: each gives 5/12 of it
    np.testing.assert_allclose(c.delta_mw, [2 * 5 / 12, 6 * 5 / 12])
    assert c.uncorrectable_mw == 0.0
    assert 0.8 + c.setpoint_mw.sum() * c.remaining_h == pytest.approx(2.5)
    assert c.vpp_target_mw == pytest.approx(34 / 3)


def test_reports_what_cannot_be_corrected() -> None:
    c = within_interval(
        2.5, 0.8, QH, 0.4, np.array([4.0, 4.0]), np.array([0.0, 0.0]), np.array([5.0, 5.0])
    )
    np.testing.assert_allclose(c.setpoint_mw, [5.0, 5.0])
    assert c.corrected_mw == pytest.approx(2.0)
    assert c.uncorrectable_mw == pytest.approx(10 / 3 - 2)
    assert c.uncorrectable_mwh == pytest.approx(-0.2)  # short 0.2 MWh at the interval's end


def test_battery_energy_room_caps_the_headroom() -> None:
    # a surplus: 1 MWh scheduled in an hour, half gone with 0.75 MWh, running at 1 MW:
    # (1 - 0.75) / 0.5 - 1 = -0.5 MW needed. The battery may absorb only 0.1 MWh more.
    c = within_interval(
        1.0,
        0.75,
        HOUR,
        0.5,
        np.array([1.0, 0.0]),
        np.array([0.0, -2.0]),
        np.array([1.0, 2.0]),
        energy_down_mwh=np.array([np.inf, 0.1]),
    )
    assert c.needed_mw == pytest.approx(-0.5)
    # down headroom: PV 1 MW, battery min(2, 0.1 / 0.5) = 0.2 MW; 0.5 of 1.2 MW spread evenly
    np.testing.assert_allclose(c.delta_mw, [-0.5 / 1.2, -0.2 * 0.5 / 1.2])
    assert c.uncorrectable_mw == 0.0
    np.testing.assert_allclose(
        within_interval(
            1.0, 0.75, HOUR, 0.5, np.array([1.0]), np.array([-2.0]), np.array([2.0]),
            energy_down_mwh=np.array([0.1]), energy_up_mwh=np.array([0.0]),
        ).uncorrectable_mw,
        -0.3,  # a battery alone absorbs only 0.2 of the 0.5 MW surplus
    )  # fmt: skip


def test_deadband_and_validation() -> None:
    args = (np.array([1.0]), np.array([0.0]), np.array([2.0]))
    small = within_interval(0.2525, 0.0, QH, 0.0, *args, deadband_mw=0.02)  # needs +0.01 MW
    assert small.needed_mw == 0.0
    assert small.delta_mw.tolist() == [0.0]
    assert within_interval(0.2525, 0.0, QH, 0.0, *args).needed_mw == pytest.approx(0.01)
    with pytest.raises(ValueError, match="elapsed"):
        within_interval(1.0, 0.0, QH, 1.0, *args)
    with pytest.raises(ValueError, match="p_min_mw must not exceed"):
        within_interval(1.0, 0.0, QH, 0.0, np.array([1.0]), np.array([3.0]), np.array([2.0]))


@st.composite
def fleets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 8))
    floats = st.floats(-10, 10, allow_nan=False)
    a = draw(hnp.arrays(np.float64, n, elements=floats))
    b = draw(hnp.arrays(np.float64, n, elements=floats))
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    frac = draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1)))
    room = draw(hnp.arrays(np.float64, n, elements=st.floats(0, 5)))
    return lo + frac * (hi - lo), lo, hi, room


@settings(max_examples=200, deadline=None)
@given(
    fleet=fleets(),
    scheduled=st.floats(-20, 20),
    delivered=st.floats(-20, 20),
    elapsed=st.floats(0, 0.95),
    hourly=st.booleans(),
)
def test_corrective_setpoints_stay_within_limits(
    fleet: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    scheduled: float,
    delivered: float,
    elapsed: float,
    hourly: bool,
) -> None:
    p, lo, hi, room = fleet
    c = within_interval(
        scheduled, delivered, HOUR if hourly else QH, elapsed, p, lo, hi,
        energy_up_mwh=room, energy_down_mwh=room,
    )  # fmt: skip
    eps = 1e-9
    assert np.all(c.setpoint_mw >= lo - eps)
    assert np.all(c.setpoint_mw <= hi + eps)
    assert np.all(np.abs(c.delta_mw) * c.remaining_h <= room + eps)  # energy room kept
    assert np.all(c.delta_mw * c.needed_mw >= 0)  # every resource moves the right way
    assert c.corrected_mw + c.uncorrectable_mw == pytest.approx(c.needed_mw, abs=1e-9)
    if c.uncorrectable_mw == 0.0:  # fully corrected: the interval meets its schedule
        total = delivered + c.setpoint_mw.sum() * c.remaining_h
        assert total == pytest.approx(scheduled, abs=1e-7)


# --------------------------------------------------------------------------- later intervals


def test_expected_deviation_persistence_decay_and_forecast() -> None:
    assert expected_deviation(-0.4, 3, QH).tolist() == [-0.4, -0.4, -0.4]
    decay = expected_deviation(-0.4, 4, QH, method="decay", half_life=timedelta(minutes=30))
    np.testing.assert_allclose(decay, -0.4 * 0.5 ** np.array([0.5, 1.0, 1.5, 2.0]))
    hourly = expected_deviation(1.0, 2, HOUR, method="decay", half_life=HOUR)
    np.testing.assert_allclose(hourly, [0.5, 0.25])
    assert expected_deviation(9.0, 2, QH, forecast_mw=np.array([1.0, 2.0])).tolist() == [1, 2]
    with pytest.raises(ValueError, match="shape"):
        expected_deviation(0.0, 2, QH, forecast_mw=np.array([1.0]))


def _qh(start: datetime, n: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="15min")


def test_only_intervals_with_an_open_gate_are_traded(sidc: Market) -> None:
    # EU-SIDC quarter-hours close 5 min before delivery: at 10:02 the 10:00 interval has
    # closed, 10:15 closes at 10:10.
    idx = _qh(datetime(2026, 12, 6, 10, 0, tzinfo=UTC), 3)
    plan = intraday_residual(idx, np.full(3, -0.5), NOW, sidc, np.full(3, 80.0))
    assert plan.gate_open.tolist() == [False, True, True]
    assert [o.delivery_start for o in plan.orders] == list(idx[1:].to_pydatetime())
    assert plan.orders[0].gate_closure == datetime(2026, 12, 6, 10, 10, tzinfo=UTC)
    assert plan.untraded_mw.tolist() == [-0.5, 0.0, 0.0]  # settled as imbalance
    # the trading layer needs 10 minutes: 10:15 is too late as well
    late = intraday_residual(
        idx, np.full(3, -0.5), NOW, sidc, np.full(3, 80.0),
        policy=IntradayPolicy(gate_margin=timedelta(minutes=10)),
    )  # fmt: skip
    assert late.gate_open.tolist() == [False, False, True]
    # the day after tomorrow has not opened yet (D-1 16:00 Brussels)
    far = _qh(datetime(2026, 12, 8, 10, 0, tzinfo=UTC), 1)
    assert not intraday_residual(far, np.full(1, -0.5), NOW, sidc, np.full(1, 80.0)).orders


def test_residuals_round_to_lots_and_respect_the_deadband(sidc: Market) -> None:
    idx = _qh(datetime(2026, 12, 6, 11, 0, tzinfo=UTC), 6)
    dev = np.array([-0.26, -0.25, 0.14, 0.04, 0.349, -0.5])
    price = np.array([80.123, 80.0, 80.127, 80.0, 80.0, math.nan])
    plan = intraday_residual(idx, dev, NOW, sidc, price)
    got = [(o.delivery_start.minute + 60 * (o.delivery_start.hour - 11), o.side, o.quantity_mw)
           for o in plan.orders]  # fmt: skip
    assert got == [
        (0, Side.BUY, Decimal("0.3")),  # 2.6 lots -> 3
        (15, Side.BUY, Decimal("0.2")),  # 2.5 lots -> 2 (half to even)
        (30, Side.SELL, Decimal("0.1")),
        (60, Side.SELL, Decimal("0.3")),
    ]  # 0.04 MW lies inside the deadband; no reference price at 12:15
    np.testing.assert_allclose(plan.traded_mw, [-0.3, -0.2, 0.1, 0.0, 0.3, 0.0])
    np.testing.assert_allclose(plan.untraded_mw, [0.04, -0.05, 0.04, 0.04, 0.049, -0.5])
    # the most we pay is the reference plus the spread, the least we accept minus it
    assert plan.orders[0].limit_price == Decimal("85.12")
    assert plan.orders[2].limit_price == Decimal("75.13")
    wide = intraday_residual(idx, dev, NOW, sidc, price, policy=IntradayPolicy(deadband_mw=0.2))
    assert [o.quantity_mw for o in wide.orders] == [Decimal("0.3"), Decimal("0.2"), Decimal("0.3")]


def test_flexibility_covers_the_deviation_first(sidc: Market) -> None:
    idx = _qh(datetime(2026, 12, 6, 11, 0, tzinfo=UTC), 2)
    plan = intraday_residual(
        idx, np.array([-0.5, 0.5]), NOW, sidc, np.full(2, 50.0),
        up_mw=np.array([0.2, 0.2]), down_mw=np.array([0.45, 0.45]),
    )  # fmt: skip
    np.testing.assert_allclose(plan.redispatch_mw, [0.2, -0.45])
    np.testing.assert_allclose(plan.residual_mw, [-0.3, 0.05])
    assert [(o.side, o.quantity_mw) for o in plan.orders] == [(Side.BUY, Decimal("0.3"))]
    keep = intraday_residual(
        idx, np.array([-0.5, 0.5]), NOW, sidc, np.full(2, 50.0), up_mw=np.array([0.2, 0.2]),
        policy=IntradayPolicy(use_flexibility=False),
    )  # fmt: skip
    assert [o.quantity_mw for o in keep.orders] == [Decimal("0.5"), Decimal("0.5")]


def test_hourly_intervals_trade_the_hourly_product(sidc: Market) -> None:
    idx = pd.date_range(datetime(2026, 12, 6, 10, 0, tzinfo=UTC), periods=3, freq="1h")
    plan = intraday_residual(idx, np.full(3, 1.0), NOW, sidc, np.full(3, 90.0))
    assert plan.gate_open.tolist() == [False, True, True]
    assert {(o.product, o.side) for o in plan.orders} == {("H", Side.SELL)}
    assert plan.orders[0].delivery_end - plan.orders[0].delivery_start == HOUR
    assert plan.orders[0].gate_closure == datetime(2026, 12, 6, 10, 55, tzinfo=UTC)
    assert intraday_product(sidc, QH).code == "QH"
    with pytest.raises(ValueError, match="30-min"):
        intraday_product(sidc, timedelta(minutes=30))
