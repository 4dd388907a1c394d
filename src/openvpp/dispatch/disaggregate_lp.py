"""Disaggregation as one LP (HiGHS), for when exactness matters: unlike the greedy merit rule
of :mod:`openvpp.dispatch.disaggregate` it looks ahead (keeps battery energy for the intervals
that need it), so it never leaves more residual than the greedy plan on the same fleet.

Columns (``n`` resources, ``m`` storage rows, ``c`` energy-coupled rows, ``T`` intervals):
power ``p`` [MW] and its absolute deviation from the baseline ``u`` [MW] (``n·T`` each), the
residual ``r⁺, r⁻`` [MW] (``T`` each), ramp slacks ``su, sd`` [MW] (``n·T`` each); storage
charge ``ch``, discharge ``dis`` [MW] and stored energy ``e`` [MWh] (``m·T`` each); cumulative
injected energy ``y`` [MWh] with bound slacks ``a, b`` [MWh] (``c·T`` each).

Objective (minimise): residual energy at ``RESIDUAL`` per MWh; ramp and cumulative-energy
violations at ``SLACK`` (above the residual's price: they are only used where the data force
them); deviation from the baseline per MWh divided by the participation weight (the merit
order); a tiny price on charge plus discharge (no simultaneous charging and discharging).
Power limits and storage energy bounds are hard.
"""

from __future__ import annotations

import highspy
import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]

from openvpp.dispatch.disaggregate import Fleet, Plan
from openvpp.markets.clearing.milp import new_highs
from openvpp.optimization.lp import SolverOptions, pass_model, set_options

