"""Aggregation throughput in memory: a stack of 100,000 resources x 96 quarter-hours (seven
quantities each) summed into one VPP's flexibility with per-interval shares (issue 3 target:
< 100 ms). Prints one JSON line."""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

from openvpp.aggregation.engine import Flex

RESOURCES, INTERVALS, REPEATS = 100_000, 96, 7


def main() -> None:
    rng = np.random.default_rng(7)
    low = -rng.uniform(0, 2, (RESOURCES, INTERVALS))
    high = rng.uniform(0, 2, (RESOURCES, INTERVALS))
    dt = 0.25
    stack = Flex(
        (low + high) / 2,
        low,
        high,
        np.cumsum(low * dt, axis=1),
        np.cumsum(high * dt, axis=1),
        high - low,
        high - low,
    )
    constant = rng.uniform(0, 1, RESOURCES)
    varying = np.repeat(constant[:, None], INTERVALS, axis=1)
    varying[: RESOURCES // 10, INTERVALS // 2 :] = 0.0  # a tenth leave half-way
    for label, share in (("constant_shares", constant), ("per_interval_shares", varying)):
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            stack.weighted_sum(share)
            times.append(time.perf_counter() - start)
        print(
            json.dumps(
                {
                    "name": f"aggregation_in_memory_{label}",
                    "resources": RESOURCES,
                    "intervals": INTERVALS,
                    "quantities": 7,
                    "median_ms": round(statistics.median(times) * 1000, 2),
                    "min_ms": round(min(times) * 1000, 2),
                    "repeats": REPEATS,
                }
            )
        )


if __name__ == "__main__":
    main()
