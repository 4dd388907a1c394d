"""Complex day-ahead clearing speed: 500 block orders (some linked, some in exclusive groups,
some with a minimum acceptance ratio below 1) plus 20,000 curve points over 24 periods (target
< 10 s wall time on 2 cores), and a larger case with 20,000 curve points per period.

Seeded random data. Curve steps have 10-399 lots (``--max-step-lots``), so blocks carry about
15 % of the volume; ``--max-step-lots 50`` gives a block-heavy market (blocks about as large as
the curves). Prints one JSON line per case: build time (the MILP matrix and HiGHS model), solve
time (all MILP solves), total wall time of ``clear_complex`` (also validation, per-period curve
clearing and pricing), the number of MILP re-solves, welfare, and whether any accepted block
loses money at the prices."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from openvpp.markets.clearing import BlockOrder, Side, clear_complex
from openvpp.markets.clearing.milp import WelfareMilp

PRICE_MIN, PRICE_MAX = -50_000, 400_000  # ticks of 0.01 EUR/MWh: -500 .. 4000 EUR/MWh


def _curves(
    rng: np.random.Generator, n_points: int, periods: int, max_lots: int
) -> tuple[np.ndarray, ...]:
    """Curve rows around a daily price shape (cheap at night, expensive in the evening)."""
    per = rng.integers(0, periods, n_points)
    shape = 8_000 + 4_000 * np.sin(np.pi * (np.arange(periods) - 6) / 12)
    side = rng.integers(0, 2, n_points)
    spread = rng.normal(0, 3_000, n_points)
    prices = np.where(side == Side.SUPPLY, shape[per] + spread - 500, shape[per] - spread + 500)
    prices = np.clip(np.rint(prices), PRICE_MIN, PRICE_MAX).astype(np.int64)
    lots = rng.integers(10, max(max_lots, 11), n_points)
    ids = np.arange(n_points) // 8  # curves of 8 steps share an id
    return per, side, prices, lots, ids


def _blocks(rng: np.random.Generator, n_blocks: int, periods: int) -> list[BlockOrder]:
    blocks = []
    for b in range(n_blocks):
        start = int(rng.integers(0, periods - 3))
        length = int(rng.integers(3, min(12, periods - start) + 1))
        lots = np.zeros(periods, dtype=np.int64)
        lots[start : start + length] = int(rng.integers(1, 30)) * 10
        side = Side.SUPPLY if rng.random() < 0.6 else Side.DEMAND
        base = 8_000 + int(rng.normal(0, 2_500))
        parent = None
        if b >= 10 and rng.random() < 0.1:
            parent = int(rng.integers(0, b))  # an earlier block: links stay acyclic
        group = int(rng.integers(0, 20)) if rng.random() < 0.1 else None
        blocks.append(
            BlockOrder(
                id=b,
                side=side,
                price=base - 1_000 if side == Side.SUPPLY else base + 1_000,
                lots=lots,
                min_ratio=float(rng.choice([1.0, 1.0, 0.5, 0.2])),
                parent=parent,
                exclusive_group=group,
            )
        )
    return blocks


def _run_case(name: str, points: int, args: argparse.Namespace) -> None:
    periods, n_blocks = args.periods, args.blocks
    rng = np.random.default_rng(args.seed)
    per, side, prices, lots, ids = _curves(rng, points, periods, args.max_step_lots)
    blocks = _blocks(rng, n_blocks, periods)

    # Time the model build and the MILP solves by wrapping the two methods of the model.
    timers = {"build": 0.0, "solve": 0.0}
    milp = WelfareMilp
    originals = {"build": milp.__init__, "solve": milp.solve}

    def timed(key: str) -> Any:
        def wrapper(*a: Any, **kw: Any) -> Any:
            start = time.perf_counter()
            try:
                return originals[key](*a, **kw)
            finally:
                timers[key] += time.perf_counter() - start

        return wrapper

    milp.__init__ = timed("build")  # type: ignore[method-assign]
    milp.solve = timed("solve")  # type: ignore[method-assign]
    start = time.perf_counter()
    try:
        r = clear_complex(
            per,
            side,
            prices,
            lots,
            ids,
            blocks,
            n_periods=periods,
            price_rule="midpoint",
            price_min=PRICE_MIN,
            price_max=PRICE_MAX,
            time_limit=args.time_limit,
            mip_rel_gap=args.mip_gap,
        )
    finally:
        milp.__init__ = originals["build"]  # type: ignore[method-assign]
        milp.solve = originals["solve"]  # type: ignore[method-assign]
    total_s = time.perf_counter() - start
    losing = [b.id for b in r.blocks if b.accepted and b.surplus < 0]
    print(
        json.dumps(
            {
                "bench": name,
                "periods": periods,
                "curve_points": points,
                "blocks": n_blocks,
                "build_s": round(timers["build"], 3),
                "solve_s": round(timers["solve"], 3),
                "total_s": round(total_s, 3),
                "re_solves": r.n_resolves,
                "status": r.status,
                "mip_gap": r.mip_gap,
                "accepted_blocks": sum(b.accepted for b in r.blocks),
                "welfare_tick_lots": r.welfare,
                "traded_lots": int(r.volumes.sum()),
                "accepted_block_losing_money": bool(losing),
                "target_s": 10,
                "ok": total_s < 10 and not losing,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--periods", type=int, default=24)
    parser.add_argument("--blocks", type=int, default=500)
    parser.add_argument("--points", type=int, default=20_000, help="curve points in total")
    parser.add_argument(
        "--large-points-per-period",
        type=int,
        default=20_000,
        help="curve points per period in the large case (0 skips it)",
    )
    parser.add_argument("--time-limit", type=float, default=30.0, help="MILP budget [s]")
    parser.add_argument("--mip-gap", type=float, default=1e-6, help="relative MIP gap")
    parser.add_argument("--max-step-lots", type=int, default=400, help="curve step lots < this")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    _run_case("complex_day", args.points, args)
    if args.large_points_per_period:
        _run_case("complex_day_large", args.large_points_per_period * args.periods, args)


if __name__ == "__main__":
    main()
