"""Capture ratio of the trading and dispatch loop over a whole test period.

Usage: ``python bench/bench_capture.py [--prices ../shared/data/epftoolbox/datasets/NP.csv]
[--days 728] [--model ensemble] [--strategies schedule,curve] [--twin-step 300]
[--market EU-SDAC] [--no-cache]``

The demo battery (4 MWh, 2 MW, 95 % each way) trades the last ``--days`` days of the file with
the project's own leak-free day-ahead forecasts (daily recalibration), through the whole
``openvpp simulate`` loop (:mod:`openvpp.simulation.loop`): bids, replay clearing, dispatch
through the device simulator, within-interval correction, intraday residual, imbalance
settlement. The forecasts take most of the time; they are cached under ``var/bench/`` keyed
by file, size, days and model, so the strategies can be compared on the same forecasts.
Prints one JSON line per strategy (with the capture ratio also against the optimum over the
whole period at once, ``capture_ratio_whole_period``), and the forecast figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from openvpp.forecasting.price.data import load_day_matrix
from openvpp.simulation.loop import (
    PriceDays,
    SimulationConfig,
    forecast_days,
    simulate,
    whole_period_optimum,
)
from openvpp.simulation.plant import BatteryPlant

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "epftoolbox" / "datasets"


def _cache(path: Path, days: int, model: str) -> Path:
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{days}|{model}".encode()).hexdigest()
    return Path("var/bench") / f"forecasts-{path.stem}-{days}-{model}-{key[:10]}.npz"


def forecasts(path: Path, days: int, model: str, use_cache: bool) -> tuple[PriceDays, float]:
    cache = _cache(path, days, model)
    if use_cache and cache.exists():
        z = np.load(cache)
        return PriceDays(z["dates"], z["actual"], z["quantiles"]), float(z["seconds"])
    started = time.perf_counter()
    prices, _ = forecast_days(load_day_matrix(path), days, model=model)
    seconds = time.perf_counter() - started
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        cache, dates=prices.dates, actual=prices.actual, quantiles=prices.quantiles, seconds=seconds
    )
    return prices, seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prices", type=Path, default=SHARED / "NP.csv")
    ap.add_argument("--days", type=int, default=728)
    ap.add_argument("--model", default="ensemble")
    ap.add_argument("--strategies", default="schedule,curve")
    ap.add_argument("--market", default="EU-SDAC")
    ap.add_argument("--product", default="H")
    ap.add_argument("--twin-step", type=float, default=300.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-cache", action="store_true")
    args = ap.parse_args()
    if not args.prices.is_file():
        print(json.dumps({"skipped": f"{args.prices} not found"}))
        return 0
    prices, forecast_s = forecasts(args.prices, args.days, args.model, not args.no_cache)
    mae = float(np.mean(np.abs(prices.quantiles[..., 1] - prices.actual)))
    print(
        json.dumps(
            {
                "prices": str(args.prices),
                "days": len(prices.dates),
                "model": args.model,
                "forecast_mae": round(mae, 4),
                "forecast_s": round(forecast_s, 1),
            }
        )
    )
    for strategy in args.strategies.split(","):
        config = SimulationConfig(
            market=args.market, product=args.product, strategy=strategy, seed=args.seed
        )  # type: ignore[arg-type]
        plant = BatteryPlant.for_days(config, prices, step_s=args.twin_step)
        result = simulate(prices, config, plant, forecast_time_s=forecast_s)
        # the capture ratio's reference keeps the batteries' end-of-day target every midnight;
        # against the optimum over the whole period at once, too (docs/benchmarks.md)
        whole = whole_period_optimum(prices, config)
        summary = result.summary()
        summary["perfect_foresight_whole_period"] = round(whole, 2)
        summary["capture_ratio_whole_period"] = round(result.revenue / whole, 4)
        print(json.dumps(summary))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
