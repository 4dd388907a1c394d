"""The order writer alone: CPU per order of the group commit, without HTTP.

What it measures
----------------
``POST /api/vpp/trading/orders`` spends most of its CPU in the one writer thread that places,
sends and records the orders of each batch (``trading/batching.py``); the HTTP layer runs
beside it on the same interpreter (``OPENVPP_ORDER_STORE=inline``; by default the writer's two
transactions run in the order store process). This script times that writer on its own, in
one process with the store inline, so that a change to it can be compared in one run with far
less noise than the HTTP benchmark (``bench_orders.py``) has:

* a fresh database migrated and seeded with the demo park (SQLite: a file in WAL mode, as
  deployed; ``--backend postgresql|mariadb``: ``openvpp_bench_writer`` on the local server,
  dropped and created); generous risk limits for the VPP "Park Energy" on EU-SIDC;
* ``--batches`` batches of ``--batch`` new orders each (unique client order ids, buys at 10 and
  sells at 900 EUR/MWh over twelve open delivery hours, so nothing matches) go through
  ``SubmitBatcher.submit_many`` -- risk check, insert with audit rows, the in-process exchange,
  recording of the acknowledgements -- as the API's requests do;
* it reports the process CPU time and the wall time per order, the statements per batch
  (counted by a ``before_cursor_execute`` listener) and the order states, as one JSON line;
  ``--repeat`` runs that many rounds on the same database (the tables grow as they would).

Usage::

    .venv/bin/python bench/bench_order_writer.py [--batch 5] [--batches 400] [--repeat 3]
        [--warmup 50] [--backend sqlite|postgresql|mariadb]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from _support import analyze, park_on
from bench_orders import MARKET, PRODUCT, delivery_starts


def profile_writer(path: str) -> None:
    """Profile every batch the writer thread runs from now on; the stats are written to
    ``path`` at exit (the profiler sees only the thread that enables it)."""
    import atexit
    import cProfile

    from openvpp.trading.batching import SubmitBatcher

    profiler = cProfile.Profile()
    run = SubmitBatcher._run

    def profiled(self: SubmitBatcher, batch: list[Any]) -> None:
        profiler.enable()
        try:
            run(self, batch)
        finally:
            profiler.disable()

    SubmitBatcher._run = profiled  # type: ignore[method-assign]
    atexit.register(profiler.dump_stats, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=5, help="orders per batch")
    parser.add_argument("--batches", type=int, default=400, help="batches per round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds")
    parser.add_argument("--warmup", type=int, default=50, help="batches before the first round")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "mariadb"), default="sqlite")
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="skip the ANALYZE before each round (PostgreSQL and MariaDB)",
    )
    parser.add_argument(
        "--profile", help="write a cProfile of the writer thread's batches (measured rounds) here"
    )
    args = parser.parse_args(argv)

    # the whole writer in this process and thread (the order store inline): measured, counted
    # and profiled
    with park_on(args.backend, "openvpp_bench_writer", "order-writer", MARKET) as park:
        if park is None:
            return 0  # the server is down: said so

        rt, principal, context = park.rt, park.principal, park.context

        # the HTTP benchmark's delivery hours: open now, for the whole run
        starts = [datetime.fromisoformat(s) for s in delivery_starts()]

        statements = Counter[str]()

        @sa.event.listens_for(rt.engine, "before_cursor_execute")
        def _count(*_args: object) -> None:
            statements["n"] += 1

        counter = iter(range(10**9))

        def one_batch() -> list[str]:
            cmds = [
                park.resting_order(PRODUCT, starts, next(counter), "w") for _ in range(args.batch)
            ]
            out = rt.trading.submissions.submit_many(rt.uow(context), principal, cmds)
            return [p.order.state.value if hasattr(p, "order") else type(p).__name__ for p in out]

        for _ in range(args.warmup):
            one_batch()
        if args.profile:
            profile_writer(args.profile)
        for round_ in range(args.repeat):
            if args.analyze:  # as autovacuum would keep up with the growth (see analyze)
                analyze(rt.engine)
            states = Counter[str]()
            statements.clear()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(args.batches):
                states.update(one_batch())
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            orders = args.batch * args.batches
            print(
                json.dumps(
                    {
                        "bench": "order_writer",
                        "backend": args.backend,
                        "round": round_ + 1,
                        "batch": args.batch,
                        "orders": orders,
                        "cpu_us_per_order": round(cpu / orders * 1e6, 1),
                        "wall_us_per_order": round(wall / orders * 1e6, 1),
                        "statements_per_batch": round(statements["n"] / args.batches, 2),
                        "states": dict(states),
                    }
                ),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
