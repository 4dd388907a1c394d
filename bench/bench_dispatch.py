"""Dispatch benchmarks. Prints one JSON line per figure.

- ``disaggregate``: 10,000 resources x 96 quarter-hours (30 % batteries with SoC tracking,
  20 % energy-coupled loads, participation weights, ramps) -- issue target < 1 s;
- ``build_setpoints``: the plan of 1,000 resources x 96 intervals as Setpoint messages;
- ``disaggregate_lp``: the exact (look-ahead) LP on 20 resources x 96 quarter-hours;
- ``simulator``: 1,000 simulated devices over 96 quarter-hours (one day) at a 10-s control
  cycle, setpoints sent every interval, with and without telemetry (every 60 s).

Wall and CPU times are printed: on a shared machine the CPU time is the steadier figure.

Run: ``.venv/bin/python bench/bench_dispatch.py``
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from openvpp.dispatch.disaggregate import Fleet, Storage, disaggregate
from openvpp.dispatch.disaggregate_lp import disaggregate_lp
from openvpp.dispatch.setpoints import build_setpoints
from openvpp.dispatch.sim_data import Profiles
from openvpp.dispatch.simulator import DeviceSimulator, SimFleet
from openvpp.optimization.lp import SolverOptions

RESOURCES, INTERVALS, REPEATS, DT_H = 10_000, 96, 5, 0.25
START = datetime(2026, 6, 1, tzinfo=UTC)


def fleet(n: int, rng: np.random.Generator) -> tuple[Fleet, np.ndarray]:
    lo = -rng.uniform(0, 2, (n, INTERVALS))
    hi = rng.uniform(0, 2, (n, INTERVALS))
    base = rng.uniform(lo, hi)
    m = int(n * 0.3)
    storage = Storage(
        np.arange(m),
        rng.uniform(0.5, 1.5, m),
        np.full(m, 0.2),
        np.full(m, 1.8),
        np.full(m, 0.95),
        np.full(m, 0.95),
        np.full(m, 0.0005),
    )
    e_min = np.full((n, INTERVALS), -np.inf)
    e_max = np.full((n, INTERVALS), np.inf)
    coupled = slice(m, m + int(n * 0.2))  # loads that must draw a daily energy
    e_max[coupled, -1] = (lo[coupled].sum(axis=1) * DT_H) * 0.5
    ramp = rng.uniform(0.2, 2.0, n)
    f = Fleet(
        tuple(f"r{i}" for i in range(n)),
        base,
        lo,
        hi,
        ramp,
        ramp,
        p0_mw=base[:, 0],
        e_min_mwh=e_min,
        e_max_mwh=e_max,
        storage=storage,
        weight=rng.uniform(0.5, 2.0, n),
    )
    target = base.sum(axis=0) + rng.normal(0, 0.05 * n, INTERVALS)
    return f, target


def bench_disaggregate() -> None:
    f, target = fleet(RESOURCES, np.random.default_rng(7))
    times, cpu = [], []
    for _ in range(REPEATS):
        start, c0 = time.perf_counter(), time.process_time()
        plan = disaggregate(f, target, DT_H)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - c0)
    print(
        json.dumps(
            {
                "name": "dispatch_disaggregate",
                "resources": RESOURCES,
                "intervals": INTERVALS,
                "median_ms": round(statistics.median(times) * 1000, 1),
                "min_ms": round(min(times) * 1000, 1),
                "median_cpu_ms": round(statistics.median(cpu) * 1000, 1),
                "repeats": REPEATS,
                "max_abs_residual_mw": round(float(np.abs(plan.residual_mw).max()), 6),
            }
        )
    )
    small, _ = fleet(1000, np.random.default_rng(8))
    plan = disaggregate(small, small.baseline_mw.sum(axis=0), DT_H)
    starts = [START + timedelta(minutes=15 * k) for k in range(INTERVALS)]
    t0 = time.perf_counter()
    sps, _ = build_setpoints(
        plan.p_mw,
        small.resource_ids,
        starts,
        timedelta(minutes=15),
        organization_id="org",
        issued_at=START,
        grace=timedelta(seconds=30),
    )
    print(
        json.dumps(
            {
                "name": "dispatch_build_setpoints",
                "setpoints": len(sps),
                "ms": round((time.perf_counter() - t0) * 1000, 1),
            }
        )
    )


def bench_lp() -> None:
    f, target = fleet(20, np.random.default_rng(3))
    t0, c0 = time.perf_counter(), time.process_time()
    plan = disaggregate_lp(f, target, DT_H, options=SolverOptions(time_limit_s=300))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    greedy = disaggregate(f, target, DT_H)
    print(
        json.dumps(
            {
                "name": "dispatch_disaggregate_lp",
                "resources": 20,
                "intervals": INTERVALS,
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "residual_mwh": round(float(np.abs(plan.residual_mw).sum() * DT_H), 4),
                "greedy_residual_mwh": round(float(np.abs(greedy.residual_mw).sum() * DT_H), 4),
            }
        )
    )


def bench_simulator(telemetry: bool) -> None:
    n = 1000
    sim_fleet = SimFleet.mixed(n, 1)
    profiles = Profiles.from_data(START, START + timedelta(days=1))
    sim = DeviceSimulator(
        sim_fleet,
        profiles,
        START,
        step_s=10,
        telemetry_s=60 if telemetry else float("inf"),
        heartbeat_s=300 if telemetry else float("inf"),
    )
    lo, hi = sim_fleet.limits()
    plan = np.random.default_rng(2).uniform(lo[:, None], hi[:, None], (n, INTERVALS))
    starts = [START + timedelta(minutes=15 * k) for k in range(INTERVALS)]
    sps, _ = build_setpoints(
        plan,
        sim_fleet.resource_ids,
        starts,
        timedelta(minutes=15),
        organization_id="org",
        issued_at=START,
        grace=timedelta(seconds=30),
    )
    events = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for k in range(INTERVALS):
        sim.send_now(sps[k * n : (k + 1) * n])
        sim.advance(starts[k] + timedelta(minutes=15))
        drained = sim.drain_now()
        events += len(drained.acks) + len(drained.telemetry) + len(drained.heartbeats)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    steps = INTERVALS * 90
    print(
        json.dumps(
            {
                "name": "dispatch_simulator_day" + ("_with_telemetry" if telemetry else ""),
                "devices": n,
                "intervals": INTERVALS,
                "control_steps": steps,
                "events": events,
                "wall_s": round(elapsed, 2),
                "cpu_s": round(cpu, 2),
                "device_steps_per_cpu_s": round(n * steps / cpu),
            }
        )
    )


def main() -> None:
    bench_disaggregate()
    bench_lp()
    bench_simulator(telemetry=False)
    bench_simulator(telemetry=True)


if __name__ == "__main__":
    main()
