"""RELIABILITY item 4: SIGKILL during a settlement run leaves each day's run absent or
complete, never partial; resuming settles the rest; re-running is idempotent; debits equal
credits throughout."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from openvpp.markets.calendar import delivery_intervals
from openvpp.runtime import Runtime
from openvpp.settlement.records import RunFilter
from openvpp.settlement.service import CalculateRequest
from openvpp.store import settlement_tables as st
from tests.integration.settlement_support import DAY, SDAC, bulk_day, make_book, prices

pytestmark = pytest.mark.slow

DAYS, RESOURCES = 8, 60


def _check_complete_or_absent(rt: Runtime, org: str, vpp: str) -> int:
    """Every stored run is whole: its interval rows, its totals, its ledger entries."""
    with rt.uow(readonly=True) as uow:
        runs = uow.settlement.page(org, RunFilter(vpp_id=vpp, include_superseded=True), 100, 0)
        conn = uow.connection
        for run in runs:
            d = st.settlement_intervals
            rows, vpp_total = conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.sum(sa.case((d.c.resource_id == "", d.c.total), else_=0)),
                ).where(d.c.run_id == run.id)
            ).one()
            assert rows == (run.resources + 1) * run.intervals
            assert int(vpp_total) == run.total
            entries = uow.ledger.entries_of_run(run.id)
            assert len(entries) == sum(1 for v in run.totals.values() if v)
            assert sum(e.postings[0].amount for e in entries) == run.total
        balances = uow.ledger.balances(org, first=None, last=None, by_period=True)
    assert sum(v for *_, v in balances) == 0  # debits = credits
    assert all(r.version == 1 for r in runs)  # the same inputs never make a revision
    return len(runs)


def test_sigkill_during_a_settlement_run(seeded: Runtime, tmp_path: Path) -> None:
    rt = seeded
    book = make_book(rt)
    days = [DAY + timedelta(days=k) for k in range(DAYS)]
    for k, day in enumerate(days):
        starts = [iv.start_utc for iv in delivery_intervals(SDAC, day)]
        bulk_day(rt, book, starts, RESOURCES, seed=k)
    last = days[-1]
    book.starts = [iv.start_utc for d in days for iv in delivery_intervals(SDAC, d)]
    prices(rt, book, day_ahead=45.0, imbalance=75.0)

    args = {
        "database_url": rt.settings.effective_database_url,
        "var_dir": str(tmp_path),
        "organization_id": book.org,
        "vpp_id": book.vpp,
        "first_day": DAY.isoformat(),
        "last_day": last.isoformat(),
    }
    rng = np.random.default_rng(4)
    settled = []
    for _ in range(3):
        # each restart resumes at the first day not settled, as an operator would
        args["first_day"] = (DAY + timedelta(days=settled[-1] if settled else 0)).isoformat()
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.settlement_crash_child", json.dumps(args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", child.communicate()[1]
        # kill within a day: after a random number of days, a random part into the next one
        started = time.monotonic()
        for _ in range(int(rng.integers(0, 2))):
            child.stdout.readline()
        per_day = (time.monotonic() - started) or 0.1
        time.sleep(rng.uniform(0.0, per_day))
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
        settled.append(_check_complete_or_absent(rt, book.org, book.vpp))
    # resuming settles what is missing; the days settled before are unchanged
    req = CalculateRequest(book.vpp, "EU-SDAC", DAY, last)
    outcomes = rt.settlement.calculate(rt.uow(), book.org, req)
    assert [o.status for o in outcomes].count("created") == DAYS - settled[-1]
    assert _check_complete_or_absent(rt, book.org, book.vpp) == DAYS
    again = rt.settlement.calculate(rt.uow(), book.org, req)
    assert {o.status for o in again} == {"unchanged"}
    assert [o.run.id for o in again] == [o.run.id for o in outcomes]
    assert min(settled) < DAYS, f"every kill came after the last day: {settled}"
