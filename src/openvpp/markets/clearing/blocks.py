"""Block orders of complex day-ahead clearing (:mod:`complex`): the :class:`BlockOrder` input,
its validation into arrays (ratio granularity, minimum ratio, parent links, exclusive groups)
and the exact checks of the block rules (module docstring of :mod:`complex`, "Inputs" and
"Whole lots").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openvpp.markets.clearing.auction import Side, as_int_array
from openvpp.markets.clearing.curve_part import MAX_TOTAL_LOTS

__all__ = [
    "BlockOrder",
    "Blocks",
    "check_blocks",
    "validate_blocks",
    "with_descendants",
]

IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class BlockOrder:
    """A block order.

    id : block id, unique among the blocks (separate from curve order ids).
    side : :class:`Side` (SUPPLY or DEMAND) for the whole block.
    price : price limit for every lot of the block [ticks].
    lots : lots per period [lots], length ``n_periods``, non-negative, at least one lot in total.
    min_ratio : minimum acceptance ratio in ``(0, 1]``; 1 means fill-or-kill.
    parent : id of the parent block (linked block) or ``None``.
    exclusive_group : id of the exclusive group or ``None``.
    """

    id: int
    side: Side | int
    price: int
    lots: ArrayLike
    min_ratio: float | Fraction | Decimal = 1
    parent: int | None = None
    exclusive_group: int | None = None


@dataclass(slots=True)
class Blocks:
    """Validated block orders as arrays, input order. A block's outcome is the integer ``k``
    in ``{0} | [m, g]``, its acceptance ratio ``k / g``."""

    ids: IntArray
    supply: NDArray[np.bool_]
    prices: IntArray
    lots: IntArray  # (n_blocks, n_periods)
    g: IntArray  # ratio granularity
    m: IntArray  # minimum k when accepted
    parent: IntArray  # index of the parent, -1 if none
    groups: list[IntArray]  # block indices per exclusive group with at least two members


# ------------------------------------------------------------------------------ validation


def _ratio(value: float | Fraction | Decimal, block_id: int) -> Fraction:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"block {block_id}: min_ratio {value} must be in (0, 1]")
        ratio = Fraction(value).limit_denominator(10**9)
    else:
        ratio = Fraction(value)
    if not 0 < ratio <= 1:
        raise ValueError(f"block {block_id}: min_ratio {value} must be in (0, 1]")
    return ratio


def validate_blocks(
    blocks: Sequence[BlockOrder], n_periods: int, price_min: int, price_max: int
) -> Blocks:
    """Check the block orders of :func:`complex.clear_complex`; ``ValueError`` names the block
    id and the field."""
    n = len(blocks)
    ids = np.zeros(n, dtype=np.int64)
    supply = np.zeros(n, dtype=bool)
    prices = np.zeros(n, dtype=np.int64)
    lots = np.zeros((n, n_periods), dtype=np.int64)
    g = np.ones(n, dtype=np.int64)
    m = np.ones(n, dtype=np.int64)
    index: dict[int, int] = {}
    group_members: dict[int, list[int]] = {}
    for b, block in enumerate(blocks):
        bid = int(block.id)
        if bid in index:
            raise ValueError(f"block {bid}: duplicate block id")
        index[bid] = b
        if int(block.side) not in (Side.SUPPLY, Side.DEMAND):
            raise ValueError(f"block {bid}: side {block.side} not SUPPLY (0) or DEMAND (1)")
        if not price_min <= int(block.price) <= price_max:
            raise ValueError(f"block {bid}: price {block.price} outside [{price_min}, {price_max}]")
        q = as_int_array(block.lots, f"block {bid}: lots")
        if q.size != n_periods:
            raise ValueError(f"block {bid}: lots has length {q.size}, expected {n_periods}")
        if int(q.min()) < 0 or int(q.sum()) < 1:
            raise ValueError(f"block {bid}: lots must be non-negative with at least one lot")
        if int(q.sum()) > MAX_TOTAL_LOTS:
            raise ValueError(f"block {bid}: lots above {MAX_TOTAL_LOTS} in total")
        mar = _ratio(block.min_ratio, bid)
        gcd = math.gcd(*(int(v) for v in q[q > 0]))
        m_b = math.ceil(mar * gcd)
        if m_b < gcd:  # a partial ratio in whole lots exists
            g[b], m[b] = gcd, m_b
        ids[b], supply[b], prices[b], lots[b] = bid, int(block.side) == Side.SUPPLY, block.price, q
        if block.exclusive_group is not None:
            group_members.setdefault(int(block.exclusive_group), []).append(b)
    parent = np.full(n, -1, dtype=np.int64)
    for b, block in enumerate(blocks):
        if block.parent is not None:
            if int(block.parent) not in index:
                raise ValueError(f"block {block.id}: parent {block.parent} is not a block id")
            parent[b] = index[int(block.parent)]
    _check_acyclic(parent, ids)
    groups = [np.array(v, dtype=np.int64) for _, v in sorted(group_members.items()) if len(v) > 1]
    return Blocks(ids, supply, prices, lots, g, m, parent, groups)


def _check_acyclic(parent: IntArray, ids: IntArray) -> None:
    done = np.zeros(parent.size, dtype=bool)
    for start in range(parent.size):
        path: list[int] = []
        b = start
        while b >= 0 and not done[b]:
            if b in path:
                cycle = sorted(int(ids[c]) for c in path[path.index(b) :])
                raise ValueError(f"block {cycle[0]}: parent links form a cycle {cycle}")
            path.append(b)
            b = int(parent[b])
        done[path] = True


# ------------------------------------------------------------------------------ block rules


def with_descendants(parent: IntArray, b: int) -> NDArray[np.bool_]:
    """Mask of block ``b`` and every block linked below it."""
    mask = np.zeros(parent.size, dtype=bool)
    mask[b] = True
    while True:
        grown = mask | ((parent >= 0) & mask[np.maximum(parent, 0)])
        if np.array_equal(grown, mask):
            return mask
        mask = grown


def check_blocks(k: IntArray, blocks: Blocks) -> None:
    """Exact check of the rounded MILP solution (guards against solver tolerances)."""
    ok = bool(np.all((k == 0) | ((k >= blocks.m) & (k <= blocks.g))))
    child = np.flatnonzero(blocks.parent >= 0)
    par = blocks.parent[child]
    ok = ok and bool(np.all(blocks.g[par] * k[child] <= blocks.g[child] * k[par]))
    for members in blocks.groups:
        ok = ok and sum(Fraction(int(k[b]), int(blocks.g[b])) for b in members) <= 1
    if not ok:
        raise RuntimeError("HiGHS returned a block solution that violates the block rules")
