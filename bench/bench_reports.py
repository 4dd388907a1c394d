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

import json
import time

from bench_settlement_db import loaded_vpp, parse_args

from openvpp.settlement.service import CalculateRequest


def main() -> None:
    args = parse_args(__doc__, backend="sqlite", resources=100)
    with loaded_vpp(args, "openvpp_bench_reports") as loaded:
        if loaded is None:
            return
        rt, org, vpp_id, days, _ = loaded
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
