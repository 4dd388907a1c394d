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
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from _support import analyze, fastest, park_on
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
        _store_orders(rt, org, vpps, connection, args.orders, args.intervals)
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


def _store_orders(
    rt: object, org: str, vpps: list[str], connection: str, n: int, intervals: int
) -> None:
    from openvpp.trading.orders import Order, State

    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=3)
    for first in range(0, n, 1_000):
        batch = []
        for k in range(first, min(n, first + 1_000)):
            start = t0 + timedelta(hours=k % intervals)
            order = Order(
                id=f"bench-{k:08d}",
                organization_id=org,
                vpp_id=vpps[k % len(vpps)],
                connection_id=connection,
                client_order_id=f"bench-{k}",
                market=MARKET,
                product=PRODUCT,
                delivery_start=start,
                side="buy" if k % 2 else "sell",
                order_type="limit",
                price=Decimal(50),
                quantity=Decimal("1.5"),
                state=State.ACKNOWLEDGED,
                body_hash="bench",
                created_at=t0,
                updated_at=t0,
                gate_closure=start - timedelta(minutes=5),
            )
            if k % 3 == 0:
                order = replace(
                    order,
                    state=State.PARTIALLY_FILLED,
                    filled=Decimal("0.4"),
                    filled_value=Decimal(20),
                )
            elif k % 5 == 0:
                order = replace(order, state=State.CANCELLED)
            batch.append(order)
        with rt.uow() as uow:  # type: ignore[attr-defined]
            uow.trading_orders.insert_many(batch)
            uow.commit()


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
