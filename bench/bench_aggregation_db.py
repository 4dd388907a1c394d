"""End-to-end aggregation from the database: one VPP of 10,000 resources (all eight types,
each with a fresh telemetry reading), 96 quarter-hours (issue 3 target: < 1 s on SQLite and
on PostgreSQL).

For each backend the script migrates a fresh database (SQLite in a temporary directory;
PostgreSQL ``openvpp_bench_agg`` on 127.0.0.1:5432, dropped and created; MariaDB likewise on
127.0.0.1:3306 when reachable), seeds the demo organization, registers the resources through
the repositories in one transaction, then times ``vpp.service.aggregate``: the members joined
with their resources and latest readings in one query, and the vectorized computation.
Prints one JSON line per backend with the median of the timed runs and its read/compute split.

    .venv/bin/python bench/bench_aggregation_db.py [--resources 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from _support import database

from openvpp.aggregation.engine import horizon
from openvpp.audit.chain import AuditContext
from openvpp.config import Settings
from openvpp.core.ids import new_id
from openvpp.identity.model import Principal, Role
from openvpp.resources.model import Resource, ResourceStatus
from openvpp.resources.telemetry import TelemetryPoint
from openvpp.resources.templates import BUILTIN, ResourceType
from openvpp.runtime import Runtime, build_runtime
from openvpp.seed import seed_demo
from openvpp.store.migrate import upgrade
from openvpp.vpp.model import GridNode, Member, Vpp
from openvpp.vpp.service import aggregate

MIX = {  # share of each type in the fleet
    ResourceType.PV: 0.30,
    ResourceType.BATTERY: 0.20,
    ResourceType.CURTAILABLE_LOAD: 0.15,
    ResourceType.EV_FLEET: 0.10,
    ResourceType.WIND: 0.10,
    ResourceType.SHIFTABLE_LOAD: 0.09,
    ResourceType.GENSET: 0.03,
    ResourceType.HEAT_PUMP: 0.03,
}


def fleet(org: str, n: int, now: datetime) -> list[Resource]:
    rng = np.random.default_rng(11)
    types = list(MIX)
    picks = rng.choice(len(types), size=n, p=list(MIX.values()))
    out = []
    for i, kind in enumerate(types[k] for k in picks):
        version = max(v for k, v in BUILTIN if k is kind)
        params: dict[str, Any] = {}
        if kind is ResourceType.PV:
            params = {
                "tilt_deg": float(rng.uniform(0, 40)),
                "azimuth_deg": float(rng.uniform(90, 270)),
            }
        full = BUILTIN[(kind, version)].model_validate(params).model_dump()
        out.append(
            Resource(
                new_id(), org, f"r{i}", kind, version, full, "DE-110-A",
                float(rng.uniform(47.5, 54.5)), float(rng.uniform(6.0, 14.5)),
                ResourceStatus.ONLINE, now, now, now, last_seen_at=now,
            )
        )  # fmt: skip
    return out


def populate(rt: Runtime, n: int, now: datetime) -> tuple[Principal, str]:
    org = seed_demo(rt).organization_id
    admin = Principal("user", "bench", org, frozenset({Role.ADMIN}), "bench")
    resources = fleet(org, n, now)
    vpp = Vpp(new_id(), org, "Bench VPP", "DE-LU", "", now, now)
    with rt.uow(AuditContext(actor_type="system", actor_id="bench")) as uow:
        uow.grid_nodes.add(GridNode(org, "DE-110-A", "DE-LU", "bench", now))
        uow.vpps.add(vpp)
        for r in resources:
            uow.resources.add(r)
        for r in resources:
            uow.vpps.add_member(
                Member(
                    new_id(), vpp.id, r.id, Decimal("50"), now - timedelta(days=1), None, now, now
                )
            )
        soc = {ResourceType.BATTERY: 0.5, ResourceType.HEAT_PUMP: 0.5}
        readings = [TelemetryPoint(r.id, now, 0.0, soc.get(r.resource_type)) for r in resources]
        uow.telemetry.add_many(readings, now)
        uow.commit()
    return admin, vpp.id


def run(backend: str, n: int, repeats: int) -> None:
    with database(backend, "openvpp_bench_agg") as url:
        if url is None:
            return
        with tempfile.TemporaryDirectory() as var:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None, database_url=url, var_dir=var, log_level="WARNING"
            )
            rt = build_runtime(settings)
            try:
                upgrade(rt.engine)
                now = datetime.now(UTC).replace(second=0, microsecond=0)
                now -= timedelta(minutes=now.minute % 15)
                admin, vpp_id = populate(rt, n, now)
                index = horizon(now, now + timedelta(days=1), 15)
                totals, reads = [], []
                for _ in range(repeats + 1):  # the first run warms caches and is dropped
                    start = time.perf_counter()
                    with rt.uow(readonly=True) as uow:
                        uow.vpps.allocations(vpp_id)
                    reads.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    result = aggregate(
                        rt.uow(readonly=True), admin, vpp_id, index, tz="Europe/Berlin", now=now
                    )
                    totals.append(time.perf_counter() - start)
                total, read = statistics.median(totals[1:]), statistics.median(reads[1:])
                print(
                    json.dumps(
                        {
                            "name": "aggregation_from_database",
                            "backend": backend,
                            "resources": n,
                            "intervals": len(index),
                            "median_ms": round(total * 1000, 1),
                            "read_ms": round(read * 1000, 1),
                            "compute_ms": round((total - read) * 1000, 1),
                            "max_ms": round(max(totals[1:]) * 1000, 1),
                            "repeats": repeats,
                            "online": result.resources.get("online", 0),
                        }
                    )
                )
            finally:
                rt.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql,mariadb")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        run(backend, args.resources, args.repeats)


if __name__ == "__main__":
    main()
