"""Demand-response settlement runs: awards from fills, the baseline from the VPP's meter
history (Jiangsu's last 5 working days on the CN-SD-DR preset), payment and Guangdong's
under-delivery penalty, by hand."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from openvpp.core.errors import ValidationFailed
from openvpp.markets.presets import load_presets
from openvpp.runtime import Runtime
from openvpp.settlement.service import CalculateRequest, SettlementService
from tests.integration.settlement_support import fill, make_book, meter, vpp_load_history

DR = load_presets()["CN-SD-DR"]
ZONE = "Asia/Shanghai"
EVENT_DAY = date(2026, 7, 15)  # a Wednesday


def at(hour: int, minute: int = 0, day: date = EVENT_DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(ZONE))


def test_peak_shaving_paid_against_the_last_5_working_days(runtime: Runtime) -> None:
    rt = runtime
    book = make_book(rt, EVENT_DAY)
    # 10 MW of load on every day of the fortnight before; on the event day too
    vpp_load_history(rt, book, ZONE, EVENT_DAY - timedelta(days=14), EVENT_DAY, 10.0)
    # awards: 2 MW of peak shaving 14:00-15:00 and 15:00-16:00 at 2,000 CNY/MWh
    for hour in (14, 15):
        fill(rt, book, at(hour), "2", "2000", market="CN-SD-DR", product="SHAVE")
    # the load fell to 8.5 MW in the first hour (1.5 MWh of response), 9.5 in the second
    for k in range(4):
        meter(rt, book, at(14, 15 * k), -8.5)
        meter(rt, book, at(15, 15 * k), -9.5)
    req = CalculateRequest(book.vpp, "CN-SD-DR", EVENT_DAY, EVENT_DAY)
    [outcome] = rt.settlement.calculate(rt.uow(), book.org, req)
    run = outcome.run
    # paid 1.5 x 2,000 + 0.5 x 2,000; the second hour is below 50 % of its award:
    # (2 x 0.5 - 0.5) x 2,000 x 0.5 = 500.00
    assert run.totals == {"response_payment": 400_000, "under_delivery_penalty": -50_000}
    assert run.currency == "CNY" and run.intervals == 24 and run.resources == 0
    baseline = run.inputs["baseline"]
    assert baseline["method"] == "last_5_working_days"
    assert baseline["days"] == [
        "2026-07-14",
        "2026-07-13",
        "2026-07-10",
        "2026-07-09",
        "2026-07-08",
    ]
    assert run.prices["response"][14] == 20_000_000  # 2,000.0000 in ticks of 0.0001
    with rt.uow(readonly=True) as uow:
        rows = uow.settlement.details(run.id, "", 100, 0)
    assert [r["scheduled"] for r in rows[14:16]] == [2_000, 2_000]  # awards [kWh]
    assert [r["metered"] for r in rows[14:16]] == [1_500, 500]  # responses [kWh]
    balances = {
        a: v
        for a, _, _, v in rt.settlement.balances(
            rt.uow(readonly=True), book.org, first=None, last=None, by_period=False, vpp_id=book.vpp
        )
    }
    assert balances["asset:market_receivable"] == 350_000 and sum(balances.values()) == 0


def test_an_earlier_event_day_is_not_a_baseline_day(runtime: Runtime) -> None:
    rt = runtime
    book = make_book(rt, EVENT_DAY)
    vpp_load_history(rt, book, ZONE, EVENT_DAY - timedelta(days=14), EVENT_DAY, 10.0)
    earlier = EVENT_DAY - timedelta(days=1)
    fill(rt, book, at(10, day=earlier), "1", "1000", market="CN-SD-DR", product="SHAVE")
    fill(rt, book, at(14), "2", "2000", market="CN-SD-DR", product="SHAVE")
    [outcome] = rt.settlement.calculate(
        rt.uow(), book.org, CalculateRequest(book.vpp, "CN-SD-DR", EVENT_DAY, EVENT_DAY)
    )
    days = outcome.run.inputs["baseline"]["days"]
    assert "2026-07-14" not in days and days[0] == "2026-07-13"
    assert outcome.run.inputs["baseline"]["excluded_event_days"] == ["2026-07-14"]
    # no reading changed: 10 MW against a 10 MW baseline, nothing delivered: (1 - 0) x 2,000 x 0.5
    assert outcome.run.totals == {"response_payment": 0, "under_delivery_penalty": -100_000}


def test_a_missing_history_is_named(runtime: Runtime) -> None:
    rt = runtime
    book = make_book(rt, EVENT_DAY)
    vpp_load_history(rt, book, ZONE, EVENT_DAY - timedelta(days=2), EVENT_DAY, 10.0)
    fill(rt, book, at(14), "2", "2000", market="CN-SD-DR", product="SHAVE")
    with pytest.raises(ValidationFailed, match="baseline: last_5_working_days needs 5") as e:
        rt.settlement.calculate(
            rt.uow(), book.org, CalculateRequest(book.vpp, "CN-SD-DR", EVENT_DAY, EVENT_DAY)
        )
    assert e.value.field == "market"


def test_demand_response_and_energy_of_one_day_settle_apart(runtime: Runtime) -> None:
    rt = runtime
    book = make_book(rt, EVENT_DAY)
    vpp_load_history(rt, book, ZONE, EVENT_DAY - timedelta(days=14), EVENT_DAY, 10.0)
    fill(rt, book, at(14), "2", "2000", market="CN-SD-DR", product="SHAVE")
    fill(rt, book, at(9), "1", "300", market="CN-SD-DA", product="P96")
    rt.clock.advance(  # type: ignore[attr-defined]
        (at(0, day=EVENT_DAY + timedelta(days=2)) - rt.clock.now()).total_seconds()
    )
    due = rt.settlement.due(
        rt.uow(readonly=True), book.org, delay=timedelta(hours=1), lookback_days=3
    )
    assert sorted((r.market, r.first_day) for r in due if r.vpp_id == book.vpp) == [
        ("CN-SD-DA", EVENT_DAY),
        ("CN-SD-DR", EVENT_DAY),
    ]


def test_the_preset_calendar_moves_the_baseline_days(runtime: Runtime) -> None:
    rt = runtime
    book = make_book(rt, EVENT_DAY)
    vpp_load_history(rt, book, ZONE, EVENT_DAY - timedelta(days=14), EVENT_DAY, 10.0)
    fill(rt, book, at(14), "2", "2000", market="CN-SD-DR", product="SHAVE")
    rule = DR.settlement.baseline
    assert rule is not None
    calendar = rule.model_copy(
        update={"holidays": (date(2026, 7, 14),), "working_weekend_days": (date(2026, 7, 12),)}
    )
    market = DR.model_copy(
        update={"settlement": DR.settlement.model_copy(update={"baseline": calendar})}
    )
    service = SettlementService(rt.clock, lambda: {**load_presets(), "CN-SD-DR": market})
    [outcome] = service.calculate(
        rt.uow(), book.org, CalculateRequest(book.vpp, "CN-SD-DR", EVENT_DAY, EVENT_DAY)
    )
    # the 14th is a holiday, Sunday the 12th a working day
    assert outcome.run.inputs["baseline"]["days"] == [
        "2026-07-13",
        "2026-07-12",
        "2026-07-10",
        "2026-07-09",
        "2026-07-08",
    ]
