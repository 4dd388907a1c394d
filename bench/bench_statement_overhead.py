"""What one statement of the order path costs through each layer, on SQLite.

Usage: ``.venv/bin/python bench/bench_statement_overhead.py [--rows 3000] [--repeats 3]``

One-row inserts into ``trading_order_events`` (the shape of the order path's statements: a
handful of columns, a timestamp and a JSON detail), each in a file-backed SQLite database
created in a temporary directory, committed once per repeat:

* ``core``: ``Connection.execute`` of the prebuilt Core insert, as the repositories do;
* ``driver``: ``Connection.exec_driver_sql`` of the same statement compiled once, with each
  column type's own bind processor applied to the values (as the telemetry ingest does);
* ``raw``: the same SQL and values straight on the sqlite3 connection.

Prints one JSON line per repeat: microseconds per statement for each layer. The order path
runs about 16 statements per batch (docs/benchmarks.md), so the difference between ``core``
and ``driver`` times 16 is what executing them as driver SQL could save per batch.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from openvpp.store import tables as t

KEYS = ("order_id", "at", "event", "state", "detail")


def _row(i: int, at: datetime) -> dict[str, Any]:
    return {"order_id": f"o{i}", "at": at, "event": "Sent", "state": "sent", "detail": {"n": i}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    table = t.trading_order_events
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        table.metadata.create_all(engine, tables=[table])
        insert = table.insert()
        compiled = insert.compile(dialect=engine.dialect, column_keys=list(KEYS))
        sql = str(compiled)
        order = compiled.positiontup or list(KEYS)
        processors: dict[str, Callable[[Any], Any] | None] = {
            k: table.c[k].type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
            for k in KEYS
        }

        def values(row: dict[str, Any]) -> tuple[Any, ...]:
            out = []
            for k in order:
                process = processors[k]
                out.append(process(row[k]) if process is not None else row[k])
            return tuple(out)

        at = datetime.now(UTC)
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            for _ in range(args.repeats):
                started = time.perf_counter()
                for i in range(args.rows):
                    conn.execute(insert, [_row(i, at)])
                core = time.perf_counter() - started
                started = time.perf_counter()
                for i in range(args.rows):
                    conn.exec_driver_sql(sql, [values(_row(i, at))])
                driver = time.perf_counter() - started
                started = time.perf_counter()
                for i in range(args.rows):
                    raw.executemany(sql, [values(_row(i, at))])
                direct = time.perf_counter() - started
                conn.commit()
                print(
                    json.dumps(
                        {
                            "bench": "statement_overhead",
                            "rows": args.rows,
                            "core_us": round(core / args.rows * 1e6, 1),
                            "driver_us": round(driver / args.rows * 1e6, 1),
                            "raw_us": round(direct / args.rows * 1e6, 1),
                        }
                    )
                )
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
