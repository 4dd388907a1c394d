"""The schedule LP/MILP as one sparse matrix, built with numpy for all units at once and
passed to HiGHS in one call (formulation: ``docs/optimization.md``).

Columns, unit by unit (``T`` intervals):

- storage: charge ``c`` [MW], discharge ``d`` [MW], stored energy at each interval's end
  ``e`` [MWh], end-target shortfall ``s`` [MWh] (``3T + 1``);
- envelope: power ``p`` [MW], cumulative injected energy ``y`` [MWh], energy-bound slacks
  ``a, b`` [MWh], ramp slacks ``ru, rd`` [MW] (``6T``);

then the portfolio total ``P`` [MW] with grid-limit excesses ``x, m`` [MW] (when there is a
grid limit or a risk term), CVaR's ``eta`` and ``u`` per scenario [currency], and binaries
``z`` (1 = charging allowed) for the (storage, interval) pairs that need them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]

from openvpp.markets.clearing.milp import new_highs
from openvpp.optimization.units import FlexUnit, StorageUnit

__all__ = [
    "Extract",
    "Penalties",
    "ScheduleLp",
    "SolverOptions",
    "pass_model",
    "run",
    "set_options",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_INF = highspy.kHighsInf


@dataclass(frozen=True)
class Penalties:
    """Prices of the soft constraints: they keep every schedule feasible and must exceed any
    price the market can reach, so that they are only paid when the hard data are infeasible.

    energy [currency/MWh]: end-target shortfall, envelope energy-bound violation;
    grid [currency/MWh]: power above the export or import limit, times the interval length;
    ramp [currency/MW]: ramp excess per interval.
    """

    energy: float = 20_000.0
    grid: float = 20_000.0
    ramp: float = 5_000.0

    def __post_init__(self) -> None:
        for name in ("energy", "grid", "ramp"):
            value = getattr(self, name)
            if not value > 0 or not np.isfinite(value):
                raise ValueError(f"penalties.{name} must be positive and finite, got {value}")


@dataclass(frozen=True)
class SolverOptions:
    """HiGHS settings, always passed (never global): wall-time limit [s], relative MIP gap,
    threads (``None``: HiGHS's default), LP algorithm (``choose``, ``simplex``, ``ipm``)."""

    time_limit_s: float = 10.0
    mip_rel_gap: float = 1e-4
    threads: int | None = None
    solver: str = "choose"

    def __post_init__(self) -> None:
        if not self.time_limit_s > 0:
            raise ValueError(f"time_limit_s must be > 0, got {self.time_limit_s}")
        if not 0 <= self.mip_rel_gap < 1:
            raise ValueError(f"mip_rel_gap must lie in [0, 1), got {self.mip_rel_gap}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.solver not in ("choose", "simplex", "ipm"):
            raise ValueError(f"solver must be choose, simplex or ipm, got {self.solver!r}")


def set_options(h: highspy.Highs, options: SolverOptions) -> None:
    """Time limit, MIP gap, LP algorithm and threads on ``h``."""
    values: dict[str, float | int | str] = {
        "time_limit": float(options.time_limit_s),
        "mip_rel_gap": float(options.mip_rel_gap),
        "solver": options.solver,
    }
    if options.threads is not None:
        values["threads"] = options.threads
    for name, value in values.items():
        if h.setOptionValue(name, value) != highspy.HighsStatus.kOk:
            raise ValueError(f"HiGHS rejected {name} = {value!r}")


def _arr(units: list[StorageUnit], get: Callable[[StorageUnit], float]) -> FloatArray:
    return np.array([float(get(u)) for u in units], dtype=np.float64)


def _stack(units: list[FlexUnit], name: str) -> FloatArray:
    return np.array([getattr(u, name) for u in units], dtype=np.float64).reshape(len(units), -1)


def pass_model(
    h: highspy.Highs,
    cost: FloatArray,
    col_lo: FloatArray,
    col_hi: FloatArray,
    row_lo: FloatArray,
    row_hi: FloatArray,
    matrix: sparse.csc_array,
    integrality: IntArray,
) -> None:
    """Pass a minimisation in compressed column form to ``h`` in one call."""
    status = h.passModel(
        int(cost.size),
        int(row_lo.size),
        int(matrix.nnz),
        1,  # column-wise
        1,  # minimise
        0.0,
        cost,
        col_lo,
        col_hi,
        row_lo,
        row_hi,
        matrix.indptr.astype(np.int64),
        matrix.indices.astype(np.int64),
        matrix.data,
        integrality,
    )
    if status != highspy.HighsStatus.kOk:
        raise RuntimeError(f"HiGHS rejected the schedule model: {status}")


def run(
    h: highspy.Highs, options: SolverOptions, what: str
) -> tuple[FloatArray | None, str, highspy.HighsInfo]:
    """Solve the model in ``h`` under ``options``: column values (``None`` without a feasible
    point), model status and HiGHS's info; raises when HiGHS itself fails on ``what``."""
    set_options(h, options)
    if h.run() == highspy.HighsStatus.kError:
        raise RuntimeError(f"HiGHS failed on {what}")
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    if info.primal_solution_status != 2:  # no feasible point
        return None, status, info
    return np.asarray(h.getSolution().col_value, dtype=np.float64), status, info


class _Coo:
    """Rows collected as (row, col, value) triplets with their bounds."""

    def __init__(self) -> None:
        self.r: list[IntArray] = []
        self.c: list[IntArray] = []
        self.v: list[FloatArray] = []
        self.lo: list[FloatArray] = []
        self.hi: list[FloatArray] = []
        self.n = 0

    def rows(self, count: int, lo: FloatArray, hi: FloatArray) -> int:
        """Reserve ``count`` rows; returns the first index."""
        first = self.n
        self.n += count
        self.lo.append(np.broadcast_to(np.asarray(lo, dtype=np.float64), (count,)))
        self.hi.append(np.broadcast_to(np.asarray(hi, dtype=np.float64), (count,)))
        return first

    def add(self, rows: IntArray, cols: IntArray, vals: FloatArray | float) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        shape = np.broadcast_shapes(rows.shape, np.shape(cols), np.shape(vals))
        self.r.append(np.broadcast_to(rows, shape).ravel())
        self.c.append(np.broadcast_to(np.asarray(cols, dtype=np.int64), shape).ravel())
        self.v.append(np.broadcast_to(np.asarray(vals, dtype=np.float64), shape).ravel())


class ScheduleLp:
    """The model for ``storage`` and ``flex`` units over ``T`` intervals of ``dt_h`` [h].

    ``price_w`` [currency/MWh] (T,) is the price the units' own columns carry (the expected
    price, weighted by ``1 - cvar_weight``); ``scenario_prices`` (S, T) with probabilities
    enter only through CVaR rows on the total ``P``. ``binary_pairs``: (storage index,
    interval) pairs that get a charge/discharge switch.
    """

    def __init__(
        self,
        storage: list[StorageUnit],
        flex: list[FlexUnit],
        n_t: int,
        dt_h: float,
        penalties: Penalties,
        price_w: FloatArray,
        *,
        export_max_mw: FloatArray | None = None,
        import_max_mw: FloatArray | None = None,
        cvar: tuple[FloatArray, FloatArray, float, float, FloatArray] | None = None,
        binary_pairs: tuple[IntArray, IntArray] | None = None,
    ) -> None:
        self.storage, self.flex, self.t, self.dt = storage, flex, n_t, dt_h
        self.pen = penalties
        ns, nf, t = len(storage), len(flex), n_t
        self.s_block, self.f_block = 3 * t + 1, 6 * t
        self.f0 = ns * self.s_block
        n_units = self.f0 + nf * self.f_block
        need_total = export_max_mw is not None or import_max_mw is not None or cvar is not None
        self.p0 = n_units if need_total else -1
        self.grid_row = -1  # first of the T grid-limit rows
        n_cols = n_units + (3 * t if need_total else 0)
        self.eta_col = n_cols if cvar is not None else -1
        n_s = 0 if cvar is None else cvar[0].shape[0]
        n_cols += (1 + n_s) if cvar is not None else 0
        pairs = binary_pairs or (np.zeros(0, np.int64), np.zeros(0, np.int64))
        self.z0, self.n_z = n_cols, int(pairs[0].size)
        n_cols += self.n_z
        self.n_cols = n_cols

        self.lo = np.zeros(n_cols)
        self.hi = np.full(n_cols, _INF)
        self.cost = np.zeros(n_cols)
        self.offset = 0.0
        coo = _Coo()
        self._storage(coo)
        self._flex(coo)
        if need_total:
            self._total(coo, export_max_mw, import_max_mw)
        if cvar is not None:
            self._cvar(coo, *cvar)
        if self.n_z:
            self._binaries(coo, *pairs)

        self.deg_cost = self.cost.copy()  # costs without the price terms
        self.price_cols, coef = self._price_terms()
        self.cost[self.price_cols] += coef * np.tile(price_w, coef.size // max(price_w.size, 1))
        rows, cols = np.concatenate(coo.r), np.concatenate(coo.c)
        self.matrix = sparse.csc_array((np.concatenate(coo.v), (rows, cols)), shape=(coo.n, n_cols))
        self.matrix.sum_duplicates()
        self.row_lo, self.row_hi = np.concatenate(coo.lo), np.concatenate(coo.hi)
        self.integrality = np.zeros(n_cols, dtype=np.int64)
        self.integrality[self.z0 :] = 1
        self._highs: highspy.Highs | None = None

    @property
    def highs(self) -> highspy.Highs:
        """The HiGHS instance holding the model (passed on first use)."""
        if self._highs is None:
            self._highs = new_highs()
            pass_model(
                self._highs,
                self.cost,
                self.lo,
                self.hi,
                self.row_lo,
                self.row_hi,
                self.matrix,
                self.integrality,
            )
        return self._highs

    def _price_terms(self) -> tuple[IntArray, FloatArray]:
        """Columns carrying the price and their coefficient per unit of price: charge
        ``+dt``, discharge and envelope power ``-dt`` (the negated revenue)."""
        cols = [self.s_cols(0).ravel(), self.s_cols(1).ravel(), self.f_cols(0).ravel()]
        ns, nf = len(self.storage), len(self.flex)
        coef = [np.full(ns * self.t, self.dt), np.full(ns * self.t, -self.dt)]
        coef.append(np.full(nf * self.t, -self.dt))
        return np.concatenate(cols), np.concatenate(coef)

    def set_price(self, price_w: FloatArray) -> None:
        """Change the price on the units' columns [currency/MWh] (T,); HiGHS keeps its basis,
        so the next solve starts warm."""
        _, coef = self._price_terms()
        reps = coef.size // self.t
        cost = self.deg_cost[self.price_cols] + coef * np.tile(price_w, reps)
        self.highs.changeColsCost(int(cost.size), self.price_cols, cost)

    def solve(self, options: SolverOptions) -> tuple[FloatArray | None, str, float, float]:
        """Column values (``None`` without a feasible solution), model status, MIP gap
        (0 for an LP), objective of the minimisation."""
        x, status, info = run(self.highs, options, "the schedule model")
        if x is None:
            return None, status, float("inf"), float("nan")
        gap = float(info.mip_gap) if self.n_z else 0.0
        return x, status, gap, float(info.objective_function_value)

    # -- column indices -------------------------------------------------------------------
    def s_cols(self, k: int) -> IntArray:
        """Columns of kind ``k`` (0 charge, 1 discharge, 2 energy) of every storage unit,
        shape (ns, T)."""
        base = np.arange(len(self.storage), dtype=np.int64)[:, None] * self.s_block
        return base + k * self.t + np.arange(self.t)

    def f_cols(self, k: int) -> IntArray:
        """Columns of kind ``k`` (0 p, 1 y, 2 a, 3 b, 4 ru, 5 rd) of every envelope (nf, T)."""
        base = self.f0 + np.arange(len(self.flex), dtype=np.int64)[:, None] * self.f_block
        return base + k * self.t + np.arange(self.t)

    # -- blocks ---------------------------------------------------------------------------
    def _storage(self, coo: _Coo) -> None:
        su, t, dt = self.storage, self.t, self.dt
        ns = len(su)
        if not ns:
            return
        c, d, e = self.s_cols(0), self.s_cols(1), self.s_cols(2)
        s_end = e[:, -1] + 1
        self.hi[c] = _arr(su, lambda u: u.spec.p_charge_max_mw)[:, None]
        self.hi[d] = _arr(su, lambda u: u.spec.p_discharge_max_mw)[:, None]
        self.lo[e] = _arr(su, lambda u: u.e_min_mwh)[:, None]
        self.hi[e] = _arr(su, lambda u: u.e_max_mwh)[:, None]
        deg = _arr(su, lambda u: u.degradation_cost)[:, None] * dt
        self.cost[c] = deg
        self.cost[d] = deg
        keep = (1.0 - _arr(su, lambda u: u.spec.self_discharge_per_h)) ** dt
        e0 = _arr(su, lambda u: u.energy0_mwh)
        # e_t - keep·e_{t-1} - eta_c·dt·c_t + dt/eta_d·d_t = keep·e0 (t = 0) else 0
        rhs = np.zeros((ns, t))
        rhs[:, 0] = keep * e0
        first = coo.rows(ns * t, rhs.ravel(), rhs.ravel())
        r = first + np.arange(ns * t).reshape(ns, t)
        coo.add(r, e, 1.0)
        coo.add(r[:, 1:], e[:, :-1], np.repeat(-keep[:, None], t - 1, axis=1))
        coo.add(r, c, np.repeat((-_arr(su, lambda u: u.spec.eta_charge) * dt)[:, None], t, axis=1))
        coo.add(
            r, d, np.repeat((dt / _arr(su, lambda u: u.spec.eta_discharge))[:, None], t, axis=1)
        )
        # e_{T-1} + s >= target (s free of cost when there is no target: its bound is 0)
        target = np.array(
            [-_INF if u.end_energy_mwh is None else u.end_energy_mwh for u in su], np.float64
        )
        self.hi[s_end] = np.where(np.isfinite(target), _INF, 0.0)
        self.cost[s_end] = self.pen.energy
        first = coo.rows(ns, target, np.full(ns, _INF))
        r1 = first + np.arange(ns)
        coo.add(r1, e[:, -1], 1.0)
        coo.add(r1, s_end, 1.0)

    def _flex(self, coo: _Coo) -> None:
        fu, t, dt = self.flex, self.t, self.dt
        nf = len(fu)
        if not nf:
            return
        p, y, a, b, ru, rd = (self.f_cols(k) for k in range(6))
        self.lo[p], self.hi[p] = _stack(fu, "p_min_mw"), _stack(fu, "p_max_mw")
        self.lo[y] = np.where(np.isfinite(e := _stack(fu, "e_min_mwh")), e, -_INF)
        self.hi[y] = np.where(np.isfinite(e := _stack(fu, "e_max_mwh")), e, _INF)
        self.cost[a] = self.cost[b] = self.pen.energy
        self.cost[ru] = self.cost[rd] = self.pen.ramp
        # y_t - y_{t-1} - dt·p_t - a_t + b_t = 0
        first = coo.rows(nf * t, np.zeros(1), np.zeros(1))
        r = first + np.arange(nf * t).reshape(nf, t)
        coo.add(r, y, 1.0)
        coo.add(r[:, 1:], y[:, :-1], -1.0)
        coo.add(r, p, -dt)
        coo.add(r, a, -1.0)
        coo.add(r, b, 1.0)
        # p_t - p_{t-1} - ru_t <= up_t ; p_{t-1} - p_t - rd_t <= down_t (finite ramps only)
        p_init = np.array(
            [np.nan if u.p_initial_mw is None else u.p_initial_mw for u in fu], np.float64
        )
        has_prev = np.ones((nf, t), dtype=bool)
        has_prev[:, 0] = np.isfinite(p_init)
        prev = np.concatenate((np.nan_to_num(p_init)[:, None], np.zeros((nf, t - 1))), axis=1)
        ramps = ((_stack(fu, "ramp_up_mw"), ru, 1.0), (_stack(fu, "ramp_down_mw"), rd, -1.0))
        for limit, slack, sign in ramps:
            active = has_prev & np.isfinite(limit)
            self.hi[slack] = np.where(active, _INF, 0.0)
            ii, tt = np.nonzero(active)
            first = coo.rows(ii.size, np.full(ii.size, -_INF), limit[ii, tt] + sign * prev[ii, tt])
            rr = first + np.arange(ii.size)
            coo.add(rr, p[ii, tt], sign)
            lag = tt > 0
            coo.add(rr[lag], p[ii[lag], tt[lag] - 1], -sign)
            coo.add(rr, slack[ii, tt], -1.0)

    def _total(self, coo: _Coo, export: FloatArray | None, imp: FloatArray | None) -> None:
        """P_t - Σ p = 0 and -import <= P_t - x_t + m_t <= export."""
        t, p0 = self.t, self.p0
        big_p, x, m = p0 + np.arange(t), p0 + t + np.arange(t), p0 + 2 * t + np.arange(t)
        self.lo[big_p] = -_INF
        first = coo.rows(t, np.zeros(1), np.zeros(1))
        r = first + np.arange(t)
        coo.add(r, big_p, 1.0)
        if self.storage:
            coo.add(np.broadcast_to(r, (len(self.storage), t)), self.s_cols(0), 1.0)
            coo.add(np.broadcast_to(r, (len(self.storage), t)), self.s_cols(1), -1.0)
        if self.flex:
            coo.add(np.broadcast_to(r, (len(self.flex), t)), self.f_cols(0), -1.0)
        hi = np.full(t, _INF) if export is None else np.asarray(export, dtype=np.float64)
        lo = np.full(t, -_INF) if imp is None else -np.asarray(imp, dtype=np.float64)
        self.hi[x] = np.where(np.isfinite(hi), _INF, 0.0)
        self.hi[m] = np.where(np.isfinite(lo), _INF, 0.0)
        self.cost[x] = self.cost[m] = self.pen.grid * self.dt
        first = coo.rows(
            t, np.where(np.isfinite(lo), lo, -_INF), np.where(np.isfinite(hi), hi, _INF)
        )
        self.grid_row = first
        r = first + np.arange(t)
        coo.add(r, big_p, 1.0)
        coo.add(r, x, -1.0)
        coo.add(r, m, 1.0)

    def _cvar(
        self,
        coo: _Coo,
        prices: FloatArray,
        prob: FloatArray,
        weight: float,
        alpha: float,
        fixed: FloatArray,
    ) -> None:
        """Rockafellar-Uryasev: weight·(eta - Σ_s π_s u_s / (1 - alpha)) in the objective,
        u_s >= eta - R_s with R_s = Σ_t price_st·dt·(P_t - q_t)."""
        n_s, t = prices.shape
        eta, u = self.eta_col, self.eta_col + 1 + np.arange(n_s)
        self.lo[eta] = -_INF
        self.cost[eta] = -weight
        self.cost[u] = weight * prob / (1.0 - alpha)
        rhs = (prices * fixed).sum(axis=1) * self.dt
        first = coo.rows(n_s, rhs, np.full(n_s, _INF))
        r = first + np.arange(n_s)
        coo.add(np.repeat(r, t), np.tile(self.p0 + np.arange(t), n_s), (prices * self.dt).ravel())
        coo.add(r, np.full(n_s, eta), -1.0)
        coo.add(r, u, 1.0)

    def _binaries(self, coo: _Coo, unit: IntArray, tt: IntArray) -> None:
        """c - Pch·z <= 0 and d + Pdis·z <= Pdis: charging or discharging, not both."""
        z = self.z0 + np.arange(self.n_z)
        self.hi[z] = 1.0
        c, d = self.s_cols(0)[unit, tt], self.s_cols(1)[unit, tt]
        pch, pdis = self.hi[c], self.hi[d]
        first = coo.rows(self.n_z, np.full(self.n_z, -_INF), np.zeros(self.n_z))
        r = first + np.arange(self.n_z)
        coo.add(r, c, 1.0)
        coo.add(r, z, -pch)
        first = coo.rows(self.n_z, np.full(self.n_z, -_INF), pdis)
        r = first + np.arange(self.n_z)
        coo.add(r, d, 1.0)
        coo.add(r, z, pdis)

    # -- solution -------------------------------------------------------------------------
    def extract(self, x: FloatArray) -> Extract:
        """The solution by unit (storage units first, then envelopes)."""
        t = self.t
        ns, nf = len(self.storage), len(self.flex)
        c, d, e = (x[self.s_cols(k)] for k in range(3))
        p, y, a, b, ru, rd = (x[self.f_cols(k)] for k in range(6))
        s_end = x[self.s_cols(2)[:, -1] + 1] if ns else np.zeros(0)
        deg = self.deg_cost[self.s_cols(0)[:, 0]] if ns else np.zeros(0)  # per MW, times dt
        energy_slack = np.concatenate((s_end, (a + b).sum(axis=1)))
        ramp_slack = np.concatenate((np.zeros(ns), (ru + rd).sum(axis=1)))
        grid = np.zeros((2, t))
        if self.p0 >= 0:
            grid = x[self.p0 + t + np.arange(2 * t)].reshape(2, t)
        return Extract(
            power=np.concatenate((d - c, p)) if nf else d - c,
            charge=np.concatenate((c, np.clip(-p, 0, None))) if nf else c,
            discharge=np.concatenate((d, np.clip(p, 0, None))) if nf else d,
            energy=np.concatenate((e, y)) if nf else e,
            degradation=np.concatenate(((c + d).sum(axis=1) * deg, np.zeros(nf))),
            penalty=energy_slack * self.pen.energy + ramp_slack * self.pen.ramp,
            energy_slack=energy_slack,
            ramp_slack=ramp_slack,
            grid_excess=grid,
            eta=float(x[self.eta_col]) if self.eta_col >= 0 else 0.0,
            u=x[self.eta_col + 1 : self.z0] if self.eta_col >= 0 else np.zeros(0),
        )


@dataclass(frozen=True)
class Extract:
    """Per-unit arrays (n, T) / (n,), storage units first; grid excess (2, T): export, import
    [MW]; CVaR's eta and u [currency]."""

    power: FloatArray
    charge: FloatArray
    discharge: FloatArray
    energy: FloatArray
    degradation: FloatArray  # [currency]
    penalty: FloatArray  # energy and ramp penalties [currency]
    energy_slack: FloatArray  # [MWh]
    ramp_slack: FloatArray  # [MW], summed over intervals
    grid_excess: FloatArray
    eta: float
    u: FloatArray
