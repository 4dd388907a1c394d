"""The welfare MILP of complex day-ahead clearing (:mod:`complex`, "Model (MILP, HiGHS)"): the
exact pruning of curve levels that cannot be marginal, the model built with numpy and passed to
HiGHS in one call, and the re-solves after paradoxically accepted blocks are forbidden.
"""

from __future__ import annotations

import math
import os
import sys
import threading

import highspy
import numpy as np
from numpy.typing import NDArray

from openvpp.markets.clearing.blocks import Blocks
from openvpp.markets.clearing.curve_part import Curves

__all__ = ["WelfareMilp", "curve_levels", "new_highs"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

_EXACT_LCM = 2**40
_INF = highspy.kHighsInf


_first = threading.Lock()
_bannered = False


def new_highs() -> highspy.Highs:
    """A silent HiGHS instance (``Highs.__init__`` carries no annotation in highspy 1.16).

    HiGHS prints its version banner to the process's standard output when the first instance
    is made, before any option can be set; that one construction runs with file descriptor 1
    sent to ``/dev/null``, so command output (``--json``) stays clean."""
    global _bannered
    with _first:
        if not _bannered:
            sys.stdout.flush()
            saved = os.dup(1)
            try:
                with open(os.devnull, "w") as null:
                    os.dup2(null.fileno(), 1)
                    h = highspy.Highs()  # type: ignore[no-untyped-call]
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            _bannered = True
        else:
            h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    return h


def curve_levels(
    curves: Curves, blocks: Blocks, n_periods: int
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


class _Rows:
    """Constraint rows of the MILP, collected as (row, column, value) triplets with bounds."""

    def __init__(self, blocks: Blocks, k_cols: IntArray, u_cols: IntArray) -> None:
        self.blocks, self.k_cols, self.u_cols = blocks, k_cols, u_cols
        self.rows: list[IntArray] = []
        self.cols: list[IntArray] = []
        self.vals: list[FloatArray] = []
        self.lo: list[FloatArray] = []
        self.hi: list[FloatArray] = []
        self.n = 0

    def balance(
        self, levels: IntArray, unit_lots: IntArray, b_sign: FloatArray, fixed_net: IntArray
    ) -> None:
        """Energy balance per period (one row per period: the first rows)."""
        n_periods = fixed_net.size
        self.rows.append(levels[0])
        self.cols.append(np.arange(levels.shape[1], dtype=np.int64))
        self.vals.append(levels[1].astype(np.float64))
        bi, bt = np.nonzero(unit_lots)
        self.rows.append(bt.astype(np.int64))
        self.cols.append(self.k_cols[bi])
        self.vals.append(b_sign[bi] * unit_lots[bi, bt])
        self.lo.append(-fixed_net.astype(np.float64))
        self.hi.append(-fixed_net.astype(np.float64))
        self.n += n_periods

    def min_ratio(self, need_u: IntArray) -> None:
        """Minimum acceptance ratio: ``m * u <= k <= g * u``."""
        n_u = need_u.size
        if not n_u:
            return
        blocks = self.blocks
        r = self.n + np.arange(2 * n_u, dtype=np.int64)
        self.rows += [r[:n_u], r[:n_u], r[n_u:], r[n_u:]]
        self.cols += [self.k_cols[need_u], self.u_cols[need_u]] * 2
        self.vals += [np.ones(n_u), -blocks.m[need_u].astype(np.float64)]
        self.vals += [np.ones(n_u), -blocks.g[need_u].astype(np.float64)]
        self.lo += [np.zeros(n_u), np.full(n_u, -_INF)]
        self.hi += [np.full(n_u, _INF), np.zeros(n_u)]
        self.n += 2 * n_u

    def links(self) -> None:
        """Links: ``x_child <= x_parent``, i.e. ``g_p * k_c - g_c * k_p <= 0``."""
        blocks = self.blocks
        child = np.flatnonzero(blocks.parent >= 0)
        if not child.size:
            return
        par = blocks.parent[child]
        r = self.n + np.arange(child.size, dtype=np.int64)
        self.rows += [r, r]
        self.cols += [self.k_cols[child], self.k_cols[par]]
        self.vals += [blocks.g[par].astype(np.float64), -blocks.g[child].astype(np.float64)]
        self.lo.append(np.full(child.size, -_INF))
        self.hi.append(np.zeros(child.size))
        self.n += child.size

    def exclusive_groups(self) -> None:
        """Exclusive groups: ``sum(k_b / g_b) <= 1``, scaled by the lcm when that stays exact."""
        blocks = self.blocks
        for members in blocks.groups:
            scale = math.lcm(*(int(v) for v in blocks.g[members]))
            coef = (
                scale // blocks.g[members] if scale <= _EXACT_LCM else 1.0 / blocks.g[members]
            ).astype(np.float64)
            self.rows.append(np.full(members.size, self.n, dtype=np.int64))
            self.cols.append(self.k_cols[members])
            self.vals.append(coef)
            self.lo.append(np.array([-_INF]))
            self.hi.append(np.array([float(scale) if scale <= _EXACT_LCM else 1.0]))
            self.n += 1

    def column_wise(self, n_cols: int) -> tuple[IntArray, IntArray, FloatArray]:
        """The matrix in compressed column form: column starts, row indices, values."""
        r_all = np.concatenate(self.rows)
        c_all, v_all = np.concatenate(self.cols), np.concatenate(self.vals)
        order = np.lexsort((r_all, c_all))
        starts = np.searchsorted(c_all[order], np.arange(n_cols + 1)).astype(np.int64)
        return starts, r_all[order], v_all[order]


class WelfareMilp:
    """The welfare MILP in HiGHS; blocks are forbidden by zeroing their column bounds.

    Columns: free curve levels (continuous), ``k`` per block (integer in ``[0, g]``), ``u`` per
    block whose minimum ratio needs a binary switch.
    """

    def __init__(self, curves: Curves, blocks: Blocks, n_periods: int) -> None:
        levels, level_lots, fixed_net, fixed_welfare = curve_levels(curves, blocks, n_periods)
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

        rows = _Rows(blocks, self.k_cols, self.u_cols)
        rows.balance(levels, unit_lots, b_sign, fixed_net)
        rows.min_ratio(need_u)
        rows.links()
        rows.exclusive_groups()
        starts, index, values = rows.column_wise(n_cols)

        self.highs = new_highs()
        # The exact pruning above already does what matters; HiGHS's presolve spent most of
        # the time in sub-MIPs on these models (4x slower in bench_complex_clearing.py).
        self.highs.setOptionValue("presolve", "off")
        status = self.highs.passModel(
            n_cols,
            rows.n,
            int(values.size),
            1,  # column-wise
            1,  # minimise (the negated welfare)
            -float(fixed_welfare),
            cost,
            col_lo,
            col_hi,
            np.concatenate(rows.lo),
            np.concatenate(rows.hi),
            starts,
            index,
            values,
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
