"""Settlement end-to-end through a database: one VPP of ``--resources`` resources over
``--days`` local days of 96 quarter-hours (issue 7: the 10,000 x 96 x 30 run through
PostgreSQL, reported).

For the backend the script migrates a fresh database (SQLite in a temporary directory;
PostgreSQL ``openvpp_bench_settle`` on 127.0.0.1:5432, dropped and created), seeds the demo
organization and writes, per day, a fill per quarter-hour, a meter row per resource and
quarter-hour plus the VPP's own, and the day's prices (not timed: ``load_s``). It then times
``SettlementService.calculate`` day by day: the reads (fills, meter rows, prices), the
rules on the VPP and on every resource, the insert of the run's interval rows (one per
resource and quarter-hour) and its ledger entries, one transaction per day. Prints one JSON
line.

    .venv/bin/python bench/bench_settlement_db.py --backend postgresql [--resources 10000 --days 30]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from _support import database

from openvpp.config import Settings
from openvpp.core.ids import new_id
from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.presets import load_presets
from openvpp.runtime import Runtime, build_runtime
from openvpp.seed import seed_demo
from openvpp.settlement.service import CalculateRequest
from openvpp.store import loop_tables, tables
from openvpp.store.migrate import upgrade
from openvpp.vpp.model import Vpp

SDAC = load_presets()["EU-SDAC"]
FIRST = date(2026, 6, 1)
CHUNK = 20_000
_METER_COLUMNS = (
    "id", "organization_id", "vpp_id", "resource_id", "interval_start", "interval_min",
    "scheduled_mw", "metered_mw", "coverage", "created_at",
)  # fmt: skip
_COPY_METERS = f"COPY monitoring_records ({', '.join(_METER_COLUMNS)}) FROM STDIN"


def load_day(rt: Runtime, org: str, vpp: str, day: date, resources: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    starts = [iv.start_utc for iv in delivery_intervals(SDAC, day)]
    n = len(starts)
    now = rt.clock.now()
    position = rng.uniform(-5, 5, n).round(1)
    fills = [
        {
            "id": new_id(), "organization_id": org, "connection_id": "bench",
            "trade_id": new_id(), "order_id": None, "vpp_id": vpp, "venue_order_id": "v",
            "client_order_id": "c", "market": "EU-SDAC", "product": "QH",
            "delivery_start": s, "side": "sell" if position[k] >= 0 else "buy",
            "price": Decimal(str(round(float(rng.uniform(20, 90)), 2))),
            "quantity": Decimal(str(abs(position[k]))), "seq": k, "executed_at": now,
            "received_at": now,
        }
        for k, s in enumerate(starts)
        if position[k] != 0
    ]  # fmt: skip
    share = rng.dirichlet(np.ones(resources)) if resources else np.zeros(0)
    sched = np.vstack([position, np.outer(share, position)])
    metered = sched + rng.normal(0, 0.01, sched.shape)
    ids = [""] + [f"r{i:05d}" for i in range(resources)]
    with rt.engine.begin() as conn:
        if fills:
            conn.execute(tables.trading_fills.insert(), fills)
        # interval by interval, as monitoring writes them (the VPP and every resource of an
        # interval together): the heap follows the (organization, VPP, start) index
        rows = (
            (new_id(), org, vpp, rid, s, 15, float(sched[i, k]), float(metered[i, k]), 1.0, now)
            for k, s in enumerate(starts)
            for i, rid in enumerate(ids)
        )
        if conn.dialect.name == "postgresql":
            raw = conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(_COPY_METERS) as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
        else:
            chunk: list[dict[str, Any]] = []
            for row in rows:
                chunk.append(dict(zip(_METER_COLUMNS, row, strict=True)))
                if len(chunk) == CHUNK:
                    conn.execute(loop_tables.monitoring_records.insert(), chunk)
                    chunk = []
            if chunk:
                conn.execute(loop_tables.monitoring_records.insert(), chunk)
    frame = []
    da = rng.uniform(20, 90, n).round(2)
    rt_ = (da + rng.normal(0, 20, n)).round(2)
    for k, s in enumerate(starts):
        base = {"market": "EU-SDAC", "area": "DE-LU", "start": s, "period_min": 15,
                "known_at": now - timedelta(days=400), "unit": "EUR/MWh"}  # fmt: skip
        frame.append({**base, "product": "QH", "series": "price", "value": float(da[k])})
        for series in ("imbalance_long", "imbalance_short"):
            frame.append({**base, "product": "IMB", "series": series, "value": float(rt_[k])})
    df = pd.DataFrame(frame)
    for c in ("start", "known_at"):
        df[c] = pd.to_datetime(df[c], utc=True)
    rt.market_data.store(
        rt.uow(), org, df, fmt="bench", source=f"bench {day}", data=str(day).encode(),
        rows_read=len(frame), report={}, actor=None,
    )  # fmt: skip


@contextmanager
def bench_vpp(backend: str, name: str) -> Iterator[tuple[Runtime, str, str] | None]:
    """A runtime on a fresh migrated database ``name`` of ``backend`` with the demo
    organization and an empty VPP: ``(runtime, organization id, VPP id)``, or ``None`` when
    the server is down."""
    with database(backend, name) as url:
        if url is None:
            yield None
            return
        with tempfile.TemporaryDirectory() as var:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None, database_url=url, var_dir=var, log_level="WARNING",
                order_store="inline",
            )  # fmt: skip
            rt = build_runtime(settings)
            try:
                upgrade(rt.engine)
                org = seed_demo(rt).organization_id
                now = rt.clock.now()
                vpp = Vpp(new_id(), org, "Bench VPP", "DE-LU", "", now, now)
                with rt.uow() as uow:
                    uow.vpps.add(vpp)
                    uow.commit()
                yield rt, org, vpp.id
            finally:
                rt.engine.dispose()


def parse_args(doc: str, *, backend: str, resources: int) -> argparse.Namespace:
    """``--backend``, ``--resources`` and ``--days`` (30) with the given defaults."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--backend", default=backend, choices=["sqlite", "postgresql"])
    parser.add_argument("--resources", type=int, default=resources)
    parser.add_argument("--days", type=int, default=30)
    return parser.parse_args()


