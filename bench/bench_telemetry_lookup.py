"""The ingest screen's lookup of stored points: a live feed, and a back-fill beside it.

What it measures
----------------
Before a batch is stored, the points at or before each resource's newest reading are looked
up (``TelemetryRepo.existing``): stored already (a duplicate) or late. This script stores
``--days`` of one-minute readings of ``--resources`` resources in a fresh database, then
times the lookup of two batches, each the fastest of ``--repeat`` runs:

* ``live``: every resource's last five minutes, as a gateway re-sending after a reconnect;
* ``backfill``: the same plus one resource's readings of the first day of the stored month,
  as an import of an old file arriving beside the live feed.

It prints the time and the rows the database returned for each (rows beyond the points asked
for are readings outside them that the query's ranges covered), one JSON line per backend.

Usage::

    .venv/bin/python bench/bench_telemetry_lookup.py [--resources 100] [--days 30]
        [--repeat 5] [--backend sqlite|postgresql|mariadb]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from _support import analyze, database, fastest


class _CountingRows:
    """A connection that counts the rows its queries return."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.rows = conn, 0

    def execute(self, *args: Any, **kw: Any) -> list[Any]:
        rows = self.conn.execute(*args, **kw).all()
        self.rows += len(rows)
        return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "mariadb"), default="sqlite")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(args.backend, "openvpp_bench_lookup") as url,
    ):
        if url is None:
            return 0  # the server is down: said so
        os.environ.update(
            {
                "OPENVPP_VAR_DIR": tmp,
                "OPENVPP_DATABASE_URL": url or "",
                "OPENVPP_SECRET_KEY": "bench-lookup-" + "x" * 40,
                "OPENVPP_LOG_LEVEL": "WARNING",
            }
        )
        from openvpp.config import load_settings
        from openvpp.resources.telemetry import TelemetryPoint
        from openvpp.runtime import build_runtime
        from openvpp.store.migrate import upgrade
        from openvpp.store.telemetry_repo import TelemetryRepo

        rt = build_runtime(load_settings())
        upgrade(rt.engine)
        end = datetime(2026, 12, 1, tzinfo=UTC)
        minutes = [end - timedelta(minutes=m) for m in range(args.days * 1440, 0, -1)]
        ids = [f"res-{i:04d}" for i in range(args.resources)]
        started = time.perf_counter()
        for rid in ids:
            with rt.uow() as uow:
                uow.telemetry.add_many(
                    [TelemetryPoint(rid, ts, 1.0, None, False) for ts in minutes], end
                )
                uow.commit()
        stored_s = time.perf_counter() - started
        analyze(rt.engine)
        live = [TelemetryPoint(r, ts, 1.0, None, False) for r in ids for ts in minutes[-5:]]
        old = [TelemetryPoint(ids[0], ts, 1.0, None, False) for ts in minutes[:1440]]
        line: dict[str, Any] = {
            "bench": "telemetry_lookup",
            "backend": args.backend,
            "resources": args.resources,
            "stored": len(ids) * len(minutes),
            "store_s": round(stored_s, 1),
        }
        for name, batch in (("live", live), ("backfill", live + old)):
            with rt.engine.connect() as conn:
                counting = _CountingRows(conn)
                lookup = partial(TelemetryRepo(counting).existing, batch)
                best_ms, found = fastest(lookup, args.repeat)
            if any(len(f) != len(batch) for f in found):
                raise SystemExit(f"{name}: {[len(f) for f in found]} of {len(batch)} points found")
            line[f"{name}_points"] = len(batch)
            line[f"{name}_ms"] = round(best_ms, 1)
            line[f"{name}_rows_read"] = counting.rows // args.repeat  # the same rows each run
        print(json.dumps(line), flush=True)
        rt.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
