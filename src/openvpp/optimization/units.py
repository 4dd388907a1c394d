"""The units a schedule is optimized for: storage (a battery with its state) and generic
flexibility envelopes (one resource's or a whole VPP's :class:`~openvpp.aggregation.engine.Flex`).

Power [MW] per interval: positive = injection (generation, discharge), negative = withdrawal
(charging, consumption). Energy [MWh], prices and costs [currency/MWh].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from openvpp.aggregation.engine import Flex
from openvpp.resources.models.battery import BatterySpec

__all__ = ["FlexUnit", "StorageUnit", "Unit"]

FloatArray = NDArray[np.float64]

_TOL = 1e-9


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


@dataclass(frozen=True)
class StorageUnit:
    """A battery: its :class:`BatterySpec`, the energy stored at the horizon's start [MWh],
    an optional energy to hold at least at the horizon's end [MWh] (soft: a shortfall costs
    the energy penalty) and a degradation cost [currency/MWh] charged on throughput (charged
    plus discharged energy at the terminals)."""

    spec: BatterySpec
    energy0_mwh: float
    end_energy_mwh: float | None = None
    degradation_cost: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        s = self.spec
        for name in ("energy_mwh", "p_charge_max_mw", "p_discharge_max_mw"):
            value = float(getattr(s, name))
            _check_finite(f"spec.{name}", value)
            if value < 0:
                raise ValueError(f"spec.{name} must be >= 0, got {value}")
        for name in ("eta_charge", "eta_discharge"):
            value = float(getattr(s, name))
            if not 0 < value <= 1:
                raise ValueError(f"spec.{name} must lie in (0, 1], got {value}")
        if not 0 <= s.soc_min <= s.soc_max <= 1:
            raise ValueError(
                f"spec.soc_min/soc_max must satisfy 0 <= soc_min <= soc_max <= 1, "
                f"got {s.soc_min}, {s.soc_max}"
            )
        if not 0 <= s.self_discharge_per_h < 1:
            raise ValueError(
                f"spec.self_discharge_per_h must lie in [0, 1), got {s.self_discharge_per_h}"
            )
        _check_finite("energy0_mwh", self.energy0_mwh)
        lo, hi = self.e_min_mwh, self.e_max_mwh
        if not lo - _TOL <= self.energy0_mwh <= hi + _TOL:
            raise ValueError(
                f"energy0_mwh {self.energy0_mwh} outside the state-of-charge band [{lo}, {hi}]"
            )
        if self.end_energy_mwh is not None:
            _check_finite("end_energy_mwh", self.end_energy_mwh)
            if self.end_energy_mwh < 0:
                raise ValueError(f"end_energy_mwh must be >= 0, got {self.end_energy_mwh}")
        _check_finite("degradation_cost", self.degradation_cost)
        if self.degradation_cost < 0:
            raise ValueError(f"degradation_cost must be >= 0, got {self.degradation_cost}")

    @property
    def e_min_mwh(self) -> float:
        """Lowest stored energy [MWh]."""
        return self.spec.soc_min * self.spec.energy_mwh

    @property
    def e_max_mwh(self) -> float:
        """Highest stored energy [MWh]."""
        return self.spec.soc_max * self.spec.energy_mwh


@dataclass(frozen=True)
class FlexUnit:
    """A flexibility envelope over the horizon (arrays of length ``T``): baseline, lowest and
    highest power [MW], cumulative injected energy bounds from the horizon's start to each
    interval's end [MWh], and the largest increase / decrease of power into each interval
    from the one before [MW]. ``p_initial_mw`` (the power just before the horizon) makes the
    first interval's ramp binding; without it the first interval is free.

    Energy and ramp limits are soft (their violation costs the penalties); power limits hard.
    """

    baseline_mw: FloatArray
    p_min_mw: FloatArray
    p_max_mw: FloatArray
    e_min_mwh: FloatArray
    e_max_mwh: FloatArray
    ramp_up_mw: FloatArray
    ramp_down_mw: FloatArray
    p_initial_mw: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        t = None
        for name in (
            "baseline_mw",
            "p_min_mw",
            "p_max_mw",
            "e_min_mwh",
            "e_max_mwh",
            "ramp_up_mw",
            "ramp_down_mw",
        ):
            a = np.asarray(getattr(self, name), dtype=np.float64)
            if a.ndim != 1:
                raise ValueError(f"{name} must be one-dimensional (T,), got shape {a.shape}")
            if t is None:
                t = a.size
            elif a.size != t:
                raise ValueError(f"{name} has {a.size} intervals, expected {t}")
            if name in ("e_min_mwh", "e_max_mwh") or name.startswith("ramp"):
                if np.isnan(a).any():
                    raise ValueError(f"{name} contains NaN")
            elif not np.isfinite(a).all():
                raise ValueError(f"{name} must be finite")
            object.__setattr__(self, name, a)
        if t == 0:
            raise ValueError("baseline_mw must have at least one interval")
        bad = np.flatnonzero(self.p_min_mw > self.p_max_mw + _TOL)
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"p_min_mw[{i}] = {self.p_min_mw[i]} exceeds p_max_mw[{i}] = {self.p_max_mw[i]}"
            )
        bad = np.flatnonzero(self.e_min_mwh > self.e_max_mwh + _TOL)
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"e_min_mwh[{i}] = {self.e_min_mwh[i]} exceeds e_max_mwh[{i}] = {self.e_max_mwh[i]}"
            )
        for name in ("ramp_up_mw", "ramp_down_mw"):
            if (getattr(self, name) < 0).any():
                raise ValueError(f"{name} must be >= 0")
        if self.p_initial_mw is not None:
            _check_finite("p_initial_mw", self.p_initial_mw)

    @property
    def n_intervals(self) -> int:
        return int(self.baseline_mw.size)

    @classmethod
    def from_flex(
        cls, flex: Flex, *, p_initial_mw: float | None = None, name: str = ""
    ) -> FlexUnit:
        """The envelope of one resource or a VPP (1-D :class:`Flex` arrays)."""
        return cls(
            flex.baseline_mw,
            flex.p_min_mw,
            flex.p_max_mw,
            flex.e_min_mwh,
            flex.e_max_mwh,
            flex.ramp_up_mw,
            flex.ramp_down_mw,
            p_initial_mw=p_initial_mw,
            name=name,
        )

    @classmethod
    def from_bounds(
        cls,
        p_min_mw: FloatArray,
        p_max_mw: FloatArray,
        dt_h: float,
        *,
        baseline_mw: FloatArray | None = None,
        name: str = "",
    ) -> FlexUnit:
        """An envelope with power bounds only (energy bounds are the cumulative power bounds,
        ramps unlimited), e.g. curtailable PV: ``p_min = 0, p_max = forecast``."""
        lo = np.asarray(p_min_mw, dtype=np.float64)
        hi = np.asarray(p_max_mw, dtype=np.float64)
        inf = np.full(lo.shape, np.inf)
        return cls(
            hi.copy() if baseline_mw is None else np.asarray(baseline_mw, dtype=np.float64),
            lo,
            hi,
            np.cumsum(lo * dt_h),
            np.cumsum(hi * dt_h),
            inf,
            inf,
            name=name,
        )


Unit = StorageUnit | FlexUnit
