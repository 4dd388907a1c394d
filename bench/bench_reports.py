"""Report generation: a month of a 100-resource VPP (issue 7 target: < 5 s).

Migrates a fresh database (SQLite in a temporary directory by default), writes 30 days of a
VPP with ``--resources`` resources (fills, meters, prices: ``bench_settlement_db.load_day``)
and settles them (not timed), then times ``SettlementService.report`` in each format: the
runs read, the P&L tables, the contributions per resource type (pro rata above 16
resources), the performance table and the rendering (matplotlib chart; WeasyPrint for PDF).
Prints one JSON line per format.

    .venv/bin/python bench/bench_reports.py [--resources 100 --days 30 --backend sqlite]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta

from bench_settlement_db import FIRST, bench_vpp, load_day

from openvpp.settlement.service import CalculateRequest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--resources", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    with bench_vpp(args.backend, "openvpp_bench_reports") as opened:
        if opened is None:
            return
        rt, org, vpp_id = opened
        days = [FIRST + timedelta(days=k) for k in range(args.days)]
        for k, day in enumerate(days):
            load_day(rt, org, vpp_id, day, args.resources, seed=k)
        rt.settlement.calculate(
            rt.uow(), org, CalculateRequest(vpp_id, "EU-SDAC", days[0], days[-1])
        )
        for fmt in ("csv", "xlsx", "html", "pdf"):
            times, size = [], 0
            for _ in range(3):
                start = time.perf_counter()
                body, _, _ = rt.settlement.report(
                    rt.uow(readonly=True), org, first=days[0], last=days[-1], fmt=fmt
                )
                times.append(time.perf_counter() - start)
                size = len(body)
            print(
                json.dumps(
                    {
                        "bench": "settlement_report",
                        "backend": args.backend,
                        "format": fmt,
                        "resources": args.resources,
                        "days": args.days,
                        "first_s": round(times[0], 2),
                        "best_s": round(min(times), 2),
                        "bytes": size,
                        "target_s": 5,
                    }
                )
            )


if __name__ == "__main__":
    main()
