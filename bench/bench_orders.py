"""Order submission through the API: ``POST /api/vpp/trading/orders`` from a second process.

What it measures
----------------
The script migrates and seeds a fresh SQLite database in a temporary var dir (or PostgreSQL in
``openvpp_bench``, dropped and created here), starts the app under uvicorn as ``openvpp serve``
does (the app factory) on a free loopback port (jobs and the trading loop in-process, as
deployed), sets generous risk limits for the demo VPP "Park Energy" on EU-SIDC as the
operator, and then, as the demo trader, places orders:

* each request is a new order (unique ``client_order_id``) for one of the next twelve delivery
  hours of EU-SIDC (continuous intraday, in-process simulated exchange), buys at 10 and sells
  at 900 EUR/MWh, so nothing matches: every order is risk-checked (limits, exposure), inserted
  and committed with its audit row, sent to the venue and its acknowledgement recorded with a
  second audit row;
* phase ``closed``: ``--connections`` keep-alive connections in a closed loop (maximum
  throughput); phase ``paced``: ``--rate`` orders/s spread over the connections, latency counted
  from each request's scheduled send time (no coordinated omission) -- the "sustained N
  orders/s with p99 < 50 ms" figure.

``--order-store`` picks where the orders' database work runs (``OPENVPP_ORDER_STORE``):
``process`` (the default, as deployed: the server's order store process, whose CPU counts in
the server's share) or ``inline`` (the server's writer thread).

``--venue`` picks the exchange: ``simulated`` (the default: the server's in-process simulated
exchange, whose book of resting orders grows in the server's memory) or ``http`` (``openvpp
exchange serve`` in a process of its own on loopback, reached through a connection of kind
``openvpp-exchange``, as a real venue would be: the server's memory is then its own, and its
CPU share leaves the venue out; the exchange's counts in ``other_cpu_pct``). ``--venue-batch``
sets that connection's ``max_batch_orders``: the orders of one group-commit batch go to the
venue in one request (1: one request per order).

A response counts as an error when it is not 201 or the order is not ``acknowledged``. One JSON
line per phase goes to stdout (rps, p50/p90/p99/max [ms], errors, statuses, order states, CPU
shares as in ``bench_api_throughput.py``, the mean size of the group-commit batches from the
server's ``/metrics``; ``cpu_ref_ms``: ``_support.cpu_reference_ms`` just before the phase, how
fast the machine was in those minutes), progress to stderr.

Usage::

    .venv/bin/python bench/bench_orders.py [--backend sqlite|postgresql] [--workers 1]
        [--connections 16] [--rate 500] [--duration 10] [--warmup 2] [--phases closed,paced]
        [--order-store process|inline] [--venue simulated|http] [--venue-batch N]
        [--timeline FILE.csv]

Everything listens on and connects to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _support import analyze, cpu_reference_ms
from bench_api_throughput import (
    HOST,
    PG_BENCH_DB,
    PG_PORT,
    REQUEST_TIMEOUT_S,
    SERVER_START_TIMEOUT_S,
    SERVER_STOP_TIMEOUT_S,
    Backend,
    close_writer,
    cpu_shares,
    cpu_snapshot,
    free_port,
    http_request,
    log,
    open_connection,
    percentile,
    recreate_pg_database,
    report_server_log,
    server_env,
    tree_pss_mb,
    wait_healthy,
)

ORDERS = "/api/vpp/trading/orders"
PASSWORD = "openvpp-demo"
MARKET, PRODUCT = "EU-SIDC", "H"
HOURS = 12


def token_of(port: int, role: str) -> str:
    status, raw = http_request(
        port,
        "POST",
        "/api/vpp/auth/login",
        {"email": f"{role}@demo.openvpp.org", "password": PASSWORD},
    )
    if status != 200:
        raise RuntimeError(f"login as {role} failed: {status} {raw[:200]!r}")
    token: str = json.loads(raw)["access_token"]
    return token


def call(port: int, token: str, method: str, path: str, body: Any = None) -> Any:
    import http.client

    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"{method} {path}: {response.status} {raw[:300]!r}")
        return json.loads(raw) if raw else None
    finally:
        conn.close()


def batch_sizes(port: int) -> tuple[float, float]:
    """(batches, submissions) of the group commit so far, from ``/metrics`` (of the worker
    that answers, with several workers)."""
    status, raw = http_request(port, "GET", "/metrics", None)
    if status != 200:
        return 0.0, 0.0
    found = {"count": 0.0, "sum": 0.0}
    for line in raw.decode().splitlines():
        for kind in found:
            if line.startswith(f"openvpp_order_batch_size_{kind} "):
                found[kind] = float(line.split()[-1])
    return found["count"], found["sum"]


@dataclass(frozen=True)
class Spec:
    port: int
    server_pid: int
    token: str
    vpp_id: str
    starts: tuple[str, ...]
    connections: int
    warmup_s: float
    duration_s: float
    rate: float | None
    prefix: str
    timeline: str | None = None
    connection_id: str | None = None  # the venue's connection; None: the organization's default


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    states: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    window_start: float = 0.0
    window_end: float = 0.0
    cpu: dict[str, float | None] = field(default_factory=dict)


def order_request(spec: Spec, index: int, n: int) -> bytes:
    sell = n % 2 == 0
    body = json.dumps(
        {
            "client_order_id": f"{spec.prefix}-{index}-{n}",
            "vpp_id": spec.vpp_id,
            "market": MARKET,
            "product": PRODUCT,
            "delivery_start": spec.starts[n % len(spec.starts)],
            "side": "sell" if sell else "buy",
            "price": "900" if sell else "10",
            "quantity_mw": "0.1",
            **({} if spec.connection_id is None else {"connection_id": spec.connection_id}),
        }
    ).encode()
    head = (
        f"POST {ORDERS} HTTP/1.1\r\nHost: {HOST}:{spec.port}\r\n"
        f"Authorization: Bearer {spec.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def read_json_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
    length = 0
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    raw = await reader.readexactly(length)
    return int(status_line.split(" ")[1]), json.loads(raw) if raw else {}


async def connection_loop(spec: Spec, index: int, stats: Stats) -> None:
    clock = time.perf_counter
    interval = spec.connections / spec.rate if spec.rate else 0.0
    next_at = clock() + interval * index / max(1, spec.connections)
    stream = None
    n = 0
    while clock() < stats.window_end:
        n += 1
        try:
            if stream is None:
                stream = await open_connection(spec.port)
            reader, writer = stream
            if interval:
                delay = next_at - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                started = next_at
                next_at += interval
            else:
                started = clock()
            writer.write(order_request(spec, index, n))
            status, body = await asyncio.wait_for(
                read_json_response(reader), timeout=REQUEST_TIMEOUT_S
            )
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError):
            if stats.window_start <= clock() <= stats.window_end:
                stats.transport_errors += 1
            if stream is not None:
                await close_writer(stream[1])
                stream = None
            await asyncio.sleep(0.05)
            continue
        finished = clock()
        if stats.window_start <= finished <= stats.window_end:
            stats.latencies.append(finished - started)
            stats.finished.append(finished - stats.window_start)
            stats.statuses[str(status)] += 1
            stats.states[str(body.get("state", "error"))] += 1
            if status >= 300 and len(stats.error_samples) < 3:
                stats.error_samples.append(json.dumps(body)[:300])
    if stream is not None:
        await close_writer(stream[1])


async def run(spec: Spec) -> dict[str, Any]:
    stats = Stats(window_start=time.perf_counter() + spec.warmup_s)
    stats.window_end = stats.window_start + spec.duration_s

    async def cpu() -> None:
        await asyncio.sleep(max(0.0, stats.window_start - time.perf_counter()))
        start, pss_start = cpu_snapshot(spec.server_pid), tree_pss_mb(spec.server_pid)
        await asyncio.sleep(max(0.0, stats.window_end - time.perf_counter()))
        stats.cpu = cpu_shares(start, cpu_snapshot(spec.server_pid))
        # the server with its order store process (RELIABILITY item 22: memory growth)
        pss_end = tree_pss_mb(spec.server_pid)
        stats.cpu["server_pss_mb_start"], stats.cpu["server_pss_mb_end"] = pss_start, pss_end

    await asyncio.gather(cpu(), *(connection_loop(spec, i, stats) for i in range(spec.connections)))
    if spec.timeline:
        write_timeline(Path(spec.timeline), stats)
    lat = sorted(stats.latencies)
    ms = 1000.0
    bad = sum(n for code, n in stats.statuses.items() if code != "201")
    not_acked = sum(n for state, n in stats.states.items() if state != "acknowledged")
    return {
        "orders": len(lat),
        "rps": round(len(lat) / spec.duration_s, 1),
        "p50_ms": round(percentile(lat, 50) * ms, 2),
        "p90_ms": round(percentile(lat, 90) * ms, 2),
        "p99_ms": round(percentile(lat, 99) * ms, 2),
        "max_ms": round((lat[-1] if lat else 0.0) * ms, 2),
        "errors": max(bad, not_acked) + stats.transport_errors,
        "transport_errors": stats.transport_errors,
        "error_samples": stats.error_samples,
        "statuses": dict(sorted(stats.statuses.items())),
        "states": dict(sorted(stats.states.items())),
        **stats.cpu,
    }


def write_timeline(path: Path, stats: Stats) -> None:
    """One CSV line per measured request, in the order they finished: seconds since the
    measured window opened, latency [ms], and the finish time on the monotonic clock
    (``time.perf_counter``, shared by the processes of this machine) to line the requests up
    with events logged in the server -- to see whether the slow requests come in bursts."""
    rows = sorted(zip(stats.finished, stats.latencies, strict=True))
    lines = [
        "finished_s,latency_ms,finished_monotonic",
        *(f"{f:.4f},{lat * 1000:.2f},{f + stats.window_start:.4f}" for f, lat in rows),
    ]
    path.write_text("\n".join(lines) + "\n")


def client_main(spec: Spec, conn: Connection) -> None:
    try:
        conn.send({"ok": True, "result": asyncio.run(run(spec))})
    except Exception as exc:
        conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


def drive(spec: Spec, analyze_url: str | None = None) -> dict[str, Any]:
    """Run the load process; with ``analyze_url``, gather the database's statistics late in
    the warm-up (``_support.analyze``: what autovacuum does within a minute of a fresh
    table's growth)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=client_main, args=(spec, child), name="bench-orders-client")
    proc.start()
    child.close()
    try:
        if analyze_url:
            time.sleep(spec.warmup_s * 0.75)
            engine = sa.create_engine(analyze_url)
            analyze(engine)
            engine.dispose()
        if not parent.poll(spec.warmup_s + spec.duration_s + REQUEST_TIMEOUT_S + 60):
            raise RuntimeError("the load process gave no result")
        message: dict[str, Any] = parent.recv()
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()
        parent.close()
    if not message["ok"]:
        raise RuntimeError(message["error"])
    result: dict[str, Any] = message["result"]
    return result


def delivery_starts() -> tuple[str, ...]:
    """The next ``HOURS`` delivery hours whose EU-SIDC gate is open now and stays open for the
    run (the gate opens the day before at 15:00 local time, closes 5 minutes before)."""
    from openvpp.markets.calendar import is_open
    from openvpp.markets.presets import load_presets

    product = load_presets()[MARKET].product(PRODUCT)
    now = datetime.now(UTC)
    first = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    starts = [first + timedelta(hours=h) for h in range(48)]
    open_now = [s for s in starts if is_open(product, s, now)][:HOURS]
    if not open_now:
        raise RuntimeError("no EU-SIDC delivery hour is open now")
    return tuple(s.isoformat() for s in open_now)


SETUP = """
from openvpp.config import load_settings
from openvpp.runtime import build_runtime
from openvpp.seed import seed_demo
from openvpp.store.migrate import upgrade
rt = build_runtime(load_settings())
upgrade(rt.engine)
seed_demo(rt, park=True)
rt.close()
"""


def migrate_and_seed(env: dict[str, str], workdir: Path) -> None:
    """``openvpp db migrate`` and ``openvpp db seed``, as library calls."""
    done = subprocess.run(
        [sys.executable, "-c", SETUP], env=env, cwd=workdir, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrate/seed failed:\n{done.stdout}{done.stderr}")


@contextlib.contextmanager
def served(
    name: str, command: list[str], env: dict[str, str], workdir: Path, port: int, health: str
) -> Iterator[int]:
    """``command`` run as a server on ``port`` until the block ends, its output in
    ``workdir/NAME.log`` (shown if it fails to come up or the block fails), answering 200 on
    ``health`` before the block starts; its process id."""
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=workdir, stdout=out, stderr=out)
        try:
            wait_healthy(port, proc, SERVER_START_TIMEOUT_S, health)
            log(f"{name} pid {proc.pid} on {HOST}:{port}")
            yield proc.pid
        except BaseException:
            report_server_log(log_path)
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=SERVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def uvicorn_server(env: dict[str, str], workdir: Path, workers: int) -> Iterator[tuple[int, int]]:
    """The app as ``openvpp serve`` runs it (uvicorn, app factory), on a free loopback port."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "openvpp.api.app:create_app", "--factory",
        "--host", HOST, "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    with served("server", command, env, workdir, port, "/healthz") as pid:
        yield port, pid


VENUE_KEY = "bench-venue-key"


@contextlib.contextmanager
def venue_server(env: dict[str, str], workdir: Path) -> Iterator[str]:
    """``openvpp exchange serve`` on a free loopback port, up and answering; its base URL."""
    port = free_port()
    command = [
        sys.executable, "-c", "from openvpp.cli.main import app; app()", "exchange", "serve",
        "--host", HOST, "--port", str(port), "--api-key", f"{VENUE_KEY}=bench",
    ]  # fmt: skip
    with served("exchange", command, env, workdir, port, "/v1/health"):
        yield f"http://{HOST}:{port}"


def venue_connection(port: int, base_url: str, batch: int | None = None) -> str:
    """A connection of kind ``openvpp-exchange`` to ``base_url``, made by the demo admin;
    ``batch``: its ``max_batch_orders`` (the connector's default when None)."""
    body: dict[str, object] = {
        "name": "Bench exchange",
        "kind": "openvpp-exchange",
        "base_url": base_url,
        "markets": [MARKET],
        "credentials": {"api_key": VENUE_KEY},
    }
    if batch is not None:
        body["options"] = {"max_batch_orders": batch}
    made = call(port, token_of(port, "admin"), "POST", "/api/vpp/market/connections", body)
    connection_id: str = made["id"]
    return connection_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--phases", default="closed,paced")
    parser.add_argument(
        "--order-store",
        choices=("process", "inline"),
        default="process",
        help="where the orders' database work runs (OPENVPP_ORDER_STORE; default as deployed)",
    )
    parser.add_argument(
        "--venue",
        choices=("simulated", "http"),
        default="simulated",
        help="the in-process simulated exchange, or `openvpp exchange serve` in its own process",
    )
    parser.add_argument(
        "--venue-batch",
        type=int,
        help="orders per batch request to the HTTP venue (1: one request per order; "
        "default: the connector's)",
    )
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="skip the ANALYZE late in each warm-up (PostgreSQL)",
    )
    parser.add_argument(
        "--timeline", help="write each request's finish time and latency to this CSV (paced)"
    )
    args = parser.parse_args(argv)
    if args.backend == "postgresql":
        reason = recreate_pg_database()
        if reason is not None:
            log(f"skipping postgresql: {reason}")
            return 0
        backend = Backend(
            "postgresql", f"postgresql+psycopg://postgres@{HOST}:{PG_PORT}/{PG_BENCH_DB}"
        )
    else:
        backend = Backend("sqlite", "")
    workdir = Path(tempfile.mkdtemp(prefix="openvpp-bench-orders-"))
    try:
        env = server_env(backend, workdir / "var", secrets.token_urlsafe(48))
        env["OPENVPP_JOBS_INPROCESS"] = "true"  # the trading loop runs, as in production
        env["OPENVPP_ORDER_STORE"] = args.order_store
        if args.venue == "http":  # the venue on loopback: allowed for this server only
            env["OPENVPP_CONNECTOR_ALLOWED_HOSTS"] = json.dumps([HOST])
            env["OPENVPP_CONNECTOR_ALLOW_LOCAL"] = "true"
        log(f"migrate and seed in {workdir}")
        migrate_and_seed(env, workdir)
        with contextlib.ExitStack() as stack:
            venue_url = (
                stack.enter_context(venue_server(env, workdir)) if args.venue == "http" else None
            )
            port, pid = stack.enter_context(uvicorn_server(env, workdir, args.workers))
            connection_id = (
                None if venue_url is None else venue_connection(port, venue_url, args.venue_batch)
            )
            operator, trader = token_of(port, "operator"), token_of(port, "trader")
            vpps = call(port, operator, "GET", "/api/vpp/vpps")
            vpp_id = next(v["id"] for v in vpps if v["name"] == "Park Energy")
            limits = {
                "vpp_id": vpp_id,
                "market": MARKET,
                "max_position_mw": "100000",
                "max_order_mw": "10",
                "max_notional": "100000",
                "max_orders_per_second": 100000,
                "max_orders_per_minute": 10000000,
            }
            call(port, operator, "PUT", "/api/vpp/trading/limits", limits)
            for phase in args.phases.split(","):
                spec = Spec(
                    port=port,
                    server_pid=pid,
                    token=trader,
                    vpp_id=vpp_id,
                    starts=delivery_starts(),
                    connections=args.connections,
                    warmup_s=args.warmup,
                    duration_s=args.duration,
                    rate=args.rate if phase == "paced" else None,
                    prefix=f"{phase}-{secrets.token_hex(4)}",
                    timeline=args.timeline if phase == "paced" else None,
                    connection_id=connection_id,
                )
                log(f"{phase}: {args.connections} connections for {args.duration:.0f} s")
                reference = cpu_reference_ms()  # the server idle: how fast the VM is now
                before = batch_sizes(port)
                result = drive(spec, backend.database_url if args.analyze else None)
                after = batch_sizes(port)
                batches = after[0] - before[0]
                submitted = after[1] - before[1]
                result["mean_batch"] = round(submitted / batches, 2) if batches else None
                line = {
                    "bench": "orders",
                    "backend": backend.name,
                    "phase": phase,
                    "workers": args.workers,
                    "order_store": args.order_store,
                    "venue": args.venue,
                    "venue_batch": args.venue_batch,
                    "connections": args.connections,
                    "target_rps": spec.rate,
                    **result,
                    "cpu_ref_ms": reference,
                }
                print(json.dumps(line), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
