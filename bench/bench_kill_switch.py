"""The kill switch: how fast HALTED takes effect and the open orders are cancelled.

What it measures
----------------
RELIABILITY item 7 asks that HALTED take effect within 1 s and the open orders be cancelled
within 5 s. This script puts ``--orders`` resting orders of the demo VPP "Park Energy" on the
HTTP simulated exchange (``openvpp exchange serve`` in its own process on loopback, each
cancellation request -- of one order, or of a batch of up to ``--venue-batch`` -- answered
``--venue-delay-ms`` late, as a distant venue would), then halts the VPP
through
``TradingControl.set_mode`` while a prober thread keeps submitting one order every 5 ms:

* ``effective_s``: from the start of the halt to the first probe refused as ``halted``;
* ``cancelled_s``: the halt's whole duration (it returns once every open order is cancelled
  or left pending at the venue);
* ``cancelled`` / ``pending`` as the halt reported them, and ``venue_active`` -- the orders
  (the bench's and the probes') still active at the exchange afterwards, asked there one by
  one (must be 0).

A fresh SQLite database (file, WAL), the order store inline. One JSON line per round.

Usage::

    .venv/bin/python bench/bench_kill_switch.py [--orders 500] [--venue-delay-ms 20]
        [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _support import park_trading
from bench_api_throughput import free_port
from bench_orders import MARKET, PRODUCT, delivery_starts

API_KEY, ACCOUNT = "bench-key-0123456789", "desk"


@contextmanager
def exchange_process(delay_ms: float) -> Iterator[str]:
    """``openvpp exchange serve`` in a subprocess, up and answering; yields its URL."""
    port = free_port()
    cli = str(Path(sys.executable).with_name("openvpp"))
    delay = f"delay_after_accept,endpoints=cancel+cancel_batch,delay_s={delay_ms / 1e3}"
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
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def venue_active(url: str, venue_ids: list[str]) -> int:
    """How many of the orders are still active at the exchange."""
    with httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}) as c:
        return sum(bool(c.get(f"/v1/orders/{v}").json()["active"]) for v in venue_ids)


def ids(placed: list[Any]) -> list[str]:
    """The venue ids of the placements that reached the venue."""
    return [v for p in placed if (v := getattr(getattr(p, "order", None), "venue_order_id", None))]


def probe(
    submit: Callable[[], list[Any]], stop: threading.Event, out: list[float], placed: list[Any]
) -> None:
    """Submit one order every 5 ms until one is refused as ``halted`` (its time in ``out``);
    the placements in ``placed``."""
    while not stop.is_set():
        placed += submit()
        order = getattr(placed[-1], "order", None)
        if order is not None and order.risk_rule == "halted":
            out.append(time.perf_counter())
            return
        time.sleep(0.005)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=500, help="open orders when halting")
    parser.add_argument("--venue-delay-ms", type=float, default=20.0, help="per cancellation")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (a halt each)")
    parser.add_argument(
        "--venue-batch",
        type=int,
        default=None,
        help="orders per batch request (1: one request per order; default: the connector's)",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="openvpp-bench-halt-") as tmp:
        park = park_trading(
            tmp,
            "kill-switch",
            MARKET,
            OPENVPP_CONNECTOR_ALLOWED_HOSTS='["127.0.0.1"]',
            OPENVPP_CONNECTOR_ALLOW_LOCAL="true",
        )
        from openvpp.markets.connections import ConnectionSpec
        from openvpp.trading.records import SubmitOrder
        from openvpp.trading.risk import TradingMode

        rt, org, vpp_id = park.rt, park.org, park.vpp_id
        operator, context = park.principal, park.context
        starts = [datetime.fromisoformat(s) for s in delivery_starts()]
        counter = iter(range(10**9))

        def order(prefix: str) -> SubmitOrder:
            return park.resting_order(PRODUCT, starts, next(counter), prefix)  # type: ignore[no-any-return]

        def submit(orders: list[SubmitOrder]) -> list[Any]:
            return rt.trading.submissions.submit_many(rt.uow(context), operator, orders)

        with exchange_process(args.venue_delay_ms) as url:
            spec = ConnectionSpec(
                name="Bench exchange",
                kind="openvpp-exchange",
                base_url=url,
                markets=[MARKET],
                credentials={"api_key": API_KEY},
                options={
                    "timeout_s": 5 + args.venue_delay_ms / 1e3,
                    **({} if args.venue_batch is None else {"max_batch_orders": args.venue_batch}),
                },
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
                resting = venue_active(url, ids(placed))

                refused_at: list[float] = []
                stop = threading.Event()
                prober = threading.Thread(
                    target=probe,
                    args=(lambda: submit([order("probe")]), stop, refused_at, placed),
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
                            # the bench's orders and the probes accepted before the halt
                            "venue_active": venue_active(url, ids(placed)),
                        }
                    ),
                    flush=True,
                )
        rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
