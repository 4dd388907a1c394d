"""The kill switch: how fast HALTED takes effect and the open orders are cancelled.

What it measures
----------------
RELIABILITY item 7 asks that HALTED take effect within 1 s and the open orders be cancelled
within 5 s. This script puts ``--orders`` resting orders of the demo VPP "Park Energy" on the
HTTP simulated exchange (``openvpp exchange serve`` in its own process on loopback, each
cancellation answered ``--venue-delay-ms`` late, as a distant venue would), then halts the VPP
through
``TradingControl.set_mode`` while a prober thread keeps submitting one order every 5 ms:

* ``effective_s``: from the start of the halt to the first probe refused as ``halted``;
* ``cancelled_s``: the halt's whole duration (it returns once every open order is cancelled
  or left pending at the venue);
* ``cancelled`` / ``pending`` as the halt reported them, and ``venue_active`` -- the orders
  still active at the exchange afterwards, asked there one by one (must be 0).

A fresh SQLite database (file, WAL), the order store inline. One JSON line per round.

Usage::

    .venv/bin/python bench/bench_kill_switch.py [--orders 500] [--venue-delay-ms 20]
        [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from bench_orders import MARKET, PRODUCT, delivery_starts

API_KEY, ACCOUNT = "bench-key-0123456789", "desk"


@contextmanager
def exchange_process(delay_ms: float) -> Iterator[str]:
    """``openvpp exchange serve`` in a subprocess, up and answering; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cli = str(Path(sys.executable).with_name("openvpp"))
    delay = f"delay_after_accept,endpoints=cancel,delay_s={delay_ms / 1e3}"
    args = ["--port", str(port), "--api-key", f"{API_KEY}={ACCOUNT}", "--fault", delay]
    proc = subprocess.Popen([cli, "exchange", "serve", *args], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError("openvpp exchange serve stopped")
            with suppress(httpx.HTTPError):
                if httpx.get(f"{url}/v1/health", timeout=0.5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("openvpp exchange serve did not come up")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def venue_active(url: str, venue_ids: list[str]) -> int:
    """How many of the orders are still active at the exchange."""
    with httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}) as c:
        return sum(bool(c.get(f"/v1/orders/{v}").json()["active"]) for v in venue_ids)


