"""The trading loop's reads: how their time grows with the open and the final orders.

What it measures
----------------
Once a second the server's trading loop (``runtime_trading.trading_tick``) looks for open
orders past their gate closure, ``unknown`` orders and orders left unanswered, and for the
connections with open orders, whose fills it polls. This script stores ``--final`` final orders
(filled, cancelled: the history) and ``--open`` open ones (acknowledged or part-filled, gate
closures in the next ``--intervals`` hours, so none is due) of the demo park straight through
the order repository, in batches of 1,000, and times each read, the fastest of ``--repeat``
runs:

* ``due_ms``: open orders whose gate has closed (``open_orders(closing_by=now)``);
* ``unknown_ms``: ``unknown`` orders;
* ``unanswered_ms``: ``risk_checked`` or ``sent`` orders unchanged for a minute;
* ``connections_ms``: the (organization, connection) pairs with open orders;
* ``tick_ms``: the whole tick, fills polled from the in-process simulated exchange included.

Each read must find what was stored: no due, unknown or unanswered order, and the park's one
connection. One JSON line per backend.

Usage::

    .venv/bin/python bench/bench_trading_tick.py [--open 20000] [--final 200000]
        [--intervals 48] [--repeat 5] [--backend sqlite|postgresql|mariadb]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from _support import analyze, fastest, insert_in_batches, park_on, stored_order
from bench_orders import MARKET, PRODUCT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--open", type=int, default=20_000, help="open orders")
    parser.add_argument("--final", type=int, default=200_000, help="final orders")
    parser.add_argument("--intervals", type=int, default=48, help="delivery hours")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "mariadb"), default="sqlite")
    args = parser.parse_args(argv)
    with park_on(args.backend, "openvpp_bench_tick", "trading-tick", MARKET) as park:
        if park is None:
            return 0  # the server is down: said so
        rt, org = park.rt, park.org
        connection, vpps = park.connection_and_vpps()
        started = time.perf_counter()
        _store_orders(park, vpps, connection, args.final, args.open, args.intervals)
        stored_s = time.perf_counter() - started
        analyze(rt.engine)

        from openvpp.runtime_trading import UNANSWERED, UNSENT_AFTER, trading_tick
        from openvpp.trading.orders import State

        def read(**kw: Any) -> Callable[[], Any]:
            def run() -> Any:
                with rt.uow(readonly=True) as uow:
                    return uow.trading_orders.open_orders(**kw)

            return run

        def connections() -> Any:
            with rt.uow(readonly=True) as uow:
                return uow.trading_orders.open_connections()

        now = datetime.now(UTC)
        reads = {
            "due_ms": (read(closing_by=now), []),
            "unknown_ms": (read(states=frozenset({State.UNKNOWN})), []),
            "unanswered_ms": (
                read(states=UNANSWERED, updated_before=now - UNSENT_AFTER),
                [],
            ),
            "connections_ms": (connections, [(org, connection)]),
        }
        figures: dict[str, float] = {}
        for name, (run, expected) in reads.items():
            figures[name], found = fastest(run, args.repeat)
            if any(f != expected for f in found):
                raise SystemExit(f"{name}: found {found!r}, expected {expected!r}")
        figures["tick_ms"], _ = fastest(lambda: trading_tick(rt), args.repeat)
        print(
            json.dumps(
                {
                    "bench": "trading_tick",
                    "backend": args.backend,
                    "open": args.open,
                    "final": args.final,
                    "store_s": round(stored_s, 1),
                    **{k: round(v, 2) for k, v in figures.items()},
                }
            ),
            flush=True,
        )
    return 0


def _store_orders(
    park: Any, vpps: list[str], connection: str, final: int, open_: int, intervals: int
) -> None:
    """``final`` final orders of past hours, then ``open_`` open orders of the next
    ``intervals`` hours (gates 5 minutes before delivery: none closed yet)."""
    from openvpp.trading.orders import State

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    def order(k: int) -> Any:
        is_open = k >= final
        start = hour + timedelta(hours=3 + k % intervals if is_open else -1 - k // 500)
        if is_open:
            state = State.PARTIALLY_FILLED if k % 3 == 0 else State.ACKNOWLEDGED
        else:
            state = State.FILLED if k % 2 else State.CANCELLED
        filled = {State.PARTIALLY_FILLED: Decimal("0.4"), State.FILLED: Decimal("1.5")}
        return stored_order(
            park, k, vpps[k % len(vpps)], connection, PRODUCT, start, state,
            created=min(start, hour) - timedelta(hours=1),
            filled=filled.get(state, Decimal(0)),
        )  # fmt: skip

    insert_in_batches(park.rt, (order(k) for k in range(final + open_)))


if __name__ == "__main__":
    raise SystemExit(main())
