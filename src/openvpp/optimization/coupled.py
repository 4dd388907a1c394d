"""Bid curves coupled across intervals: a two-stage stochastic LP over price scenarios
(the formulation of Fleten & Kristoffersen, 2007, for a price-taker's day-ahead curves).

Per-interval curves (:func:`openvpp.optimization.bids.bid_curves`) suit units whose
intervals are independent. For storage they do not: each interval's curve is sampled from
schedules of *different* price vectors, so the awards at the real prices need not add up to
anything the batteries can deliver (the simulation's ``curve`` strategy captured 46 % of the
optimum that way, against 79 % for price-taking orders; ``docs/benchmarks.md``). Here the
curves are the first-stage decision of one LP, and every scenario checks them against the
units' whole model:

- **levels**: each interval's bid prices are its scenario prices (on the market's ticks),
  or ``max_levels`` of them at evenly spaced ranks (the midpoints of equal shares of the
  scenarios); each scenario is awarded the quantity of the level nearest its price (exact
  when every scenario price is a level);
- **first stage**: the net bid curve of each interval ``t``, a quantity ``x[t, k]`` [MW, +
  sell] at each level ``p[t, k]``, non-decreasing in price and within the fleet's physical
  range (the market's net curve: positive part sold, negative part bought);
- **second stage**, per scenario ``s`` with probability ``pi_s``: the clearing at its prices
  awards ``x[t, k(s, t)]``; the units are dispatched with their whole model (stored energy,
  envelopes, ramps, soft constraints: one :class:`~openvpp.optimization.lp.ScheduleLp` per
  scenario), and the difference ``P[s, t] - base[t] - x[t, k(s, t)]`` is traded intraday:
  ``r+`` sold at the scenario's price minus ``recourse_spread``, ``r-`` bought at it plus.

    max  sum_s pi_s [ sum_t dt (rho_st (P_st - base_t) - delta (r+_st + r-_st)) - deg_s - pen_s ]
    s.t. P_st - x[t, k(s,t)] - r+_st + r-_st = base_t,  x[t, k+1] >= x[t, k]

The curve passes through each scenario's award, so its shape carries what the scenarios
share: an interval whose price may be high or low gets a curve that sells when it is high
and buys when it is low, in amounts the batteries can follow whatever the rest of the day
turns out to be (or whose expected intraday correction is worth it).

**Beyond the scenarios** the curve is extended flat: the market's price floor and cap are
added as points with the quantities of the lowest and highest level, so a price below every
scenario's sells and buys what the lowest level does. Without that, the net curve would sell
nothing below its lowest level but still buy there: a day whose prices all fall below the
forecast's range would buy the day's charging and sell none of its discharging.

Binaries forbid simultaneous charge and discharge as in
:func:`~openvpp.optimization.schedule.optimize_schedule` (``auto``: where a scenario's price
is at or below the highest degradation cost, then wherever the solution still does both).

Powers [MW] injection positive; prices [currency/MWh]; money [currency].
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse  # type: ignore[import-untyped]

from openvpp.markets.clearing.milp import new_highs
from openvpp.markets.model import Market
from openvpp.optimization.bids import BidCurveSet, on_ticks, scenario_weights, weighted_median
from openvpp.optimization.lp import (
    Extract,
    Penalties,
    ScheduleLp,
    SolverOptions,
    pass_model,
    run,
)
from openvpp.optimization.schedule import (
    MAX_BINARY_ROUNDS,
    ScheduleMarket,
    initial_pairs,
    merge_pairs,
    simultaneous,
    split_units,
)
from openvpp.optimization.units import FlexUnit, StorageUnit, Unit

__all__ = ["CoupledCurves", "coupled_curves"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_INF = highspy.kHighsInf


@dataclass(frozen=True, eq=False)
class CoupledCurves:
    """The curves and what the LP expects of them.

    curves : the net bid curves ``(T,)``, extended flat to the market's price limits when a
        market is given.
    scenarios : ``(S, T)`` the scenario prices the LP saw (on the market's ticks)
        [currency/MWh].
    awarded_mw : ``(S, T)`` the award the LP assumed in each scenario: the curve's quantity
        at the level nearest the scenario's price [MW, + sell].
    expected_revenue : ``sum_s pi_s`` of the day-ahead awards and the intraday recourse at the
        scenarios' prices [currency], before degradation and penalties.
    expected_recourse_mwh : the expected volume traded intraday [MWh].
    objective : the LP's objective, revenue less degradation and penalties [currency].
    """

    curves: BidCurveSet
    scenarios: FloatArray
    awarded_mw: FloatArray
    expected_revenue: float
    expected_recourse_mwh: float
    objective: float
    status: str
    n_binaries: int
    build_s: float
    solve_s: float


def coupled_curves(
    units: Sequence[Unit],
    scenarios: ArrayLike,
    dt_h: float,
    *,
    weights: ArrayLike | None = None,
    recourse_spread: float = 5.0,
    max_levels: int | None = None,
    market: Market | None = None,
    baseline_mw: ArrayLike | None = None,
    penalties: Penalties | None = None,
    options: SolverOptions | None = None,
) -> CoupledCurves:
    """The net bid curves ``(T,)`` of ``units`` from the two-stage LP of the module docstring.

    scenarios : ``(S, T)`` price paths [currency/MWh] (e.g.
        :func:`~openvpp.optimization.bids.path_scenarios`); with ``market`` they are first put
        on its ticks within its clearing limits.
    weights : scenario probabilities ``(S,)`` (default equal).
    recourse_spread : what correcting one MWh after the clearing costs [currency/MWh] (the
        intraday venue's spread to the day-ahead price), >= 0; at 0 correcting is free and
        any curve within the fleet's range is optimal.
    max_levels : bid price levels per interval, >= 1 (default: every distinct scenario
        price). Fewer levels than scenarios make scenarios share a level's quantity, so the
        curve cannot fit each scenario on its own; 1 gives one quantity per interval (the
        best price-taking bid under the scenarios).
    market : puts the prices on its ticks and extends the curves to its price limits.
    baseline_mw : ``(T,)`` [MW] the units' output that is already balanced (a VPP's own
        consumption or generation): the curves trade the change from it.
    """
    s_arr = np.asarray(scenarios, dtype=np.float64)
    if s_arr.ndim != 2 or s_arr.shape[0] < 1 or s_arr.shape[1] < 1:
        raise ValueError(f"scenarios: expected a non-empty (S, T) array, got shape {s_arr.shape}")
    if not np.all(np.isfinite(s_arr)):
        raise ValueError("scenarios: prices must be finite")
    if not (np.isfinite(recourse_spread) and recourse_spread >= 0):
        raise ValueError(f"recourse_spread: must be >= 0 and finite, got {recourse_spread}")
    if max_levels is not None and max_levels < 1:
        raise ValueError(f"max_levels: must be at least 1, got {max_levels}")
    if not dt_h > 0:
        raise ValueError(f"dt_h must be > 0, got {dt_h}")
    n_s, n_t = s_arr.shape
    pi = scenario_weights(weights, n_s)
    base = np.zeros(n_t) if baseline_mw is None else np.asarray(baseline_mw, dtype=np.float64)
    if base.shape != (n_t,) or not np.all(np.isfinite(base)):
        raise ValueError(f"baseline_mw: expected {n_t} finite values [MW]")
    pen, opts = penalties or Penalties(), options or SolverOptions()
    storage, flex, _ = split_units(units, n_t)
    prices = on_ticks(s_arr, market) if market is not None else s_arr
    levels = _Levels.of(prices, max_levels)
    pairs = [initial_pairs(storage, ScheduleMarket(row, dt_h), "auto") for row in prices]
    build_s = solve_s = 0.0
    for round_ in range(MAX_BINARY_ROUNDS + 1):
        started = time.perf_counter()
        model = _Model(storage, flex, prices, pi, dt_h, pen, pairs, levels, base, recourse_spread)
        built = time.perf_counter()
        sol, status, objective = model.solve(opts)
        build_s += built - started
        solve_s += time.perf_counter() - built
        more = [simultaneous(model.block_extract(sol, s), len(storage)) for s in range(n_s)]
        if not any(m[0].size for m in more):
            break
        for s, m in enumerate(more):
            if round_ == MAX_BINARY_ROUNDS - 1:  # the last re-solve switches everything
                pairs[s] = initial_pairs(storage, ScheduleMarket(prices[s], dt_h), "always")
            elif m[0].size:
                pairs[s] = merge_pairs(pairs[s], m, n_t)
    # the LP's tolerance may leave a level a hair below the one before it
    x = levels.monotone(sol[model.x0 : model.x0 + levels.n])
    r_sold, r_bought = model.recourse(sol)
    awarded = x[levels.index]
    recourse = r_sold + r_bought
    revenue = (prices * (awarded + r_sold - r_bought)).sum(axis=1)
    revenue -= recourse_spread * recourse.sum(axis=1)
    limits = None
    if market is not None:
        limits = (float(market.price_limits.min), float(market.price_limits.max))
    return CoupledCurves(
        curves=levels.curves(x, weighted_median(prices, pi), limits),
        scenarios=prices,
        awarded_mw=awarded,
        expected_revenue=float(pi @ revenue) * dt_h,
        expected_recourse_mwh=float(pi @ recourse.sum(axis=1)) * dt_h,
        objective=-objective,
        status=status,
        n_binaries=model.n_binaries,
        build_s=build_s,
        solve_s=solve_s,
    )


@dataclass(frozen=True, eq=False)
class _Levels:
    """The bid price levels of each interval, flattened interval by interval.

    prices : ``(n,)`` ascending within each interval; first : ``(T + 1,)`` each interval's
    first level (and the end); index : ``(S, T)`` the level nearest each scenario's price.
    """

    prices: FloatArray
    first: IntArray
    index: IntArray

    @classmethod
    def of(cls, scenario_prices: FloatArray, max_levels: int | None) -> _Levels:
        n_s, n_t = scenario_prices.shape
        values: list[FloatArray] = []
        index = np.empty((n_s, n_t), dtype=np.int64)
        offset = 0
        for t in range(n_t):
            col = scenario_prices[:, t]
            uniq = np.unique(col)
            if max_levels is not None and uniq.size > max_levels:
                mid = (np.arange(max_levels) + 0.5) / max_levels * uniq.size - 0.5
                uniq = uniq[np.unique(np.round(mid).astype(np.int64))]
            # the nearest level (the lower one on a tie)
            right = np.clip(np.searchsorted(uniq, col), 1, max(uniq.size - 1, 1))
            left = right - 1
            if uniq.size == 1:
                k = np.zeros(n_s, dtype=np.int64)
            else:
                k = np.where(col - uniq[left] <= uniq[right] - col, left, right)
            index[:, t] = offset + k
            values.append(uniq)
            offset += uniq.size
        first = np.concatenate(([0], np.cumsum([v.size for v in values]))).astype(np.int64)
        return cls(np.concatenate(values), first, index)

    @property
    def n(self) -> int:
        return int(self.prices.size)

    @property
    def interval(self) -> IntArray:
        """The interval of each level ``(n,)``."""
        return np.repeat(np.arange(self.first.size - 1), np.diff(self.first)).astype(np.int64)

    def monotone(self, x: FloatArray) -> FloatArray:
        """``x`` ``(n,)`` made non-decreasing within each interval (a running maximum)."""
        out = x.copy()
        for a, b in zip(self.first[:-1], self.first[1:], strict=True):
            out[a:b] = np.maximum.accumulate(out[a:b])
        return out

    def curves(
        self, x: FloatArray, anchor_price: FloatArray, limits: tuple[float, float] | None
    ) -> BidCurveSet:
        """The curves of quantities ``x`` ``(n,)``, extended flat to the price ``limits``
        (floor, cap) when given, padded to one width by repeating each interval's last
        point, anchored at ``anchor_price`` ``(T,)``."""
        rows_p, rows_q = [], []
        for a, b in zip(self.first[:-1], self.first[1:], strict=True):
            p, q = self.prices[a:b], x[a:b]
            if limits is not None:
                lo, hi = limits
                if p[0] > lo:
                    p, q = np.concatenate(([lo], p)), np.concatenate((q[:1], q))
                if p[-1] < hi:
                    p, q = np.concatenate((p, [hi])), np.concatenate((q, q[-1:]))
            rows_p.append(p)
            rows_q.append(q)
        width = max(r.size for r in rows_p)
        prices = np.array([np.pad(r, (0, width - r.size), mode="edge") for r in rows_p])
        net = np.array([np.pad(r, (0, width - r.size), mode="edge") for r in rows_q])
        n_t = prices.shape[0]
        out = BidCurveSet(
            prices=prices,
            net_mw=net,
            anchor_price=anchor_price.copy(),
            expected_mw=np.zeros(n_t),
            repair_mw=np.zeros(n_t),
        )
        object.__setattr__(out, "expected_mw", out.net_at(anchor_price))
        return out


class _Model:
    """The deterministic equivalent: one :class:`ScheduleLp` block per scenario (its total
    ``P`` forced by an unbounded grid limit), then the curve points ``x``, the recourse ``r+``
    and ``r-`` (scenario-major), the linking rows and the curves' monotonicity rows."""

    def __init__(
        self,
        storage: list[StorageUnit],
        flex: list[FlexUnit],
        prices: FloatArray,
        pi: FloatArray,
        dt_h: float,
        pen: Penalties,
        pairs: list[tuple[IntArray, IntArray]],
        levels: _Levels,
        base: FloatArray,
        spread: float,
    ) -> None:
        n_s, n_t = prices.shape
        unlimited = np.full(n_t, np.inf)
        self.blocks = [
            ScheduleLp(
                storage, flex, n_t, dt_h, pen, prices[s], export_max_mw=unlimited, binary_pairs=p
            )
            for s, p in enumerate(pairs)
        ]
        self.offsets = np.concatenate(([0], np.cumsum([b.n_cols for b in self.blocks])))
        self.n_binaries = sum(b.n_z for b in self.blocks)
        n_x = levels.n
        self.x0 = int(self.offsets[-1])
        self.r0 = self.x0 + n_x
        self.n_st = n_st = n_s * n_t
        n_cols = self.r0 + 2 * n_st

        lo_p, hi_p = _range(storage, flex, n_t)
        t_of = levels.interval
        per_mwh = np.repeat(pi * spread * dt_h, n_t)  # r+ and r-, scenario-major
        cost = np.concatenate(
            [pi[s] * b.cost for s, b in enumerate(self.blocks)] + [np.zeros(n_x), per_mwh, per_mwh]
        )
        col_lo = np.concatenate(
            [b.lo for b in self.blocks] + [(lo_p - base)[t_of], np.zeros(2 * n_st)]
        )
        col_hi = np.concatenate(
            [b.hi for b in self.blocks] + [(hi_p - base)[t_of], np.full(2 * n_st, _INF)]
        )
        integrality = np.concatenate(
            [b.integrality for b in self.blocks] + [np.zeros(n_x + 2 * n_st, np.int64)]
        )
        # linking, row s * T + t: P_st - x[t, k(s,t)] - r+_st + r-_st = base_t
        st = np.arange(n_st)
        p_cols = self.offsets[:-1, None] + np.array([b.p0 for b in self.blocks])[:, None]
        p_cols = p_cols + np.arange(n_t)[None, :]
        cols = [p_cols.ravel(), self.x0 + levels.index.ravel(), self.r0 + st, self.r0 + n_st + st]
        link = sparse.coo_array(
            (
                np.concatenate([np.ones(n_st), -np.ones(2 * n_st), np.ones(n_st)]),
                (np.tile(st, 4), np.concatenate(cols)),
            ),
            shape=(n_st, n_cols),
        )
        # the curves' monotonicity: x[j + 1] - x[j] >= 0 within each interval
        same = np.flatnonzero(t_of[1:] == t_of[:-1])
        k = same.size
        mono = sparse.coo_array(
            (
                np.concatenate([np.ones(k), -np.ones(k)]),
                (np.tile(np.arange(k), 2), np.concatenate([self.x0 + same + 1, self.x0 + same])),
            ),
            shape=(k, n_cols),
        )
        blocks = sparse.block_diag([b.matrix for b in self.blocks], format="csc")
        blocks.resize((blocks.shape[0], n_cols))
        matrix = sparse.vstack([blocks, link, mono], format="csc")
        matrix.sum_duplicates()
        row_lo = np.concatenate([b.row_lo for b in self.blocks] + [np.tile(base, n_s), np.zeros(k)])
        row_hi = np.concatenate(
            [b.row_hi for b in self.blocks] + [np.tile(base, n_s), np.full(k, _INF)]
        )
        self.highs = new_highs()
        pass_model(self.highs, cost, col_lo, col_hi, row_lo, row_hi, matrix, integrality)

    def solve(self, options: SolverOptions) -> tuple[FloatArray, str, float]:
        """Column values, model status and objective (a minimisation); raises without a
        feasible point."""
        x, status, info = run(self.highs, options, "the coupled bid model")
        if x is None:
            raise RuntimeError(f"no feasible bid curves found: HiGHS status {status!r}")
        return x, status, float(info.objective_function_value)

    def block_extract(self, sol: FloatArray, s: int) -> Extract:
        """Scenario ``s``'s dispatch by unit."""
        return self.blocks[s].extract(sol[self.offsets[s] : self.offsets[s + 1]])

    def recourse(self, sol: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``r+`` and ``r-`` ``(S, T)`` [MW]."""
        n_s = len(self.blocks)
        r = sol[self.r0 : self.r0 + 2 * self.n_st].reshape(2, n_s, -1)
        return r[0], r[1]


def _range(
    storage: list[StorageUnit], flex: list[FlexUnit], n_t: int
) -> tuple[FloatArray, FloatArray]:
    """The fleet's lowest and highest net power per interval [MW]."""
    lo = -sum((u.spec.p_charge_max_mw for u in storage), 0.0) + np.zeros(n_t)
    hi = sum((u.spec.p_discharge_max_mw for u in storage), 0.0) + np.zeros(n_t)
    for f in flex:
        lo = lo + np.asarray(f.p_min_mw, dtype=np.float64)
        hi = hi + np.asarray(f.p_max_mw, dtype=np.float64)
    return lo, hi
