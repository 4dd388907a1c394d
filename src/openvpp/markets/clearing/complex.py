"""Complex day-ahead clearing: curve orders plus block, linked and exclusive block orders.

One bidding zone, ``n_periods`` periods (24, 23 or 25 on clock-change days, 96, ...). Prices are
integer **price ticks**, quantities integer **lots**, as in :mod:`auction`. Pure: numpy and
highspy, no database, inputs never mutated, every tie broken deterministically.

Inputs
------
- **Curve orders**: rows ``(period, side, price, lots, id)`` as in :func:`auction.clear_orders`;
  the steps of a curve are separate rows sharing an id. Each step may be accepted partly.
- **Block orders** (:class:`BlockOrder`): one price limit for ``lots[t]`` lots in every period
  ``t`` (zeros allowed), all accepted in the same proportion, the *acceptance ratio* ``x``:
  ``0`` or ``min_ratio <= x <= 1``. A block may have a **parent** (linked block): it can only be
  accepted when the parent is, and its ratio is at most the parent's ratio (``x_c <= x_p``).
  Parent and child may be on different sides (a pump's buy block may be the parent of its
  turbine's sell block). Links form a forest (no cycles); depth is not limited. Blocks sharing an
  **exclusive group** have ratios summing to at most 1.

Whole lots
----------
A block's ratio is restricted to multiples of ``1 / g``, ``g`` the greatest common divisor of its
non-zero ``lots`` (``g = 1`` when ``min_ratio == 1`` or no partial ratio fits). Then every period
gets the whole number ``x * lots[t]`` of lots and the proportions stay exact; the smallest
accepted ratio is ``ceil(min_ratio * g) / g``. With block volumes fixed in whole lots, the curve
part of each period is an ordinary auction: it is cleared with the exact :func:`clear_period`,
block volumes entering as one price-inelastic row (net block injection, priced one tick beyond
the limits so that it is served first). Volumes therefore balance exactly in lots.

Model (MILP, HiGHS)
-------------------
Maximise welfare ``sum(demand price * volume) - sum(supply price * volume)`` subject to energy
balance per period. Columns: curve volume ``y`` in ``[0, lots]`` per (period, side, price) level
(steps at the same level are merged, which is exact); integer ``k`` in ``[0, g]`` per block
(ratio ``x = k / g``); binary ``u`` per block whose minimum ``m = ceil(min_ratio * g)`` lies
strictly between 1 and ``g``, with ``m * u <= k <= g * u`` (for ``m = 1`` the integer ``k`` already
gives ``x = 0`` or ``x >= min_ratio``, for ``m = g`` the block is fill-or-kill: ``g = 1``,
``k = u``). Links: ``g_p * k_c <= g_c * k_p`` (child ratio at most parent ratio, which also
forbids the child when the parent is rejected). Exclusive groups: ``sum(k_b / g_b) <= 1``,
scaled to integers by the lcm of the ``g_b`` when that is below ``2**40``.

Curve levels that cannot be marginal are fixed before the solve (exact): in each period the
net block injection lies between minus all demand block lots and plus all supply block lots, and
the curve part is a greedy fill by price, so levels filled even at the low end are always
accepted and levels beyond the high end never are. The matrix is built with numpy and passed to
HiGHS in one ``passModel`` call (HiGHS presolve off: it spent most of the time in sub-MIPs on
these models). The time limit and the relative MIP gap are parameters of the call, never global
settings; threads are HiGHS's default unless given.

Prices
------
The balance duals are degenerate with step curves (any price in a range supports the same
solution), so they are not used. After the MILP, block volumes are fixed and each period's curve
part is cleared; this yields the **valid interval** ``[lo_t, hi_t]`` (every accepted curve step
in the money, every rejected one out of it, intersected with the clearing limits) and the
price rule's choice ``p0_t`` inside it, exactly as :func:`clear_period` does. If every accepted
block has a non-negative surplus at ``p0``, those are the prices. Otherwise a small integer
program over the prices is solved: phase 1 minimises the total loss of accepted blocks with
``lo_t <= p_t <= hi_t``; if it is zero, phase 2 finds the prices closest to ``p0`` in the L1
norm at which no accepted block loses money (deterministic: the same model gives the same
answer). Prices are whole ticks.

Paradoxically accepted blocks
-----------------------------
If phase 1 cannot reach zero loss, the block with the largest loss at the phase-1 prices (ties:
smallest block id) is forbidden (its column bounds set to zero) and the MILP is solved again,
starting from the previous solution without that block and its linked descendants; this
repeats until the prices exist. It terminates: with all blocks rejected the rule prices always
work. Paradoxically *rejected* blocks (in the money, yet rejected) are allowed. Each accepted
block must cover its own loss; family-level compensation (a parent carried by its children's
surplus, as Euphemia allows) is not done.

Time limit
----------
``time_limit`` covers all MILP solves together. A solve stopped by it returns HiGHS's best
solution, or the start point (previous solution minus the removed blocks) if that has the
higher welfare. Once the time is used up, further paradoxically accepted blocks are removed
without re-optimising (with their descendants); if that leaves a period unbalanced, or no
solution was ever found, all blocks are rejected, which is always feasible. ``status`` then
reads ``"Time limit reached"``.

Limitations: one zone, no network, no ramping or scheduled-stop conditions; a block's partial
ratios are limited to whole-lot multiples (``g = 1``: fill-or-kill in effect); with a MIP gap
above zero the welfare may fall short of the optimum by up to that gap; removing paradoxically
accepted blocks one at a time is a heuristic (the best set of blocks to remove is not searched).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import highspy
import numpy as np
from numpy.typing import ArrayLike, NDArray

from openvpp.markets.clearing.auction import PriceRule, Side, clear_period

__all__ = [
    "BlockOrder",
    "BlockResult",
    "ComplexClearingResult",
    "clear_complex",
]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

#: Prices are limited to one tick less than the auction's bound: the inelastic block row of
#: each period sits one tick beyond the clearing limits.
MAX_ABS_TICKS = 2**30 - 1
MAX_TOTAL_LOTS = 2**31
_EXACT_LCM = 2**40
_MIN_SOLVE_S = 0.05  # a MILP solve with less time left than this is not started [s]
_INF = highspy.kHighsInf


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


@dataclass(frozen=True, slots=True, eq=False)
class BlockResult:
    """Outcome of one block.

    ratio : accepted ratio, exact (a multiple of ``1 / gcd`` of the block's non-zero lots).
    lots : accepted lots per period [lots], ``ratio * lots`` of the order.
    surplus : ``sum(lots * (price_t - limit))`` for supply, ``sum(lots * (limit - price_t))``
        for demand [tick-lots]; never negative for an accepted block.
    """

    id: int
    accepted: bool
    ratio: Fraction
    lots: IntArray
    surplus: int


@dataclass(frozen=True, slots=True, eq=False)
class ComplexClearingResult:
    """Outcome of :func:`clear_complex`.

    prices : clearing price per period [ticks], ``None`` for a period without any order.
    lo, hi : valid price interval per period [ticks] of the curve part at the fixed blocks.
    volumes : traded lots per period (accepted supply = accepted demand) [lots].
    welfare : ``sum(demand limit * lots) - sum(supply limit * lots)`` [tick-lots].
    curve_accepted : accepted lots per curve row, input order [lots].
    blocks : one :class:`BlockResult` per block, input order.
    removed : ids of blocks forbidden as paradoxically accepted, in removal order.
    n_resolves : number of MILP re-solves after removals.
    status : HiGHS model status of the last MILP solve (``"Optimal"`` without blocks).
    mip_gap : relative MIP gap reported by HiGHS for the last solve (0 without blocks).
    """

    prices: tuple[int | None, ...]
    lo: IntArray
    hi: IntArray
    volumes: IntArray
    welfare: int
    curve_accepted: IntArray
    blocks: tuple[BlockResult, ...]
    removed: tuple[int, ...]
    n_resolves: int
    status: str
    mip_gap: float


@dataclass(slots=True)
class _Curves:
    periods: IntArray
    supply: NDArray[np.bool_]
    prices: IntArray
    lots: IntArray
    ids: IntArray


@dataclass(slots=True)
class _Blocks:
    ids: IntArray
    supply: NDArray[np.bool_]
    prices: IntArray
    lots: IntArray  # (n_blocks, n_periods)
    g: IntArray  # ratio granularity
    m: IntArray  # minimum k when accepted
    parent: IntArray  # index of the parent, -1 if none
    groups: list[IntArray]  # block indices per exclusive group with at least two members


# ------------------------------------------------------------------------------ validation


def _int_array(values: ArrayLike, name: str) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind in "iu":
        return np.array(arr, dtype=np.int64)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.array_equal(arr, np.rint(arr)):
        return arr.astype(np.int64)
    raise ValueError(f"{name} must be whole numbers (ticks / lots)")


def _first_bad(mask: NDArray[np.bool_]) -> int | None:
    bad = np.flatnonzero(mask)
    return int(bad[0]) if bad.size else None


def _validate_curves(
    periods: ArrayLike,
    sides: ArrayLike,
    prices: ArrayLike,
    lots: ArrayLike,
    ids: ArrayLike | None,
    n_periods: int,
    price_min: int,
    price_max: int,
) -> _Curves:
    per = _int_array(periods, "curve periods")
    sd = _int_array(sides, "curve sides")
    p = _int_array(prices, "curve prices")
    q = _int_array(lots, "curve lots")
    i = np.arange(p.size, dtype=np.int64) if ids is None else _int_array(ids, "curve ids")
    if not per.shape == sd.shape == p.shape == q.shape == i.shape:
        raise ValueError("curve periods, sides, prices, lots and ids must have the same length")
    checks = (
        ((per < 0) | (per >= n_periods), "period", per, f"outside [0, {n_periods})"),
        ((sd != Side.SUPPLY) & (sd != Side.DEMAND), "side", sd, "not SUPPLY (0) or DEMAND (1)"),
        ((p < price_min) | (p > price_max), "price", p, f"outside [{price_min}, {price_max}]"),
        (q < 1, "lots", q, "below 1"),
    )
    for mask, field, values, what in checks:
        row = _first_bad(mask)
        if row is not None:
            raise ValueError(f"curve row {row} (id {int(i[row])}): {field} {values[row]} {what}")
    is_supply = sd == Side.SUPPLY
    for flag, name in ((is_supply, "supply"), (~is_supply, "demand")):
        totals = np.bincount(per[flag], weights=q[flag], minlength=n_periods)
        if totals.size and float(totals.max()) > MAX_TOTAL_LOTS:
            raise ValueError(f"curve {name} lots in one period above {MAX_TOTAL_LOTS}")
    return _Curves(per, is_supply, p, q, i)


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


def _validate_blocks(
    blocks: Sequence[BlockOrder], n_periods: int, price_min: int, price_max: int
) -> _Blocks:
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
        q = _int_array(block.lots, f"block {bid}: lots")
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
    return _Blocks(ids, supply, prices, lots, g, m, parent, groups)


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


# ------------------------------------------------------------------------------ MILP


def _new_highs() -> highspy.Highs:
    """A silent HiGHS instance (``Highs.__init__`` carries no annotation in highspy 1.16)."""
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    return h


def _curve_levels(
    curves: _Curves, blocks: _Blocks, n_periods: int
) -> tuple[IntArray, FloatArray, IntArray, int]:
    """Curve price levels that can be marginal, as MILP columns.

    Steps are merged per (period, side, price) level (exact). Per period, the curve part with
    a net block injection ``n`` is a greedy fill: levels sorted by price descending (demand
    bought, supply left unsold) up to ``n + supply lots``. ``n`` lies within
    ``[-demand block lots, supply block lots]``, so levels filled at the low end are accepted
    for every block outcome, levels beyond the high end never are: both are fixed (exact).

    Returns the free levels ``(period, sign +1 supply / -1 demand, price)`` (3 x n), their lots,
    the fixed net supply per period [lots] and the welfare of the fixed levels [tick-lots].
    """
    key_sign = np.where(curves.supply, 1, -1).astype(np.int64)
    levels, inverse = np.unique(
        np.stack((curves.periods, key_sign, curves.prices)), axis=1, return_inverse=True
    )
    lots = np.bincount(inverse.ravel(), weights=curves.lots, minlength=levels.shape[1])
    lots = lots.astype(np.int64)
    per, sign, price = levels
    is_supply = sign > 0
    supply_total = np.bincount(per[is_supply], weights=lots[is_supply], minlength=n_periods)
    block_supply = (blocks.lots * blocks.supply[:, None]).sum(axis=0)
    block_demand = (blocks.lots * ~blocks.supply[:, None]).sum(axis=0)
    cap_lo = supply_total.astype(np.int64) - block_demand
    cap_hi = supply_total.astype(np.int64) + block_supply
    order = np.lexsort((-price, per))
    cum = np.cumsum(lots[order])
    first = np.searchsorted(per[order], np.arange(n_periods))
    offset = np.concatenate(([0], cum))[first][per[order]]
    end = np.empty_like(cum)
    end[order] = cum - offset
    begin = end - lots
    taken = end <= cap_lo[per]  # demand bought / supply unsold for every injection
    never = begin >= cap_hi[per]  # demand not bought / supply sold for every injection
    fixed_demand = taken & ~is_supply
    fixed_supply = never & is_supply
    fixed_net = np.bincount(per[fixed_supply], weights=lots[fixed_supply], minlength=n_periods)
    fixed_net = fixed_net - np.bincount(
        per[fixed_demand], weights=lots[fixed_demand], minlength=n_periods
    )
    fixed_welfare = int(np.dot(price[fixed_demand], lots[fixed_demand]))
    fixed_welfare -= int(np.dot(price[fixed_supply], lots[fixed_supply]))
    free = ~(taken | never)
    return (
        levels[:, free],
        lots[free].astype(np.float64),
        np.rint(fixed_net).astype(np.int64),
        fixed_welfare,
    )


class _Milp:
    """The welfare MILP in HiGHS; blocks are forbidden by zeroing their column bounds."""

    def __init__(self, curves: _Curves, blocks: _Blocks, n_periods: int) -> None:
        levels, level_lots, fixed_net, fixed_welfare = _curve_levels(curves, blocks, n_periods)
        n_c, n_b = levels.shape[1], blocks.ids.size
        need_u = np.flatnonzero((blocks.m > 1) & (blocks.m < blocks.g))
        n_u = need_u.size
        self.k_cols = np.arange(n_c, n_c + n_b, dtype=np.int64)
        self.u_cols = np.full(n_b, -1, dtype=np.int64)
        self.u_cols[need_u] = np.arange(n_c + n_b, n_c + n_b + n_u)
        n_cols = n_c + n_b + n_u

        b_sign = np.where(blocks.supply, 1.0, -1.0)  # balance: supply +, demand -
        unit_lots = blocks.lots // blocks.g[:, None]  # lots per unit of k
        cost = np.concatenate(
            (
                levels[1] * levels[2].astype(np.float64),
                b_sign * blocks.prices * unit_lots.sum(axis=1),
                np.zeros(n_u),
            )
        )
        col_lo = np.zeros(n_cols)
        col_hi = np.concatenate((level_lots, blocks.g, np.ones(n_u))).astype(np.float64)
        integrality = np.concatenate(
            (np.zeros(n_c, dtype=np.int64), np.ones(n_b + n_u, dtype=np.int64))
        )

        rows: list[IntArray] = []
        cols: list[IntArray] = []
        vals: list[FloatArray] = []
        row_lo: list[FloatArray] = []
        row_hi: list[FloatArray] = []
        # Energy balance per period.
        rows.append(levels[0])
        cols.append(np.arange(n_c, dtype=np.int64))
        vals.append(levels[1].astype(np.float64))
        bi, bt = np.nonzero(unit_lots)
        rows.append(bt.astype(np.int64))
        cols.append(self.k_cols[bi])
        vals.append(b_sign[bi] * unit_lots[bi, bt])
        row_lo.append(-fixed_net.astype(np.float64))
        row_hi.append(-fixed_net.astype(np.float64))
        n_rows = n_periods
        # Minimum acceptance ratio: m * u <= k <= g * u.
        if n_u:
            r = n_rows + np.arange(2 * n_u, dtype=np.int64)
            rows += [r[:n_u], r[:n_u], r[n_u:], r[n_u:]]
            cols += [self.k_cols[need_u], self.u_cols[need_u]] * 2
            vals += [np.ones(n_u), -blocks.m[need_u].astype(np.float64)]
            vals += [np.ones(n_u), -blocks.g[need_u].astype(np.float64)]
            row_lo += [np.zeros(n_u), np.full(n_u, -_INF)]
            row_hi += [np.full(n_u, _INF), np.zeros(n_u)]
            n_rows += 2 * n_u
        # Links: x_child <= x_parent, i.e. g_p * k_c - g_c * k_p <= 0.
        child = np.flatnonzero(blocks.parent >= 0)
        if child.size:
            par = blocks.parent[child]
            r = n_rows + np.arange(child.size, dtype=np.int64)
            rows += [r, r]
            cols += [self.k_cols[child], self.k_cols[par]]
            vals += [blocks.g[par].astype(np.float64), -blocks.g[child].astype(np.float64)]
            row_lo.append(np.full(child.size, -_INF))
            row_hi.append(np.zeros(child.size))
            n_rows += child.size
        # Exclusive groups: sum(k_b / g_b) <= 1, scaled by the lcm when that stays exact.
        for members in blocks.groups:
            scale = math.lcm(*(int(v) for v in blocks.g[members]))
            coef = (
                scale // blocks.g[members] if scale <= _EXACT_LCM else 1.0 / blocks.g[members]
            ).astype(np.float64)
            rows.append(np.full(members.size, n_rows, dtype=np.int64))
            cols.append(self.k_cols[members])
            vals.append(coef)
            row_lo.append(np.array([-_INF]))
            row_hi.append(np.array([float(scale) if scale <= _EXACT_LCM else 1.0]))
            n_rows += 1

        r_all, c_all, v_all = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        order = np.lexsort((r_all, c_all))
        starts = np.searchsorted(c_all[order], np.arange(n_cols + 1)).astype(np.int64)
        self.highs = _new_highs()
        # The exact pruning above already does what matters; HiGHS's presolve spent most of
        # the time in sub-MIPs on these models (4x slower in bench_complex_clearing.py).
        self.highs.setOptionValue("presolve", "off")
        status = self.highs.passModel(
            n_cols,
            n_rows,
            int(v_all.size),
            1,  # column-wise
            1,  # minimise (the negated welfare)
            -float(fixed_welfare),
            cost,
            col_lo,
            col_hi,
            np.concatenate(row_lo),
            np.concatenate(row_hi),
            starts,
            r_all[order],
            v_all[order],
            integrality,
        )
        if status != highspy.HighsStatus.kOk:
            raise RuntimeError(f"HiGHS rejected the clearing model: {status}")

    def forbid(self, b: int, start: IntArray) -> None:
        """Forbid block ``b``; ``start`` (``k`` per block, feasible without ``b``) is passed
        to HiGHS as the starting point of the next solve."""
        cols = [int(self.k_cols[b])] + ([int(self.u_cols[b])] if self.u_cols[b] >= 0 else [])
        zero = np.zeros(len(cols))
        self.highs.changeColsBounds(len(cols), np.array(cols, dtype=np.int64), zero, zero)
        # Integer values only: HiGHS completes them with an LP over the curve columns.
        has_u = self.u_cols >= 0
        idx = np.concatenate((self.k_cols, self.u_cols[has_u]))
        val = np.concatenate((start, start[has_u] > 0)).astype(np.float64)
        self.highs.setSolution(int(idx.size), idx, val)

    def solve(
        self, time_limit: float, mip_rel_gap: float, threads: int | None
    ) -> tuple[IntArray | None, str, float]:
        """Integer ``k`` per block (``None`` if no feasible solution), status, MIP gap."""
        h = self.highs
        options: dict[str, float | int] = {"time_limit": time_limit, "mip_rel_gap": mip_rel_gap}
        if threads is not None:
            options["threads"] = threads
        for name, value in options.items():
            if h.setOptionValue(name, value) != highspy.HighsStatus.kOk:
                raise ValueError(f"{name} {value} rejected by HiGHS")
        if h.run() == highspy.HighsStatus.kError:
            raise RuntimeError(
                "HiGHS failed to solve the clearing model; with threads given, the count must "
                "match the scheduler HiGHS already runs in this thread (fixed at first use)"
            )
        status = h.modelStatusToString(h.getModelStatus())
        info = h.getInfo()
        if info.primal_solution_status != 2:  # no feasible solution
            return None, status, math.inf
        values = np.asarray(h.getSolution().col_value)
        return np.rint(values[self.k_cols]).astype(np.int64), status, float(info.mip_gap)


class _UnbalancedError(RuntimeError):
    """The curves of a period cannot absorb the block volumes."""


def _with_descendants(parent: IntArray, b: int) -> NDArray[np.bool_]:
    """Mask of block ``b`` and every block linked below it."""
    mask = np.zeros(parent.size, dtype=bool)
    mask[b] = True
    while True:
        grown = mask | ((parent >= 0) & mask[np.maximum(parent, 0)])
        if np.array_equal(grown, mask):
            return mask
        mask = grown


def _check_blocks(k: IntArray, blocks: _Blocks) -> None:
    """Exact check of the rounded MILP solution (guards against solver tolerances)."""
    ok = bool(np.all((k == 0) | ((k >= blocks.m) & (k <= blocks.g))))
    child = np.flatnonzero(blocks.parent >= 0)
    par = blocks.parent[child]
    ok = ok and bool(np.all(blocks.g[par] * k[child] <= blocks.g[child] * k[par]))
    for members in blocks.groups:
        ok = ok and sum(Fraction(int(k[b]), int(blocks.g[b])) for b in members) <= 1
    if not ok:
        raise RuntimeError("HiGHS returned a block solution that violates the block rules")


# ------------------------------------------------------------------------------ curves, prices


def _rule_price(lo: int, hi: int, shortage: bool, rule: PriceRule) -> int:
    if rule is PriceRule.SUPPLY_MARGINAL:
        return lo
    if rule is PriceRule.DEMAND_MARGINAL:
        return hi
    if rule is PriceRule.MIDPOINT:
        return (lo + hi) // 2
    return hi if shortage else lo


@dataclass(slots=True)
class _PeriodClearing:
    lo: IntArray
    hi: IntArray
    p0: IntArray
    accepted: IntArray  # per curve row, input order


def _clear_curve_periods(
    curves: _Curves,
    injection: IntArray,
    n_periods: int,
    rule: PriceRule,
    price_min: int,
    price_max: int,
) -> _PeriodClearing:
    """Clear each period's curves with the net block injection as a price-inelastic row
    (supply at ``price_min - 1`` or demand at ``price_max + 1``: served before any curve step)."""
    order = np.lexsort((~curves.supply, curves.periods))
    per, sup = curves.periods[order], curves.supply[order]
    p, q, i = curves.prices[order], curves.lots[order], curves.ids[order]
    bounds = np.searchsorted(per, np.arange(n_periods + 1))
    acc_sorted = np.zeros(p.size, dtype=np.int64)
    lo = np.zeros(n_periods, dtype=np.int64)
    hi = np.zeros(n_periods, dtype=np.int64)
    p0 = np.zeros(n_periods, dtype=np.int64)
    for t in range(n_periods):
        a, c = int(bounds[t]), int(bounds[t + 1])
        mid = a + int(np.count_nonzero(sup[a:c]))  # supply rows first within the period
        sp, sl, si = p[a:mid], q[a:mid], i[a:mid]
        dp, dl, di = p[mid:c], q[mid:c], i[mid:c]
        inj = int(injection[t])
        if inj > 0:
            sp, sl, si = (np.append(x, y) for x, y in ((sp, price_min - 1), (sl, inj), (si, -1)))
        elif inj < 0:
            dp, dl, di = (np.append(x, y) for x, y in ((dp, price_max + 1), (dl, -inj), (di, -1)))
        res = clear_period(
            sp,
            sl,
            dp,
            dl,
            price_rule=rule,
            price_min=price_min - (inj != 0),
            price_max=price_max + (inj != 0),
            supply_ids=si,
            demand_ids=di,
        )
        lo_t, hi_t = max(res.lo, price_min), min(res.hi, price_max)
        served = res.supply_accepted[-1] if inj > 0 else res.demand_accepted[-1] if inj else 0
        if lo_t > hi_t or served != abs(inj):
            raise _UnbalancedError(f"period {t}: block injection {inj} cannot be balanced")
        lo[t], hi[t] = lo_t, hi_t
        p0[t] = _rule_price(lo_t, hi_t, res.shortage, rule)
        acc_sorted[a:mid] = res.supply_accepted[: mid - a]
        acc_sorted[mid:c] = res.demand_accepted[: c - mid]
    accepted = np.empty_like(acc_sorted)
    accepted[order] = acc_sorted
    return _PeriodClearing(lo, hi, p0, accepted)


def _surplus(prices: IntArray, blocks: _Blocks, volumes: IntArray) -> IntArray:
    """Surplus per block at ``prices`` [tick-lots] (int64 is exact within the input limits)."""
    sign = np.where(blocks.supply, 1, -1).astype(np.int64)
    surplus: IntArray = sign * (volumes @ prices - blocks.prices * volumes.sum(axis=1))
    return surplus


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
    h = _new_highs()
    h.setOptionValue("time_limit", time_limit)
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


def _find_prices(
    pc: _PeriodClearing,
    active: NDArray[np.bool_],
    blocks: _Blocks,
    volumes: IntArray,
    time_limit: float,
) -> tuple[IntArray, int | None]:
    """Prices per period and ``None``, or the rule prices and the index of the block to
    remove (largest loss at the prices minimising the total loss, ties by smallest id)."""
    accepted = np.flatnonzero(volumes.sum(axis=1) > 0)
    if np.all(_surplus(pc.p0, blocks, volumes)[accepted] >= 0):
        return pc.p0, None
    cols = np.flatnonzero(active)
    sign = np.where(blocks.supply[accepted], 1, -1).astype(np.int64)
    vol = volumes[np.ix_(accepted, cols)]
    args = (pc.lo[cols], pc.hi[cols], pc.p0[cols], sign, vol, blocks.prices[accepted])
    p1 = pc.p0.copy()
    p1[cols] = _price_mip(*args, phase=1, time_limit=time_limit)
    s1 = _surplus(p1, blocks, volumes)[accepted]
    if np.any(s1 < 0):
        worst = np.lexsort((blocks.ids[accepted], s1))[0]
        return pc.p0, int(accepted[worst])
    p2 = pc.p0.copy()
    p2[cols] = _price_mip(*args, phase=2, time_limit=time_limit)
    if np.all(_surplus(p2, blocks, volumes)[accepted] >= 0) and np.all(
        (p2 >= pc.lo) & (p2 <= pc.hi)
    ):
        return p2, None
    return p1, None


# ------------------------------------------------------------------------------ entry point


def clear_complex(
    periods: ArrayLike,
    sides: ArrayLike,
    prices: ArrayLike,
    lots: ArrayLike,
    ids: ArrayLike | None = None,
    blocks: Sequence[BlockOrder] = (),
    *,
    n_periods: int,
    price_rule: PriceRule | str,
    price_min: int,
    price_max: int,
    time_limit: float = 30.0,
    mip_rel_gap: float = 1e-6,
    threads: int | None = None,
) -> ComplexClearingResult:
    """Clear curve and block orders of one zone over ``n_periods`` periods (module docstring).

    periods, sides, prices, lots, ids : one entry per curve row: period index in
        ``[0, n_periods)``, :class:`Side` code, price [ticks], lots [lots], order id (defaults
        to the row position).
    blocks : block orders (:class:`BlockOrder`).
    price_rule : :class:`PriceRule` picking the price inside the valid interval.
    price_min, price_max : clearing limits [ticks], ``|limit| <= 2**30 - 1``.
    time_limit : wall-clock budget for all MILP solves together [s].
    mip_rel_gap : relative MIP gap at which HiGHS stops [-].
    threads : HiGHS threads, ``None`` for the HiGHS default. HiGHS fixes the thread count of
        its scheduler at first use in a thread; a different count raises ``RuntimeError``
        (resetting the scheduler would change process-wide state, so it is not done).

    Raises ``ValueError`` naming the field and the offending row or block id.
    """
    rule = PriceRule(price_rule)
    price_min, price_max = int(price_min), int(price_max)
    if not -MAX_ABS_TICKS <= price_min <= price_max <= MAX_ABS_TICKS:
        raise ValueError(f"need -{MAX_ABS_TICKS} <= price_min <= price_max <= {MAX_ABS_TICKS}")
    if n_periods < 1:
        raise ValueError(f"n_periods {n_periods} must be positive")
    if not time_limit > 0 or not mip_rel_gap >= 0:
        raise ValueError("time_limit must be positive and mip_rel_gap non-negative")
    curves = _validate_curves(periods, sides, prices, lots, ids, n_periods, price_min, price_max)
    bl = _validate_blocks(blocks, n_periods, price_min, price_max)
    active = np.bincount(curves.periods, minlength=n_periods) > 0
    active |= bl.lots.sum(axis=0) > 0

    def evaluate(k: IntArray) -> tuple[IntArray, _PeriodClearing, int]:
        """Block volumes, curve clearing and welfare for block outcome ``k``."""
        volumes = bl.lots * k[:, None] // bl.g[:, None]
        injection = np.where(bl.supply[:, None], volumes, -volumes).sum(axis=0)
        pc = _clear_curve_periods(curves, injection, n_periods, rule, price_min, price_max)
        welfare = int(np.dot(np.where(curves.supply, -curves.prices, curves.prices), pc.accepted))
        welfare += int(np.dot(np.where(bl.supply, -bl.prices, bl.prices), volumes.sum(axis=1)))
        return volumes, pc, welfare

    deadline = time.monotonic() + time_limit
    k = np.zeros(bl.ids.size, dtype=np.int64)
    status, gap, removed = "Optimal", 0.0, list[int]()
    milp = _Milp(curves, bl, n_periods) if bl.ids.size else None
    solving = milp is not None
    while True:
        if milp is not None and solving:
            sol = None
            left = deadline - time.monotonic()
            if left > _MIN_SOLVE_S:
                sol, status, gap = milp.solve(left, mip_rel_gap, threads)
            else:
                status = "Time limit reached"
            if sol is None:  # out of time: keep the last solution minus the removed blocks
                solving = False
            elif status != "Optimal" and removed:
                # Stopped early: keep the start point (the last solution minus the removed
                # blocks) unless the solver found something better.
                _check_blocks(sol, bl)
                try:
                    start_welfare = evaluate(k)[2]
                except _UnbalancedError:
                    start_welfare = None
                if start_welfare is None or evaluate(sol)[2] >= start_welfare:
                    k = sol
            else:
                k = sol
            _check_blocks(k, bl)
        try:
            volumes, pc, _ = evaluate(k)
        except _UnbalancedError:
            if solving or not k.any():
                raise
            k = np.zeros_like(k)  # greedy removals broke the balance: reject all blocks
            continue
        # The price search is small; it gets the remaining budget, but at least 1 s.
        price_time = max(deadline - time.monotonic(), 1.0)
        final, culprit = _find_prices(pc, active, bl, volumes, price_time)
        if culprit is None:
            break
        assert milp is not None
        removed.append(int(bl.ids[culprit]))
        k[_with_descendants(bl.parent, culprit)] = 0
        milp.forbid(culprit, k)

    return _result(curves, bl, k, volumes, pc, final, active, removed, status, gap)


def _result(
    curves: _Curves,
    bl: _Blocks,
    k: IntArray,
    volumes: IntArray,
    pc: _PeriodClearing,
    final: IntArray,
    active: NDArray[np.bool_],
    removed: list[int],
    status: str,
    gap: float,
) -> ComplexClearingResult:
    acc = pc.accepted
    n_periods = final.size
    supply_vol = np.bincount(
        curves.periods[curves.supply], weights=acc[curves.supply], minlength=n_periods
    ).astype(np.int64) + volumes[bl.supply].sum(axis=0)
    welfare = int(np.dot(np.where(curves.supply, -curves.prices, curves.prices), acc))
    welfare += int(np.dot(np.where(bl.supply, -bl.prices, bl.prices), volumes.sum(axis=1)))
    surplus = _surplus(final, bl, volumes)
    block_results = tuple(
        BlockResult(
            id=int(bl.ids[b]),
            accepted=bool(k[b] > 0),
            ratio=Fraction(int(k[b]), int(bl.g[b])),
            lots=volumes[b].copy(),
            surplus=int(surplus[b]),
        )
        for b in range(bl.ids.size)
    )
    return ComplexClearingResult(
        prices=tuple(int(p) if a else None for p, a in zip(final, active, strict=True)),
        lo=pc.lo,
        hi=pc.hi,
        volumes=supply_vol,
        welfare=welfare,
        curve_accepted=acc,
        blocks=block_results,
        removed=tuple(removed),
        n_resolves=len(removed),
        status=status,
        mip_gap=gap,
    )
