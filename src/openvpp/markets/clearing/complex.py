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

Code: this module holds the entry point, the result types and the loop of solves, price searches
and removals; :mod:`blocks` the block orders and their rules, :mod:`curve_part` the curve rows
and the exact per-period curve clearing, :mod:`milp` the welfare MILP and :mod:`block_pricing`
the price search.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openvpp.markets.clearing.auction import PriceRule
from openvpp.markets.clearing.block_pricing import find_prices, surplus
from openvpp.markets.clearing.blocks import (
    BlockOrder,
    Blocks,
    check_blocks,
    validate_blocks,
    with_descendants,
)
from openvpp.markets.clearing.curve_part import MAX_TOTAL_LOTS as MAX_TOTAL_LOTS
from openvpp.markets.clearing.curve_part import (
    Curves,
    PeriodClearing,
    UnbalancedError,
    clear_curve_periods,
    validate_curves,
)
from openvpp.markets.clearing.milp import WelfareMilp

__all__ = [
    "BlockOrder",
    "BlockResult",
    "ComplexClearingResult",
    "clear_complex",
]

IntArray = NDArray[np.int64]

#: Prices are limited to one tick less than the auction's bound: the inelastic block row of
#: each period sits one tick beyond the clearing limits.
MAX_ABS_TICKS = 2**30 - 1
_MIN_SOLVE_S = 0.05  # a MILP solve with less time left than this is not started [s]


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
    _check_parameters(n_periods, price_min, price_max, time_limit, mip_rel_gap)
    curves = validate_curves(periods, sides, prices, lots, ids, n_periods, price_min, price_max)
    bl = validate_blocks(blocks, n_periods, price_min, price_max)
    active = np.bincount(curves.periods, minlength=n_periods) > 0
    active |= bl.lots.sum(axis=0) > 0

    def evaluate(k: IntArray) -> tuple[IntArray, PeriodClearing, int]:
        """Block volumes, curve clearing and welfare for block outcome ``k``."""
        volumes = bl.lots * k[:, None] // bl.g[:, None]
        injection = np.where(bl.supply[:, None], volumes, -volumes).sum(axis=0)
        pc = clear_curve_periods(curves, injection, n_periods, rule, price_min, price_max)
        welfare = int(np.dot(np.where(curves.supply, -curves.prices, curves.prices), pc.accepted))
        welfare += int(np.dot(np.where(bl.supply, -bl.prices, bl.prices), volumes.sum(axis=1)))
        return volumes, pc, welfare

    deadline = time.monotonic() + time_limit
    k = np.zeros(bl.ids.size, dtype=np.int64)
    status, gap, removed = "Optimal", 0.0, list[int]()
    milp = WelfareMilp(curves, bl, n_periods) if bl.ids.size else None
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
            else:
                k = _take_solution(sol, k, status, bool(removed), evaluate, bl)
            check_blocks(k, bl)
        try:
            volumes, pc, _ = evaluate(k)
        except UnbalancedError:
            if solving or not k.any():
                raise
            k = np.zeros_like(k)  # greedy removals broke the balance: reject all blocks
            continue
        # The price search is small; it gets the remaining budget, but at least 1 s.
        price_time = max(deadline - time.monotonic(), 1.0)
        final, culprit = find_prices(pc, active, bl, volumes, price_time)
        if culprit is None:
            break
        assert milp is not None
        removed.append(int(bl.ids[culprit]))
        k[with_descendants(bl.parent, culprit)] = 0
        milp.forbid(culprit, k)

    return _result(curves, bl, k, volumes, pc, final, active, removed, status, gap)


def _check_parameters(
    n_periods: int, price_min: int, price_max: int, time_limit: float, mip_rel_gap: float
) -> None:
    if not -MAX_ABS_TICKS <= price_min <= price_max <= MAX_ABS_TICKS:
        raise ValueError(f"need -{MAX_ABS_TICKS} <= price_min <= price_max <= {MAX_ABS_TICKS}")
    if n_periods < 1:
        raise ValueError(f"n_periods {n_periods} must be positive")
    if not time_limit > 0 or not mip_rel_gap >= 0:
        raise ValueError("time_limit must be positive and mip_rel_gap non-negative")


def _take_solution(
    sol: IntArray,
    start: IntArray,
    status: str,
    removed: bool,
    evaluate: Callable[[IntArray], tuple[IntArray, PeriodClearing, int]],
    bl: Blocks,
) -> IntArray:
    """The block outcome after a MILP solve: the solution ``sol``, except when a re-solve
    (``removed``) stopped early: then the start point (the last solution minus the removed
    blocks) is kept unless the solver found something at least as good."""
    if status == "Optimal" or not removed:
        return sol
    check_blocks(sol, bl)
    try:
        start_welfare = evaluate(start)[2]
    except UnbalancedError:
        return sol
    return sol if evaluate(sol)[2] >= start_welfare else start


def _result(
    curves: Curves,
    bl: Blocks,
    k: IntArray,
    volumes: IntArray,
    pc: PeriodClearing,
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
    block_surplus = surplus(final, bl, volumes)
    block_results = tuple(
        BlockResult(
            id=int(bl.ids[b]),
            accepted=bool(k[b] > 0),
            ratio=Fraction(int(k[b]), int(bl.g[b])),
            lots=volumes[b].copy(),
            surplus=int(block_surplus[b]),
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
