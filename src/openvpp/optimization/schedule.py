"""Schedule optimization: the powers of storage units and flexibility envelopes that maximise
the expected revenue over price scenarios (optionally blended with CVaR), under a shared grid
connection limit, with soft constraints that keep every instance feasible.

Power [MW] per interval: positive = injection, negative = withdrawal. Prices [currency/MWh],
energy [MWh], interval length ``dt_h`` [h]. Formulation: ``docs/optimization.md``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from openvpp.optimization.lp import Extract, Penalties, ScheduleLp, SolverOptions
from openvpp.optimization.units import FlexUnit, StorageUnit, Unit

__all__ = [
    "Binaries",
    "ScheduleMarket",
    "ScheduleResult",
    "Slacks",
    "optimize_schedule",
    "price_response",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Binaries = Literal["auto", "always", "never"]

MAX_BINARY_ROUNDS = 4
SIMULTANEOUS_TOL = 1e-6  # [MW] charge and discharge both above this count as simultaneous


@dataclass(frozen=True)
class ScheduleMarket:
    """Prices and the portfolio's connection.

    prices: (S, T) or (T,) [currency/MWh]; probabilities (S,) (uniform when omitted);
    cvar_weight in [0, 1): the objective is ``(1 - w)·E[R] + w·CVaR_alpha(R)``, CVaR the
    mean revenue of the worst ``1 - alpha`` probability mass; export_max_mw /
    import_max_mw (T,) [MW] the shared grid limit ``-import <= total <= export`` (usually
    both >= 0; a negative one makes the range one-sided, e.g. export -2: at least 2 MW
    imported); fixed_mw (T,) [MW] the net position already sold: the open position
    ``total - fixed`` is what earns the prices.
    """

    prices: FloatArray
    dt_h: float
    probabilities: FloatArray | None = None
    cvar_weight: float = 0.0
    cvar_alpha: float = 0.95
    export_max_mw: FloatArray | None = None
    import_max_mw: FloatArray | None = None
    fixed_mw: FloatArray | None = None
    scenarios: FloatArray = field(init=False, repr=False)
    weights: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        prices = np.atleast_2d(np.asarray(self.prices, dtype=np.float64))
        if prices.ndim != 2 or prices.shape[1] == 0:
            raise ValueError(f"prices must have shape (S, T) or (T,), got {prices.shape}")
        if not np.isfinite(prices).all():
            raise ValueError("prices must be finite")
        n_s, n_t = prices.shape
        if not self.dt_h > 0:
            raise ValueError(f"dt_h must be > 0, got {self.dt_h}")
        if self.probabilities is None:
            prob = np.full(n_s, 1.0 / n_s)
        else:
            prob = np.asarray(self.probabilities, dtype=np.float64).ravel()
            if prob.size != n_s or (prob < 0).any() or abs(prob.sum() - 1.0) > 1e-9:
                raise ValueError(f"probabilities must be {n_s} non-negative values summing to 1")
        if not 0 <= self.cvar_weight < 1:
            raise ValueError(f"cvar_weight must lie in [0, 1), got {self.cvar_weight}")
        if not 0 < self.cvar_alpha < 1:
            raise ValueError(f"cvar_alpha must lie in (0, 1), got {self.cvar_alpha}")
        for name in ("export_max_mw", "import_max_mw", "fixed_mw"):
            value = getattr(self, name)
            if value is None:
                continue
            a = np.broadcast_to(np.asarray(value, dtype=np.float64), (n_t,)).copy()
            if np.isnan(a).any() or np.isneginf(a).any():
                raise ValueError(f"{name} must be numbers (inf: no limit)")
            if name == "fixed_mw" and not np.isfinite(a).all():
                raise ValueError("fixed_mw must be finite")
            object.__setattr__(self, name, a)
        if self.export_max_mw is not None and self.import_max_mw is not None:
            bad = np.flatnonzero(-self.import_max_mw > self.export_max_mw)
            if bad.size:
                raise ValueError(
                    f"export_max_mw/import_max_mw: -import > export in interval {int(bad[0])}"
                )
        object.__setattr__(self, "scenarios", prices)
        object.__setattr__(self, "weights", prob)

    @property
    def n_intervals(self) -> int:
        return int(self.scenarios.shape[1])

    @property
    def expected_price(self) -> FloatArray:
        """Probability-weighted price per interval [currency/MWh]."""
        return np.asarray(self.weights @ self.scenarios, dtype=np.float64)

    @property
    def fixed(self) -> FloatArray:
        return np.zeros(self.n_intervals) if self.fixed_mw is None else self.fixed_mw


@dataclass(frozen=True)
class Slacks:
    """Soft-constraint usage: grid excess above the export / below the import limit per
    interval [MW]; per unit, energy-target or energy-bound violation [MWh] and ramp excess
    summed over intervals [MW]; and what it all cost [currency]."""

    grid_export_mw: FloatArray
    grid_import_mw: FloatArray
    energy_mwh: FloatArray
    ramp_mw: FloatArray
    cost: float

    @property
    def used(self) -> bool:
        return bool(self.cost > 0)


@dataclass(frozen=True)
class ScheduleResult:
    """The optimal schedule. Per unit (rows in the order given) and interval: ``power_mw``
    (injection positive), ``charge_mw`` / ``discharge_mw`` (the withdrawal and injection
    parts, both >= 0), ``energy_mwh`` (stored energy at the interval's end for storage,
    cumulative injected energy for envelopes). Money in [currency]."""

    status: str
    objective: float
    expected_revenue: float
    cvar: float | None
    degradation_cost: float
    power_mw: FloatArray
    charge_mw: FloatArray
    discharge_mw: FloatArray
    energy_mwh: FloatArray
    total_mw: FloatArray
    open_position_mw: FloatArray
    slacks: Slacks
    mip_gap: float
    n_binaries: int
    build_s: float
    solve_s: float


def optimize_schedule(
    units: Sequence[Unit],
    market: ScheduleMarket,
    *,
    penalties: Penalties | None = None,
    options: SolverOptions | None = None,
    binaries: Binaries = "auto",
) -> ScheduleResult:
    """Maximise ``(1 - w)·E[revenue] + w·CVaR - degradation - penalties`` over the units'
    powers (an LP; binaries forbid simultaneous charge and discharge where needed).

    ``binaries="auto"`` gives every storage unit a charge/discharge switch in the intervals
    where some scenario's price is at or below the highest degradation cost (the only ones
    where wasting energy through both at once can pay), then checks the solution and adds
    switches wherever it still charges and discharges at once (e.g. to absorb power at a
    binding grid limit), until it does not. ``"never"`` keeps the pure LP.
    """
    pen = penalties or Penalties()
    opts = options or SolverOptions()
    storage, flex, order = split_units(units, market.n_intervals)
    pairs = initial_pairs(storage, market, binaries)
    build_s = solve_s = 0.0
    for round_ in range(MAX_BINARY_ROUNDS + 1):
        started = time.perf_counter()
        lp = _build(storage, flex, market, pen, pairs)
        built = time.perf_counter()
        x, status, gap, _ = lp.solve(opts)
        build_s += built - started
        solve_s += time.perf_counter() - built
        if x is None:
            raise RuntimeError(f"no feasible schedule found: HiGHS status {status!r}")
        parts = lp.extract(x)
        more = simultaneous(parts, len(storage)) if binaries == "auto" else None
        if more is None or more[0].size == 0:
            break
        if round_ == MAX_BINARY_ROUNDS - 1:  # the last re-solve switches everything
            pairs = initial_pairs(storage, market, "always")
        else:
            pairs = merge_pairs(pairs, more, market.n_intervals)
    return schedule_result(parts, order, market, pen, lp.n_z, (status, gap, build_s, solve_s))


def price_response(
    units: Sequence[Unit],
    prices: FloatArray,
    dt_h: float,
    *,
    penalties: Penalties | None = None,
    options: SolverOptions | None = None,
) -> FloatArray:
    """The portfolio's optimal net schedule [MW] (T,) at one price vector [currency/MWh],
    or (K, T) for K price vectors (K, T), solved one after another on one warm model when
    no switch is needed. Quantity as a function of price, for bid curves."""
    p = np.asarray(prices, dtype=np.float64)
    rows = np.atleast_2d(p)
    out = np.empty_like(rows)
    pen, opts = penalties or Penalties(), options or SolverOptions()
    storage, flex, _ = split_units(units, rows.shape[1])
    warm: ScheduleLp | None = None
    for k, price in enumerate(rows):
        market = ScheduleMarket(price, dt_h)
        if initial_pairs(storage, market, "auto")[0].size:
            out[k] = optimize_schedule(units, market, penalties=pen, options=opts).total_mw
            continue
        if warm is None:
            warm = _build(storage, flex, market, pen, None)
        else:
            warm.set_price(price)
        x, status, _, _ = warm.solve(opts)
        if x is None:
            raise RuntimeError(f"no feasible schedule found: HiGHS status {status!r}")
        parts = warm.extract(x)
        if simultaneous(parts, len(storage))[0].size:
            out[k] = optimize_schedule(units, market, penalties=pen, options=opts).total_mw
        else:
            out[k] = parts.power.sum(axis=0)
    return out[0] if p.ndim == 1 else out


# -- helpers ---------------------------------------------------------------------------------
def split_units(
    units: Sequence[Unit], n_t: int
) -> tuple[list[StorageUnit], list[FlexUnit], IntArray]:
    """Storage units and envelopes, and each input unit's row in (storage, flex) order."""
    if not units:
        raise ValueError("units must not be empty")
    storage = [u for u in units if isinstance(u, StorageUnit)]
    flex = [u for u in units if isinstance(u, FlexUnit)]
    for i, f in enumerate(flex):
        if f.n_intervals != n_t:
            raise ValueError(f"units: envelope {i} has {f.n_intervals} intervals, prices {n_t}")
    order = np.empty(len(units), dtype=np.int64)
    i_s = i_f = 0
    for k, u in enumerate(units):
        if isinstance(u, StorageUnit):
            order[k], i_s = i_s, i_s + 1
        else:
            order[k], i_f = len(storage) + i_f, i_f + 1
    return storage, flex, order


