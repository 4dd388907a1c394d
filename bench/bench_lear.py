"""LEAR day-ahead price forecasting on the epftoolbox protocol: MAE and wall time as JSON.

Usage: ``python bench/bench_lear.py [--market-file NP.csv] [--test-days 728]
[--windows 56,84,1092,1456] [--select-every 1] [--n-jobs 2]``

Published LEAR ensemble MAE (Lago et al. 2021, 728 test days): NP 1.738, PJM 3.013, BE 6.140.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from openvpp.forecasting.price import LearConfig, run_benchmark

DEFAULT_FILE = "/work/shared/data/epftoolbox/datasets/NP.csv"
PUBLISHED_MAE = {"NP": 1.738, "PJM": 3.013, "BE": 6.140}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--market-file", default=DEFAULT_FILE)
    p.add_argument("--test-days", type=int, default=728)
    p.add_argument("--windows", default="56,84,1092,1456")
    p.add_argument("--select-every", type=int, default=1)
    p.add_argument("--n-jobs", type=int, default=2)
    a = p.parse_args(argv)
    cfg = LearConfig(
        windows=tuple(int(w) for w in a.windows.split(",")),
        select_every=a.select_every,
        n_jobs=a.n_jobs,
    )
    res = run_benchmark(a.market_file, test_days=a.test_days, config=cfg)
    market = Path(a.market_file).stem
    out = {
        "market": market,
        "test_days": a.test_days,
        "first_day": str(res.dates[0]),
        "windows": list(cfg.windows),
        "select_every": cfg.select_every,
        "n_jobs": cfg.n_jobs,
        "mae": round(float(np.mean(np.abs(res.forecasts - res.actual))), 4),
        "mae_per_window": {
            str(w): round(float(np.mean(np.abs(f - res.actual))), 4)
            for w, f in res.per_window.items()
        },
        "published_lear_mae_728d": PUBLISHED_MAE.get(market),
        "wall_time_s": round(res.wall_time_s, 1),
    }
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
