"""Heat pump with thermal storage (a building's thermal mass or a tank).

Electric power ``p_el`` [MW] drawn per interval lies in ``[0, p_el_max]`` (positive here =
consumption; as injection it is ``-p_el``) and delivers ``cop * p_el`` [MW_th] of heat. Heat
demand ``demand_th`` [MW_th] drains the storage, whose energy ``E_th`` [MWh_th] lies in
``[0, thermal_capacity]``, mapped linearly onto the comfort band: ``E = 0`` at
``comfort_min_c``, ``E = capacity`` at ``comfort_max_c``. Durations in [h].

Functions take intervals on the last axis, so a stack of resources sharing one spec can be
passed as ``(n_resources, n_intervals)`` arrays (with ``e0_mwh`` of shape ``(n_resources,)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

_TOL = 1e-9


@dataclass(frozen=True)
class HeatPumpSpec:
    """Parameters of one heat pump (see ``HeatPumpParametersV2`` for units and ranges)."""

    p_el_max_mw: float
    cop: float  # heat delivered per electric energy [1]
    thermal_capacity_mwh: float  # storage between the comfort band's edges [MWh_th]
    comfort_min_c: float  # [degC]
    comfort_max_c: float  # [degC]

    def __post_init__(self) -> None:
        if self.p_el_max_mw <= 0.0 or self.cop <= 0.0 or self.thermal_capacity_mwh <= 0.0:
            raise ValueError("p_el_max_mw, cop and thermal_capacity_mwh must be positive")
        if self.comfort_min_c >= self.comfort_max_c:
            raise ValueError("comfort_min_c must be below comfort_max_c")


def storage_energy_mwh(spec: HeatPumpSpec, temperature_c: ArrayLike) -> FloatArray:
    """Stored energy [MWh_th] for a temperature [degC], clipped to the comfort band."""
    frac = (np.asarray(temperature_c, dtype=np.float64) - spec.comfort_min_c) / (
        spec.comfort_max_c - spec.comfort_min_c
    )
    return np.asarray(np.clip(frac, 0.0, 1.0) * spec.thermal_capacity_mwh, dtype=np.float64)


def storage_temperature_c(spec: HeatPumpSpec, e_mwh: ArrayLike) -> FloatArray:
    """Temperature [degC] for a stored energy [MWh_th] (linear; not clipped)."""
    frac = np.asarray(e_mwh, dtype=np.float64) / spec.thermal_capacity_mwh
    return np.asarray(
        spec.comfort_min_c + frac * (spec.comfort_max_c - spec.comfort_min_c), dtype=np.float64
    )


def demand_from_temperature(
    outdoor_c: ArrayLike, heat_loss_mw_per_k: ArrayLike, indoor_c: ArrayLike
) -> FloatArray:
    """Heat demand [MW_th]: ``heat_loss * (indoor - outdoor)``, zero when it is warmer outside.

    Arguments broadcast, e.g. outdoor temperatures ``(n_intervals,)`` [degC] with heat losses
    ``(n_resources, 1)`` [MW_th/K] give ``(n_resources, n_intervals)``.
    """
    gap = np.asarray(indoor_c, dtype=np.float64) - np.asarray(outdoor_c, dtype=np.float64)
    return np.asarray(
        np.clip(np.asarray(heat_loss_mw_per_k, dtype=np.float64) * gap, 0.0, None),
        dtype=np.float64,
    )


def storage_trajectory(
    spec: HeatPumpSpec,
    p_el_mw: FloatArray,
    demand_th_mw: FloatArray,
    e0_mwh: float | FloatArray,
    dt_h: float,
) -> FloatArray:
    """Stored energy after each interval [MWh_th]: ``e0 + cumsum((cop * p_el - demand) * dt)``.

    Not clipped to the band: values outside ``[0, thermal_capacity]`` mean the comfort band
    was left."""
    p = np.asarray(p_el_mw, dtype=np.float64)
    d = np.asarray(demand_th_mw, dtype=np.float64)
    e0 = np.asarray(e0_mwh, dtype=np.float64)[..., None]
    return np.asarray(e0 + np.cumsum((spec.cop * p - d) * dt_h, axis=-1), dtype=np.float64)


@dataclass(frozen=True)
class HeatPumpBounds:
    """Per-interval flexibility of a heat pump. Powers [MW] are consumption (positive);
    energies [MWh] are electric energy consumed from the horizon's start to each interval's
    end. Any cumulative consumption path between ``e_min`` and ``e_max`` whose steps lie in
    ``[0, p_el_max * dt]`` keeps the storage in the band (where that is possible at all)."""

    baseline_mw: FloatArray  # holds the storage level: demand / cop, up to p_el_max
    p_el_min_mw: FloatArray  # least consumption in the interval on any feasible path
    p_el_max_mw: FloatArray  # most consumption in the interval on any feasible path
    e_min_mwh: FloatArray  # consume as late as possible (storage just stays >= 0)
    e_max_mwh: FloatArray  # consume as early as possible (storage just stays <= capacity)
    deficit_th_mwh: FloatArray  # largest shortfall below the band even at full power, >= 0


def heat_pump_bounds(
    spec: HeatPumpSpec,
    demand_th_mw: FloatArray,
    e0_mwh: float | FloatArray,
    dt_h: float,
) -> HeatPumpBounds:
    """Bounds for heat demand ``demand_th_mw`` [MW_th] per interval of ``dt_h`` [h], from
    stored energy ``e0_mwh`` [MWh_th] (which must lie in ``[0, thermal_capacity]``; see
    ``storage_energy_mwh``).

    With ``D_j`` the heat demanded in the first ``j`` intervals, the consumption ``E_j``
    must satisfy ``lo_j = (D_j - e0) / cop <= E_j <= (capacity + D_j - e0) / cop = hi_j`` and
    grow by ``0 ... p_el_max * dt`` per interval. Earliest: ``E_j = min over k <= j of
    (hi_k + (j - k) * step)``, also at most ``j * step``; latest: ``E_j = max over k >= j of
    (lo_k - (k - j) * step)``, at least 0. Where the demand outruns the heat pump, the latest
    path is capped at the earliest (full power) and the gap is reported as ``deficit_th_mwh``.
    """
    d = np.asarray(demand_th_mw, dtype=np.float64)
    e0 = np.asarray(e0_mwh, dtype=np.float64)
    if np.any(d < 0.0):
        raise ValueError("heat demand must not be negative")
    if np.any((e0 < -_TOL) | (e0 > spec.thermal_capacity_mwh + _TOL)):
        raise ValueError("e0_mwh must lie in [0, thermal_capacity_mwh]")
    e0 = np.clip(e0, 0.0, spec.thermal_capacity_mwh)
    step = spec.p_el_max_mw * dt_h
    n = d.shape[-1]
    j = np.arange(1, n + 1, dtype=np.float64)
    demanded = np.cumsum(d * dt_h, axis=-1)
    lo = (demanded - e0[..., None]) / spec.cop
    hi = (spec.thermal_capacity_mwh + demanded - e0[..., None]) / spec.cop
    early = j * step + np.minimum(0.0, np.minimum.accumulate(hi - j * step, axis=-1))
    late_raw = np.flip(np.maximum.accumulate(np.flip(lo - j * step, -1), axis=-1), -1) + j * step
    late = np.minimum(np.maximum(late_raw, 0.0), early)
    deficit = np.clip((lo - early) * spec.cop, 0.0, None).max(axis=-1, initial=0.0)
    # Per interval: from the lowest (highest) level before it to the highest (lowest) after.
    late_before = np.concatenate([np.zeros_like(late[..., :1]), late[..., :-1]], axis=-1)
    early_before = np.concatenate([np.zeros_like(early[..., :1]), early[..., :-1]], axis=-1)
    p_max = np.clip((early - late_before) / dt_h, 0.0, spec.p_el_max_mw)
    p_min = np.clip((late - early_before) / dt_h, 0.0, spec.p_el_max_mw)
    return HeatPumpBounds(
        baseline_mw=np.clip(d / spec.cop, 0.0, spec.p_el_max_mw),
        p_el_min_mw=p_min,
        p_el_max_mw=p_max,
        e_min_mwh=late,
        e_max_mwh=early,
        deficit_th_mwh=np.asarray(deficit, dtype=np.float64),
    )