def probe(submit: Callable[[], list[Any]], stop: threading.Event, out: list[float]) -> None:
    """Submit one order every 5 ms until one is refused as ``halted`` (its time in ``out``)."""
    while not stop.is_set():
        [placed] = submit()
        order = getattr(placed, "order", None)
        if order is not None and order.risk_rule == "halted":
            out.append(time.perf_counter())
            return
        time.sleep(0.005)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=500, help="open orders when halting")
    parser.add_argument("--venue-delay-ms", type=float, default=20.0, help="per cancellation")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (a halt each)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="openvpp-bench-halt-") as tmp:
        os.environ.update(
            {
                "OPENVPP_VAR_DIR": str(Path(tmp) / "var"),
                "OPENVPP_DATABASE_URL": "",
                "OPENVPP_SECRET_KEY": "bench-kill-switch-" + "x" * 40,
                "OPENVPP_LOG_LEVEL": "WARNING",
                "OPENVPP_JOBS_INPROCESS": "false",
                "OPENVPP_ORDER_STORE": "inline",
                "OPENVPP_CONNECTOR_ALLOWED_HOSTS": '["127.0.0.1"]',
                "OPENVPP_CONNECTOR_ALLOW_LOCAL": "true",
            }
        )
        from openvpp.audit.chain import AuditContext
        from openvpp.config import load_settings
        from openvpp.identity.model import Principal, Role
        from openvpp.markets.connections import ConnectionSpec
        from openvpp.runtime import build_runtime
        from openvpp.seed import seed_demo
        from openvpp.store.migrate import upgrade
        from openvpp.trading.records import SubmitOrder
        from openvpp.trading.risk import Limits, TradingMode

        rt = build_runtime(load_settings())
        upgrade(rt.engine)
        seed_demo(rt, park=True)
        with rt.uow(readonly=True) as uow:
            org = uow.market_connections.of_org(None)[0].organization_id
            vpp_id = next(v.id for v in uow.vpps.list_all(org) if v.name == "Park Energy")
        operator = Principal(
            kind="user",
            id="operator",
            organization_id=org,
            roles=frozenset({Role.TRADER, Role.OPERATOR}),
            user_id="operator",
        )
        context = AuditContext(actor_type="user", actor_id="operator", organization_id=org)
        limits = Limits(
            max_position_mw=Decimal(10**6),
            max_order_mw=Decimal(10),
            max_notional=Decimal(10**7),
            max_orders_per_second=10**6,
        )
        rt.trading.control.put_limits(rt.uow(context), operator, vpp_id, MARKET, limits)
        starts = [datetime.fromisoformat(s) for s in delivery_starts()]
        counter = iter(range(10**9))

        def order(prefix: str) -> SubmitOrder:
            n = next(counter)
            sell = n % 2 == 0
            return SubmitOrder(
                client_order_id=f"{prefix}-{n}",
                vpp_id=vpp_id,
                market=MARKET,
                product=PRODUCT,
                delivery_start=starts[n % len(starts)],
                side="sell" if sell else "buy",
                price=Decimal(900 if sell else 10),  # nothing matches: the orders rest
                quantity=Decimal("0.1"),
            )

        def submit(orders: list[SubmitOrder]) -> list[Any]:
            return rt.trading.submissions.submit_many(rt.uow(context), operator, orders)

        with exchange_process(args.venue_delay_ms) as url:
            spec = ConnectionSpec(
                name="Bench exchange",
                kind="openvpp-exchange",
                base_url=url,
                markets=[MARKET],
                credentials={"api_key": API_KEY},
                options={"timeout_s": 5 + args.venue_delay_ms / 1e3},
            )
            rt.connections.create(rt.uow(context), operator, spec)
            # the demo's in-process connection serves the market too: switched off here
            with rt.uow(readonly=True) as uow:
                others = [c for c in uow.market_connections.of_org(org) if c.kind == "simulated"]
            for c in others:
                rt.connections.update(rt.uow(context), operator, c.id, {"enabled": False})

            for round_ in range(args.repeat):
                rt.trading.control.set_mode(
                    rt.uow(context), operator, vpp_id, TradingMode.ACTIVE, "bench"
                )
                placed: list[Any] = []
                while len(placed) < args.orders:
                    placed += submit(
                        [order("o") for _ in range(min(50, args.orders - len(placed)))]
                    )
                venue_ids = [p.order.venue_order_id for p in placed if p.order.venue_order_id]
                resting = venue_active(url, venue_ids)

                refused_at: list[float] = []
                stop = threading.Event()
                prober = threading.Thread(
                    target=probe,
                    args=(lambda: submit([order("probe")]), stop, refused_at),
                )
                prober.start()
                time.sleep(0.05)
                t0 = time.perf_counter()
                change = rt.trading.control.set_mode(
                    rt.uow(context), operator, vpp_id, TradingMode.HALTED, "bench"
                )
                t1 = time.perf_counter()
                prober.join(30)
                stop.set()
                print(
                    json.dumps(
                        {
                            "bench": "kill_switch",
                            "round": round_ + 1,
                            "resting": resting,
                            "venue_delay_ms": args.venue_delay_ms,
                            "effective_s": round(refused_at[0] - t0, 3) if refused_at else None,
                            "cancelled_s": round(t1 - t0, 3),
                            "cancelled": change.cancelled,
                            "pending": change.cancel_pending,
                            "venue_active": venue_active(url, venue_ids),
                        }
                    ),
                    flush=True,
                )
        rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
