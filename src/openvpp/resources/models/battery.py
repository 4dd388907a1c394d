"""Battery storage: state-of-charge dynamics and the feasible power envelope.

Power ``p`` [MW] per interval: positive = discharge (injection), negative = charge.
Energy in [MWh], durations in [h], efficiencies and rates as fractions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class BatterySpec:
    """Parameters of one battery (see ``BatteryParameters`` for units and ranges)."""

    energy_mwh: float
    p_charge_max_mw: float
    p_discharge_max_mw: float
    eta_charge: float
    eta_discharge: float
    soc_min: float  # fraction of energy_mwh
    soc_max: float
    self_discharge_per_h: float = 0.0  # fraction of stored energy lost per hour


def soc_trajectory(spec: BatterySpec, p_mw: FloatArray, soc0_mwh: float, dt_h: float) -> FloatArray:
    """Stored energy after each interval [MWh] for powers ``p_mw`` [MW].

    Self-discharge applies to the energy at the start of each interval; charging stores
    ``-p · eta_charge · dt``, discharging draws ``p / eta_discharge · dt``.
    """
    p = np.asarray(p_mw, dtype=np.float64)
    stored = np.clip(-p, 0.0, None) * spec.eta_charge * dt_h
    drawn = np.clip(p, 0.0, None) / spec.eta_discharge * dt_h
    delta = stored - drawn
    keep = (1.0 - spec.self_discharge_per_h) ** dt_h
    if keep == 1.0:
        return np.asarray(soc0_mwh + np.cumsum(delta), dtype=np.float64)
    # e_t = keep·e_{t-1} + delta_t  →  e_t = keep^t·e_0 + Σ_k keep^{t-k}·delta_k
    n = p.shape[0]
    powers = keep ** np.arange(1, n + 1)
    return np.asarray(powers * soc0_mwh + powers * np.cumsum(delta / powers), dtype=np.float64)


def clip_to_feasible(
    spec: BatterySpec, p_mw: FloatArray, soc0_mwh: float, dt_h: float
) -> FloatArray:
    """The closest feasible powers to ``p_mw``: within the power limits, and never taking the
    stored energy outside ``[soc_min, soc_max] · energy`` by charging or discharging (only
    self-discharge can take it below the minimum). Sequential, since each interval's room
    depends on the ones before."""
    p = np.clip(np.asarray(p_mw, dtype=np.float64), -spec.p_charge_max_mw, spec.p_discharge_max_mw)
    e_min, e_max = spec.soc_min * spec.energy_mwh, spec.soc_max * spec.energy_mwh
    keep = (1.0 - spec.self_discharge_per_h) ** dt_h
    out = np.empty_like(p)
    energy = float(soc0_mwh)
    for i, want in enumerate(p):  # a recurrence: each step needs the previous energy
        start = energy * keep
        max_discharge = max(0.0, (start - e_min) * spec.eta_discharge / dt_h)
        max_charge = max(0.0, (e_max - start) / (spec.eta_charge * dt_h))
        got = min(max(want, -max_charge), max_discharge)
        out[i] = got
        energy = start + (-got * spec.eta_charge if got < 0 else -got / spec.eta_discharge) * dt_h
    return out


def throughput_mwh(p_mw: FloatArray, dt_h: float) -> float:
    """Energy moved through the terminals [MWh] (charge plus discharge), for degradation cost."""
    return float(np.abs(np.asarray(p_mw, dtype=np.float64)).sum() * dt_h)
