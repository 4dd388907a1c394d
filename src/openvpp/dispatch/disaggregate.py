"""Disaggregation: the awarded VPP schedule turned into per-resource power plans.

**Merit rule** (per interval, vectorized over resources; intervals in order because ramps,
cumulative energy and state of charge couple them):

1. Each resource's feasible window ``[lo, hi]`` [MW] for the interval: its power limits,
   tightened by its cumulative-energy bounds (shiftable loads, EV depots, heat pumps: bounds
   tightened backwards first, so that a forward pass never strands a resource short of a later
   energy requirement), by its storage state (batteries: what the stored energy allows after
   self-discharge, through the efficiencies), then by its ramp limits from its previous power.
   Power limits always win: a ramp or energy bound never pushes a plan outside
   ``[p_min, p_max]``.
2. Start from the baseline (forecast) clipped to the window.
3. The VPP deviation ``target - Σ start`` is shared in proportion to each resource's headroom
   in the needed direction (``hi - start`` up, ``start - lo`` down), times an optional
   participation weight (a merit order: e.g. inverse cost). Without weights the shares never
   exceed the headroom; with weights, capped shares are removed and the remainder is shared
   again among the resources with room left (water-filling).
4. What the fleet cannot follow is the **residual** [MW] (``target - Σ plan``, positive:
   fleet short of injection); no limit is ever violated to reduce it.
5. Cumulative energy and stored energy are carried to the next interval.

The rule is greedy in time: it does not hold battery energy back for later intervals (an LP
would); for a day-ahead plan the schedule already respects the aggregate energy envelope.

Powers [MW] injection positive; energy [MWh]; ``dt_h`` [h]; ramp limits [MW per interval].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from openvpp.aggregation.engine import Flex
from openvpp.resources.models.battery import BatterySpec

__all__ = ["Fleet", "Plan", "Storage", "disaggregate", "redispatch", "share_deviation"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_TOL_MW = 1e-9


@dataclass(frozen=True)
class Storage:
    """The storage rows of a fleet (batteries), ``(m,)`` arrays.

    ``rows`` index the fleet's resources; ``energy_mwh`` is the stored energy at the start of
    the horizon [MWh]; ``e_min_mwh``/``e_max_mwh`` its bounds [MWh]; efficiencies and the
    self-discharge rate [fraction, per h] as in :mod:`openvpp.resources.models.battery`.
    """

    rows: IntArray
    energy_mwh: FloatArray
    e_min_mwh: FloatArray
    e_max_mwh: FloatArray
    eta_charge: FloatArray
    eta_discharge: FloatArray
    self_discharge_per_h: FloatArray

    @classmethod
    def from_specs(
        cls, rows: Sequence[int], specs: Sequence[BatterySpec], energy_mwh: Sequence[float]
    ) -> Storage:
        """From the battery model's specs and the stored energies [MWh] now."""

        def col(name: str) -> FloatArray:
            return np.array([float(getattr(s, name)) for s in specs], dtype=np.float64)

        energy = col("energy_mwh")
        return cls(
            np.asarray(rows, dtype=np.int64),
            np.asarray(energy_mwh, dtype=np.float64),
            col("soc_min") * energy,
            col("soc_max") * energy,
            col("eta_charge"),
            col("eta_discharge"),
            col("self_discharge_per_h"),
        )

    def at(self, energy_mwh: FloatArray) -> Storage:
        """The same storage with another stored energy [MWh] (e.g. measured)."""
        return replace(self, energy_mwh=np.asarray(energy_mwh, dtype=np.float64))


