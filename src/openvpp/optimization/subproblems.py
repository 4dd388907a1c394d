"""The units' own LPs (no grid limit) for the decomposition: groups of units per HiGHS model,
cut from the portfolio's block-diagonal matrix and re-solved warm as the price changes."""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
from numpy.typing import NDArray

from openvpp.markets.clearing.milp import new_highs
from openvpp.optimization.lp import Penalties, ScheduleLp, SolverOptions, set_options
from openvpp.optimization.schedule import SIMULTANEOUS_TOL, ScheduleMarket
from openvpp.optimization.units import FlexUnit, StorageUnit

__all__ = ["UnitModels"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass
class _Group:
    """A group's HiGHS model, cut from the portfolio's block-diagonal matrix: its columns
    ``first : first + width`` of the portfolio model, its price columns and their
    coefficients (local), and the MILP that replaces it once a battery needs switches."""

    highs: highspy.Highs
    first: int
    width: int
    storage: list[StorageUnit]
    price_idx: IntArray
    price_coef: FloatArray
    base_cost: FloatArray
    milp: ScheduleLp | None = None


class UnitModels:
    """The units' LPs without the grid limit, in groups of ``batch`` units (one HiGHS model
    per group: a model per unit spends more in HiGHS's fixed cost per solve than in
    pivoting), re-solved warm as the price changes. The first solves run group after group,
    each starting from the previous group's optimal basis: the batteries arrive sorted by
    similarity, and similar groups share most of their basis."""

    def __init__(
        self,
        storage: list[StorageUnit],
        flex: list[FlexUnit],
        market: ScheduleMarket,
        pen: Penalties,
        batch: int,
    ) -> None:
        t = market.n_intervals
        self.lp = ScheduleLp(storage, flex, t, market.dt_h, pen, market.expected_price)
        self.pen, self.t, self.dt = pen, t, market.dt_h
        lp = self.lp
        self.groups = [
            self._storage_group(storage, s0, min(s0 + batch, len(storage)))
            for s0 in range(0, len(storage), batch)
        ]
        self.groups += [
            self._flex_group(f0, min(f0 + batch, len(flex))) for f0 in range(0, len(flex), batch)
        ]
        self.solved = False
        del lp

    def _storage_group(self, storage: list[StorageUnit], s0: int, s1: int) -> _Group:
        """Batteries ``s0 : s1``: their columns, dynamics rows and end-target rows."""
        lp, t, k = self.lp, self.t, s1 - s0
        a, dyn = lp.matrix, len(storage) * t
        a0, a1 = s0 * lp.s_block, s1 * lp.s_block
        p0, p1 = int(a.indptr[a0]), int(a.indptr[a1])
        rows = a.indices[p0:p1].astype(np.int64)
        local = np.where(rows < dyn, rows - s0 * t, k * t + rows - dyn - s0)
        row_ids = np.concatenate((np.arange(s0 * t, s1 * t), dyn + np.arange(s0, s1)))
        h = _highs(
            lp.cost[a0:a1],
            lp.lo[a0:a1],
            lp.hi[a0:a1],
            lp.row_lo[row_ids],
            lp.row_hi[row_ids],
            (a.indptr[a0 : a1 + 1] - p0).astype(np.int64),
            local,
            a.data[p0:p1],
        )
        base = (np.arange(k, dtype=np.int64) * lp.s_block)[:, None] + np.arange(t)
        idx = np.concatenate((base.ravel(), (base + t).ravel()))
        coef = np.concatenate((np.full(k * t, lp.dt), np.full(k * t, -lp.dt)))
        return _Group(h, a0, a1 - a0, storage[s0:s1], idx, coef, lp.deg_cost[a0 + idx])

    def _flex_group(self, f0: int, f1: int) -> _Group:
        """Envelopes ``f0 : f1``: their columns and every row they touch."""
        lp, t, k = self.lp, self.t, f1 - f0
        a0, a1 = lp.f0 + f0 * lp.f_block, lp.f0 + f1 * lp.f_block
        block = lp.matrix[:, a0:a1].tocsc()
        rows = np.unique(block.indices)
        local = block[rows].tocsc()
        h = _highs(
            lp.cost[a0:a1],
            lp.lo[a0:a1],
            lp.hi[a0:a1],
            lp.row_lo[rows],
            lp.row_hi[rows],
            local.indptr.astype(np.int64),
            local.indices.astype(np.int64),
            local.data,
        )
        idx = ((np.arange(k, dtype=np.int64) * lp.f_block)[:, None] + np.arange(t)).ravel()
        coef = np.full(k * t, -lp.dt)
        return _Group(h, a0, a1 - a0, [], idx, coef, lp.deg_cost[a0 + idx])

    def respond(self, price: FloatArray, opts: SolverOptions) -> tuple[FloatArray, float]:
        """Every unit's optimal columns at ``price`` [currency/MWh] (T,): the portfolio's
        column vector and the sum of the units' optimal values at that price (a bound).
        A group whose LP optimum has a battery charging and discharging at once is replaced
        (now and from then on) by a MILP with a switch per interval for those batteries."""
        t = self.t
        x = np.empty(self.lp.n_cols)
        bound = 0.0
        basis: tuple[int, highspy.HighsBasis] | None = None
        for g in self.groups:
            if g.milp is None:
                cost = g.base_cost + g.price_coef * np.tile(price, g.price_idx.size // t)
                g.highs.changeColsCost(int(g.price_idx.size), g.price_idx, cost)
                if not self.solved:
                    set_options(g.highs, opts)
                    if basis is not None and basis[0] == g.width:
                        g.highs.setBasis(basis[1])
                xg, value = _solve(g.highs, False)
                if not self.solved:
                    basis = (g.width, g.highs.getBasis())
                if g.storage:
                    half = g.price_idx.size // 2
                    c = xg[g.price_idx[:half]].reshape(-1, t)
                    d = xg[g.price_idx[half:]].reshape(-1, t)
                    both = ((c > SIMULTANEOUS_TOL) & (d > SIMULTANEOUS_TOL)).any(axis=1)
                    if both.any():
                        units = np.flatnonzero(both).astype(np.int64)
                        pairs = (np.repeat(units, t), np.tile(np.arange(t), units.size))
                        g.milp = ScheduleLp(
                            g.storage, [], t, self.dt, self.pen, price, binary_pairs=pairs
                        )
                        set_options(g.milp.highs, opts)
            if g.milp is not None:
                g.milp.set_price(price)
                xg, value = _solve(g.milp.highs, True)
            x[g.first : g.first + g.width] = xg[: g.width]
            bound += value
        self.solved = True
        return x, bound


def _solve(h: highspy.Highs, mip: bool) -> tuple[FloatArray, float]:
    """Column values and the optimal value of a maximisation passed negated (for a MILP:
    its dual bound, an upper bound)."""
    if h.run() == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS failed on a group of units")
    info = h.getInfo()
    if info.primal_solution_status != 2:
        raise RuntimeError(f"no feasible schedule for a group of units ({h.getModelStatus()})")
    bound = info.mip_dual_bound if mip else info.objective_function_value
    return np.asarray(h.getSolution().col_value), -float(bound)


def _highs(
    cost: FloatArray,
    col_lo: FloatArray,
    col_hi: FloatArray,
    row_lo: FloatArray,
    row_hi: FloatArray,
    starts: IntArray,
    index: IntArray,
    values: FloatArray,
) -> highspy.Highs:
    """A HiGHS instance holding one group's LP (presolve off: it costs more than it saves
    on models this small)."""
    h = new_highs()
    h.setOptionValue("presolve", "off")
    status = h.passModel(
        int(cost.size),
        int(row_lo.size),
        int(values.size),
        1,
        1,
        0.0,
        cost,
        col_lo,
        col_hi,
        row_lo,
        row_hi,
        starts,
        index,
        values,
        np.zeros(cost.size, dtype=np.int64),
    )
    if status == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS rejected a group model")
    return h
