"""Authenticated API throughput and latency of ``openvpp serve``, per database backend.

What it measures
----------------
For each backend (SQLite in a fresh temporary var dir; PostgreSQL in a database
``openvpp_bench`` that this script drops and creates itself) the script migrates and seeds the
database, starts ``openvpp serve --workers N`` on a free loopback port, logs in as the demo
operator and then drives two endpoints, one after the other:

* ``GET  /api/vpp/alerts?limit=20`` -- bearer-token authentication (JWT check plus one session
  lookup) and a small paged read;
* ``POST /api/vpp/operation-logs`` -- the same authentication plus one write transaction that
  inserts the log row and a hash-chained audit row.

The load comes from a second process (``multiprocessing``, spawn) so that the client's event
loop does not share the server's interpreter: ``--connections`` (default 100) keep-alive
HTTP/1.1 connections, each a closed loop (send a request, read the whole response, repeat),
written directly on asyncio streams with ``Content-Length`` parsing so the load generator stays
cheap. After a 2 s warm-up, every response completed during the measured window
(``--duration``, default 10 s) counts: its latency is recorded and a status outside 2xx (or a
broken connection / timeout) counts as an error.

One JSON line per (backend, method) goes to stdout, progress to stderr. With a closed loop of
C connections, Little's law ties the numbers together: mean latency ~= C / rps.

The load generator shares the machine with the server, so each line also carries where the CPU
went during the measured window (Linux ``/proc``; percent of one core, so 200 = two busy cores):
``server_cpu_pct`` (all uvicorn processes), ``db_cpu_pct`` (``postgres`` processes),
``client_cpu_pct`` (the load generator), ``host_cpu_pct`` (everything) and ``other_cpu_pct``
(the rest: anything else running on the host, which makes that run's numbers suspect).

Usage::

    .venv/bin/python bench/bench_api_throughput.py [--workers 2] [--duration 10] [--warmup 2]
        [--connections 100] [--backends sqlite,postgresql] [--methods GET,POST]

Everything listens on and connects to 127.0.0.1 only. The PostgreSQL part needs a server on
127.0.0.1:5432 that lets user ``postgres`` in without a password; when it is unreachable it is
skipped with the reason printed on stderr. No database other than ``openvpp_bench`` is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import multiprocessing
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
PG_PORT = 5432
PG_ADMIN_DB = "postgres"
PG_BENCH_DB = "openvpp_bench"
PROTECTED_DATABASES = frozenset({"test", "postgres", "template0", "template1"})

GET_PATH = "/api/vpp/alerts?limit=20"
POST_PATH = "/api/vpp/operation-logs"
POST_BODY = {"category": "bench", "message": "load test", "details": {"i": 1}}
BENCH_EMAIL = "operator@demo.openvpp.org"
BENCH_PASSWORD = "openvpp-demo"

WARMUP_S = 2.0
MAX_PHASE_S = 400.0
REQUEST_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
ERROR_BACKOFF_S = 0.05
SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 20.0
CLI_TIMEOUT_S = 300.0
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_CHUNKS = 10_000


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- load generator


@dataclass(frozen=True)
class LoadSpec:
    """What the client process runs; plain data so that it pickles across ``spawn``."""

    port: int
    server_pid: int
    method: str
    path: str
    token: str
    body: bytes
    connections: int
    warmup_s: float
    duration_s: float
    rate: float | None = None


@dataclass
class LoadStats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0
    window_start: float = 0.0
    window_end: float = 0.0
    cpu: dict[str, float | None] = field(default_factory=dict)


def build_request(spec: LoadSpec) -> bytes:
    lines = [
        f"{spec.method} {spec.path} HTTP/1.1",
        f"Host: {HOST}:{spec.port}",
        f"Authorization: Bearer {spec.token}",
        "Accept: application/json",
        "Connection: keep-alive",
    ]
    if spec.method != "GET":
        lines += ["Content-Type: application/json", f"Content-Length: {len(spec.body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + spec.body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response; return (status, whether the server keeps the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEADER_BYTES:
        raise ValueError("response header too large")
    status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    status = int(rest[:3])
    length: int | None = None
    chunked = False
    keep_alive = version == "HTTP/1.1"
    for line in header_lines:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif name == "connection":
            keep_alive = value.strip().lower() != "close"
    if chunked:
        for _ in range(MAX_CHUNKS):
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # chunk data plus its CRLF
            if size == 0:
                break
        else:
            raise ValueError("too many chunks")
    elif length is not None:
        if length > MAX_BODY_BYTES:
            raise ValueError("response body too large")
        await reader.readexactly(length)
    elif status not in (204, 304) and not 100 <= status < 200:
        raise ValueError("response without Content-Length or chunked encoding")
    return status, keep_alive


async def open_connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(HOST, port), timeout=CONNECT_TIMEOUT_S
    )
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), timeout=1.0)


async def connection_loop(
    spec: LoadSpec,
    request: bytes,
    stats: LoadStats,
    stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None,
    deadline: float,
    index: int = 0,
) -> None:
    """One connection until ``deadline``: closed loop (request, full response, repeat), or, with
    ``spec.rate``, paced at ``rate / connections`` requests per second. Paced latency counts
    from the scheduled send time, so a late request is not hidden (no coordinated omission)."""
    clock = time.perf_counter
    interval = spec.connections / spec.rate if spec.rate else 0.0
    next_at = clock() + interval * index / max(1, spec.connections)
    while clock() < deadline:
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
            writer.write(request)
            status, keep_alive = await asyncio.wait_for(
                read_response(reader), timeout=REQUEST_TIMEOUT_S
            )
            finished = clock()
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
            TimeoutError,
        ):
            finished = clock()
            if stats.window_start <= finished <= stats.window_end:
                stats.transport_errors += 1
            if stream is not None:
                await close_writer(stream[1])
                stream = None
            await asyncio.sleep(ERROR_BACKOFF_S)  # no tight spin while the server is down
            continue
        if stats.window_start <= finished <= stats.window_end:
            stats.latencies.append(finished - started)
            stats.statuses[str(status)] += 1
        if not keep_alive:
            await close_writer(writer)
            stream = None
    if stream is not None:
        await close_writer(stream[1])


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds so far: the host (busy, all cores), the server tree, PostgreSQL, this process."""

    wall: float
    host_busy: float | None
    server: float | None
    database: float | None
    client: float