@dataclass(frozen=True)
class Fleet:
    """What disaggregation needs of ``n`` resources over ``T`` intervals.

    ``baseline_mw``, ``p_min_mw``, ``p_max_mw``: ``(n, T)`` [MW]. ``ramp_up_mw`` /
    ``ramp_down_mw``: largest change into an interval from the one before [MW per interval],
    ``(n,)`` or ``(n, T)``. ``p0_mw``: power just before the horizon (``None``: no ramp
    constraint into the first interval). ``e_min_mwh``/``e_max_mwh``: bounds on the cumulative
    injected energy from the horizon's start to each interval's end ``(n, T)`` (``None``: none;
    ±inf rows: none for that resource). ``weight``: participation weights ``(n,)`` (> 0).
    """

    resource_ids: tuple[str, ...]
    baseline_mw: FloatArray
    p_min_mw: FloatArray
    p_max_mw: FloatArray
    ramp_up_mw: FloatArray
    ramp_down_mw: FloatArray
    p0_mw: FloatArray | None = None
    e_min_mwh: FloatArray | None = None
    e_max_mwh: FloatArray | None = None
    storage: Storage | None = None
    weight: FloatArray | None = None

    def __post_init__(self) -> None:
        n, t = np.shape(self.baseline_mw)
        if len(self.resource_ids) != n:
            raise ValueError(f"resource_ids: {len(self.resource_ids)} ids for {n} rows")
        for name in ("p_min_mw", "p_max_mw"):
            if np.shape(getattr(self, name)) != (n, t):
                raise ValueError(f"{name}: shape {np.shape(getattr(self, name))} != {(n, t)}")
        if np.any(self.p_min_mw > self.p_max_mw + _TOL_MW):
            raise ValueError("p_min_mw exceeds p_max_mw")
        if self.weight is not None and np.any(np.asarray(self.weight) <= 0):
            raise ValueError("weight must be positive")

    @property
    def shape(self) -> tuple[int, int]:
        n, t = np.shape(self.baseline_mw)
        return int(n), int(t)

    @classmethod
    def from_flex(
        cls,
        resource_ids: Sequence[str],
        flex: Flex,
        *,
        storage: Storage | None = None,
        p0_mw: FloatArray | None = None,
        weight: FloatArray | None = None,
    ) -> Fleet:
        """From an aggregation stack (the ``(n, T)`` fields of an engine ``Flex``, e.g. the
        per-type builders' output). Storage rows drop the stack's nominal energy
        envelope: their stored energy is tracked through :class:`Storage` instead."""
        e_min = np.array(flex.e_min_mwh, dtype=np.float64)
        e_max = np.array(flex.e_max_mwh, dtype=np.float64)
        if storage is not None:
            e_min[storage.rows], e_max[storage.rows] = -np.inf, np.inf
        return cls(
            tuple(resource_ids),
            np.asarray(flex.baseline_mw, dtype=np.float64),
            np.asarray(flex.p_min_mw, dtype=np.float64),
            np.asarray(flex.p_max_mw, dtype=np.float64),
            np.asarray(flex.ramp_up_mw, dtype=np.float64),
            np.asarray(flex.ramp_down_mw, dtype=np.float64),
            p0_mw,
            e_min,
            e_max,
            storage,
            weight,
        )

    def tail(self, k: int) -> Fleet:
        """The fleet from interval ``k`` on; cumulative energy bounds re-based to the energy
        the plan moved before ``k`` is unknown here, so the caller passes it to
        :func:`redispatch` (``injected_mwh``)."""

        def cut(a: FloatArray | None) -> FloatArray | None:
            if a is None:
                return None
            arr = np.asarray(a)
            return arr[:, k:] if arr.ndim == 2 else arr

        return replace(
            self,
            baseline_mw=self.baseline_mw[:, k:],
            p_min_mw=self.p_min_mw[:, k:],
            p_max_mw=self.p_max_mw[:, k:],
            ramp_up_mw=cut(self.ramp_up_mw),  # type: ignore[arg-type]
            ramp_down_mw=cut(self.ramp_down_mw),  # type: ignore[arg-type]
            e_min_mwh=cut(self.e_min_mwh),
            e_max_mwh=cut(self.e_max_mwh),
        )


@dataclass(frozen=True)
class Plan:
    """Per-resource powers ``p_mw`` ``(n, T)`` [MW]; ``residual_mw`` ``(T,)`` [MW] the
    schedule minus what the fleet delivers (positive: short of injection); ``stored_mwh``
    ``(m, T + 1)`` [MWh] the storage rows' energy at each interval boundary."""

    p_mw: FloatArray
    residual_mw: FloatArray
    stored_mwh: FloatArray | None

    @property
    def total_mw(self) -> FloatArray:
        return np.asarray(self.p_mw.sum(axis=0), dtype=np.float64)