__all__ = ["RESIDUAL", "SLACK", "disaggregate_lp"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

RESIDUAL = 1e4  # per MWh of residual
SLACK = 1e5  # per MW of ramp excess / MWh of cumulative-energy violation
_CYCLE = 1e-3  # per MWh charged or discharged


class _Rows:
    """Constraint rows as (row, col, value) triplets with their bounds."""

    def __init__(self) -> None:
        self.r: list[IntArray] = []
        self.c: list[IntArray] = []
        self.v: list[FloatArray] = []
        self.lo: list[FloatArray] = []
        self.hi: list[FloatArray] = []
        self.count = 0

    def add(
        self,
        terms: list[tuple[IntArray, FloatArray | float]],
        lo: FloatArray | float,
        hi: FloatArray | float,
        k: int,
    ) -> None:
        """``k`` rows ``lo <= Σ value · x[col] <= hi``. Each term gives, per row, one column
        (``cols`` shape ``(k,)``) or several (``(k, w)``), and the coefficients (broadcast)."""
        rows = self.count + np.arange(k, dtype=np.int64)
        for cols, val in terms:
            c = np.asarray(cols, dtype=np.int64).reshape(k, -1)
            self.r.append(np.repeat(rows, c.shape[1]))
            self.c.append(c.ravel())
            v = np.asarray(val, dtype=np.float64)
            v = v.reshape(c.shape) if v.size == c.size else np.broadcast_to(v, c.shape)
            self.v.append(v.ravel())
        self.lo.append(np.broadcast_to(np.asarray(lo, dtype=np.float64), (k,)).ravel())
        self.hi.append(np.broadcast_to(np.asarray(hi, dtype=np.float64), (k,)).ravel())
        self.count += k


def disaggregate_lp(
    fleet: Fleet,
    target_mw: FloatArray,
    dt_h: float,
    *,
    injected_mwh: FloatArray | None = None,
    options: SolverOptions | None = None,
) -> Plan:
    """Per-resource plans following ``target_mw`` ``(T,)`` [MW] with the least residual energy
    over the whole horizon (see the module docstring); same inputs and result as
    :func:`openvpp.dispatch.disaggregate.disaggregate`."""
    n, t_len = fleet.shape
    nt = n * t_len
    target = np.asarray(target_mw, dtype=np.float64)
    if target.shape != (t_len,):
        raise ValueError(f"target_mw: shape {target.shape} != {(t_len,)}")
    if dt_h <= 0:
        raise ValueError(f"dt_h must be positive, got {dt_h}")
    grid = np.arange(nt, dtype=np.int64).reshape(n, t_len)  # offsets within an (n, T) block
    steps = np.arange(t_len, dtype=np.int64)
    st = fleet.storage
    m = 0 if st is None else len(st.rows)
    e_lo = np.full((n, t_len), -np.inf) if fleet.e_min_mwh is None else fleet.e_min_mwh
    e_hi = np.full((n, t_len), np.inf) if fleet.e_max_mwh is None else fleet.e_max_mwh
    coupled = np.flatnonzero(np.isfinite(e_lo).any(axis=1) | np.isfinite(e_hi).any(axis=1))
    k = coupled.size
    sizes = {"p": nt, "u": nt, "rp": t_len, "rm": t_len, "su": nt, "sd": nt}
    sizes |= {"ch": m * t_len, "dis": m * t_len, "e": m * t_len}
    sizes |= {"y": k * t_len, "a": k * t_len, "b": k * t_len}
    at = dict(zip(sizes, np.cumsum([0, *sizes.values()])[:-1].tolist(), strict=True))
    ncol = sum(sizes.values())
    lo_col, hi_col, cost = np.zeros(ncol), np.full(ncol, np.inf), np.zeros(ncol)

    def span(name: str) -> slice:
        return slice(at[name], at[name] + sizes[name])

    lo_col[span("p")] = fleet.p_min_mw.ravel()
    hi_col[span("p")] = fleet.p_max_mw.ravel()
    weight = np.ones(n) if fleet.weight is None else np.asarray(fleet.weight, dtype=np.float64)
    cost[span("u")] = np.repeat(dt_h / weight, t_len)
    for name in ("rp", "rm"):
        cost[span(name)] = RESIDUAL * dt_h
    for name in ("su", "sd", "a", "b"):
        cost[span(name)] = SLACK
    for name in ("ch", "dis"):
        cost[span(name)] = _CYCLE * dt_h
    lo_col[span("y")] = -np.inf

    rows = _Rows()
    p = at["p"] + grid
    # balance: Σ_i p + r⁺ - r⁻ = target
    rows.add([(p.T, 1.0), (at["rp"] + steps, 1.0), (at["rm"] + steps, -1.0)], target, target, t_len)
    # |p - baseline| <= u
    base = fleet.baseline_mw.ravel()
    u = at["u"] + grid
    rows.add([(p, 1.0), (u, -1.0)], -np.inf, base, nt)
    rows.add([(p, 1.0), (u, 1.0)], base, np.inf, nt)
    _ramps(rows, fleet, p, at["su"] + grid, at["sd"] + grid)
    if st is not None and m:
        mg = np.arange(m * t_len, dtype=np.int64).reshape(m, t_len)
        ch, dis, e = at["ch"] + mg, at["dis"] + mg, at["e"] + mg
        hi_col[span("e")] = np.repeat(st.e_max_mwh, t_len)
        # p = dis - ch
        rows.add([(p[st.rows], 1.0), (dis, -1.0), (ch, 1.0)], 0.0, 0.0, m * t_len)
        # e_t - keep·e_{t-1} - (eta_c·ch - dis/eta_d)·dt = 0, e_{-1} the stored energy now
        keep = ((1.0 - st.self_discharge_per_h) ** dt_h)[:, None] * np.ones((1, t_len))
        e0 = np.asarray(st.energy_mwh, dtype=np.float64)
        rhs = np.zeros((m, t_len))
        rhs[:, 0] = keep[:, 0] * e0
        # below the minimum already (self-discharge): the bound starts where it can
        floor = np.minimum(st.e_min_mwh[:, None], e0[:, None] * np.cumprod(keep, axis=1))
        lo_col[span("e")] = floor.ravel()
        prev = np.where(steps > 0, e - 1, e)
        rows.add(
            [
                (e, 1.0),
                (prev, np.where(steps > 0, -keep, 0.0)),
                (ch, -(st.eta_charge[:, None] * dt_h) * np.ones((1, t_len))),
                (dis, (dt_h / st.eta_discharge[:, None]) * np.ones((1, t_len))),
            ],
            rhs.ravel(),
            rhs.ravel(),
            m * t_len,
        )
    if k:
        kg = np.arange(k * t_len, dtype=np.int64).reshape(k, t_len)
        y, a, b = at["y"] + kg, at["a"] + kg, at["b"] + kg
        ones = np.ones((k, t_len))
        first = np.zeros((k, t_len))
        first[:, 0] = 0.0 if injected_mwh is None else np.asarray(injected_mwh)[coupled]
        # y_t - y_{t-1} - dt·p_t = 0, y_{-1} the energy already injected
        rows.add(
            [(y, 1.0), (np.where(steps > 0, y - 1, y), np.where(steps > 0, -1.0, 0.0) * ones),
             (p[coupled], -dt_h)],
            first.ravel(),
            first.ravel(),
            k * t_len,
        )  # fmt: skip
        rows.add([(y, 1.0), (a, 1.0)], e_lo[coupled].ravel(), np.inf, k * t_len)
        rows.add([(y, 1.0), (b, -1.0)], -np.inf, e_hi[coupled].ravel(), k * t_len)
    x = _solve(rows, cost, lo_col, hi_col, np.zeros(ncol, dtype=np.int64), options)
    if st is not None and m:
        # Charging and discharging at once wastes energy through the efficiencies, which the
        # LP may use to absorb power at a full battery: forbid it with a binary per
        # (battery, interval) where a solution did it, and solve again as a MILP (rounds
        # until no pair does; after a few rounds every pair gets its binary).
        binary = np.zeros(m * t_len, dtype=np.bool_)
        for attempt in range(4):
            both = (np.minimum(x[span("ch")], x[span("dis")]) > 1e-7) & ~binary
            if not both.any():
                break
            new = np.flatnonzero(~binary) if attempt == 3 else np.flatnonzero(both)
            binary[new] = True
            z = cost.size + np.arange(new.size, dtype=np.int64)
            cost = np.concatenate([cost, np.zeros(new.size)])
            lo_col = np.concatenate([lo_col, np.zeros(new.size)])
            hi_col = np.concatenate([hi_col, np.ones(new.size)])
            r, t = st.rows[new // t_len], new % t_len
            ch_max = np.maximum(-fleet.p_min_mw[r, t], 0.0)
            dis_max = np.maximum(fleet.p_max_mw[r, t], 0.0)
            # ch <= ch_max * z ; dis <= dis_max * (1 - z)
            rows.add([(at["ch"] + new, 1.0), (z, -ch_max)], -np.inf, 0.0, new.size)
            rows.add([(at["dis"] + new, 1.0), (z, dis_max)], -np.inf, dis_max, new.size)
            integrality = np.zeros(cost.size, dtype=np.int64)
            integrality[ncol:] = 1
            x = _solve(rows, cost, lo_col, hi_col, integrality, options)
    plan = np.clip(x[span("p")].reshape(n, t_len), fleet.p_min_mw, fleet.p_max_mw)
    residual = target - plan.sum(axis=0)
    residual[np.abs(residual) < 1e-7] = 0.0
    stored = None
    if st is not None:
        energy = x[span("e")].reshape(m, t_len)
        stored = np.concatenate([np.asarray(st.energy_mwh, dtype=np.float64)[:, None], energy], 1)
    return Plan(plan, residual, stored)


def _ramps(rows: _Rows, fleet: Fleet, p: IntArray, su: IntArray, sd: IntArray) -> None:
    """``-down <= p_t - p_{t-1} - su + sd <= up`` where the ramp is finite (and into the
    first interval from ``p0_mw`` when given)."""
    n, t_len = p.shape
    up = np.broadcast_to(np.asarray(fleet.ramp_up_mw, dtype=np.float64).reshape(n, -1), (n, t_len))
    dn = np.broadcast_to(
        np.asarray(fleet.ramp_down_mw, dtype=np.float64).reshape(n, -1), (n, t_len)
    )
    limited = np.isfinite(up) | np.isfinite(dn)
    inner = limited.copy()
    inner[:, 0] = False
    if inner.any():
        i, t = np.nonzero(inner)
        rows.add(
            [(p[i, t], 1.0), (p[i, t - 1], -1.0), (su[i, t], -1.0), (sd[i, t], 1.0)],
            -dn[i, t],
            up[i, t],
            i.size,
        )
    if fleet.p0_mw is not None and limited[:, 0].any():
        i = np.flatnonzero(limited[:, 0])
        p0 = np.asarray(fleet.p0_mw, dtype=np.float64)[i]
        rows.add(
            [(p[i, 0], 1.0), (su[i, 0], -1.0), (sd[i, 0], 1.0)],
            p0 - dn[i, 0],
            p0 + up[i, 0],
            i.size,
        )


def _solve(
    rows: _Rows,
    cost: FloatArray,
    lo_col: FloatArray,
    hi_col: FloatArray,
    integrality: IntArray,
    options: SolverOptions | None,
) -> FloatArray:
    ncol = cost.size
    matrix = sparse.csc_array(
        (np.concatenate(rows.v), (np.concatenate(rows.r), np.concatenate(rows.c))),
        shape=(rows.count, ncol),
    )
    h = new_highs()
    set_options(h, options or SolverOptions())
    pass_model(
        h,
        cost,
        lo_col,
        hi_col,
        np.concatenate(rows.lo),
        np.concatenate(rows.hi),
        matrix,
        integrality,
    )
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:  # the soft constraints keep it feasible
        raise RuntimeError(f"disaggregation LP not solved: {h.modelStatusToString(status)}")
    return np.asarray(h.getSolution().col_value, dtype=np.float64)
