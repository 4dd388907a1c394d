"""Day-ahead price models on the epftoolbox protocol: accuracy per model and wall time as JSON.

One rolling run of the ensemble (LEAR with daily recalibration + LightGBM retrained weekly)
also gives its members' forecasts, so every model's figures come from one run:

``python bench/bench_price_models.py [--market-file NP.csv] [--test-days 728] [--model ensemble]
[--select-every 7] [--n-jobs 2] [--save FILE.npz]``

Published ensembles (Lago et al. 2021, 728 test days), MAE: LEAR NP 1.738, PJM 3.013,
BE 6.140; DNN NP 1.667, PJM 2.779, BE 5.821.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from openvpp.forecasting.metrics import coverage, pinball, summary
from openvpp.forecasting.price import LearConfig, run_benchmark
from openvpp.forecasting.price.quantiles import DEFAULT_LEVELS

DEFAULT_FILE = "/work/shared/data/epftoolbox/datasets/NP.csv"
PUBLISHED_MAE = {
    "lear": {"NP": 1.738, "PJM": 3.013, "BE": 6.140},
    "dnn": {"NP": 1.667, "PJM": 2.779, "BE": 5.821},
}


def figures(actual: np.ndarray, point: np.ndarray, q: np.ndarray, dates: np.ndarray) -> dict:
    """MAE, rMAE, sMAPE, RMSE, pinball loss and p10-p90 coverage, rounded."""
    out = summary(actual, point, dates)
    out["pinball"] = pinball(actual, q, DEFAULT_LEVELS)
    out["coverage_p10_p90"] = coverage(actual, q[..., 0], q[..., -1])
    return {k: round(v, 4) for k, v in out.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--market-file", default=DEFAULT_FILE)
    p.add_argument("--test-days", type=int, default=728)
    p.add_argument("--model", default="ensemble", choices=("lear", "gbm", "ensemble"))
    p.add_argument("--select-every", type=int, default=7)
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--save", default=None, help="save forecasts and quantiles to this .npz")
    a = p.parse_args(argv)
    cfg = LearConfig(select_every=a.select_every, n_jobs=a.n_jobs)
    res = run_benchmark(a.market_file, model=a.model, test_days=a.test_days, config=cfg)
    market = Path(a.market_file).stem
    per_model = {a.model: figures(res.actual, res.forecasts, res.quantiles, res.dates)}
    for name, f in res.per_model.items():
        if name != a.model:
            per_model[name] = figures(res.actual, f, res.quantiles_per_model[name], res.dates)
    out = {
        "market": market,
        "test_days": a.test_days,
        "first_day": str(res.dates[0]),
        "model": a.model,
        "select_every": cfg.select_every,
        "n_jobs": cfg.n_jobs,
        "per_model": per_model,
        "mae_per_lear_window": {
            str(w): round(float(np.mean(np.abs(f - res.actual))), 4)
            for w, f in res.per_window.items()
        },
        "published_mae_728d": {k: v.get(market) for k, v in PUBLISHED_MAE.items()},
        "wall_time_s": round(res.wall_time_s, 1),
    }
    if a.save:
        np.savez(
            a.save,
            actual=res.actual,
            forecasts=res.forecasts,
            quantiles=res.quantiles,
            **{f"model_{k}": v for k, v in res.per_model.items()},
        )
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