def _processes() -> dict[int, tuple[str, list[str]]]:
    """Every process's name and ``/proc/PID/stat`` fields from the third (state) on."""
    found: dict[int, tuple[str, list[str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            raw = (entry / "stat").read_text()
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            found[int(entry.name)] = (comm, raw[raw.rindex(")") + 2 :].split())
    return found


def _tree(root: int, processes: dict[int, tuple[str, list[str]]]) -> set[int]:
    """``root`` and all its descendants (uvicorn workers, the order store process)."""
    parent_of = {pid: int(fields[1]) for pid, (_, fields) in processes.items()}
    tree, frontier = {root}, [root]
    for _ in range(16):  # process-tree depth bound
        frontier = [pid for pid, ppid in parent_of.items() if ppid in frontier]
        if not frontier:
            break
        tree.update(frontier)
    return tree


def _process_ticks(root: int) -> tuple[int, int]:
    """CPU ticks of ``root`` with all its descendants, and of every ``postgres`` process
    (the database server's share of the work)."""
    processes = _processes()
    # utime + stime, plus cutime + cstime: the CPU of reaped children, such as PostgreSQL
    # backends of pool connections that were closed during the window.
    ticks_of = {pid: sum(int(v) for v in fields[11:15]) for pid, (_, fields) in processes.items()}
    database = sum(
        ticks_of[pid] for pid, (comm, _) in processes.items() if comm.startswith("postgres")
    )
    return sum(ticks_of.get(pid, 0) for pid in _tree(root, processes)), database


def tree_pss_mb(root: int) -> float | None:
    """Proportional memory of ``root`` with all its descendants [MB]: each page shared between
    them (the forked order store process shares its parent's) counted once (None off Linux)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        total_kb = 0
        for pid in _tree(root, _processes()):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
        return round(total_kb / 1e3, 1)
    return None


def cpu_snapshot(server_pid: int) -> CpuSnapshot:
    """Linux /proc accounting; the host and server parts are None elsewhere."""
    host_busy: float | None = None
    server: float | None = None
    database: float | None = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        tick = float(os.sysconf("SC_CLK_TCK"))
        cpu_line = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        values = [int(v) for v in cpu_line[:8]]
        host_busy = (sum(values) - values[3] - values[4]) / tick  # minus idle and iowait
        server_ticks, database_ticks = _process_ticks(server_pid)
        server, database = server_ticks / tick, database_ticks / tick
    return CpuSnapshot(time.perf_counter(), host_busy, server, database, time.process_time())


def cpu_shares(start: CpuSnapshot, end: CpuSnapshot) -> dict[str, float | None]:
    """CPU use during the window in percent of one core (200 = two cores busy)."""
    wall = end.wall - start.wall

    def pct(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or wall <= 0 else round(100 * (b - a) / wall, 1)

    host = pct(start.host_busy, end.host_busy)
    server = pct(start.server, end.server)
    database = pct(start.database, end.database)
    client = pct(start.client, end.client)
    other = None
    if host is not None and server is not None and database is not None and client is not None:
        other = round(max(0.0, host - server - database - client), 1)
    return {
        "server_cpu_pct": server,
        "db_cpu_pct": database,
        "client_cpu_pct": client,
        "other_cpu_pct": other,
        "host_cpu_pct": host,
    }


async def measure_cpu(spec: LoadSpec, stats: LoadStats) -> None:
    """Snapshot CPU accounting at the start and the end of the measured window."""
    loop_clock = time.perf_counter
    await asyncio.sleep(max(0.0, stats.window_start - loop_clock()))
    start = cpu_snapshot(spec.server_pid)
    await asyncio.sleep(max(0.0, stats.window_end - loop_clock()))
    stats.cpu = cpu_shares(start, cpu_snapshot(spec.server_pid))


async def run_load(spec: LoadSpec) -> dict[str, Any]:
    request = build_request(spec)
    opened = await asyncio.gather(
        *(open_connection(spec.port) for _ in range(spec.connections)), return_exceptions=True
    )
    streams = [s if isinstance(s, tuple) else None for s in opened]
    now = time.perf_counter()
    stats = LoadStats(window_start=now + spec.warmup_s)
    stats.window_end = stats.window_start + spec.duration_s
    await asyncio.gather(
        measure_cpu(spec, stats),
        *(
            connection_loop(spec, request, stats, s, stats.window_end, i)
            for i, s in enumerate(streams)
        ),
    )
    return summarize(stats, spec)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def summarize(stats: LoadStats, spec: LoadSpec) -> dict[str, Any]:
    lat = sorted(stats.latencies)
    non_2xx = sum(n for code, n in stats.statuses.items() if not code.startswith("2"))
    ms = 1000.0
    return {
        "requests": len(lat),
        "rps": round(len(lat) / spec.duration_s, 1),
        "mean_ms": round(sum(lat) / len(lat) * ms, 2) if lat else 0.0,
        "p50_ms": round(percentile(lat, 50) * ms, 2),
        "p90_ms": round(percentile(lat, 90) * ms, 2),
        "p99_ms": round(percentile(lat, 99) * ms, 2),
        "max_ms": round((lat[-1] if lat else 0.0) * ms, 2),
        "errors": non_2xx + stats.transport_errors,
        "transport_errors": stats.transport_errors,
        "statuses": dict(sorted(stats.statuses.items())),
        "cpus": os.cpu_count(),
        **stats.cpu,
    }


def client_main(spec: LoadSpec, conn: Connection) -> None:
    """Entry point of the load-generating process."""
    try:
        import uvloop  # optional; ships with uvicorn[standard]

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        conn.send({"ok": True, "result": runner(run_load(spec))})
    except Exception as exc:
        conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


def drive_load(spec: LoadSpec) -> dict[str, Any]:
    """Run the load in a second process and return its summary."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=client_main, args=(spec, child), name="bench-client")
    proc.start()
    child.close()
    budget = spec.warmup_s + spec.duration_s + REQUEST_TIMEOUT_S + 60.0
    try:
        if not parent.poll(budget):
            raise RuntimeError(f"load process gave no result within {budget:.0f} s")
        message: dict[str, Any] = parent.recv()
    finally:
        proc.join(timeout=10.0)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5.0)
        parent.close()
    if not message["ok"]:
        raise RuntimeError(f"load process failed: {message['error']}")
    result: dict[str, Any] = message["result"]
    return result


# --------------------------------------------------------------------------- server control


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def openvpp_executable() -> str:
    candidate = Path(sys.executable).with_name("openvpp")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("openvpp")
    if found is None:
        raise RuntimeError("the openvpp command is not installed next to this Python")
    return found


def server_env(backend: Backend, var_dir: Path, secret_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENVPP_")}
    env.update(
        {
            "OPENVPP_VAR_DIR": str(var_dir),
            "OPENVPP_DATABASE_URL": backend.database_url,
            "OPENVPP_SECRET_KEY": secret_key,
            "OPENVPP_LOG_LEVEL": "WARNING",
            "OPENVPP_JOBS_INPROCESS": "false",
            "OPENVPP_LOGIN_RATE_PER_MINUTE": "10000",
            # one bench user drives the whole load: measure capacity, not the per-caller limit
            "OPENVPP_API_RATE_PER_S": "0",
        }
    )
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(
        [openvpp_executable(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"openvpp {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def http_request(
    port: int, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_healthy(
    port: int, proc: subprocess.Popen[bytes], timeout_s: float, path: str = "/healthz"
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _ = http_request(port, "GET", path)
            if status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server not healthy within {timeout_s:.0f} s")


def login(port: int) -> str:
    status, raw = http_request(
        port, "POST", "/api/vpp/auth/login", {"email": BENCH_EMAIL, "password": BENCH_PASSWORD}
    )
    if status != 200:
        raise RuntimeError(f"login failed with {status}: {raw[:300]!r}")
    token: str = json.loads(raw)["access_token"]
    return token


def probe(port: int, token: str, method: str, path: str, body: bytes) -> None:
    """One request before the load, so a wrong path or role fails loudly instead of as errors."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"{method} {path} answered {response.status}: {raw[:300]!r}")
    finally:
        conn.close()


def report_server_log(log_path: Path, lines: int = 20) -> None:
    """Show the end of the server log (it names the cause of 5xx answers)."""
    tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    if tail:
        log("server log tail:\n" + "\n".join(tail))


@contextlib.contextmanager
def running_server(
    env: dict[str, str], workdir: Path, workers: int
) -> Iterator[tuple[int, int, Path]]:
    port = free_port()
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as server_log:
        proc = subprocess.Popen(
            [
                openvpp_executable(),
                "serve",
                "--host",
                HOST,
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=workdir,
            stdout=server_log,
            stderr=subprocess.STDOUT,
        )
        log(f"server pid {proc.pid} on {HOST}:{port} with {workers} worker(s)")
        try:
            wait_healthy(port, proc, SERVER_START_TIMEOUT_S)
            yield port, proc.pid, log_path
        except BaseException:
            report_server_log(log_path)
            raise
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=SERVER_STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    log("server ignored SIGTERM; killing it")
                    proc.kill()
                    proc.wait(timeout=SERVER_STOP_TIMEOUT_S)
            log(f"server stopped (exit code {proc.returncode})")


# --------------------------------------------------------------------------- backends


def pg_admin_conninfo() -> str:
    return f"host={HOST} port={PG_PORT} user=postgres dbname={PG_ADMIN_DB} connect_timeout=3"


def recreate_pg_database() -> str | None:
    """Drop and create the bench database; return the reason when PostgreSQL is unusable."""
    if PG_BENCH_DB in PROTECTED_DATABASES:
        raise RuntimeError(f"refusing to touch database {PG_BENCH_DB!r}")
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed ({exc})"
    try:
        with psycopg.connect(pg_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    except psycopg.Error as exc:
        return f"PostgreSQL on {HOST}:{PG_PORT} is not usable: {str(exc).strip()}"
    return None


def drop_pg_database() -> None:
    import psycopg

    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(pg_admin_conninfo(), autocommit=True) as conn,
    ):
        conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")


def bench_backend(name: str, args: argparse.Namespace, methods: list[str]) -> list[dict[str, Any]]:
    if name == "postgresql":
        reason = recreate_pg_database()
        if reason is not None:
            log(f"skipping postgresql: {reason}")
            return []
        backend = Backend(name, f"postgresql+psycopg://postgres@{HOST}:{PG_PORT}/{PG_BENCH_DB}")
    else:
        backend = Backend(name, "")  # empty: the default WAL-mode SQLite file under the var dir
    results: list[dict[str, Any]] = []
    workdir = Path(tempfile.mkdtemp(prefix=f"openvpp-bench-{name}-"))
    try:
        env = server_env(backend, workdir / "var", secrets.token_urlsafe(48))
        log(f"{name}: migrate and seed in {workdir}")
        run_cli(["db", "migrate"], env, workdir)
        run_cli(["db", "seed"], env, workdir)
        with running_server(env, workdir, args.workers) as (port, server_pid, log_path):
            for method in methods:
                token = login(port)  # fresh per run: access tokens live 15 minutes
                path = GET_PATH if method == "GET" else POST_PATH
                body = b"" if method == "GET" else json.dumps(POST_BODY).encode()
                probe(port, token, method, path, body)
                spec = LoadSpec(
                    port=port,
                    server_pid=server_pid,
                    method=method,
                    path=path,
                    token=token,
                    body=body,
                    connections=args.connections,
                    warmup_s=args.warmup,
                    duration_s=args.duration,
                    rate=args.rate,
                )
                log(f"{name} {method} {path}: {args.warmup:g} s warm-up, {args.duration:g} s run")
                measured = drive_load(spec)
                line = {
                    "name": "api_throughput",
                    "backend": name,
                    "method": method,
                    "path": path,
                    "workers": args.workers,
                    "connections": args.connections,
                    "offered_rps": args.rate,  # None: closed loop, as fast as answered
                    "duration_s": args.duration,
                    **measured,
                }
                print(json.dumps(line), flush=True)
                results.append(line)
                if measured["errors"]:
                    report_server_log(log_path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if name == "postgresql":
            drop_pg_database()
    return results


def csv_choice(allowed: tuple[str, ...], *, upper: bool = False) -> Any:
    def parse(raw: str) -> list[str]:
        items = [s.strip().upper() if upper else s.strip().lower() for s in raw.split(",")]
        items = [s for s in items if s]
        bad = [s for s in items if s not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)}; got {raw!r}")
        return list(dict.fromkeys(items))

    return parse


def seconds(raw: str) -> float:
    """A phase length; warm-up plus run must fit in one 15-minute access token."""
    value = float(raw)
    if not 0 < value <= MAX_PHASE_S:
        raise argparse.ArgumentTypeError(f"must be in (0, {MAX_PHASE_S:g}]")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=seconds, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=seconds, default=WARMUP_S, help="warm-up seconds")
    parser.add_argument("--connections", type=int, default=100, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="offered load [requests/s] spread over the connections (open loop); "
        "default: closed loop, each connection as fast as it is answered",
    )
    parser.add_argument(
        "--backends",
        type=csv_choice(("sqlite", "postgresql")),
        default=["sqlite", "postgresql"],
        help="comma-separated: sqlite,postgresql",
    )
    parser.add_argument(
        "--methods",
        type=csv_choice(("GET", "POST"), upper=True),
        default=["GET", "POST"],
        help="comma-separated: GET,POST",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.connections <= 1000:
        parser.error("--connections must be between 1 and 1000")
    if not 1 <= args.workers <= 64:
        parser.error("--workers must be between 1 and 64")
    for backend in args.backends:
        bench_backend(backend, args, args.methods)
    return 0


if __name__ == "__main__":
    sys.exit(main())