def _build(
    storage: list[StorageUnit],
    flex: list[FlexUnit],
    market: ScheduleMarket,
    pen: Penalties,
    pairs: tuple[IntArray, IntArray] | None,
) -> ScheduleLp:
    w = market.cvar_weight
    cvar = None
    if w > 0:
        cvar = (market.scenarios, market.weights, w, market.cvar_alpha, market.fixed)
    return ScheduleLp(
        storage,
        flex,
        market.n_intervals,
        market.dt_h,
        pen,
        (1.0 - w) * market.expected_price,
        export_max_mw=market.export_max_mw,
        import_max_mw=market.import_max_mw,
        cvar=cvar,
        binary_pairs=pairs,
    )


def initial_pairs(
    storage: list[StorageUnit], market: ScheduleMarket, mode: Binaries
) -> tuple[IntArray, IntArray]:
    """The (storage unit, interval) pairs that start with a charge/discharge switch: none,
    all, or (``auto``) those where some scenario's price is at or below the highest
    degradation cost."""
    n_s, n_t = len(storage), market.n_intervals
    if mode == "never" or not n_s:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if mode == "always":
        intervals = np.arange(n_t)
    else:
        threshold = max(u.degradation_cost for u in storage)
        intervals = np.flatnonzero(market.scenarios.min(axis=0) <= threshold)
    unit, tt = np.meshgrid(np.arange(n_s), intervals, indexing="ij")
    return unit.ravel().astype(np.int64), tt.ravel().astype(np.int64)