@contextmanager
def loaded_vpp(
    args: argparse.Namespace, name: str
) -> Iterator[tuple[Runtime, str, str, list[date], float] | None]:
    """:func:`bench_vpp` with ``args.days`` days from :data:`FIRST` loaded
    (:func:`load_day`): ``(runtime, organization id, VPP id, days, load time [s])``, or
    ``None`` when the server is down."""
    with bench_vpp(args.backend, name) as opened:
        if opened is None:
            yield None
            return
        rt, org, vpp_id = opened
        days = [FIRST + timedelta(days=k) for k in range(args.days)]
        t0 = time.perf_counter()
        for k, day in enumerate(days):
            load_day(rt, org, vpp_id, day, args.resources, seed=k)
        yield rt, org, vpp_id, days, time.perf_counter() - t0


def main() -> None:
    args = parse_args(__doc__, backend="postgresql", resources=10_000)
    with loaded_vpp(args, "openvpp_bench_settle") as loaded:
        if loaded is None:
            return
        rt, org, vpp_id, days, load_s = loaded
        per_day = []
        total = 0
        for day in days:
            t1 = time.perf_counter()
            [outcome] = rt.settlement.calculate(
                rt.uow(), org, CalculateRequest(vpp_id, "EU-SDAC", day, day)
            )
            per_day.append(time.perf_counter() - t1)
            total += outcome.run.total
        settle_s = sum(per_day)
        records = (args.resources + 1) * 96 * args.days
        print(
            json.dumps(
                {
                    "bench": "settlement_through_database",
                    "backend": args.backend,
                    "resources": args.resources,
                    "days": args.days,
                    "records": records,
                    "settle_s": round(settle_s, 2),
                    "per_day_s": round(float(np.median(per_day)), 2),
                    "records_per_s": round(records / settle_s),
                    "load_s": round(load_s, 1),
                    "vpp_total_eur": str(Decimal(total) / 100),
                }
            )
        )


if __name__ == "__main__":
    main()
