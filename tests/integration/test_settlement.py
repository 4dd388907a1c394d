"""Settlement runs against the real databases: hand-computed amounts on a 25-hour day,
idempotent reruns, revisions with reversals, and refusals that name the field."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from openvpp.cli.main import app
from openvpp.core.errors import NotFound, ValidationFailed
from openvpp.demo.park import AREA
from openvpp.runtime import Runtime
from openvpp.runtime_settlement import SettlementScheduler
from openvpp.seed import seed_demo
from openvpp.settlement import service as settlement_service
from openvpp.settlement.records import RunFilter
from openvpp.settlement.service import CalculateRequest
from openvpp.store import settlement_tables as st
from openvpp.store.migrate import downgrade, upgrade
from tests.integration.settlement_support import (
    DAY,
    SDAC,
    Book,
    fill,
    make_book,
    meter,
    prices,
)
from tests.support import ShiftClock, row_count

RECEIVABLE = "asset:market_receivable"


def request(book: Book, **kw: object) -> CalculateRequest:
    return replace(
        CalculateRequest(vpp_id=book.vpp, market="EU-SDAC", first_day=DAY, last_day=DAY), **kw
    )


def balances(rt: Runtime, org: str) -> dict[str, int]:
    with rt.uow(readonly=True) as uow:
        return {
            a: v for a, _, _, v in uow.ledger.balances(org, first=None, last=None, by_period=False)
        }


def test_a_day_settles_by_hand_and_reruns_idempotently(runtime: Runtime) -> None:
    rt = runtime
    book = make_book(rt)
    s = book.starts
    assert len(s) == 100
    for k in range(4):  # 2 MW sold day-ahead at 50 in four quarter-hours: 4 x 25.00
        fill(rt, book, s[k], "2", "50")
    fill(rt, book, s[3], "1", "60", side="buy", market="EU-SIDC")  # -15.00 intraday
    # metered [MW]: exact, 0.2 short, 0.08 long, exact (position 1 MW in the fourth)
    for k, mw in enumerate((2.0, 1.8, 2.08, 1.0)):
        meter(rt, book, s[k], mw)
        meter(rt, book, s[k], mw / 2, scheduled_mw=1.0, resource="r-1")
        meter(rt, book, s[k], mw / 2, scheduled_mw=1.0, resource="r-2")
    prices(rt, book, day_ahead=40.0, imbalance=70.0)

    [outcome] = rt.settlement.calculate(rt.uow(), book.org, request(book))
    run = outcome.run
    assert outcome.status == "created" and run.version == 1
    # imbalance: -0.05 MWh x 70 = -3.50; +0.02 MWh x 70 = +1.40
    # EU-SDAC's fee 0.04/MWh on the energy traded there: 0.5 MWh -> 0.02 (x4); the intraday
    # trade is another venue's
    assert run.totals == {
        "day_ahead": 10_000,
        "intraday": -1_500,
        "imbalance": -210,
        "fee:EXCHANGE": -8,
    }
    assert run.total == 8_282
    assert (run.intervals, run.resources, run.estimated_intervals) == (100, 2, 96)
    assert run.currency == "EUR"

    with rt.uow(readonly=True) as uow:
        vpp_rows = uow.settlement.details(run.id, "", 1000, 0)
        r1 = uow.settlement.details(run.id, "r-1", 1000, 0)
    assert len(vpp_rows) == 100 and len(r1) == 100
    assert [r["total"] for r in vpp_rows[:4]] == [2_498, 2_148, 2_638, 998]
    assert [r["scheduled"] for r in vpp_rows[:4]] == [500, 500, 500, 250]
    assert [r["metered"] for r in vpp_rows[:4]] == [500, 450, 520, 250]
    assert sum(r["total"] for r in vpp_rows) == run.total
    # resource r-1: 1 MW scheduled at the day-ahead price 40 -> 10.00 per quarter-hour
    assert [r["day_ahead"] for r in r1[:4]] == [1_000] * 4
    assert [r["metered"] for r in r1[:4]] == [250, 225, 260, 125]

    ledger = balances(rt, book.org)
    assert ledger[RECEIVABLE] == 8_282 and sum(ledger.values()) == 0

    assert run.checked_at is None
    [again] = rt.settlement.calculate(rt.uow(), book.org, request(book))
    assert again.status == "unchanged" and again.run.id == run.id
    assert again.run.checked_at is not None and again.run.checked_at >= run.created_at
    with rt.uow(readonly=True) as uow:
        stored = uow.settlement.get(book.org, run.id)
    assert stored is not None and stored.checked_at == again.run.checked_at  # the check stored
    assert stored.version == 1 and stored.superseded_by is None
    assert balances(rt, book.org) == ledger


def test_migration_0012_goes_down_and_up_with_the_runs_kept(runtime: Runtime) -> None:
    """Dropping ``checked_at`` keeps every run and interval row (a batch rebuild of the table
    on SQLite would delete the intervals through their ON DELETE CASCADE)."""
    rt = runtime
    book = make_book(rt)
    fill(rt, book, book.starts[0], "2", "50")
    prices(rt, book, day_ahead=40.0, imbalance=70.0)
    rt.settlement.calculate(rt.uow(), book.org, request(book))

    def counts() -> tuple[int, int]:
        return row_count(rt, st.settlement_runs), row_count(rt, st.settlement_intervals)

    before = counts()
    assert before[0] == 1 and before[1] > 0
    try:
        downgrade(rt.engine, "0011")
        columns = {c["name"] for c in sa.inspect(rt.engine).get_columns("settlement_runs")}
        assert "checked_at" not in columns
        assert counts() == before
    finally:
        upgrade(rt.engine)
    assert counts() == before


def test_changed_inputs_revise_the_run_and_reverse_its_entries(runtime: Runtime) -> None:
    rt = runtime
    book = make_book(rt)
    s = book.starts
    fill(rt, book, s[10], "4", "45")  # 1 MWh sold at 45.00
    prices(rt, book, day_ahead=45.0, imbalance=100.0)
    [first] = rt.settlement.calculate(rt.uow(), book.org, request(book))
    # no meter reading: settled at the schedule
    assert first.run.totals["imbalance"] == 0 and first.run.estimated_intervals == 100

    meter(rt, book, s[10], 3.6)  # a late reading: 0.1 MWh short at 100.00
    [second] = rt.settlement.calculate(rt.uow(), book.org, request(book))
    assert second.status == "revised" and second.run.version == 2
    assert second.run.totals["imbalance"] == -1_000
    assert second.run.estimated_intervals == 99
    ledger = balances(rt, book.org)
    assert ledger[RECEIVABLE] == second.run.total and sum(ledger.values()) == 0
    with rt.uow(readonly=True) as uow:
        latest = uow.settlement.page(book.org, RunFilter(vpp_id=book.vpp), 10, 0)
        every = uow.settlement.page(
            book.org, RunFilter(vpp_id=book.vpp, include_superseded=True), 10, 0
        )
        old = uow.settlement.get(book.org, first.run.id)
    assert [r.id for r in latest] == [second.run.id]
    assert [r.version for r in every] == [2, 1]
    assert old is not None and old.superseded_by == second.run.id
    # a check that lost the race with this revision marks nothing (nor moves a check back)
    late = second.run.created_at + timedelta(minutes=5)
    with rt.uow() as uow:
        uow.settlement.checked(old.id, late)
        uow.settlement.checked(second.run.id, late)
        uow.settlement.checked(second.run.id, late - timedelta(minutes=1))
        uow.commit()
    with rt.uow(readonly=True) as uow:
        checked = {
            r.id: r.checked_at
            for r in (uow.settlement.get(book.org, i) for i in (old.id, second.run.id))
            if r
        }
    assert checked == {old.id: None, second.run.id: late}

    # a reading equal to the schedule changes no amount, only what was estimated
    meter(rt, book, s[11], 0.0)
    [third] = rt.settlement.calculate(rt.uow(), book.org, request(book))
    assert third.status == "revised" and third.run.estimated_intervals == 98
    assert third.run.total == second.run.total
    meter(rt, book, s[10], 3.8)  # corrected again: 0.05 MWh short
    [fourth] = rt.settlement.calculate(rt.uow(), book.org, request(book))
    assert fourth.run.version == 4 and fourth.run.totals["imbalance"] == -500
    ledger = balances(rt, book.org)
    # each revision reversed its predecessor's own entries only: the ledger holds version 4
    assert ledger[RECEIVABLE] == fourth.run.total and sum(ledger.values()) == 0
    assert ledger["revenue:imbalance"] == 500


def test_days_are_resumed_and_bad_requests_name_their_field(runtime: Runtime) -> None:
    rt = runtime
    book = make_book(rt)
    prices(rt, book, day_ahead=30.0, imbalance=30.0)
    with pytest.raises(
        ValidationFailed,
        match="price of EU-SDAC DE-LU QH: no price for all of the settlement interval "
        "starting 2026-10-25T23:00",
    ) as e:
        rt.settlement.calculate(rt.uow(), book.org, request(book, last_day=DAY + timedelta(days=1)))
    assert e.value.field == "market"
    # the first day was settled before the second failed, and is not settled twice
    with rt.uow(readonly=True) as uow:
        assert len(uow.settlement.page(book.org, RunFilter(vpp_id=book.vpp), 10, 0)) == 1
    [again] = rt.settlement.calculate(rt.uow(), book.org, request(book))
    assert again.status == "unchanged"

    too_far = DAY + timedelta(days=92)
    cases = [
        (request(book, market="NOPE"), "market"),
        (request(book, product="XX"), "product"),
        (request(book, real_time_market="NOPE"), "real_time_market"),
        (request(book, last_day=DAY - timedelta(days=1)), "last_day"),
        (request(book, last_day=too_far), "last_day"),
    ]
    for req, field in cases:
        with pytest.raises(ValidationFailed) as err:
            rt.settlement.calculate(rt.uow(), book.org, req)
        assert err.value.field == field
    with pytest.raises(NotFound) as missing:
        rt.settlement.calculate(rt.uow(), book.org, request(book, vpp_id="nope"))
    assert missing.value.field == "vpp_id"


def test_concurrent_calculations_store_one_run(runtime: Runtime) -> None:
    rt = runtime
    book = make_book(rt)
    fill(rt, book, book.starts[20], "1", "42")
    meter(rt, book, book.starts[20], 0.9)
    prices(rt, book, day_ahead=40.0, imbalance=60.0)
    barrier = threading.Barrier(6)

    def calculate() -> str:
        barrier.wait()
        [outcome] = rt.settlement.calculate(rt.uow(), book.org, request(book))
        return outcome.status

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(lambda _: calculate(), range(6)))
    assert statuses == ["created"] + ["unchanged"] * 5
    with rt.uow(readonly=True) as uow:
        runs = uow.settlement.page(
            book.org, RunFilter(vpp_id=book.vpp, include_superseded=True), 10, 0
        )
    assert len(runs) == 1
    ledger = balances(rt, book.org)
    assert ledger[RECEIVABLE] == runs[0].total and sum(ledger.values()) == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the one writer lock
def test_a_day_is_computed_outside_its_write_transaction(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a day's meters and computing it takes seconds for a large VPP: meanwhile other
    writers (orders, telemetry) must not wait, which on SQLite they would behind the writer
    lock of the run's transaction."""
    rt = runtime
    book = make_book(rt)
    fill(rt, book, book.starts[20], "1", "42")
    meter(rt, book, book.starts[20], 0.9)
    prices(rt, book, day_ahead=40.0, imbalance=60.0)
    compute_day = settlement_service.compute_day
    writers: list[bool] = []

    def computing(*args: object) -> object:
        def write() -> None:
            with rt.uow() as uow:
                uow.commit()

        other = threading.Thread(target=write)
        other.start()
        other.join(timeout=5)
        writers.append(not other.is_alive())
        return compute_day(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(settlement_service, "compute_day", computing)
    [outcome] = rt.settlement.calculate(rt.uow(), book.org, request(book))
    assert outcome.status == "created"
    assert writers == [True], "another writer committed while the day was computed"


def test_a_snapshot_older_than_the_latest_version_is_computed_again(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A calculation whose snapshot predates a version another calculation stored meanwhile
    (from a late reading) must not store its older figures over it."""
    rt = runtime
    book = make_book(rt)
    s = book.starts
    fill(rt, book, s[10], "4", "45")
    prices(rt, book, day_ahead=45.0, imbalance=100.0)
    [first] = rt.settlement.calculate(rt.uow(), book.org, request(book))
    compute_day = settlement_service.compute_day
    others: list[str] = []

    def computing(*args: object) -> object:
        data = compute_day(*args)  # type: ignore[arg-type]
        if not others:  # after our snapshot: a late reading, settled by another calculation
            others.append("late")
            meter(rt, book, s[10], 3.6)
            worker = threading.Thread(
                target=lambda: others.extend(
                    o.status for o in rt.settlement.calculate(rt.uow(), book.org, request(book))
                )
            )
            worker.start()
            worker.join(timeout=60)
        return data

    monkeypatch.setattr(settlement_service, "compute_day", computing)
    [ours] = rt.settlement.calculate(rt.uow(), book.org, request(book))
    assert others == ["late", "revised"]
    assert ours.status == "unchanged" and ours.run.version == 2
    assert ours.run.totals["imbalance"] == -1_000  # the late reading's figures, kept
    with rt.uow(readonly=True) as uow:
        every = uow.settlement.page(
            book.org, RunFilter(vpp_id=book.vpp, include_superseded=True), 10, 0
        )
    assert [r.version for r in every] == [2, 1] and first.run.version == 1
    ledger = balances(rt, book.org)
    assert ledger[RECEIVABLE] == ours.run.total and sum(ledger.values()) == 0


def test_the_scheduler_settles_each_ended_day_once(runtime: Runtime, clock: ShiftClock) -> None:
    rt = runtime
    zone = ZoneInfo(SDAC.time_zone)
    today = rt.clock.now().astimezone(zone).date()
    # 06:00: yesterday ended 6 h ago, long before its revision time (24 h after its end)
    clock.move_to(datetime.combine(today, time(6), zone))
    ended, unpriced = today - timedelta(days=1), today - timedelta(days=2)
    book = make_book(rt, ended)
    fill(rt, book, book.starts[30], "1", "50")
    fill(rt, book, book.starts[31], "1", "55", market="EU-SIDC")  # intraday: settled in SDAC
    prices(rt, book, day_ahead=40.0, imbalance=60.0)
    old = make_book(rt, unpriced)
    old.vpp = book.vpp
    fill(rt, old, old.starts[30], "1", "50")  # no prices stored for that day
    running = make_book(rt, today)
    running.vpp = book.vpp
    fill(rt, running, running.starts[-1], "1", "50")  # today has not ended

    scheduler = SettlementScheduler(rt)
    done = scheduler.tick()
    assert [(d["market"], d["day"], d["status"]) for d in done] == [
        ("EU-SDAC", ended.isoformat(), "created")
    ]
    with rt.uow(readonly=True) as uow:
        run = uow.settlement.get(book.org, done[0]["run_id"])
    assert run is not None and run.totals["intraday"] == 1_375  # 0.25 MWh x 55
    assert scheduler.tick() == []  # settled once; the unpriced day waits an hour
    clock.advance(3601)
    prices(rt, old, day_ahead=40.0, imbalance=60.0)
    again = scheduler.tick()
    assert [(d["day"], d["status"]) for d in again] == [(unpriced.isoformat(), "created")]


def test_the_scheduler_calculates_a_day_once_more_after_its_revision_time(
    runtime: Runtime, clock: ShiftClock
) -> None:
    rt = runtime
    zone = ZoneInfo(SDAC.time_zone)
    today = rt.clock.now().astimezone(zone).date()
    clock.move_to(datetime.combine(today, time(6), zone))
    ended = today - timedelta(days=1)
    late, quiet = make_book(rt, ended), make_book(rt, ended)
    for book in (late, quiet):
        fill(rt, book, book.starts[30], "4", "50")
    prices(rt, late, day_ahead=40.0, imbalance=100.0)

    def statuses(done: list[dict[str, object]]) -> dict[object, object]:
        return {d["vpp_id"]: d["status"] for d in done}

    scheduler = SettlementScheduler(rt)
    assert statuses(scheduler.tick()) == {late.vpp: "created", quiet.vpp: "created"}
    meter(rt, late, late.starts[30], 3.6)  # a late reading: 0.1 MWh short
    assert scheduler.tick() == [], "before the revision time"
    # 24 h after the day's end: its final calculation takes in the late reading
    end = datetime.combine(today, time(0), zone).astimezone(UTC)  # real hours, not wall
    clock.move_to(end + timedelta(hours=24, minutes=1))
    assert statuses(scheduler.tick()) == {late.vpp: "revised", quiet.vpp: "unchanged"}
    assert scheduler.tick() == [], "once"
    with rt.uow(readonly=True) as uow:
        [run] = uow.settlement.page(late.org, RunFilter(vpp_id=late.vpp), 10, 0)
    assert run.version == 2 and run.totals["imbalance"] == -1_000
    # the runs store the final check (checked_at): a restarted loop does not repeat it
    assert SettlementScheduler(rt).tick() == []


def test_the_job_kind_settles_days(runtime: Runtime) -> None:
    rt = runtime
    book = make_book(rt)
    fill(rt, book, book.starts[5], "2", "30")
    prices(rt, book, day_ahead=30.0, imbalance=30.0)
    params = {
        "vpp_id": book.vpp,
        "market": "EU-SDAC",
        "first_day": DAY.isoformat(),
        "last_day": DAY.isoformat(),
    }
    job = rt.jobs.submit(rt.uow(), book.admin, "settlement.calculate", params)
    ran = rt.runner.run_once()
    assert ran is not None and ran.id == job.id and ran.status.value == "succeeded", ran
    [result] = ran.result["runs"]
    # 0.5 MWh x 30.00 = 15.00, less the exchange fee 0.5 MWh x 0.04 = 0.02
    assert result["status"] == "created" and result["total"] == 1_498
    with pytest.raises(ValidationFailed) as bad:
        rt.jobs.submit(rt.uow(), book.admin, "settlement.calculate", {**params, "first_day": "x"})
    assert bad.value.field == "params.first_day"
    backwards = {**params, "last_day": (DAY - timedelta(days=1)).isoformat()}
    with pytest.raises(ValidationFailed) as bad:
        rt.jobs.submit(rt.uow(), book.admin, "settlement.calculate", backwards)
    assert bad.value.field == "params.last_day"


def test_the_cli_settles_days_with_a_progress_bar(cli_env: Runtime, seeded: Runtime) -> None:
    rt = seeded
    book = make_book(rt)
    fill(rt, book, book.starts[8], "4", "25")  # 1 MWh x 25.00, fee 0.04
    prices(rt, book, day_ahead=25.0, imbalance=25.0)
    argv = ["settlement", "calculate", "--vpp", book.vpp, "--market", "EU-SDAC"]
    done = CliRunner().invoke(app, [*argv, "--from", DAY.isoformat()])
    assert done.exit_code == 0, done.output
    assert "created" in done.output and "24.96 EUR" in done.output
    again = CliRunner().invoke(app, [*argv, "--from", DAY.isoformat(), "--to", DAY.isoformat()])
    assert again.exit_code == 0 and "unchanged" in again.output
    wrong = CliRunner().invoke(app, [*argv, "--from", "2026-10-26"])
    assert wrong.exit_code == 1 and "price of EU-SDAC" in wrong.output
    backwards = CliRunner().invoke(app, [*argv, "--from", "2026-10-26", "--to", "2026-10-25"])
    assert backwards.exit_code == 2


def test_contribution_adds_up_to_the_run(runtime: Runtime) -> None:
    rt = runtime
    book = make_book(rt)
    s = book.starts
    # 3 MW sold at 60 in two quarter-hours; three resources share it, two deviate oppositely
    for k in (50, 51):
        fill(rt, book, s[k], "3", "60")
        meter(rt, book, s[k], 3.0)  # the VPP's meter: on schedule (the deviations net out)
        meter(rt, book, s[k], 1.4, scheduled_mw=1.0, resource="r-1")  # +0.1 MWh
        meter(rt, book, s[k], 0.6, scheduled_mw=1.0, resource="r-2")  # -0.1 MWh
        meter(rt, book, s[k], 1.0, scheduled_mw=1.0, resource="r-3")
    prices(rt, book, day_ahead=60.0, imbalance=80.0)
    [outcome] = rt.settlement.calculate(rt.uow(), book.org, request(book))
    run = outcome.run
    # 2 x 0.75 MWh x 60 = 90.00; fees 2 x 0.75 x 0.04 = 0.06 (0.03 each)
    assert run.totals == {"day_ahead": 9_000, "imbalance": 0, "fee:EXCHANGE": -6}

    _, shap = rt.settlement.contribution(rt.uow(readonly=True), book.org, run.id)
    assert shap.method == "shapley" and shap.resource_ids == ["r-1", "r-2", "r-3"]
    assert shap.market_revenue.tolist() == [3_000, 3_000, 3_000]
    # r-1 is long 0.1 MWh x 2 at 80 (+16.00 alone), r-2 short as much (-16.00); the fee is
    # shared by the coalitions' schedules: 2 cents each
    assert shap.costs.tolist() == [1_598, -1_602, -2]
    assert int(shap.total.sum()) == run.total
    _, flat = rt.settlement.contribution(rt.uow(readonly=True), book.org, run.id, "pro_rata")
    assert flat.method == "pro_rata" and flat.costs.tolist() == [-3, -3, 0]
    assert int(flat.total.sum()) == run.total
    with pytest.raises(NotFound):
        rt.settlement.contribution(rt.uow(readonly=True), book.org, "nope")


def test_fees_on_traded_volume_and_runs_without_resources(runtime: Runtime) -> None:
    rt = runtime
    book = make_book(rt)
    fill(rt, book, book.starts[7], "2", "50")  # sold 0.5 MWh at 50
    fill(rt, book, book.starts[7], "2", "48", side="buy")  # bought it back at 48
    prices(rt, book, day_ahead=50.0, imbalance=50.0)
    [outcome] = rt.settlement.calculate(rt.uow(), book.org, request(book))
    # no position, 1 MWh traded: the exchange fee 0.04; the trading margin 0.5 x 2 = 1.00
    assert outcome.run.totals == {"day_ahead": 100, "imbalance": 0, "fee:EXCHANGE": -4}
    with pytest.raises(ValidationFailed) as e:
        rt.settlement.contribution(rt.uow(readonly=True), book.org, outcome.run.id)
    assert e.value.field == "run_id"


def test_prices_not_known_yet_are_not_used(runtime: Runtime) -> None:
    rt = runtime
    book = make_book(rt)
    fill(rt, book, book.starts[3], "1", "40")
    prices(rt, book, day_ahead=40.0, imbalance=50.0, known_at=rt.clock.now() + timedelta(hours=1))
    with pytest.raises(ValidationFailed, match="no price of EU-SDAC DE-LU QH stored") as e:
        rt.settlement.calculate(rt.uow(), book.org, request(book))
    assert e.value.field == "market"
    rt.clock.advance(3601)  # type: ignore[attr-defined]
    [outcome] = rt.settlement.calculate(rt.uow(), book.org, request(book))
    assert outcome.status == "created"


def test_the_demo_has_what_its_settlement_needs(runtime: Runtime) -> None:
    rt = runtime
    org_id = seed_demo(rt, park=True).organization_id
    with rt.uow(readonly=True) as uow:
        park = next(v for v in uow.vpps.list_all(org_id) if v.name == "Park Energy")
    zone = ZoneInfo("America/New_York")
    yesterday = rt.clock.now().astimezone(zone).date() - timedelta(days=1)
    req = CalculateRequest(park.id, "US-ISO-DA", yesterday, yesterday)
    [outcome] = rt.settlement.calculate(rt.uow(), org_id, req)
    run = outcome.run
    assert outcome.status == "created" and run.area == AREA and run.intervals in (23, 24, 25)
    # the demo's synthetic imbalance prices differ from the day-ahead prices
    assert run.prices["real_time"] != run.prices["day_ahead"]
