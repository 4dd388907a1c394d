"""Schedules for large portfolios: Dantzig-Wolfe column generation over the shared grid
limit, seeded by a reduced portfolio's grid price, with the units' LPs in small warm-started
HiGHS models (``subproblems.py``), the master in ``master.py`` and the columns and final
schedule in ``columns.py``.

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

import numpy as np
from numpy.typing import NDArray

from openvpp.optimization.columns import columns_from_power, combine, disaggregated
from openvpp.optimization.lp import Extract, Penalties, ScheduleLp, SolverOptions
from openvpp.optimization.master import Master
from openvpp.optimization.reduction import cluster_storage, reduce_portfolio
from openvpp.optimization.schedule import (
    ScheduleMarket,
    ScheduleResult,
    optimize_schedule,
    schedule_result,
    split_units,
)
from openvpp.optimization.subproblems import UnitModels
from openvpp.optimization.units import FlexUnit, StorageUnit, Unit

__all__ = ["DecompositionOptions", "DecompositionResult", "optimize_portfolio"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


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
    storage, flex, order = split_units(units, market.n_intervals)
    # similar batteries next to each other: their groups' bases carry over (see UnitModels)
    labels = cluster_storage(storage, opts.clusters) if storage else np.zeros(0, np.int64)
    similar = np.lexsort((_durations(storage), labels)).astype(np.int64)
    storage = [storage[i] for i in similar]
    position = np.empty(len(similar), dtype=np.int64)
    position[similar] = np.arange(len(similar))
    if storage:
        order = np.where(order < len(storage), position[np.minimum(order, len(storage) - 1)], order)
    n, dt, price = len(storage) + len(flex), market.dt_h, market.expected_price
    master = Master(n, market, pen)
    lam, reduced, x_reduced = _reduced(storage, flex, market, pen, labels[similar], opts.solver)
    models = UnitModels(storage, flex, market, pen, opts.batch)
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
    add(columns_from_power(lp, np.zeros((len(storage), lp.t)), lp.lo[lp.f_cols(0)]))
    if reduced is not None and x_reduced is not None:
        add(disaggregated(lp, labels[similar], reduced, x_reduced))

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
    parts, mixed = combine(
        columns, weights, (storage, flex), market, pen, (opts.repair_max_units, opts.solver)
    )
    elapsed = time.perf_counter() - started
    ub = best_ub - float(price @ market.fixed * dt)
    schedule = schedule_result(parts, order, market, pen, 0, ("", 0.0, 0.0, elapsed))
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


def _valid(lam: FloatArray, master: Master, pen: Penalties) -> FloatArray:
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