def share_deviation(
    start: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    target: float,
    weight: FloatArray | None = None,
) -> tuple[FloatArray, float]:
    """Move ``start`` [MW] within ``[lo, hi]`` so that its sum approaches ``target`` [MW]: the
    deviation shared in proportion to headroom (times weight, water-filled when weighted).
    Returns the powers and the residual ``target - Σ powers`` (0 when reachable)."""
    dev = target - float(start.sum())
    if abs(dev) <= _TOL_MW:
        return start.copy(), 0.0
    up = dev > 0
    room = (hi - start) if up else (start - lo)
    total = float(room.sum())
    sign = 1.0 if up else -1.0
    if abs(dev) >= total:
        return (hi if up else lo).copy(), dev - sign * total
    if weight is None:
        return start + room * (dev / total), 0.0
    left = room.copy()
    given = np.zeros_like(start)
    remaining = abs(dev)
    key = weight * room
    for _ in range(32):  # each round caps at least one resource or finishes
        active_key = np.where(left > _TOL_MW, key, 0.0)
        s = float(active_key.sum())
        if s <= 0 or remaining <= _TOL_MW:
            break
        give = np.minimum(active_key * (remaining / s), left)
        given += give
        left -= give
        remaining -= float(give.sum())
    if remaining > _TOL_MW:  # leftover after the rounds: plain headroom shares (exact)
        given += left * (remaining / float(left.sum()))
    return start + sign * given, 0.0


def _tightened(
    e_min: FloatArray, e_max: FloatArray, p_min: FloatArray, p_max: FloatArray, dt_h: float
) -> tuple[FloatArray, FloatArray]:
    """Cumulative-energy bounds [MWh] from which every later bound stays reachable.
    Inputs and outputs interval-major ``(T, n)``."""
    lo, hi = np.array(e_min, dtype=np.float64), np.array(e_max, dtype=np.float64)
    for t in range(lo.shape[0] - 2, -1, -1):
        np.maximum(lo[t], lo[t + 1] - p_max[t + 1] * dt_h, out=lo[t])
        np.minimum(hi[t], hi[t + 1] - p_min[t + 1] * dt_h, out=hi[t])
    return lo, hi


def disaggregate(
    fleet: Fleet,
    target_mw: FloatArray,
    dt_h: float,
    *,
    injected_mwh: FloatArray | None = None,
) -> Plan:
    """Per-resource plans following ``target_mw`` ``(T,)`` [MW] (see the module docstring).

    ``injected_mwh`` ``(n,)``: cumulative energy already injected against the fleet's
    cumulative-energy bounds (0 at the start of the horizon).
    """
    n, t_len = fleet.shape
    target = np.asarray(target_mw, dtype=np.float64)
    if target.shape != (t_len,):
        raise ValueError(f"target_mw: shape {target.shape} != {(t_len,)}")
    if dt_h <= 0:
        raise ValueError(f"dt_h must be positive, got {dt_h}")
    # interval-major copies: each step reads contiguous rows
    p_min, p_max = _im(fleet.p_min_mw, t_len, n), _im(fleet.p_max_mw, t_len, n)
    baseline = _im(fleet.baseline_mw, t_len, n)
    r_up, r_dn = _im(fleet.ramp_up_mw, t_len, n), _im(fleet.ramp_down_mw, t_len, n)
    coupled = fleet.e_min_mwh is not None and fleet.e_max_mwh is not None
    if coupled:
        e_lo, e_hi = _tightened(
            _im(fleet.e_min_mwh, t_len, n), _im(fleet.e_max_mwh, t_len, n), p_min, p_max, dt_h
        )
        cum = np.zeros(n) if injected_mwh is None else np.array(injected_mwh, dtype=np.float64)
    st = fleet.storage
    if st is not None:
        keep = (1.0 - st.self_discharge_per_h) ** dt_h
        energy = np.array(st.energy_mwh, dtype=np.float64)
        stored = np.empty((len(st.rows), t_len + 1))
        stored[:, 0] = energy
    weight = None if fleet.weight is None else np.asarray(fleet.weight, dtype=np.float64)
    prev = None if fleet.p0_mw is None else np.asarray(fleet.p0_mw, dtype=np.float64)
    plan = np.empty((t_len, n))
    residual = np.zeros(t_len)
    for t in range(t_len):  # a recurrence: ramps, energy and storage carry over
        lo, hi = p_min[t].copy(), p_max[t].copy()
        if coupled:
            lo = np.maximum(lo, (e_lo[t] - cum) / dt_h)
            hi = np.minimum(hi, (e_hi[t] - cum) / dt_h)
        if st is not None:
            start = energy * keep
            max_dis = np.maximum(0.0, (start - st.e_min_mwh) * st.eta_discharge / dt_h)
            max_ch = np.maximum(0.0, (st.e_max_mwh - start) / (st.eta_charge * dt_h))
            hi[st.rows] = np.minimum(hi[st.rows], max_dis)
            lo[st.rows] = np.maximum(lo[st.rows], -max_ch)
        # power limits win over energy bounds that cannot be met
        hi = np.clip(hi, p_min[t], p_max[t])
        lo = np.clip(lo, p_min[t], hi)
        if prev is not None:  # ramps within what the limits allow
            lo, hi = np.clip(prev - r_dn[t], lo, hi), np.clip(prev + r_up[t], lo, hi)
        base = np.clip(baseline[t], lo, hi)
        x, residual[t] = share_deviation(base, lo, hi, float(target[t]), weight)
        plan[t] = x
        prev = x
        if coupled:
            cum += x * dt_h
        if st is not None:
            xs = x[st.rows]
            energy = (
                start
                + (np.maximum(-xs, 0.0) * st.eta_charge - np.maximum(xs, 0.0) / st.eta_discharge)
                * dt_h
            )
            stored[:, t + 1] = energy
    return Plan(np.ascontiguousarray(plan.T), residual, stored if st is not None else None)


