"""Risk models on the epftoolbox prices: VaR backtests (Kupiec) and spike-probability skill.

Usage: ``python bench/bench_risk.py [--data-dir ../shared/data/epftoolbox] [--markets NP,PJM,BE]
[--test-days 728] [--window 365]``

Schedule: a flat sale of 1 MWh in every hour of the day (24 MWh/day). One-day VaR/CVaR at 95 %
and 99 % by historical simulation over the ``window`` days before each test day, for three
expectations: ``level`` (the past prices themselves, loss against the window's mean revenue),
``naive`` (the epftoolbox standard naive forecast plus its past errors) and ``lear`` (the
official LEAR ensemble forecasts of the 2020 benchmark plus their past errors; their first
``window`` days are the window, so fewer test days). Exceedance: realised loss above VaR.

Spikes: threshold = 95th percentile of the prices before the test period; per hour and for
the daily maximum, Brier score of climatology (the training base rate), of the smoothed
per-hour trailing frequency and of the naive-conditional historical probability.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from openvpp.forecasting.metrics import naive_forecast
from openvpp.forecasting.price.data import load_day_matrix
from openvpp.forecasting.risk import (
    brier_score,
    brier_skill_score,
    empirical_max_spike_probability,
    empirical_spike_probability,
    rolling_historical_var,
    scenario_spike_probability,
)

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "epftoolbox"
ALPHAS = (0.95, 0.99)


def _var_summary(
    prices: np.ndarray,
    forecasts: np.ndarray | None,
    window: int,
    first: int,
    half_life: float | None = None,
) -> dict[str, Any]:
    vol = np.ones(prices.shape[1])
    res = rolling_historical_var(
        vol,
        prices,
        forecasts,
        window=window,
        alphas=ALPHAS,
        first_day=first,
        half_life_days=half_life,
    )
    out: dict[str, Any] = {"test_days": int(res.days.size)}
    for i, k in enumerate(res.kupiec()):
        out[f"{round(ALPHAS[i] * 100)}"] = {
            "exceedances": k.exceedances,
            "expected": round(k.expected, 1),
            "rate": round(k.rate, 4),
            "kupiec_lr": round(k.lr, 3),
            "kupiec_p": round(k.p_value, 4),
            "mean_var": round(float(res.var[:, i].mean()), 2),
            "mean_cvar": round(float(res.cvar[:, i].mean()), 2),
        }
    return out


def _spikes(prices: np.ndarray, naive: np.ndarray, test0: int, window: int) -> dict[str, Any]:
    thr = float(np.quantile(prices[:test0], 0.95))
    test = slice(test0, prices.shape[0])
    hit = (prices[test] > thr).astype(float)
    hit_max = (prices[test].max(axis=1) > thr).astype(float)
    clim = float((prices[:test0] > thr).mean())
    clim_max = float((prices[:test0].max(axis=1) > thr).mean())
    trailing = empirical_spike_probability(prices, thr, window=window)[test]
    trailing_max = empirical_max_spike_probability(prices, thr, window=window)[test]
    cond = np.empty_like(hit)
    cond_max = np.empty(hit.shape[0])
    for i, d in enumerate(range(test0, prices.shape[0])):
        past = slice(d - window, d)
        scen = naive[d] + (prices[past] - naive[past])
        cond[i], cond_max[i] = scenario_spike_probability(scen, thr)

    def block(p: np.ndarray, y: np.ndarray, c: float) -> dict[str, float]:
        return {
            "brier": round(brier_score(p, y), 5),
            "skill_vs_climatology": round(brier_skill_score(p, y, c), 4),
        }

    return {
        "threshold": round(thr, 2),
        "base_rate_train": round(clim, 4),
        "rate_test": round(float(hit.mean()), 4),
        "hourly": {
            "climatology_brier": round(brier_score(np.full_like(hit, clim), hit), 5),
            "trailing_frequency": block(trailing, hit, clim),
            "naive_conditional": block(cond, hit, clim),
        },
        "daily_max": {
            "base_rate_train": round(clim_max, 4),
            "rate_test": round(float(hit_max.mean()), 4),
            "climatology_brier": round(brier_score(np.full_like(hit_max, clim_max), hit_max), 5),
            "trailing_frequency": block(trailing_max, hit_max, clim_max),
            "naive_conditional": block(cond_max, hit_max, clim_max),
        },
    }


def _lear(path: Path, dates: np.ndarray) -> tuple[np.ndarray, int] | None:
    if not path.exists():
        return None
    frame = pd.read_csv(path, index_col=0)
    lear = frame["LEAR Ensemble"].to_numpy(np.float64).reshape(-1, 24)
    first = np.datetime64(pd.Timestamp(frame.index[0]).date(), "D")
    start = int(np.flatnonzero(dates == first)[0])
    return lear, start


def run_market(data_dir: Path, market: str, test_days: int, window: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    dm = load_day_matrix(data_dir / "datasets" / f"{market}.csv")
    prices, n = dm.prices, dm.n_days
    test0 = n - test_days
    naive = np.full_like(prices, np.nan)
    values, target = naive_forecast(prices, dm.dates, "standard")
    naive[target] = values
    out: dict[str, Any] = {
        "market": market,
        "first_test_day": str(dm.dates[test0]),
        "window_days": window,
        "level": _var_summary(prices, None, window, test0),
        "naive": _var_summary(prices, naive, window, test0),
        "naive_half_life_90": _var_summary(prices, naive, window, test0, 90.0),
    }
    lear = _lear(
        data_dir / "forecasts_2020" / f"Forecasts_{market}_DNN_LEAR_ensembles.csv", dm.dates
    )
    if lear is not None:
        fc, start = lear
        full = np.full_like(prices, np.nan)
        full[start : start + fc.shape[0]] = fc
        first = start + window
        out["lear"] = _var_summary(prices[start:], full[start:], window, window)
        out["naive_same_days_as_lear"] = _var_summary(prices, naive, window, first)
    out["spikes"] = _spikes(prices, naive, test0, window)
    out["wall_time_s"] = round(time.perf_counter() - t0, 2)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    p.add_argument("--markets", default="NP,PJM,BE")
    p.add_argument("--test-days", type=int, default=728)
    p.add_argument("--window", type=int, default=365)
    a = p.parse_args(argv)
    results = [run_market(a.data_dir, m, a.test_days, a.window) for m in a.markets.split(",")]
    json.dump(results, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
