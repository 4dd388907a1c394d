"""Continuous intraday order book speed (issue 4): a random flow of 200,000 order submissions
around a drifting mid price (mostly limit orders, some IOC, FOK and iceberg) interleaved with
cancels and modifies, matching included. Target: >= 50,000 submissions per second in-process.
Orders are built before the clock starts; the timed loop is submit/cancel/modify only. Prints one
JSON line per case with the median of several runs: the original mix, and the same flow with 2 %
of the orders all-or-none (taken from the limit share), which sends aggressors facing a resting
AON order down the slower general matching path."""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

from openvpp.markets.orderbook import Order, OrderBook, OrderBookError, OrderType, Side

N_ORDERS = 200_000
REPEATS = 3
TARGET = 50_000
MID = 10_000  # ticks of 0.01 EUR/MWh: 100.00 EUR/MWh
TYPES = (OrderType.LIMIT, OrderType.IOC, OrderType.FOK, OrderType.ICEBERG, OrderType.AON)
TYPE_P = (0.85, 0.08, 0.04, 0.03, 0.0)
TYPE_P_AON = (0.83, 0.08, 0.04, 0.03, 0.02)
CANCEL_P, MODIFY_P = 0.15, 0.05  # per submission


def _flow(seed: int, type_p: tuple[float, ...] = TYPE_P) -> list[tuple[int, object, object]]:
    """Ops: (0, Order, None) submit, (1, order_id, None) cancel, (2, order_id, new_price)."""
    rng = np.random.default_rng(seed)
    mid = MID + np.cumsum(rng.integers(-2, 3, N_ORDERS))
    side = rng.integers(0, 2, N_ORDERS)
    # Buyers mostly below mid, sellers above; the tails cross and trade.
    offset = np.abs(rng.normal(0, 40, N_ORDERS)).astype(np.int64) - rng.integers(0, 15, N_ORDERS)
    price = np.where(side == 0, mid - offset, mid + offset)
    qty = rng.integers(1, 50, N_ORDERS)
    otype = rng.choice(len(TYPES), N_ORDERS, p=type_p)
    extra = rng.random(N_ORDERS)
    back = rng.integers(1, 2_000, N_ORDERS)
    shift = rng.integers(-10, 11, N_ORDERS)
    ops: list[tuple[int, object, object]] = []
    for i in range(N_ORDERS):
        t = TYPES[otype[i]]
        q = int(qty[i])
        clip = max(1, q // 5) if t is OrderType.ICEBERG else None
        s = Side.BUY if side[i] == 0 else Side.SELL
        ops.append((0, Order(f"o{i}", s, int(price[i]), q, t, clip), None))
        if i >= 2_000:
            target = f"o{i - int(back[i])}"
            if extra[i] < CANCEL_P:
                ops.append((1, target, None))
            elif extra[i] < CANCEL_P + MODIFY_P:
                ops.append((2, target, int(mid[i] + shift[i])))
    return ops


def _run(ops: list[tuple[int, object, object]]) -> tuple[float, dict[str, int]]:
    book = OrderBook("DE-15min", price_min=-999_900, price_max=999_900)
    submit, cancel, modify = book.submit, book.cancel, book.modify
    counts = {"submits": 0, "cancels": 0, "modifies": 0, "refused": 0, "trades": 0}
    trades = 0
    refused = 0
    start = time.perf_counter()
    for kind, a, b in ops:
        if kind == 0:
            trades += len(submit(a).trades)  # type: ignore[arg-type]
        elif kind == 1:
            try:
                cancel(a)  # type: ignore[arg-type]
            except OrderBookError:
                refused += 1  # already filled, cancelled or killed
        else:
            try:
                trades += len(modify(a, price=b).trades)  # type: ignore[arg-type]
            except OrderBookError:
                refused += 1
    elapsed = time.perf_counter() - start
    counts["submits"] = sum(1 for k, _, _ in ops if k == 0)
    counts["cancels"] = sum(1 for k, _, _ in ops if k == 1)
    counts["modifies"] = sum(1 for k, _, _ in ops if k == 2)
    counts["refused"] = refused
    counts["trades"] = trades
    counts["bid_levels"] = len(book.depth(10_000).bids)
    return elapsed, counts


def main() -> None:
    for name, type_p in (
        ("orderbook_mixed_flow", TYPE_P),
        ("orderbook_mixed_flow_aon", TYPE_P_AON),
    ):
        _case(name, _flow(4, type_p))


def _case(name: str, ops: list[tuple[int, object, object]]) -> None:
    times = []
    counts: dict[str, int] = {}
    for _ in range(REPEATS):
        elapsed, counts = _run(ops)
        times.append(elapsed)
    med = statistics.median(times)
    rate = counts["submits"] / med
    print(
        json.dumps(
            {
                "bench": name,
                **counts,
                "median_s": round(med, 3),
                "min_s": round(min(times), 3),
                "submissions_per_s": round(rate),
                "ops_per_s": round(len(ops) / med),
                "target_per_s": TARGET,
                "ok": rate >= TARGET,
            }
        )
    )


if __name__ == "__main__":
    main()
