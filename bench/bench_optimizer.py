"""Schedule optimization speed and accuracy.

Case ``battery_96``: one battery over 96 quarter-hours of a real price day (PJM COMED,
2018-12-11, from the demo data; each hour repeated 4x): build + solve time of
``optimize_schedule`` over ``--repeats`` runs (p50/p95, targets 20 ms) and the objective
against an independently written LP solved by scipy (charge and discharge only, the stored
energy as dense discounted sums; target relative difference <= 1e-6). With
``/work/shared/data/epftoolbox/datasets/NP.csv`` present, the same for the Nord Pool day.

Case ``portfolio``: ``--units`` resources (90 % batteries with scattered parameters, 10 %
curtailable PV) x 96 quarter-hours under a shared grid limit at 60 % of the unconstrained
schedule's export and import peaks: the decomposition's wall and CPU time (target 3 s), the
monolithic LP's time, the relative gap between them (target 0.1 %) and the decomposition's
own proven gap. Fixed seed. The machine's load average is printed with each case, since the
2 cores are shared.

Case ``coupled_*``: the ``curve`` strategy's coupled bid curves
(:func:`openvpp.optimization.coupled.coupled_curves`, the two-stage LP over
``CURVE_SCENARIOS`` price paths with ``CURVE_LEVELS`` levels, as automatic bidding runs it):
the demo battery over the day's 24 hours and a VPP envelope over its 96 quarter-hours, paths
drawn around the day's prices +- 10 %; build + solve time p50/p95 and the LP's size.

Prints one JSON line per case. Run: ``.venv/bin/python bench/bench_optimizer.py`` (add
``--no-monolithic`` to skip the slow reference LP).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linprog  # type: ignore[import-untyped]

from openvpp.aggregation.engine import Flex
from openvpp.optimization.bids import path_scenarios
from openvpp.optimization.coupled import coupled_curves
from openvpp.optimization.decomposition import DecompositionOptions, optimize_portfolio
from openvpp.optimization.lp import SolverOptions
from openvpp.optimization.schedule import ScheduleMarket, optimize_schedule
from openvpp.optimization.units import FlexUnit, StorageUnit, Unit
from openvpp.resources.models.battery import BatterySpec

F = NDArray[np.float64]
ROOT = Path(__file__).resolve().parents[1]
PJM = ROOT / "src/openvpp/demo/epftoolbox_PJM_2018-12-11_24.csv"
NP = Path("/work/shared/data/epftoolbox/datasets/NP.csv")
T, DT = 96, 0.25


def _day(path: Path, day: str) -> F:
    """The 24 hourly prices of ``day`` (YYYY-MM-DD) in an epftoolbox CSV, as quarter-hours."""
    rows = [r for r in path.read_text().splitlines()[1:] if r.startswith(day)]
    return np.repeat([float(r.split(",")[1]) for r in rows[:24]], 4)


def _independent(unit: StorageUnit, price: F) -> float:
    s, n = unit.spec, price.size
    keep = (1 - s.self_discharge_per_h) ** DT
    k = np.arange(n)
    decay = np.tril(keep ** np.clip(k[:, None] - k[None, :], 0, None))
    a = np.hstack((decay * s.eta_charge * DT, -decay * DT / s.eta_discharge))
    base = keep ** (k + 1) * unit.energy0_mwh
    lo, hi = unit.e_min_mwh - base, unit.e_max_mwh - base
    if unit.end_energy_mwh is not None:
        lo[-1] = max(lo[-1], unit.end_energy_mwh - base[-1])
    cost = np.concatenate((price * DT, -price * DT)) + unit.degradation_cost * DT
    bounds = [(0, s.p_charge_max_mw)] * n + [(0, s.p_discharge_max_mw)] * n
    res = linprog(cost, A_ub=np.vstack((a, -a)), b_ub=np.concatenate((hi, -lo)), bounds=bounds)
    return float(-res.fun)


def battery_case(name: str, price: F, repeats: int) -> None:
    spec = BatterySpec(2.0, 1.0, 1.0, 0.95, 0.95, 0.1, 0.9, 0.001)
    unit = StorageUnit(spec, 1.0, end_energy_mwh=1.0, degradation_cost=2.0)
    market = ScheduleMarket(price, DT)
    optimize_schedule([unit], market)  # first HiGHS use starts its thread pool
    times, cpu, result = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = optimize_schedule([unit], market)
        times.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    assert result is not None
    reference = _independent(unit, price)
    rel = abs(result.objective - reference) / abs(reference)
    p50, p95 = np.percentile(times, [50, 95])
    print(
        json.dumps(
            {
                "bench": name,
                "intervals": price.size,
                "repeats": repeats,
                "ms_p50": round(float(p50), 2),
                "ms_p95": round(float(p95), 2),
                "cpu_ms_p50": round(float(np.percentile(cpu, 50)), 2),
                "build_ms": round(result.build_s * 1e3, 2),
                "solve_ms": round(result.solve_s * 1e3, 2),
                "binaries": result.n_binaries,
                "objective": round(result.objective, 6),
                "independent_lp": round(reference, 6),
                "rel_diff": rel,
                "load_avg_1m": os.getloadavg()[0],
                "ok": bool(p50 <= 20 and rel <= 1e-6),
            }
        )
    )


def coupled_case(name: str, units: list[Unit], price: F, dt_h: float, repeats: int) -> None:
    from openvpp.markets.presets import load_presets
    from openvpp.trading import autobid

    sdac = load_presets()["EU-SDAC"]
    q = np.vstack([price * 0.9, price, price * 1.1])
    paths = path_scenarios(
        q,
        (0.1, 0.5, 0.9),
        autobid.CURVE_SCENARIOS,
        correlation=autobid.CURVE_HOURLY_CORRELATION**dt_h,
    )
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = coupled_curves(units, paths, dt_h, market=sdac, max_levels=autobid.CURVE_LEVELS)
        times.append((time.perf_counter() - start) * 1e3)
    assert result is not None
    p50, p95 = np.percentile(times, [50, 95])
    print(
        json.dumps(
            {
                "bench": name,
                "intervals": price.size,
                "scenarios": paths.shape[0],
                "levels": autobid.CURVE_LEVELS,
                "repeats": repeats,
                "ms_p50": round(float(p50), 1),
                "ms_p95": round(float(p95), 1),
                "build_ms": round(result.build_s * 1e3, 1),
                "solve_ms": round(result.solve_s * 1e3, 1),
                "status": result.status,
                "binaries": result.n_binaries,
                "expected_revenue": round(result.expected_revenue, 2),
                "load_avg_1m": os.getloadavg()[0],
            }
        )
    )


def portfolio(n: int, seed: int) -> list[Unit]:
    """Batteries of 1, 2 and 4 hours (+-20 %) of 0.05-0.5 MW, efficiencies 0.90-0.97, bands,
    initial states, degradation costs 0.5-5 /MWh and self-discharge scattered, half with an
    end target; 10 % curtailable PV of 0.2-2 MW."""
    rng = np.random.default_rng(seed)
    hours = (np.arange(T) + 0.5) * DT
    sun = np.clip(np.sin(np.pi * (hours - 6) / 12), 0, None)
    units: list[Unit] = []
    n_pv = n // 10
    for _ in range(n - n_pv):
        p = rng.uniform(0.05, 0.5)
        energy = p * rng.choice([1.0, 2.0, 4.0]) * rng.uniform(0.8, 1.2)
        eta = rng.uniform(0.9, 0.97)
        lo, hi = rng.uniform(0.0, 0.15), rng.uniform(0.85, 1.0)
        spec = BatterySpec(
            energy, p * rng.uniform(0.7, 1.0), p, eta, eta, lo, hi, float(rng.choice([0, 1e-3]))
        )
        e0 = energy * rng.uniform(lo, hi)
        units.append(
            StorageUnit(
                spec,
                e0,
                end_energy_mwh=e0 if rng.random() < 0.5 else None,
                degradation_cost=rng.uniform(0.5, 5.0),
            )
        )
    for _ in range(n_pv):
        forecast = rng.uniform(0.2, 2.0) * sun * rng.uniform(0.6, 1.0, T)
        units.append(FlexUnit.from_bounds(np.zeros(T), forecast, DT))
    return units


def portfolio_case(n: int, seed: int, monolithic: bool, price: F) -> None:
    units = portfolio(n, seed)
    slow = SolverOptions(time_limit_s=600.0)
    free = optimize_schedule(units, ScheduleMarket(price, DT), options=slow)
    market = ScheduleMarket(
        price,
        DT,
        export_max_mw=np.full(T, 0.6 * free.total_mw.max()),
        import_max_mw=np.full(T, 0.6 * -free.total_mw.min()),
    )
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    result = optimize_portfolio(units, market, options=DecompositionOptions())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    s = result.schedule
    out: dict[str, object] = {
        "bench": "portfolio",
        "units": n,
        "intervals": T,
        "decomposition_s": round(wall, 3),
        "decomposition_cpu_s": round(cpu, 3),
        "rounds": result.rounds,
        "columns": result.n_columns,
        "mixed_units": result.n_mixed_units,
        "objective": round(s.objective, 3),
        "upper_bound": round(result.upper_bound, 3),
        "proven_gap": result.gap,
        "grid_excess_mw": float(max(s.slacks.grid_export_mw.max(), s.slacks.grid_import_mw.max())),
        "unconstrained_objective": round(free.objective, 3),
        "load_avg_1m": load,
    }
    if monolithic:
        start = time.perf_counter()
        mono = optimize_schedule(units, market, options=slow)
        out["monolithic_s"] = round(time.perf_counter() - start, 3)
        out["monolithic_objective"] = round(mono.objective, 3)
        out["rel_gap_to_monolithic"] = (mono.objective - s.objective) / abs(mono.objective)
    out["ok"] = bool(wall <= 3.0 and result.gap <= 1e-3)
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-monolithic", action="store_true", help="skip the 10-30 s LP")
    parser.add_argument("--no-portfolio", action="store_true", help="battery cases only")
    args = parser.parse_args()
    pjm = _day(PJM, "2018-12-11")
    battery_case("battery_96_pjm", pjm, args.repeats)
    if NP.exists():
        battery_case("battery_96_np", _day(NP, "2018-12-11"), args.repeats)
    demo = BatterySpec(4.0, 2.0, 2.0, 0.95, 0.95, 0.05, 0.95)
    hourly = pjm.reshape(24, 4).mean(axis=1)
    coupled_case(
        "coupled_battery_24", [StorageUnit(demo, 2.0, end_energy_mwh=2.0)], hourly, 1.0, 10
    )
    # the demo battery as the aggregation's envelope: +-2 MW, +-1.8 MWh from half charge
    steps = np.arange(1, T + 1) * DT
    envelope = FlexUnit.from_flex(
        Flex(
            np.zeros(T),
            np.full(T, -2.0),
            np.full(T, 2.0),
            np.maximum(-2.0 * steps, -1.8 / 0.95),
            np.minimum(2.0 * steps, 1.8 * 0.95),
            np.full(T, 4.0),
            np.full(T, 4.0),
        )
    )
    coupled_case("coupled_envelope_96", [envelope], pjm, DT, 5)
    if not args.no_portfolio:
        portfolio_case(args.units, args.seed, not args.no_monolithic, pjm)


if __name__ == "__main__":
    main()
