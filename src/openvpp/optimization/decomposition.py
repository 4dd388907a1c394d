"""Schedules for large portfolios: Dantzig-Wolfe column generation over the shared grid
limit, one small warm-started HiGHS model per unit.

Without the grid limit the portfolio problem separates into one LP per unit. The master LP
chooses, per unit, a convex combination of schedules ("columns") already found, subject to the
grid limit; its duals on the limit rows are a price correction ``lambda`` [currency/MWh], and
every unit's optimal response to ``price - lambda`` is a new column. Each round also gives
the Lagrangian bound ``UB(lambda) = Σ_i max_x (value_i - lambda·P_i·dt) + Σ_t dt·(lambda⁺·export
+ lambda⁻·import)``, so the result carries a proven gap. Rounds stop when the gap is below
``rel_gap``, or at the round or time limit. Method and measured cost: docs/optimization.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import highspy
import numpy as np
from numpy.typing import NDArray

from openvpp.markets.clearing.milp import new_highs
from openvpp.optimization.lp import (
    Extract,
    Penalties,
    ScheduleLp,
    SolverOptions,
    set_options,
)
from openvpp.optimization.reduction import cluster_storage, reduce_portfolio
from openvpp.optimization.schedule import (
    SIMULTANEOUS_TOL,
    ScheduleMarket,
    ScheduleResult,
    _result,
    _split,
    optimize_schedule,
)
from openvpp.optimization.units import FlexUnit, StorageUnit, Unit
from openvpp.resources.models.battery import clip_to_feasible, soc_trajectory

__all__ = ["DecompositionOptions", "DecompositionResult", "optimize_portfolio"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_INF = highspy.kHighsInf


@dataclass(frozen=True)
class DecompositionOptions:
    """How the decomposition runs.

    rel_gap: stop once ``(bound - objective) / |bound|`` is at most this;
    max_rounds: master solves at most; time_budget_s: no new pricing round starts after
    this wall time [s]; clusters: virtual batteries in the reduced portfolio that estimates
    the grid price; smoothing: weight of the best bound's price in the next query
    (in-out stabilisation); spread: the first responses are priced at the estimate and at
    ``1 -/+ spread`` times it; batch: units per HiGHS model; repair_max_units: up to this
    many units mixed by the master are re-optimized jointly at the end (above: netted);
    direct_max_units: portfolios up to this size are solved as one model (faster than the
    rounds there); solver: HiGHS settings (time limit and MIP gap per model).
    """

    rel_gap: float = 1e-3
    max_rounds: int = 12
    time_budget_s: float = 30.0
    clusters: int = 40
    smoothing: float = 0.5
    spread: float = 0.1
    batch: int = 20
    repair_max_units: int = 200
    direct_max_units: int = 100
    solver: SolverOptions = field(
        default_factory=lambda: SolverOptions(time_limit_s=10.0, mip_rel_gap=1e-6)
    )

    def __post_init__(self) -> None:
        if not 0 <= self.rel_gap < 1:
            raise ValueError(f"rel_gap must lie in [0, 1), got {self.rel_gap}")
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds must be >= 1, got {self.max_rounds}")
        if self.direct_max_units < 0 or self.repair_max_units < 0:
            raise ValueError("direct_max_units and repair_max_units must be >= 0")
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if self.clusters < 1:
            raise ValueError(f"clusters must be >= 1, got {self.clusters}")
        if not 0 <= self.smoothing < 1:
            raise ValueError(f"smoothing must lie in [0, 1), got {self.smoothing}")
        if not self.time_budget_s > 0:
            raise ValueError(f"time_budget_s must be > 0, got {self.time_budget_s}")


@dataclass(frozen=True)
class DecompositionResult:
    """The schedule with its proof: ``upper_bound`` on the optimal objective [currency] (the
    best Lagrangian bound), ``gap = (upper_bound - objective) / |upper_bound|``."""

    schedule: ScheduleResult
    upper_bound: float
    gap: float
    rounds: int
    n_columns: int
    n_mixed_units: int
    time_s: float


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


class _UnitModels:
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


class _Master:
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


def optimize_portfolio(
    units: Sequence[Unit],
    market: ScheduleMarket,
    *,
    penalties: Penalties | None = None,
    options: DecompositionOptions | None = None,
) -> DecompositionResult:
    """The risk-neutral schedule of many units under a shared grid limit, by column
    generation (see the module docstring). ``market.cvar_weight`` must be 0."""
    started = time.perf_counter()
    if market.cvar_weight:
        raise ValueError("cvar_weight: the decomposition is risk-neutral, use optimize_schedule")
    pen, opts = penalties or Penalties(), options or DecompositionOptions()
    if len(units) <= opts.direct_max_units:
        return _direct(units, market, pen, opts, started)
    storage, flex, order = _split(units, market.n_intervals)
    # similar batteries next to each other: their groups' bases carry over (see _UnitModels)
    labels = cluster_storage(storage, opts.clusters) if storage else np.zeros(0, np.int64)
    similar = np.lexsort((_durations(storage), labels)).astype(np.int64)
    storage = [storage[i] for i in similar]
    position = np.empty(len(similar), dtype=np.int64)
    position[similar] = np.arange(len(similar))
    if storage:
        order = np.where(order < len(storage), position[np.minimum(order, len(storage) - 1)], order)
    n, dt, price = len(storage) + len(flex), market.dt_h, market.expected_price
    master = _Master(n, market, pen)
    lam, reduced, x_reduced = _reduced(storage, flex, market, pen, labels[similar], opts.solver)
    models = _UnitModels(storage, flex, market, pen, opts.batch)
    lp = models.lp
    columns: list[Extract] = []
    kept: list[NDArray[np.bool_]] = []

    def add(x: FloatArray, start: bool = False) -> None:
        ex = lp.extract(x)
        value = ex.power @ price * dt - ex.degradation - ex.penalty
        new = np.ones(n, dtype=bool)
        for old in columns:  # a unit's column the master already has adds nothing
            new &= np.abs(ex.power - old.power).max(axis=1) > 1e-9
        master.add(np.flatnonzero(new).astype(np.int64), value[new], ex.power[new], start)
        columns.append(ex)
        kept.append(new)

    # columns the master can mix to meet any limit: batteries idle, envelopes at their lowest
    add(_columns_from_power(lp, np.zeros((len(storage), lp.t)), lp.lo[lp.f_cols(0)]))
    if reduced is not None and x_reduced is not None:
        add(_disaggregated(lp, labels[similar], reduced, x_reduced))

    def price_out(lam_q: FloatArray) -> float:
        """Columns at ``price - lam_q``; returns the Lagrangian bound at ``lam_q``."""
        x, sub = models.respond(price - lam_q, opts.solver)
        add(x, start=not np.isfinite(best_ub))  # the first responses start the master's basis
        return sub + dt * float(
            np.maximum(lam_q, 0) @ np.where(np.isfinite(master.exp), master.exp, 0.0)
            + np.maximum(-lam_q, 0) @ np.where(np.isfinite(master.imp), master.imp, 0.0)
        )

    # both sides of the ties at lambda: units indifferent there split either way
    factors = (1.0, 1 - opts.spread, 1 + opts.spread) if opts.spread and lam.any() else (1.0,)
    best_ub, best_lam = np.inf, lam
    for factor in factors:
        ub = price_out(factor * lam)
        if ub < best_ub:
            best_ub, best_lam = ub, factor * lam
    rounds = 1
    while True:
        w, lam_m, objective = master.solve(opts.solver)
        lam_m = _valid(lam_m, master, pen)
        if _gap(best_ub, objective) <= opts.rel_gap or rounds >= opts.max_rounds:
            break
        if time.perf_counter() - started > opts.time_budget_s:
            break
        # in-out smoothing (Wentges): query between the best bound's lambda and the master's
        lam_q = opts.smoothing * best_lam + (1 - opts.smoothing) * lam_m
        ub = price_out(lam_q)
        if ub < best_ub:
            best_ub, best_lam = ub, lam_q
        rounds += 1
    weights = np.zeros((len(columns), n))
    weights[np.stack(kept)] = w
    parts, mixed = _combine(columns, weights, (storage, flex), market, pen, opts)
    elapsed = time.perf_counter() - started
    ub = best_ub - float(price @ market.fixed * dt)
    schedule = _result(parts, order, market, pen, 0, ("", 0.0, 0.0, elapsed))
    converged = _gap(ub, schedule.objective) <= opts.rel_gap
    schedule = replace(
        schedule, status="Converged" if converged else "Stopped: round or time limit"
    )
    return DecompositionResult(
        schedule=schedule,
        upper_bound=float(ub),
        gap=_gap(ub, schedule.objective),
        rounds=rounds,
        n_columns=master.k,
        n_mixed_units=mixed,
        time_s=time.perf_counter() - started,
    )


def _direct(
    units: Sequence[Unit],
    market: ScheduleMarket,
    pen: Penalties,
    opts: DecompositionOptions,
    started: float,
) -> DecompositionResult:
    """A small portfolio solved as one model (its gap: HiGHS's MIP gap, 0 for an LP)."""
    r = optimize_schedule(units, market, penalties=pen, options=opts.solver)
    gap = r.mip_gap if r.n_binaries else 0.0
    bound = r.objective + gap * abs(r.objective)
    return DecompositionResult(
        schedule=r,
        upper_bound=float(bound),
        gap=float(gap),
        rounds=0,
        n_columns=0,
        n_mixed_units=0,
        time_s=time.perf_counter() - started,
    )


def _durations(storage: list[StorageUnit]) -> FloatArray:
    return np.array(
        [u.spec.energy_mwh / max(u.spec.p_discharge_max_mw, 1e-12) for u in storage],
        dtype=np.float64,
    )


def _valid(lam: FloatArray, master: _Master, pen: Penalties) -> FloatArray:
    """``lam`` [currency/MWh] where a Lagrangian bound holds: within the grid penalty, no
    export price without an export limit, no import price without an import limit."""
    lam = np.clip(lam, -pen.grid, pen.grid)
    lam = np.where(np.isfinite(master.exp), lam, np.minimum(lam, 0.0))
    return np.where(np.isfinite(master.imp), lam, np.maximum(lam, 0.0))


def _reduced(
    storage: list[StorageUnit],
    flex: list[FlexUnit],
    market: ScheduleMarket,
    pen: Penalties,
    labels: IntArray,
    solver: SolverOptions,
) -> tuple[FloatArray, ScheduleLp | None, FloatArray | None]:
    """The reduced portfolio's coupled LP (one virtual battery per cluster ``labels``, one
    summed envelope): the grid limit's price [currency/MWh] (T,) from its duals on the grid
    rows (zero without a limit), the model and its solution."""
    t = market.n_intervals
    if market.export_max_mw is None and market.import_max_mw is None:
        return np.zeros(t), None, None
    v_storage, v_flex = reduce_portfolio(storage, flex, labels)
    lp = ScheduleLp(
        v_storage,
        v_flex,
        t,
        market.dt_h,
        pen,
        market.expected_price,
        export_max_mw=market.export_max_mw,
        import_max_mw=market.import_max_mw,
    )
    x, _, _, _ = lp.solve(solver)
    if x is None:
        return np.zeros(t), None, None
    dual = np.asarray(lp.highs.getSolution().row_dual)[lp.grid_row : lp.grid_row + t]
    return np.clip(-dual / market.dt_h, -pen.grid, pen.grid), lp, x


def _gap(bound: float, objective: float) -> float:
    if not np.isfinite(bound):
        return float("inf")
    return float(max(bound - objective, 0.0) / max(abs(bound), 1e-9))


def _columns_from_power(lp: ScheduleLp, p_storage: FloatArray, p_flex: FloatArray) -> FloatArray:
    """A feasible column vector for wanted powers [MW]: each battery's power clipped, interval
    by interval, to what its power limits and energy band allow (charging where
    self-discharge would leave the band); envelopes clipped to their power bounds, with the
    energy and ramp slacks their bounds then need."""
    x = np.zeros(lp.n_cols)
    t, dt = lp.t, lp.dt
    if lp.storage:
        su = lp.storage
        keep = np.array([(1 - u.spec.self_discharge_per_h) ** dt for u in su])
        eta_c = np.array([u.spec.eta_charge for u in su])
        eta_d = np.array([u.spec.eta_discharge for u in su])
        pch = np.array([u.spec.p_charge_max_mw for u in su])
        pdis = np.array([u.spec.p_discharge_max_mw for u in su])
        e_lo = np.array([u.e_min_mwh for u in su])
        e_hi = np.array([u.e_max_mwh for u in su])
        target = np.array([u.end_energy_mwh or 0.0 for u in su])
        e = np.array([u.energy0_mwh for u in su])
        p = np.empty_like(p_storage)
        energy = np.empty_like(p_storage)
        for k in range(t):  # a recurrence: each interval's room depends on the energy before
            start = e * keep
            room = start - e_lo
            hi = np.where(room >= 0, room * eta_d / dt, room / (eta_c * dt))
            lo = -(e_hi - start) / (eta_c * dt)
            hi = np.minimum(hi, pdis)
            lo = np.minimum(np.maximum(lo, -pch), hi)
            p[:, k] = np.clip(p_storage[:, k], lo, hi)
            e = start + np.where(p[:, k] < 0, -p[:, k] * eta_c, -p[:, k] / eta_d) * dt
            energy[:, k] = e
        x[lp.s_cols(0)] = np.clip(-p, 0, None)
        x[lp.s_cols(1)] = np.clip(p, 0, None)
        x[lp.s_cols(2)] = np.clip(energy, lp.lo[lp.s_cols(2)], lp.hi[lp.s_cols(2)])
        x[lp.s_cols(2)[:, -1] + 1] = np.maximum(target - energy[:, -1], 0.0) * (
            lp.hi[lp.s_cols(2)[:, -1] + 1] > 0
        )
    if lp.flex:
        p_cols, y_cols = lp.f_cols(0), lp.f_cols(1)
        p = np.clip(p_flex, lp.lo[p_cols], lp.hi[p_cols])
        y_lo, y_hi = lp.lo[y_cols], lp.hi[y_cols]
        y = np.zeros_like(p)
        prev = np.zeros(p.shape[0])
        for k in range(t):  # each energy bound applies to the running energy
            y[:, k] = np.clip(prev + p[:, k] * dt, y_lo[:, k], y_hi[:, k])
            prev = y[:, k]
        shift = np.diff(y, axis=1, prepend=0.0) - p * dt
        x[p_cols], x[y_cols] = p, y
        x[lp.f_cols(2)], x[lp.f_cols(3)] = np.maximum(shift, 0), np.maximum(-shift, 0)
        init = np.array([np.nan if u.p_initial_mw is None else u.p_initial_mw for u in lp.flex])
        prev_p = np.concatenate((np.where(np.isnan(init), p[:, 0], init)[:, None], p[:, :-1]), 1)
        up = np.array([u.ramp_up_mw for u in lp.flex]).reshape(p.shape)
        down = np.array([u.ramp_down_mw for u in lp.flex]).reshape(p.shape)
        x[lp.f_cols(4)] = np.maximum(p - prev_p - up, 0)
        x[lp.f_cols(5)] = np.maximum(prev_p - p - down, 0)
    return x


def _disaggregated(
    lp: ScheduleLp, labels: IntArray, reduced: ScheduleLp, x_reduced: FloatArray
) -> FloatArray:
    """Columns from the reduced portfolio's schedule: each battery takes its cluster's power
    in proportion to its charge or discharge power, each envelope the same fraction of its
    power range as the summed envelope (then clipped to be feasible)."""
    parts = reduced.extract(x_reduced)
    n_v = len(reduced.storage)
    p_s = np.zeros((len(lp.storage), lp.t))
    if lp.storage:
        pch = np.array([u.spec.p_charge_max_mw for u in lp.storage])
        pdis = np.array([u.spec.p_discharge_max_mw for u in lp.storage])
        vch = np.array([u.spec.p_charge_max_mw for u in reduced.storage])[labels]
        vdis = np.array([u.spec.p_discharge_max_mw for u in reduced.storage])[labels]
        cluster = parts.power[:n_v][labels]
        ch_share = (pch / np.maximum(vch, 1e-12))[:, None]
        dis_share = (pdis / np.maximum(vdis, 1e-12))[:, None]
        p_s = cluster * np.where(cluster < 0, ch_share, dis_share)
    p_f = np.zeros((len(lp.flex), lp.t))
    if lp.flex:
        lo, hi = lp.lo[lp.f_cols(0)], lp.hi[lp.f_cols(0)]
        span = hi.sum(axis=0) - lo.sum(axis=0)
        safe = np.where(span > 0, span, 1.0)
        frac = np.where(span > 0, (parts.power[n_v] - lo.sum(axis=0)) / safe, 0.0)
        p_f = lo + np.clip(frac, 0, 1) * (hi - lo)
    return _columns_from_power(lp, p_s, p_f)


def _combine(
    columns: list[Extract],
    weights: FloatArray,
    units: tuple[list[StorageUnit], list[FlexUnit]],
    market: ScheduleMarket,
    pen: Penalties,
    opts: DecompositionOptions,
) -> tuple[Extract, int]:
    """Each unit's schedule: the master's mix of its columns. The units the master mixes
    (at most as many as binding grid rows in a basic solution) are re-optimized together in
    one LP, the others held at their column and their total taken off the grid limits: the
    mix is feasible there, so this only gains, and the LP's switches keep batteries from
    charging and discharging at once. Above ``opts.repair_max_units`` mixed units, a mixed
    battery that would charge and discharge in one interval is netted and clipped to its
    band instead. Returns the parts and the number of mixed units."""
    storage, flex = units

    def mix(name: str) -> FloatArray:
        stack = np.stack([getattr(c, name) for c in columns])
        return np.asarray(np.einsum("rn,rn...->n...", weights, stack), dtype=np.float64)

    parts = {k: mix(k) for k in _PARTS}
    mixed = np.flatnonzero(weights.max(axis=0) < 1 - 1e-9)
    exp = (
        np.full(market.n_intervals, np.inf)
        if market.export_max_mw is None
        else market.export_max_mw
    )
    imp = (
        np.full(market.n_intervals, np.inf)
        if market.import_max_mw is None
        else market.import_max_mw
    )
    if 0 < mixed.size <= opts.repair_max_units:
        _reoptimize(parts, mixed, storage, flex, market, pen, opts, (exp, imp))
    else:
        _net(parts, mixed[mixed < len(storage)], storage, market.dt_h, pen)
    total = parts["power"].sum(axis=0)
    grid = np.stack((np.maximum(total - exp, 0), np.maximum(-imp - total, 0)))
    return Extract(**parts, grid_excess=grid, eta=0.0, u=np.zeros(0)), int(mixed.size)


_PARTS = (
    "power",
    "charge",
    "discharge",
    "energy",
    "degradation",
    "penalty",
    "energy_slack",
    "ramp_slack",
)


def _reoptimize(
    parts: dict[str, FloatArray],
    mixed: IntArray,
    storage: list[StorageUnit],
    flex: list[FlexUnit],
    market: ScheduleMarket,
    pen: Penalties,
    opts: DecompositionOptions,
    limits: tuple[FloatArray, FloatArray],
) -> None:
    """The mixed units' joint optimum under what the others leave of the grid limits."""
    ns, dt = len(storage), market.dt_h
    chosen: list[Unit] = [storage[i] if i < ns else flex[i - ns] for i in mixed]
    others = parts["power"].sum(axis=0) - parts["power"][mixed].sum(axis=0)
    exp, imp = limits
    sub = ScheduleMarket(
        market.expected_price,
        dt,
        export_max_mw=None if market.export_max_mw is None else exp - others,
        import_max_mw=None if market.import_max_mw is None else imp + others,
    )
    r = optimize_schedule(chosen, sub, penalties=pen, options=opts.solver)
    deg = np.array([u.degradation_cost if isinstance(u, StorageUnit) else 0.0 for u in chosen])
    parts["power"][mixed] = r.power_mw
    parts["charge"][mixed] = r.charge_mw
    parts["discharge"][mixed] = r.discharge_mw
    parts["energy"][mixed] = r.energy_mwh
    parts["degradation"][mixed] = deg * (r.charge_mw + r.discharge_mw).sum(axis=1) * dt
    parts["energy_slack"][mixed] = r.slacks.energy_mwh
    parts["ramp_slack"][mixed] = r.slacks.ramp_mw
    parts["penalty"][mixed] = r.slacks.energy_mwh * pen.energy + r.slacks.ramp_mw * pen.ramp


def _net(
    parts: dict[str, FloatArray],
    batteries: IntArray,
    storage: list[StorageUnit],
    dt: float,
    pen: Penalties,
) -> None:
    """Net a battery that charges and discharges in one interval (less loss), clipping its
    power where the energy kept would overfill its band."""
    charge, discharge = parts["charge"], parts["discharge"]
    for i in batteries:
        if not np.any((charge[i] > SIMULTANEOUS_TOL) & (discharge[i] > SIMULTANEOUS_TOL)):
            continue
        u = storage[i]
        p = clip_to_feasible(u.spec, parts["power"][i], u.energy0_mwh, dt)
        parts["power"][i] = p
        charge[i], discharge[i] = np.clip(-p, 0, None), np.clip(p, 0, None)
        parts["energy"][i] = soc_trajectory(u.spec, p, u.energy0_mwh, dt)
        parts["degradation"][i] = u.degradation_cost * np.abs(p).sum() * dt
        end = parts["energy"][i, -1]
        short = 0.0 if u.end_energy_mwh is None else max(u.end_energy_mwh - end, 0.0)
        parts["energy_slack"][i] = short
        parts["penalty"][i] = short * pen.energy
