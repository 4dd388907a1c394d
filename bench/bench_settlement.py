"""Settlement benchmark in memory. Prints one JSON line per figure.

10,000 resources x 96 quarter-hours x 30 days (28.8 million resource-interval records) are
settled day by day under the CN-SD-DA preset (two-settlement: day-ahead and real-time legs,
contracts for difference, deviation assessment with its 3 % band) plus a grid fee on the
metered energy, each line exact in integer minor units; per day the per-resource lines are
summed per resource and per interval (the VPP's interval totals), and the VPP's own
settlement (its aggregate position) is computed alongside and posted to the ledger.

Input generation is not timed; ``settle_s`` covers conversion to the integer grids, every
rule, the sums and the ledger postings. Issue target: < 10 s.

Run: ``.venv/bin/python bench/bench_settlement.py [--resources 10000 --days 30]``
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from openvpp.markets.model import Fee
from openvpp.markets.presets import load_presets
from openvpp.settlement import engine
from openvpp.settlement.engine import EnergyIntervals
from openvpp.settlement.ledger import Ledger, entries_for_lines

INTERVALS = 96


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    market = load_presets()["CN-SD-DA"]
    rules = market.settlement.model_copy(
        update={"fees": (Fee(code="GRID", basis="metered", rate=Decimal("0.05")),)}
    )
    rng = np.random.default_rng(args.seed)
    n, m = INTERVALS, args.resources
    ledger = Ledger()
    settle_s = generate_s = 0.0
    grand = 0
    first = date(2026, 6, 1)
    for k in range(args.days):
        t0 = time.perf_counter()
        scheduled = rng.uniform(-0.5, 0.5, (m, n)).round(3)
        metered = (scheduled + rng.normal(0, 0.02, (m, n))).round(3)
        contract = (scheduled * 0.8).round(3)
        da = rng.uniform(200, 600, n).round(2)
        rt = (da + rng.normal(0, 40, n)).round(2)
        t1 = time.perf_counter()
        inputs = EnergyIntervals(
            scheduled_mwh=scheduled,
            metered_mwh=metered,
            day_ahead_price=da,
            real_time_price=rt,
            contract_mwh=contract,
            contract_price=400.0,
        )
        lines = engine.settle_energy(inputs, rules)
        per_resource = engine.total(lines).sum(axis=1)
        per_interval = {name: a.sum(axis=0) for name, a in lines.items()}
        vpp = engine.settle_energy(
            EnergyIntervals(
                scheduled.sum(axis=0),
                metered.sum(axis=0),
                da,
                rt,
                contract_mwh=contract.sum(axis=0),
                contract_price=400.0,
            ),
            rules,
        )
        day = first + timedelta(days=k)
        totals = {name: int(a.sum()) for name, a in vpp.items()}
        ledger.post(
            entries_for_lines("bench", day, totals, currency="CNY", dimensions={"vpp": "bench"})
        )
        grand += int(per_resource.sum())
        assert sum(int(a.sum()) for a in per_interval.values()) == int(per_resource.sum())
        settle_s += time.perf_counter() - t1
        generate_s += t1 - t0
    debits, credits = ledger.trial_balance()
    records = m * n * args.days
    print(
        json.dumps(
            {
                "bench": "settlement_in_memory",
                "resources": m,
                "intervals_per_day": n,
                "days": args.days,
                "records": records,
                "settle_s": round(settle_s, 3),
                "records_per_s": round(records / settle_s),
                "generate_s": round(generate_s, 3),
                "resource_total_cny": str(market.settlement.minor_unit * grand),
                "ledger_entries": len(ledger.entries),
                "ledger_balanced": debits == credits,
                "target_s": 10,
            }
        )
    )


if __name__ == "__main__":
    main()
