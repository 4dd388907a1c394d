"""What the device simulator simulates: the fleet's devices and parameters, noise levels and
faults (:mod:`openvpp.dispatch.simulator`). Powers [MW], injection positive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from openvpp.dispatch.setpoints import LOAD_TYPES
from openvpp.resources.templates import ResourceType

__all__ = ["BATTERY", "LOAD", "PV", "Faults", "Noise", "ScheduledFault", "SimFleet"]

FloatArray = NDArray[np.float64]
PV, BATTERY, LOAD = 0, 1, 2
SIMULATED = frozenset({ResourceType.PV, ResourceType.BATTERY}) | LOAD_TYPES


@dataclass(frozen=True)
class SimFleet:
    """The simulated devices, ``(n,)`` arrays (entries that do not apply to a device's kind
    are ignored). ``kinds``: PV, battery or a load type (curtailable, shiftable, EV depot,
    heat pump: all simulated as a curtailable demand). Powers [MW], energy [MWh], ramp
    [MW/s], fractions in [0, 1]."""

    resource_ids: tuple[str, ...]
    kinds: tuple[ResourceType, ...]
    ramp_mw_per_s: FloatArray
    fallback_mw: FloatArray
    pv_dc_mw: FloatArray
    pv_ac_mw: FloatArray
    load_peak_mw: FloatArray
    load_curtailable: FloatArray
    energy_mwh: FloatArray
    p_charge_max_mw: FloatArray
    p_discharge_max_mw: FloatArray
    eta_charge: FloatArray
    eta_discharge: FloatArray
    soc_min: FloatArray
    soc_max: FloatArray
    soc0: FloatArray
    self_discharge_per_h: FloatArray

    def __post_init__(self) -> None:
        other = sorted({k.value for k in self.kinds} - {k.value for k in SIMULATED})
        if other:
            raise ValueError(f"kinds: not simulated: {', '.join(other)}")
        if len(self.kinds) != len(self.resource_ids):
            raise ValueError("kinds and resource_ids differ in length")

    @property
    def kind_codes(self) -> NDArray[np.int8]:
        code = {ResourceType.PV: PV, ResourceType.BATTERY: BATTERY}
        return np.array([code.get(k, LOAD) for k in self.kinds], dtype=np.int8)

    def limits(self) -> tuple[FloatArray, FloatArray]:
        """Device limits [MW] the fail-safe checks setpoints against."""
        c = self.kind_codes
        lo = np.where(
            c == BATTERY, -self.p_charge_max_mw, np.where(c == LOAD, -self.load_peak_mw, 0)
        )
        hi = np.where(c == BATTERY, self.p_discharge_max_mw, np.where(c == PV, self.pv_ac_mw, 0))
        return lo.astype(np.float64), hi.astype(np.float64)

    @classmethod
    def mixed(cls, n: int, seed: int = 0, *, shares: tuple[float, float] = (0.4, 0.3)) -> SimFleet:
        """A demo fleet of ``n`` devices: PV (``shares[0]``), batteries (``shares[1]``), the
        rest curtailable loads, sizes drawn from a seeded generator (0.1 to 2 MW class)."""
        rng = np.random.default_rng(seed)
        u = rng.random(n)
        kinds = tuple(
            ResourceType.PV
            if x < shares[0]
            else ResourceType.BATTERY
            if x < shares[0] + shares[1]
            else ResourceType.CURTAILABLE_LOAD
            for x in u
        )
        size = rng.uniform(0.1, 2.0, n)
        return cls(
            resource_ids=tuple(f"dev-{i:05d}" for i in range(n)),
            kinds=kinds,
            ramp_mw_per_s=size / 60.0,  # full range in about a minute
            fallback_mw=np.zeros(n),
            pv_dc_mw=size * 1.25,
            pv_ac_mw=size,
            load_peak_mw=size,
            load_curtailable=np.full(n, 0.3),
            energy_mwh=size * 2.0,
            p_charge_max_mw=size,
            p_discharge_max_mw=size,
            eta_charge=np.full(n, 0.95),
            eta_discharge=np.full(n, 0.95),
            soc_min=np.full(n, 0.1),
            soc_max=np.full(n, 0.9),
            soc0=rng.uniform(0.3, 0.7, n),
            self_discharge_per_h=np.full(n, 0.0005),
        )


@dataclass(frozen=True)
class Noise:
    """Noise levels: fractions of each device's rating, the cloud factor's standard deviation
    and correlation time [s], the share of it common to all plants."""

    measurement: float = 0.002
    tracking: float = 0.005
    cloud: float = 0.08
    cloud_tau_s: float = 600.0
    cloud_common: float = 0.7
    load: float = 0.03


@dataclass(frozen=True)
class ScheduledFault:
    resource_id: str
    kind: Literal["fault", "offline", "ignore"]
    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class Faults:
    """Random fault rates [per hour per device], link drops (rate [1/h], duration [s]), the
    share of devices that ignore setpoints, setpoint loss probability, latency range [s] and
    a schedule of explicit faults."""

    fault_per_h: float = 0.0
    drop_per_h: float = 0.0
    drop_duration_s: float = 300.0
    ignore_fraction: float = 0.0
    loss: float = 0.0
    latency_s: tuple[float, float] = (0.0, 0.0)
    schedule: tuple[ScheduledFault, ...] = ()
