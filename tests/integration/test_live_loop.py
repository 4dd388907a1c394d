"""The demo's live loop end to end, as ``make run`` runs it, in accelerated time: automatic
bidding of Park Energy before the gate, the in-process exchange clearing the day against the
live demo prices at gate closure, the fills polled, the award dispatched to the device
simulator, telemetry stored and the delivered intervals monitored.

The loops of the API server are called one round at a time; the test's ShiftClock moves time
(nothing sleeps)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from openvpp.dispatch.instructions_service import InstructionFilter
from openvpp.runtime import Runtime
from openvpp.runtime_autobid import autobid_tick
from openvpp.runtime_dispatch import dispatch_tick
from openvpp.runtime_trading import trading_tick
from openvpp.seed import seed_demo
from openvpp.trading.autobid_records import DecisionFilter
from openvpp.trading.orders import State
from openvpp.trading.records import OrderFilter
from tests.support import ShiftClock

NY = ZoneInfo("America/New_York")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"demo_live_market": True}


def test_the_demo_bids_clears_dispatches_and_monitors_live(
    runtime: Runtime, clock: ShiftClock
) -> None:
    rt = runtime
    org = seed_demo(rt, park=True).organization_id
    # 1. automatic bidding: the next days whose gate is less than two days away
    made = autobid_tick(rt)
    with rt.uow(readonly=True) as uow:
        decisions = uow.bid_decisions.page(org, DecisionFilter(), 50, 0)
    assert made and decisions
    tomorrow = min(decisions, key=lambda d: d.delivery_day)
    assert tomorrow.status == "submitted", tomorrow.error
    assert tomorrow.orders, "the decision placed orders"
    # 2. the exchange clears the day at its gate closure; the fills are polled
    clock.move_to(tomorrow.gate_closure + timedelta(minutes=1))
    cleared = rt.exchange.tick()
    assert any(r.day == tomorrow.delivery_day for r in cleared)
    trading_tick(rt)
    with rt.uow(readonly=True) as uow:
        orders = uow.trading_orders.page(org, OrderFilter(), 500, 0)
    mine = [o for o in orders if o.decision_id == tomorrow.id]
    assert mine and all(o.state is State.FILLED for o in mine), {o.state for o in mine}
    first = min(o.delivery_start for o in mine)
    # 3. delivery: the awarded hour is dispatched to the simulator, telemetry comes back
    clock.move_to(first + timedelta(seconds=30))
    dispatch_tick(rt)
    clock.move_to(first + timedelta(minutes=20))
    dispatch_tick(rt)
    with rt.uow(readonly=True) as uow:
        sent = uow.dispatch.page(org, InstructionFilter(start=first), 500, 0)
    assert sent, "setpoints for the awarded interval"
    assert {i.status for i in sent} <= {"sent", "accepted"}
    # 4. after the hour (and the settling time) it is monitored
    clock.move_to(first + timedelta(hours=1, minutes=5))
    dispatch_tick(rt)
    with rt.uow(readonly=True) as uow:
        records = uow.monitoring.page(
            org, vpp_id=None, resource_id=None, start=first, end=None, limit=500, offset=0
        )
    vpp_rows = [r for r in records if r.resource_id == "" and r.interval_start >= first]
    assert vpp_rows, "the VPP's delivered intervals are monitored"
    scheduled = {r.interval_start: r.scheduled_mw for r in vpp_rows}
    assert any(abs(v) > 0 for v in scheduled.values())
    assert Decimal(str(mine[0].quantity)) > 0
