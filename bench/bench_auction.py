"""Uniform-price auction clearing speed (issue 4): one period with 100,000 orders (target
< 200 ms) and a day of 96 periods x 10,000 orders (target < 2 s). Orders are split evenly
between supply and demand. Prints one JSON line per case with the median of several runs."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from openvpp.markets.clearing import clear_day, clear_period

PRICE_MIN, PRICE_MAX = -50_000, 400_000  # ticks of 0.01 EUR/MWh: -500 .. 4000 EUR/MWh
REPEATS = 7


def _orders(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    half = n // 2
    sp = rng.integers(-2_000, 20_000, half)
    dp = rng.integers(0, 22_000, n - half)
    dp[: (n - half) // 20] = PRICE_MAX  # a twentieth bids at the cap
    sl = rng.integers(1, 100, half)
    dl = rng.integers(1, 100, n - half)
    return sp, sl, dp, dl


def _median_ms(run: Callable[[], object]) -> tuple[float, float]:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, min(times) * 1000


def main() -> None:
    rng = np.random.default_rng(4)
    sp, sl, dp, dl = _orders(rng, 100_000)
    med, best = _median_ms(
        lambda: clear_period(
            sp, sl, dp, dl, price_rule="midpoint", price_min=PRICE_MIN, price_max=PRICE_MAX
        )
    )
    print(
        json.dumps(
            {
                "bench": "auction_one_period",
                "orders": 100_000,
                "median_ms": round(med, 2),
                "min_ms": round(best, 2),
                "target_ms": 200,
                "ok": med < 200,
            }
        )
    )

    periods, per_period = 96, 10_000
    parts = [_orders(rng, per_period) for _ in range(periods)]
    half = per_period // 2
    s_per = np.repeat(np.arange(periods), half)
    d_per = np.repeat(np.arange(periods), per_period - half)
    sp, sl, dp, dl = (np.concatenate([p[k] for p in parts]) for k in range(4))
    med, best = _median_ms(
        lambda: clear_day(
            s_per,
            sp,
            sl,
            d_per,
            dp,
            dl,
            price_rule="midpoint",
            price_min=PRICE_MIN,
            price_max=PRICE_MAX,
            n_periods=periods,
        )
    )
    print(
        json.dumps(
            {
                "bench": "auction_day",
                "periods": periods,
                "orders_per_period": per_period,
                "median_ms": round(med, 2),
                "min_ms": round(best, 2),
                "target_ms": 2000,
                "ok": med < 2000,
            }
        )
    )


if __name__ == "__main__":
    main()
