"""EV charging fleet: aggregate power and energy bounds from charging sessions.

Each session ``i`` is connected from ``arrival_h[i]`` to ``departure_h[i]`` [h, on the horizon's
clock], asks for ``energy_mwh[i]`` and charges at up to ``p_max_mw[i]``. For intervals of
``dt_h`` starting at ``starts_h`` the fleet can draw at most the connected chargers' power, and
the energy delivered by the end of each interval lies between charging as late as possible
(``e_min``) and as early as possible (``e_max``). Vectorized over sessions x intervals.

Sign convention: drawing power is negative injection, so the fleet's power lies in
``[-p_charge_max, 0]``; energies are delivered (positive) [MWh].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class FleetBounds:
    p_charge_max_mw: FloatArray  # per interval, average over the interval [MW]
    e_min_mwh: FloatArray  # cumulative energy delivered by each interval's end, lower bound
    e_max_mwh: FloatArray  # upper bound
    served_mwh: float  # energy the sessions can receive at all (requests capped by time)


def fleet_bounds(
    arrival_h: FloatArray,
    departure_h: FloatArray,
    energy_mwh: FloatArray,
    p_max_mw: FloatArray,
    starts_h: FloatArray,
    dt_h: float,
) -> FleetBounds:
    a = np.asarray(arrival_h, dtype=np.float64)[:, None]
    d = np.asarray(departure_h, dtype=np.float64)[:, None]
    p = np.asarray(p_max_mw, dtype=np.float64)[:, None]
    if np.any(d < a):
        raise ValueError("a session departs before it arrives")
    # A request larger than the connection allows is served only up to what fits.
    e = np.minimum(np.asarray(energy_mwh, dtype=np.float64)[:, None], p * (d - a))
    t0 = np.asarray(starts_h, dtype=np.float64)[None, :]
    t1 = t0 + dt_h
    connected = np.clip(np.minimum(d, t1) - np.maximum(a, t0), 0.0, dt_h) / dt_h
    p_cap = (p * connected).sum(axis=0)
    early = np.minimum(e, p * np.clip(t1 - a, 0.0, None))  # charge from arrival at full power
    late = np.maximum(0.0, e - p * np.clip(d - t1, 0.0, None))  # finish just at departure
    return FleetBounds(
        p_charge_max_mw=p_cap,
        e_min_mwh=late.sum(axis=0),
        e_max_mwh=early.sum(axis=0),
        served_mwh=float(e.sum()),
    )
