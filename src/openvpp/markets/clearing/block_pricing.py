"""Prices of complex day-ahead clearing (:mod:`complex`, "Prices"): starting from the rule
prices of the curve part, integer prices inside each period's valid interval at which no
accepted block loses money, or the block to remove when no such prices exist.
"""

from __future__ import annotations

import highspy
import numpy as np
from numpy.typing import NDArray

from openvpp.markets.clearing.blocks import Blocks
from openvpp.markets.clearing.curve_part import PeriodClearing
from openvpp.markets.clearing.milp import new_highs

__all__ = ["find_prices", "surplus"]

IntArray = NDArray[np.int64]

_INF = highspy.kHighsInf


def surplus(prices: IntArray, blocks: Blocks, volumes: IntArray) -> IntArray:
    """Surplus per block at ``prices`` [tick-lots] (int64 is exact within the input limits)."""
    sign = np.where(blocks.supply, 1, -1).astype(np.int64)
    result: IntArray = sign * (volumes @ prices - blocks.prices * volumes.sum(axis=1))
    return result


def _price_mip(
    lo: IntArray,
    hi: IntArray,
    target: IntArray,
    sign: IntArray,
    volumes: IntArray,
    limits: IntArray,
    phase: int,
    time_limit: float,
) -> IntArray:
    """Integer prices in ``[lo, hi]``. Phase 1: minimise the total loss of the blocks
    (``sign * (volumes @ p - limits * lots) + s >= 0``). Phase 2: zero loss, closest to
    ``target`` in the L1 norm. The caller re-checks the answer in exact integers."""
    n_t, n_b = lo.size, sign.size
    # Columns: p (n_t), loss s (n_b), distance d (n_t, phase 2 only).
    n_d = n_t if phase == 2 else 0
    n_cols = n_t + n_b + n_d
    cost = np.concatenate((np.zeros(n_t), np.ones(n_b) if phase == 1 else np.zeros(n_b)))
    cost = np.concatenate((cost, np.ones(n_d))).astype(np.float64)
    col_lo = np.concatenate((lo.astype(np.float64), np.zeros(n_b + n_d)))
    col_hi = np.concatenate((hi.astype(np.float64), np.full(n_b, _INF if phase == 1 else 0.0)))
    col_hi = np.concatenate((col_hi, np.full(n_d, _INF)))
    integrality = np.concatenate((np.ones(n_t, dtype=np.int64), np.zeros(n_b + n_d, np.int64)))
    dense = np.concatenate((sign[:, None] * volumes, np.eye(n_b)), axis=1).astype(np.float64)
    dense = np.concatenate((dense, np.zeros((n_b, n_d))), axis=1)
    row_lo = (sign * limits * volumes.sum(axis=1)).astype(np.float64)
    row_hi = np.full(n_b, _INF)
    if phase == 2:  # d >= p - target and d >= target - p
        eye = np.eye(n_t)
        dist = np.block([[-eye, np.zeros((n_t, n_b)), eye], [eye, np.zeros((n_t, n_b)), eye]])
        dense = np.concatenate((dense, dist))
        row_lo = np.concatenate((row_lo, -target, target)).astype(np.float64)
        row_hi = np.full(row_lo.size, _INF)
    r, c = np.nonzero(dense.T)  # column-wise nonzeros
    starts = np.searchsorted(r, np.arange(n_cols + 1)).astype(np.int64)
    h = new_highs()
    h.setOptionValue("time_limit", time_limit)
    h.setOptionValue("mip_rel_gap", 0.0)  # the closest prices, not merely close ones
    h.passModel(
        n_cols,
        row_lo.size,
        int(r.size),
        1,
        1,
        0.0,
        cost,
        col_lo,
        col_hi,
        row_lo,
        row_hi,
        starts,
        c.astype(np.int64),
        dense.T[r, c],
        integrality,
    )
    h.run()
    if h.getInfo().primal_solution_status != 2:
        return np.array(target, dtype=np.int64)  # caller re-checks exactly
    values = np.asarray(h.getSolution().col_value, dtype=np.float64)
    return np.rint(values[:n_t]).astype(np.int64)


def find_prices(
    pc: PeriodClearing,
    active: NDArray[np.bool_],
    blocks: Blocks,
    volumes: IntArray,
    time_limit: float,
) -> tuple[IntArray, int | None]:
    """Prices per period and ``None``, or the rule prices and the index of the block to
    remove (largest loss at the prices minimising the total loss, ties by smallest id)."""
    accepted = np.flatnonzero(volumes.sum(axis=1) > 0)
    if np.all(surplus(pc.p0, blocks, volumes)[accepted] >= 0):
        return pc.p0, None
    cols = np.flatnonzero(active)
    sign = np.where(blocks.supply[accepted], 1, -1).astype(np.int64)
    vol = volumes[np.ix_(accepted, cols)]
    args = (pc.lo[cols], pc.hi[cols], pc.p0[cols], sign, vol, blocks.prices[accepted])
    p1 = pc.p0.copy()
    p1[cols] = _price_mip(*args, phase=1, time_limit=time_limit)
    s1 = surplus(p1, blocks, volumes)[accepted]
    if np.any(s1 < 0):
        worst = np.lexsort((blocks.ids[accepted], s1))[0]
        return pc.p0, int(accepted[worst])
    p2 = pc.p0.copy()
    p2[cols] = _price_mip(*args, phase=2, time_limit=time_limit)
    if np.all(surplus(p2, blocks, volumes)[accepted] >= 0) and np.all(
        (p2 >= pc.lo) & (p2 <= pc.hi)
    ):
        return p2, None
    return p1, None
