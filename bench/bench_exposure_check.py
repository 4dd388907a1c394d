"""``openvpp trading check-exposures``: how long the check and the repair take.

What it measures
----------------
The check sums every order of an organization (one grouped query) and reads its exposure
rows, in one snapshot; the repair does that under the organization's lock and adds what each
drifted row lacks. Both read every order, so their time grows with the order table. This
script stores ``--orders`` orders of the demo park (two VPPs, ``--intervals`` delivery hours,
both sides; every third one part-filled, every fifth cancelled) straight through the order
repository, in batches of 1,000, spoils ``--spoil`` exposure rows, and times:

* ``check_ms``: :func:`check_exposures` (the drift found must be the rows spoiled);
* ``repair_ms``: :func:`repair_exposures` (then a check must find nothing);

each the fastest of ``--repeat`` runs (the repair's first run repairs, the others find
nothing left: the same reads, no writes). One JSON line per backend.

Usage::

    .venv/bin/python bench/bench_exposure_check.py [--orders 100000] [--intervals 48]
        [--spoil 10] [--repeat 3] [--backend sqlite|postgresql|mariadb]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from _support import analyze, fastest, insert_in_batches, park_on, stored_order
from bench_orders import MARKET, PRODUCT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--intervals", type=int, default=48, help="delivery hours")
    parser.add_argument("--spoil", type=int, default=10, help="exposure rows spoiled")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "mariadb"), default="sqlite")
    args = parser.parse_args(argv)
    with park_on(args.backend, "openvpp_bench_exposures", "exposure-check", MARKET) as park:
        if park is None:
            return 0  # the server is down: said so
        rt, org = park.rt, park.org
        connection, vpps = park.connection_and_vpps()
        started = time.perf_counter()
        _store_orders(park, vpps, connection, args.orders, args.intervals)
        stored_s = time.perf_counter() - started
        analyze(rt.engine)
        spoiled = _spoil(rt, org, args.spoil)

        from openvpp.trading.exposure_check import check_exposures, repair_exposures

        def check() -> list[object]:
            return list(check_exposures(rt.uow(readonly=True, snapshot=True), org))

        def repair() -> list[object]:
            snapshot = lambda: rt.uow(readonly=True, snapshot=True)  # noqa: E731
            return list(repair_exposures(rt.uow(), snapshot, org))

        check_ms, found = fastest(check, args.repeat)
        repair_ms, repaired = fastest(repair, args.repeat)
        left = check()
        if {len(found[0]), len(repaired[0])} != {spoiled} or any(repaired[1:]) or left:
            raise SystemExit(f"wrong drift: found {found}, repaired {repaired}, left {left}")
        print(
            json.dumps(
                {
                    "bench": "exposure_check",
                    "backend": args.backend,
                    "orders": args.orders,
                    "intervals": args.intervals * len(vpps),
                    "spoiled": spoiled,
                    "store_s": round(stored_s, 1),
                    "check_ms": round(check_ms, 1),
                    "repair_ms": round(repair_ms, 1),
                    "orders_per_s_checked": round(args.orders / check_ms * 1000),
                }
            ),
            flush=True,
        )
    return 0


def _store_orders(park: Any, vpps: list[str], connection: str, n: int, intervals: int) -> None:
    from openvpp.trading.orders import State

    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=3)

    def order(k: int) -> Any:
        start = t0 + timedelta(hours=k % intervals)
        state, filled = State.ACKNOWLEDGED, Decimal(0)
        if k % 3 == 0:
            state, filled = State.PARTIALLY_FILLED, Decimal("0.4")
        elif k % 5 == 0:
            state = State.CANCELLED
        return stored_order(
            park, k, vpps[k % len(vpps)], connection, PRODUCT, start, state,
            created=t0, filled=filled,
        )  # fmt: skip

    insert_in_batches(park.rt, (order(k) for k in range(n)))


def _spoil(rt: object, org: str, n: int) -> int:
    """Add 1 MW of open buy volume to ``n`` exposure rows, as a bug might."""
    from openvpp.store import tables as t

    x = t.trading_exposures
    engine = rt.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        keys = conn.execute(
            sa.select(x.c.vpp_id, x.c.delivery_start)
            .where(x.c.organization_id == org)
            .order_by(x.c.vpp_id, x.c.delivery_start)
            .limit(n)
        ).all()
        for vpp, start in keys:
            conn.execute(
                x.update()
                .where(x.c.organization_id == org, x.c.vpp_id == vpp, x.c.delivery_start == start)
                .values(open_buy=x.c.open_buy + t.EXPOSURE_SCALE)
            )
    return len(keys)


if __name__ == "__main__":
    raise SystemExit(main())