def simultaneous(parts: Extract, n_s: int) -> tuple[IntArray, IntArray]:
    """The (storage unit, interval) pairs of a solution that charge and discharge at once."""
    both = (parts.charge[:n_s] > SIMULTANEOUS_TOL) & (parts.discharge[:n_s] > SIMULTANEOUS_TOL)
    unit, tt = np.nonzero(both)
    return unit.astype(np.int64), tt.astype(np.int64)


def merge_pairs(
    pairs: tuple[IntArray, IntArray], more: tuple[IntArray, IntArray], n_t: int
) -> tuple[IntArray, IntArray]:
    """The union of two sets of (unit, interval) switch pairs."""
    key = np.unique(np.concatenate((pairs[0] * n_t + pairs[1], more[0] * n_t + more[1])))
    return key // n_t, key % n_t


def schedule_result(
    parts: Extract,
    order: IntArray,
    market: ScheduleMarket,
    pen: Penalties,
    n_binaries: int,
    run: tuple[str, float, float, float],
) -> ScheduleResult:
    """The result from the solution by unit; ``run``: status, MIP gap, build and solve
    times [s]."""
    status, gap, build_s, solve_s = run
    dt, w = market.dt_h, market.cvar_weight
    total = parts.power.sum(axis=0)
    open_mw = total - market.fixed
    revenue = market.scenarios @ open_mw * dt  # (S,) per scenario [currency]
    expected = float(market.weights @ revenue)
    cvar = None
    if w > 0:
        cvar = _cvar(revenue, market.weights, market.cvar_alpha)
    grid = parts.grid_excess
    penalty = float(parts.penalty.sum() + grid.sum() * pen.grid * dt)
    deg = float(parts.degradation.sum())
    objective = (1 - w) * expected + w * (cvar or 0.0) - deg - penalty
    return ScheduleResult(
        status=status,
        objective=float(objective),
        expected_revenue=expected,
        cvar=cvar,
        degradation_cost=deg,
        power_mw=parts.power[order],
        charge_mw=parts.charge[order],
        discharge_mw=parts.discharge[order],
        energy_mwh=parts.energy[order],
        total_mw=total,
        open_position_mw=open_mw,
        slacks=Slacks(
            grid[0], grid[1], parts.energy_slack[order], parts.ramp_slack[order], penalty
        ),
        mip_gap=gap,
        n_binaries=n_binaries,
        build_s=build_s,
        solve_s=solve_s,
    )


def _cvar(revenue: FloatArray, prob: FloatArray, alpha: float) -> float:
    """Mean revenue over the worst ``1 - alpha`` probability mass [currency]."""
    idx = np.argsort(revenue, kind="stable")
    r, p = revenue[idx], prob[idx]
    tail = 1.0 - alpha
    before = np.concatenate(([0.0], np.cumsum(p)[:-1]))
    take = np.clip(tail - before, 0.0, p)
    return float((take * r).sum() / tail)
