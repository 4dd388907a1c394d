"""Automatic bidding decisions and their schedule (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from openvpp.aggregation.engine import Flex
from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.presets import load_presets
from openvpp.trading.autobid import BidInputs, decide, due_decisions

SDAC = load_presets()["EU-SDAC"]
H = SDAC.product("H")


def _battery_flex(t: int, *, baseline: float = 0.0) -> Flex:
    """A 2 MW / 4 MWh battery at half charge as an envelope (as the aggregation builds it)."""
    steps = np.arange(1, t + 1, dtype=np.float64)
    return Flex(
        np.full(t, baseline),
        np.full(t, -2.0 + baseline),
        np.full(t, 2.0 + baseline),
        np.maximum(-2.0 * steps, -1.8 / 0.95) + baseline * steps,
        np.minimum(2.0 * steps, 1.8 * 0.95) + baseline * steps,
        np.full(t, 4.0),
        np.full(t, 4.0),
    )


def _prices(t: int) -> np.ndarray:
    p50 = 40 + 30 * np.sin(np.linspace(0, 2 * np.pi, t))
    return np.stack([p50 - 10, p50, p50 + 10], axis=1)


@pytest.mark.parametrize(("day", "t"), [(date(2024, 6, 3), 24), (date(2024, 10, 27), 25)])
def test_schedule_bids_sell_the_expensive_hours_and_buy_the_cheap_ones(day: date, t: int) -> None:
    q = _prices(t)
    d = decide(BidInputs("dec-1", "vpp-1", SDAC, H, day, _battery_flex(t), q, {"model": "x"}))
    assert d.optimizer["status"] and len(d.schedule_mw) == t
    starts = {iv.start_utc for iv in delivery_intervals(H, day)}
    for o in d.orders:
        assert o.delivery_start in starts and o.decision_id == "dec-1"
        assert o.quantity % SDAC.volume_tick_mw == 0 and o.quantity > 0
        assert o.price == (Decimal(-500) if o.side == "sell" else Decimal(4000))
    sold = {o.delivery_start for o in d.orders if o.side == "sell"}
    bought = {o.delivery_start for o in d.orders if o.side == "buy"}
    i_sold = [i for i, iv in enumerate(delivery_intervals(H, day)) if iv.start_utc in sold]
    i_bought = [i for i, iv in enumerate(delivery_intervals(H, day)) if iv.start_utc in bought]
    assert sold and bought
    assert q[i_sold, 1].mean() > q[i_bought, 1].mean()
    assert d.expected_revenue > 0
    # the same decision gives the same client order ids (idempotent resubmission)
    again = decide(BidInputs("dec-1", "vpp-1", SDAC, H, day, _battery_flex(t), q, {}))
    assert [o.client_order_id for o in again.orders] == [o.client_order_id for o in d.orders]


def test_a_baseline_is_not_traded_only_the_change_from_it() -> None:
    # a generator at 1 MW without flexibility: its output is already balanced, nothing to bid
    t, one = 24, np.ones(24)
    rigid = Flex(one, one, one, np.cumsum(one), np.cumsum(one), 0 * one, 0 * one)
    d = decide(BidInputs("d", "v", SDAC, H, date(2024, 6, 3), rigid, _prices(t), {}))
    assert d.orders == [] and np.allclose(d.schedule_mw, 1.0)


def test_curve_bids_are_limit_orders_on_the_grid() -> None:
    q = _prices(24)
    d = decide(
        BidInputs(
            "dec-c", "v", SDAC, H, date(2024, 6, 3), _battery_flex(24), q, {}, strategy="curve"
        )
    )
    assert d.orders and all(o.price % SDAC.price_tick == 0 for o in d.orders)
    assert len({o.client_order_id for o in d.orders}) == len(d.orders)
    # curves coupled across the day: what the LP expects of them is on the record
    assert d.optimizer["strategy"] == "curve"
    assert d.optimizer["curve_expected_recourse_mwh"] >= 0
    assert d.optimizer["curve_solve_s"] > 0
    # extended to the price limits: what every price path sells is sold at any price (a day
    # swinging 60 around forecasts 20 wide: every path sells and buys at the same hours)
    floor, cap = SDAC.price_limits.min, SDAC.price_limits.max
    assert {o.price for o in d.orders if o.side == "sell"} == {floor}
    assert {o.price for o in d.orders if o.side == "buy"} == {cap}


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(ValueError, match="quantiles"):
        BidInputs("d", "v", SDAC, H, date(2024, 6, 3), _battery_flex(24), np.zeros((23, 3)), {})
    with pytest.raises(ValueError, match="flex"):
        BidInputs("d", "v", SDAC, H, date(2024, 6, 3), _battery_flex(23), _prices(24), {})


def test_decisions_are_due_inside_the_lead_and_before_the_margin() -> None:
    configs = [("v1", SDAC, H)]
    gate = datetime(2024, 6, 2, 10, 0, tzinfo=UTC)  # 12:00 CEST on D-1 for D = 3 June
    assert due_decisions(configs, gate - timedelta(hours=7), set()) == []
    due = due_decisions(configs, gate - timedelta(hours=5), set())
    assert [(d.vpp_id, d.day, d.gate_closure) for d in due] == [("v1", date(2024, 6, 3), gate)]
    assert (
        due_decisions(
            configs, gate - timedelta(hours=5), {("v1", "EU-SDAC", "H", date(2024, 6, 3))}
        )
        == []
    )
    assert due_decisions(configs, gate - timedelta(minutes=10), set()) == []  # inside the margin
