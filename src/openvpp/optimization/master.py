"""The decomposition's master LP: per unit a convex combination of its columns, under the
shared grid limit."""

from __future__ import annotations

from dataclasses import replace

import highspy
import numpy as np
from numpy.typing import NDArray

from openvpp.markets.clearing.milp import new_highs
from openvpp.optimization.lp import Penalties, SolverOptions, set_options
from openvpp.optimization.schedule import ScheduleMarket

__all__ = ["Master"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_INF = highspy.kHighsInf


class Master:
    """max Σ w·value - grid penalty  s.t.  Σ_k w_ik = 1 per unit, -import <= Σ w·P <= export
    (soft), over the columns found so far.

    Rebuilt at each solve, as small as it can be without changing its optimum: only the grid
    rows that some mix of the columns could violate (where the sum of the units' highest
    columns exceeds the export limit, or the lowest the import limit); of a unit's columns
    equal on those rows, only the best; a unit left with one column is fixed, its power
    taken off the limits."""

    def __init__(self, n_units: int, market: ScheduleMarket, pen: Penalties) -> None:
        t = market.n_intervals
        self.n, self.t, self.dt, self.pen = n_units, t, market.dt_h, pen
        exp, imp = market.export_max_mw, market.import_max_mw
        self.exp = np.full(t, np.inf) if exp is None else exp
        self.imp = np.full(t, np.inf) if imp is None else imp
        self.units: list[IntArray] = []
        self.values: list[FloatArray] = []
        self.powers: list[FloatArray] = []
        self.starts: list[NDArray[np.bool_]] = []

    @property
    def k(self) -> int:
        return int(sum(u.size for u in self.units))

    def add(
        self, unit: IntArray, value: FloatArray, power: FloatArray, start: bool = False
    ) -> None:
        """Columns: their unit, value [currency] and power (k, T) [MW]; ``start``: these
        columns (one per unit at most) make the starting basis of the next solve."""
        self.starts.append(np.full(unit.size, start))
        self.units.append(unit)
        self.values.append(value)
        self.powers.append(power)

    def solve(self, opts: SolverOptions) -> tuple[FloatArray, FloatArray, float]:
        """Weight of every column added, the price correction lambda [currency/MWh] (T,) and
        the master's objective [currency]."""
        unit = np.concatenate(self.units)
        value = np.concatenate(self.values)
        power = np.concatenate(self.powers)
        hi = np.full((self.n, self.t), -np.inf)
        lo = np.full((self.n, self.t), np.inf)
        np.maximum.at(hi, unit, power)
        np.minimum.at(lo, unit, power)
        rows = np.flatnonzero((hi.sum(axis=0) > self.exp) | (lo.sum(axis=0) < -self.imp))
        # best column per (unit, power on the binding rows)
        key = np.concatenate((unit[:, None].astype(np.float64), np.round(power[:, rows], 9)), 1)
        by_value = np.argsort(-value, kind="stable")
        _, first = np.unique(key[by_value], axis=0, return_index=True)
        best = by_value[first]
        counts = np.bincount(unit[best], minlength=self.n)
        fixed = best[counts[unit[best]] == 1]
        free = best[counts[unit[best]] > 1]
        w = np.zeros(unit.size)
        w[fixed] = 1.0
        lam = np.zeros(self.t)
        base_value = float(value[fixed].sum())
        if free.size == 0 and rows.size == 0:
            return w, lam, base_value
        fixed_power = power[fixed][:, rows].sum(axis=0)
        start = np.concatenate(self.starts)[free]
        x, dual, objective = self._lp(
            unit[free], value[free], power[free][:, rows], rows, fixed_power, opts, start
        )
        w[free] = x
        lam[rows] = -dual / self.dt
        return w, lam, base_value + objective

    def _lp(
        self,
        unit: IntArray,
        value: FloatArray,
        power: FloatArray,
        rows: IntArray,
        fixed_power: FloatArray,
        opts: SolverOptions,
        start: NDArray[np.bool_],
    ) -> tuple[FloatArray, FloatArray, float]:
        """Weights, grid-row duals and objective of the reduced master. The starting basis:
        each unit's ``start`` column (its best response at the estimated grid price) basic
        in its convexity row, the grid rows' slacks basic (a triangular basis)."""
        _, local = np.unique(unit, return_inverse=True)
        n_u, n_r, k = int(local.max()) + 1 if local.size else 0, rows.size, unit.size
        exp, imp = self.exp[rows] - fixed_power, self.imp[rows] + fixed_power
        # columns: w (k), export excess (n_r), import excess (n_r)
        r_w = np.concatenate((local[:, None], n_u + np.broadcast_to(np.arange(n_r), (k, n_r))), 1)
        v_w = np.concatenate((np.ones((k, 1)), power), 1)
        nz = v_w != 0
        slack_rows = n_u + np.arange(n_r)
        index = np.concatenate((r_w[nz], slack_rows, slack_rows)).astype(np.int64)
        values = np.concatenate((v_w[nz], -np.ones(n_r), np.ones(n_r)))
        counts = np.concatenate((nz.sum(axis=1), np.ones(2 * n_r, dtype=np.int64)))
        starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        grid_cost = np.full(n_r, self.pen.grid * self.dt)
        cost = np.concatenate((-value, grid_cost, grid_cost))
        col_hi = np.concatenate(
            (
                np.full(k, _INF),
                np.where(np.isfinite(exp), _INF, 0.0),
                np.where(np.isfinite(imp), _INF, 0.0),
            )
        )
        row_lo = np.concatenate((np.ones(n_u), np.where(np.isfinite(imp), -imp, -_INF)))
        row_hi = np.concatenate((np.ones(n_u), np.where(np.isfinite(exp), exp, _INF)))
        h = new_highs()
        status = h.passModel(
            int(cost.size),
            int(row_lo.size),
            int(values.size),
            1,
            1,
            0.0,
            cost,
            np.zeros(cost.size),
            col_hi,
            row_lo,
            row_hi,
            starts,
            index,
            values,
            np.zeros(cost.size, dtype=np.int64),
        )
        if status == highspy.HighsStatus.kError:
            raise RuntimeError(f"HiGHS rejected the decomposition master: {status}")
        set_options(h, replace(opts, solver="simplex"))
        h.setOptionValue("simplex_strategy", 4)  # primal: fastest on these (measured)
        h.setOptionValue("presolve", "off")  # keeps the starting basis
        chosen = np.zeros(k, dtype=bool)
        first_start = np.full(n_u, -1)
        where = np.flatnonzero(start)
        first_start[local[where]] = where
        by_value = np.argsort(-value, kind="stable")
        _, best = np.unique(local[by_value], return_index=True)
        first_start = np.where(first_start >= 0, first_start, by_value[best])
        chosen[first_start] = True
        if n_u:
            basis = h.getBasis()
            basic, lower = highspy.HighsBasisStatus.kBasic, highspy.HighsBasisStatus.kLower
            basis.col_status = [basic if c else lower for c in chosen] + [lower] * (2 * n_r)
            basis.row_status = [lower] * n_u + [basic] * n_r
            h.setBasis(basis)
        if h.run() == highspy.HighsStatus.kError:
            raise RuntimeError("HiGHS failed on the decomposition master")
        sol = h.getSolution()
        return (
            np.asarray(sol.col_value)[:k],
            np.asarray(sol.row_dual)[n_u:],
            -float(h.getInfo().objective_function_value),
        )
