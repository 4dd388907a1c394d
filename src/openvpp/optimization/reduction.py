"""A small portfolio that behaves like a large one: batteries clustered by their normalised
parameters, each cluster replaced by one virtual battery (the members' sizes summed, the
ratios averaged), envelopes summed into one. Scaling a battery's energy, powers and state
scales its optimal schedule, so for clusters of proportional batteries this is exact; for
heterogeneous ones it is an approximation, used by the decomposition to estimate the price
of the shared grid limit before any unit is solved.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from openvpp.optimization.units import FlexUnit, StorageUnit
from openvpp.resources.models.battery import BatterySpec

__all__ = ["cluster_storage", "reduce_portfolio"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def _features(storage: list[StorageUnit]) -> FloatArray:
    """Scale-free parameters per battery (n, 9): duration [h], charge/discharge power ratio,
    efficiencies, state-of-charge band, initial and target state, degradation cost."""
    rows = []
    for u in storage:
        s = u.spec
        p = max(s.p_discharge_max_mw, s.p_charge_max_mw, 1e-12)
        e = max(s.energy_mwh, 1e-12)
        target = -1.0 if u.end_energy_mwh is None else u.end_energy_mwh / e
        rows.append(
            (
                s.energy_mwh / p,
                s.p_charge_max_mw / p - s.p_discharge_max_mw / p,
                s.eta_charge * s.eta_discharge,
                s.soc_min,
                s.soc_max,
                u.energy0_mwh / e,
                target,
                u.degradation_cost,
                s.self_discharge_per_h * 100,
            )
        )
    return np.array(rows, dtype=np.float64).reshape(len(storage), 9)


def cluster_storage(storage: list[StorageUnit], k: int) -> IntArray:
    """A cluster label per battery (n,): greedy farthest-point seeds on the standardised
    features, then a few Lloyd iterations (deterministic, no random start)."""
    x = _features(storage)
    n = x.shape[0]
    if n <= k:
        return np.arange(n, dtype=np.int64)
    scale = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    centres = [int(np.argmin(np.abs(z).sum(axis=1)))]
    dist = ((z - z[centres[0]]) ** 2).sum(axis=1)
    for _ in range(k - 1):
        nxt = int(np.argmax(dist))
        centres.append(nxt)
        dist = np.minimum(dist, ((z - z[nxt]) ** 2).sum(axis=1))
    c = z[centres]
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(10):
        labels = ((z[:, None, :] - c[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros_like(c)
        np.add.at(sums, labels, z)
        c = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], c)
    _, labels = np.unique(labels, return_inverse=True)
    return labels.astype(np.int64)


def _virtual(members: list[StorageUnit]) -> StorageUnit:
    """One battery with the members' energy, powers and stored energy summed; efficiencies,
    band, self-discharge and degradation averaged (weighted by power or energy)."""
    e = np.array([u.spec.energy_mwh for u in members])
    p = np.array([u.spec.p_discharge_max_mw for u in members])
    we = e / e.sum() if e.sum() > 0 else np.full(e.size, 1 / e.size)
    wp = p / p.sum() if p.sum() > 0 else np.full(p.size, 1 / p.size)
    spec = BatterySpec(
        energy_mwh=float(e.sum()),
        p_charge_max_mw=float(sum(u.spec.p_charge_max_mw for u in members)),
        p_discharge_max_mw=float(p.sum()),
        eta_charge=float(wp @ [u.spec.eta_charge for u in members]),
        eta_discharge=float(wp @ [u.spec.eta_discharge for u in members]),
        soc_min=float(we @ [u.spec.soc_min for u in members]),
        soc_max=float(we @ [u.spec.soc_max for u in members]),
        self_discharge_per_h=float(we @ [u.spec.self_discharge_per_h for u in members]),
    )
    lo, hi = spec.soc_min * spec.energy_mwh, spec.soc_max * spec.energy_mwh
    e0 = float(np.clip(sum(u.energy0_mwh for u in members), lo, hi))
    targets = [u.end_energy_mwh for u in members if u.end_energy_mwh is not None]
    return StorageUnit(
        spec,
        e0,
        end_energy_mwh=float(sum(targets)) if targets else None,
        degradation_cost=float(wp @ [u.degradation_cost for u in members]),
    )


def _summed(flex: list[FlexUnit]) -> FlexUnit:
    """The sum of envelopes (an outer approximation of their joint flexibility)."""

    def total(name: str) -> FloatArray:
        return np.asarray(np.sum([getattr(f, name) for f in flex], axis=0), dtype=np.float64)

    inits = [f.p_initial_mw for f in flex]
    return FlexUnit(
        total("baseline_mw"),
        total("p_min_mw"),
        total("p_max_mw"),
        total("e_min_mwh"),
        total("e_max_mwh"),
        total("ramp_up_mw"),
        total("ramp_down_mw"),
        p_initial_mw=None if any(v is None for v in inits) else float(sum(v or 0.0 for v in inits)),
    )


def reduce_portfolio(
    storage: list[StorageUnit], flex: list[FlexUnit], labels: IntArray
) -> tuple[list[StorageUnit], list[FlexUnit]]:
    """One virtual battery per cluster (``labels``: 0 .. k-1 per battery) and one summed
    envelope."""
    virtual = [
        _virtual([storage[i] for i in np.flatnonzero(labels == c)])
        for c in range(int(labels.max()) + 1 if labels.size else 0)
    ]
    return virtual, ([_summed(flex)] if flex else [])
