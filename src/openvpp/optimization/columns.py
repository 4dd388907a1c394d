"""Columns for the decomposition's master that need no solve (idle, the reduced portfolio's
schedule shared out), and the final schedule from the master's weights."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from openvpp.optimization.lp import Extract, Penalties, ScheduleLp, SolverOptions
from openvpp.optimization.schedule import SIMULTANEOUS_TOL, ScheduleMarket, optimize_schedule
from openvpp.optimization.units import FlexUnit, StorageUnit, Unit
from openvpp.resources.models.battery import clip_to_feasible, soc_trajectory

__all__ = ["columns_from_power", "combine", "disaggregated"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def columns_from_power(lp: ScheduleLp, p_storage: FloatArray, p_flex: FloatArray) -> FloatArray:
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


def disaggregated(
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
    return columns_from_power(lp, p_s, p_f)


def combine(
    columns: list[Extract],
    weights: FloatArray,
    units: tuple[list[StorageUnit], list[FlexUnit]],
    market: ScheduleMarket,
    pen: Penalties,
    repair: tuple[int, SolverOptions],
) -> tuple[Extract, int]:
    """Each unit's schedule: the master's mix of its columns. The units the master mixes
    (at most as many as binding grid rows in a basic solution) are re-optimized together in
    one LP, the others held at their column and their total taken off the grid limits: the
    mix is feasible there, so this only gains, and the LP's switches keep batteries from
    charging and discharging at once. Above ``repair[0]`` mixed units, a mixed
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
    if 0 < mixed.size <= repair[0]:
        _reoptimize(parts, mixed, storage, flex, market, pen, repair[1], (exp, imp))
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
    solver: SolverOptions,
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
    r = optimize_schedule(chosen, sub, penalties=pen, options=solver)
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
