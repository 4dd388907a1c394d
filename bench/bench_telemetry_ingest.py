"""Telemetry ingest throughput through the batch path, per database backend.

What it measures
----------------
Points per second through ``TelemetryService.ingest_for``: the same call behind
``POST /api/vpp/telemetry`` and ``openvpp telemetry import`` (screening, storing, the newest
reading and status of each resource, one hash-chained audit row per batch, commit). HTTP and
JSON/CSV parsing are not included; building the ``TelemetryPoint`` objects is not timed.

For each backend the script migrates a fresh database (SQLite: a temporary WAL-mode file;
PostgreSQL and MariaDB: a database ``openvpp_bench_ingest`` that it drops and creates on
127.0.0.1), creates one organization with ``--resources`` batteries, then ingests
``--batches`` batches of ``--batch-size`` points: every resource reports at consecutive
10-second timestamps, interleaved as a live feed would send them (time, then resource). One
extra batch first warms the connection pool and caches and is not counted. Every batch must
come back with all points accepted. Then one batch is sent again (``resend``): all of it must
count as duplicates, which exercises the stored-point lookup.

One JSON line per backend goes to stdout, progress to stderr.

Usage::

    .venv/bin/python bench/bench_telemetry_ingest.py [--resources 1000] [--batch-size 50000]
        [--batches 10] [--backends sqlite,postgresql,mariadb]

The PostgreSQL part needs a server on 127.0.0.1:5432 that lets user ``postgres`` in without a
password, the MariaDB part one on 127.0.0.1:3306 for ``root``; an unreachable server is
skipped with the reason on stderr. No database other than ``openvpp_bench_ingest`` is touched.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from openvpp.audit.chain import AuditContext
from openvpp.config import Settings
from openvpp.identity.model import Principal, Role
from openvpp.resources.telemetry import TelemetryPoint
from openvpp.resources.templates import ResourceType
from openvpp.runtime import Runtime, build_runtime
from openvpp.store.db import create_engine
from openvpp.store.migrate import upgrade

HOST = "127.0.0.1"
BENCH_DB = "openvpp_bench_ingest"
PROTECTED = frozenset({"test", "postgres", "mysql", "template0", "template1"})
T0 = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=10)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_seconds() -> tuple[float, float | None, float | None]:
    """(this process, the database server processes, the whole host busy) in CPU seconds,
    from Linux /proc; the last two are None elsewhere."""
    own = time.process_time()
    with contextlib.suppress(OSError, ValueError, IndexError):
        tick = float(os.sysconf("SC_CLK_TCK"))
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
        host = (sum(values) - values[3] - values[4]) / tick  # minus idle and iowait
        database = 0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    raw = (entry / "stat").read_text()
                    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
                    if comm.startswith(("postgres", "mariadbd", "mysqld")):
                        fields = raw[raw.rindex(")") + 2 :].split()
                        database += sum(int(v) for v in fields[11:13])  # utime + stime
        return own, database / tick, host
    return own, None, None


def cpu_shares(
    start: tuple[float, float | None, float | None],
    end: tuple[float, float | None, float | None],
    wall: float,
) -> dict[str, float | None]:
    """CPU use during the measured batches in percent of one core (200 = two busy cores):
    this script, the database server, and everything else on the host (``other``: a large
    value means the run shared the machine and its figure is suspect)."""

    def pct(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(100 * (b - a) / wall, 1)

    own, database, host = (pct(a, b) for a, b in zip(start, end, strict=True))
    other = None
    if own is not None and database is not None and host is not None:
        other = round(max(0.0, host - own - database), 1)
    return {"bench_cpu_pct": own, "db_cpu_pct": database, "other_cpu_pct": other}


@contextlib.contextmanager
def database(backend: str) -> Iterator[str | None]:
    """A fresh, empty database URL for ``backend``; ``None`` when the server is unusable."""
    if BENCH_DB in PROTECTED:
        raise RuntimeError(f"refusing to touch database {BENCH_DB!r}")
    if backend == "sqlite":
        workdir = Path(tempfile.mkdtemp(prefix="openvpp-bench-ingest-"))
        try:
            yield f"sqlite:///{workdir / 'openvpp.db'}"
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return
    if backend == "postgresql":
        import psycopg

        admin = f"host={HOST} port=5432 user=postgres dbname=postgres connect_timeout=3"
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {BENCH_DB}")
        except psycopg.Error as exc:
            log(f"skipping postgresql: not usable on {HOST}:5432: {str(exc).strip()}")
            yield None
            return
        try:
            yield f"postgresql+psycopg://postgres@{HOST}:5432/{BENCH_DB}"
        finally:
            with (
                contextlib.suppress(psycopg.Error),
                psycopg.connect(admin, autocommit=True) as conn,
            ):
                conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        return
    import pymysql

    def admin_sql(sql: str) -> None:
        conn = pymysql.connect(host=HOST, port=3306, user="root", connect_timeout=3)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    try:
        admin_sql(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        admin_sql(f"CREATE DATABASE {BENCH_DB} CHARACTER SET utf8mb4")
    except pymysql.Error as exc:
        log(f"skipping mariadb: not usable on {HOST}:3306: {exc}")
        yield None
        return
    try:
        yield f"mysql+pymysql://root@{HOST}:3306/{BENCH_DB}"
    finally:
        with contextlib.suppress(pymysql.Error):
            admin_sql(f"DROP DATABASE IF EXISTS {BENCH_DB}")


def prepare(url: str, var_dir: Path, resources: int) -> tuple[Runtime, str, list[str]]:
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        var_dir=var_dir,
        secret_key=secrets.token_urlsafe(48),
        jobs_inprocess=False,
        log_level="WARNING",
    )
    rt = build_runtime(settings)
    org = rt.identity.create_organization(rt.uow(), "Bench Energy", "bench")
    principal = Principal(
        kind="user", id="bench", organization_id=org.id, roles=frozenset(Role), user_id="bench"
    )
    ids = [
        rt.resources.create(
            rt.uow(),
            principal,
            name=f"battery-{i:05d}",
            resource_type=ResourceType.BATTERY,
            template_version=1,
            parameters={"energy_mwh": 4.0, "p_charge_max_mw": 2.0, "p_discharge_max_mw": 2.0},
            grid_node="BENCH-110kV",
            latitude=None,
            longitude=None,
        ).id
        for i in range(resources)
    ]
    return rt, org.id, ids


def batch_points(ids: list[str], first_step: int, steps: int) -> list[TelemetryPoint]:
    """``steps`` consecutive timestamps for every resource, interleaved (time, then resource)."""
    points = []
    for s in range(first_step, first_step + steps):
        ts = T0 + s * STEP
        for n, rid in enumerate(ids):
            power = ((s * 7 + n) % 37 - 18) / 10  # within +/-2 MW
            points.append(TelemetryPoint(rid, ts, power, 0.5 + (s % 40) / 100))
    return points


def ingest_checked(rt: Runtime, context: AuditContext, batch: list[TelemetryPoint]) -> float:
    """Ingest one batch; its duration. Every point must be accepted."""
    started = time.perf_counter()
    result = rt.telemetry.ingest_for(rt.uow(context), str(context.organization_id), batch)
    elapsed = time.perf_counter() - started
    if (result.accepted, result.duplicates, sum(result.rejected.values())) != (len(batch), 0, 0):
        raise RuntimeError(f"unexpected result {result}")
    return elapsed


def run_writers(
    rt: Runtime,
    context: AuditContext,
    ids: list[str],
    writers: int,
    args: argparse.Namespace,
    first_step: int,
) -> tuple[dict[str, Any], list[TelemetryPoint], int]:
    """``writers`` threads, each sending ``--batches`` batches (after one warm-up batch) for its
    own share of the resources, at once. Returns the figures, one batch to re-send later and
    the next unused time step."""
    groups = [ids[w::writers] for w in range(writers)]
    steps = [max(1, args.batch_size // len(g)) for g in groups]
    batches = [
        [batch_points(g, first_step + b * n, n) for b in range(args.batches + 1)]
        for g, n in zip(groups, steps, strict=True)
    ]
    times: list[float] = []
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(lambda own: ingest_checked(rt, context, own[0]), batches))  # warm-up
        cpu_start, started = cpu_seconds(), time.perf_counter()
        for durations in pool.map(
            lambda own: [ingest_checked(rt, context, b) for b in own[1:]], batches
        ):
            times.extend(durations)
        wall = time.perf_counter() - started
    points = sum(len(b) for own in batches for b in own[1:])
    line = {
        "writers": writers,
        "batch_size": len(batches[0][0]),
        "batches": len(times),
        "points": points,
        "seconds": round(wall, 3),
        "points_per_s": round(points / wall),
        "median_batch_s": round(statistics.median(times), 3),
        **cpu_shares(cpu_start, cpu_seconds(), wall),
    }
    return line, batches[0][len(batches[0]) // 2], first_step + (args.batches + 1) * max(steps)


def bench(backend: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    with database(backend) as url:
        if url is None:
            return lines
        var_dir = Path(tempfile.mkdtemp(prefix="openvpp-bench-var-"))
        rt: Runtime | None = None
        try:
            log(f"{backend}: migrate, create {args.resources} resources")
            rt, org_id, ids = prepare(url, var_dir, args.resources)
            context = AuditContext(actor_type="system", actor_id="bench", organization_id=org_id)
            step = 0
            resend: list[TelemetryPoint] = []
            for writers in args.writers:
                log(f"{backend}: {writers} writer(s), {args.batches} batches each")
                figures, sample, step = run_writers(rt, context, ids, writers, args, step)
                resend = resend or sample
                lines.append(
                    {
                        "name": "telemetry_ingest",
                        "backend": backend,
                        "resources": len(ids),
                        **figures,
                    }
                )
            started = time.perf_counter()
            again = rt.telemetry.ingest_for(rt.uow(context), org_id, resend)
            resend_s = time.perf_counter() - started
            if (again.accepted, again.duplicates) != (0, len(resend)):
                raise RuntimeError(f"{backend}: re-sent batch gave {again}")
            for line in lines:
                line["resend_points_per_s"] = round(len(resend) / resend_s)
            return lines
        finally:
            if rt is not None:
                rt.close()
            shutil.rmtree(var_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--resources", type=int, default=1000, help="batteries reporting")
    parser.add_argument("--batch-size", type=int, default=50_000, help="points per batch")
    parser.add_argument("--batches", type=int, default=10, help="measured batches per writer")
    parser.add_argument(
        "--writers",
        default="1,2",
        help="comma-separated numbers of concurrent writers to measure, one line each",
    )
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql,mariadb",
        help="comma-separated: sqlite,postgresql,mariadb",
    )
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgresql", "mariadb"}
    if unknown:
        parser.error(f"unknown backends: {sorted(unknown)}")
    if not 1 <= args.resources <= 100_000 or not 1 <= args.batch_size <= 1_000_000:
        parser.error("--resources must be in 1..100000 and --batch-size in 1..1000000")
    if args.batches < 1:
        parser.error("--batches must be at least 1")
    try:
        args.writers = [int(w) for w in args.writers.split(",") if w.strip()]
    except ValueError:
        parser.error("--writers takes numbers, e.g. 1,2")
    if not args.writers or not all(1 <= w <= 16 for w in args.writers):
        parser.error("--writers must be between 1 and 16")
    for backend in backends:
        for line in bench(backend, args):
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