def _im(a: FloatArray | None, t_len: int, n: int) -> FloatArray:
    """``(n,)`` or ``(n, T)`` per-resource values as a contiguous ``(T, n)`` array."""
    arr = np.asarray(a, dtype=np.float64)
    return np.ascontiguousarray(np.broadcast_to(arr.T if arr.ndim == 2 else arr, (t_len, n)))


def redispatch(
    fleet: Fleet,
    target_mw: FloatArray,
    dt_h: float,
    *,
    measured_mw: FloatArray,
    stored_mwh: FloatArray | None = None,
    responsive: NDArray[np.bool_] | None = None,
    catch_up_mw: float = 0.0,
    injected_mwh: FloatArray | None = None,
) -> Plan:
    """Re-plan the remaining intervals of a running schedule (closed loop).

    ``fleet`` and ``target_mw`` cover the remaining intervals, the first being the current
    one (``Fleet.tail``). ``measured_mw`` ``(n,)``: each resource's measured power [MW] (the
    ramps start from it); ``stored_mwh`` ``(m,)``: the storage rows' measured energy [MWh];
    ``responsive`` ``(n,)``: resources that follow setpoints — the others (fault, link lost,
    ignoring setpoints) are held at their measured power and the rest of the fleet covers
    for them; ``catch_up_mw``: extra power [MW] over the rest of the current interval that
    cancels the energy deviation accrued in it so far (``deviation_mwh / remaining_h``, sign
    as the residual: positive asks for more injection). ``injected_mwh``: cumulative energy
    already moved against the cumulative-energy bounds.
    """
    n, t_len = fleet.shape
    measured = np.asarray(measured_mw, dtype=np.float64)
    held = np.zeros(n, dtype=np.bool_) if responsive is None else ~np.asarray(responsive)
    pin = np.where(held[:, None], measured[:, None], np.nan)
    fixed = np.isfinite(pin)
    storage = fleet.storage
    if storage is not None and stored_mwh is not None:
        storage = storage.at(np.asarray(stored_mwh, dtype=np.float64))
    target = np.array(target_mw, dtype=np.float64)
    if t_len:
        target[0] += catch_up_mw
    ramp_up = np.where(held[:, None], np.inf, np.asarray(fleet.ramp_up_mw).reshape(n, -1))
    ramp_dn = np.where(held[:, None], np.inf, np.asarray(fleet.ramp_down_mw).reshape(n, -1))
    live = replace(
        fleet,
        baseline_mw=np.where(fixed, pin, fleet.baseline_mw),
        p_min_mw=np.where(fixed, pin, fleet.p_min_mw),
        p_max_mw=np.where(fixed, pin, fleet.p_max_mw),
        ramp_up_mw=ramp_up,
        ramp_down_mw=ramp_dn,
        p0_mw=measured,
        storage=storage,
    )
    return disaggregate(live, target, dt_h, injected_mwh=injected_mwh)
