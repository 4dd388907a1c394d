"""Aggregation throughput in memory: 100,000 resources x 96 quarter-hours summed into one VPP
envelope (issue 3 target: < 100 ms). Prints one JSON line."""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

from openvpp.aggregation.envelope import aggregate

RESOURCES, INTERVALS, REPEATS = 100_000, 96, 7


def main() -> None:
    rng = np.random.default_rng(7)
    low = -rng.uniform(0, 2, (RESOURCES, INTERVALS))
    high = rng.uniform(0, 2, (RESOURCES, INTERVALS))
    base = (low + high) / 2
    share = rng.uniform(0, 1, RESOURCES)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        aggregate(base, low, high, share)
        times.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "name": "aggregation_in_memory",
                "resources": RESOURCES,
                "intervals": INTERVALS,
                "median_ms": round(statistics.median(times) * 1000, 2),
                "min_ms": round(min(times) * 1000, 2),
                "repeats": REPEATS,
            }
        )
    )


if __name__ == "__main__":
    main()
