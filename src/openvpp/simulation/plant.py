"""The simulation's fleet: batteries in the in-process device simulator (the digital twin),
driven through the device-gateway contract and metered from its telemetry.

Each settlement step the loop's setpoints go down as :class:`~openvpp.dispatch.protocol.Setpoint`
instructions valid for the step (falling back to 0 MW, idle, when they expire), the twin is
advanced to the step's end (battery physics, tracking noise, measurement noise, faults) and the
step's metered power is the mean of the telemetry samples it reported. Faults are drawn up
front: with probability ``fault_rate`` per device and day, a fault of 1 to 6 hours starting at
a random time of the day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.dispatch.protocol import Setpoint
from openvpp.dispatch.sim_data import Profiles
from openvpp.dispatch.simulator import DeviceSimulator, Faults, Noise, ScheduledFault, SimFleet
from openvpp.resources.models.battery import BatterySpec
from openvpp.resources.templates import ResourceType
from openvpp.simulation.loop import CONTROL_STEP_MIN, PriceDays, SimulationConfig, config_zone

__all__ = ["BatteryPlant"]

FloatArray = NDArray[np.float64]
ORGANIZATION = "simulation"


def battery_fleet(specs: Sequence[BatterySpec], soc0: float) -> SimFleet:
    """A simulator fleet of the batteries ``specs`` at state of charge ``soc0``."""
    n = len(specs)

    def col(name: str) -> FloatArray:
        return np.array([float(getattr(s, name)) for s in specs], dtype=np.float64)

    rating = col("p_charge_max_mw") + col("p_discharge_max_mw")
    zeros = np.zeros(n)
    return SimFleet(
        resource_ids=tuple(f"battery-{i:03d}" for i in range(n)),
        kinds=(ResourceType.BATTERY,) * n,
        ramp_mw_per_s=rating,  # inverter-coupled: full range within a second
        fallback_mw=zeros,
        pv_dc_mw=zeros,
        pv_ac_mw=zeros,
        load_peak_mw=zeros,
        load_curtailable=zeros,
        energy_mwh=col("energy_mwh"),
        p_charge_max_mw=col("p_charge_max_mw"),
        p_discharge_max_mw=col("p_discharge_max_mw"),
        eta_charge=col("eta_charge"),
        eta_discharge=col("eta_discharge"),
        soc_min=col("soc_min"),
        soc_max=col("soc_max"),
        soc0=np.clip(np.full(n, soc0), col("soc_min"), col("soc_max")),
        self_discharge_per_h=col("self_discharge_per_h"),
    )


def fault_schedule(
    ids: Sequence[str], first: datetime, days: int, rate: float, rng: np.random.Generator
) -> tuple[ScheduledFault, ...]:
    """Per device and day, with probability ``rate``, a fault of 1 to 6 hours [UTC]."""
    out: list[ScheduledFault] = []
    for rid in ids:
        hit = rng.random(days) < rate
        for d in np.flatnonzero(hit).tolist():
            start = first + timedelta(days=d, minutes=int(rng.integers(0, 24 * 60)))
            out.append(
                ScheduledFault(
                    rid, "fault", start, start + timedelta(hours=int(rng.integers(1, 7)))
                )
            )
    return tuple(out)


class BatteryPlant:
    """Batteries ``specs`` in the device simulator from ``first`` (UTC) for ``days`` days.

    step_s : the twin's control cycle [s]; telemetry every ``step_s`` too. At most the loop's
        control step (``CONTROL_STEP_MIN``, 5 minutes): each setpoint holds for one control
        step, so a coarser twin would skip most of them and deliver nothing in between.
    """

    def __init__(
        self,
        specs: Sequence[BatterySpec],
        first: datetime,
        days: int,
        *,
        soc0: float = 0.5,
        seed: int = 0,
        fault_rate: float = 0.0,
        tracking_noise: float = 0.01,
        step_s: float = 60.0,
    ) -> None:
        if not 0 < step_s <= CONTROL_STEP_MIN * 60:
            raise ValueError(
                f"step_s must lie in (0, {CONTROL_STEP_MIN * 60}] s (the loop's control step), "
                f"got {step_s}"
            )
        fleet = battery_fleet(specs, soc0)
        rng = np.random.default_rng(seed)
        start = first.astimezone(UTC)
        end = start + timedelta(days=days + 2)
        idle = pd.Series([0.0, 0.0], index=pd.DatetimeIndex([start - timedelta(hours=1), end]))
        self.sim = DeviceSimulator(
            fleet,
            Profiles(idle, idle),
            start,
            step_s=step_s,
            telemetry_s=step_s,
            heartbeat_s=3600.0,
            link_timeout_s=4 * step_s,
            noise=Noise(tracking=tracking_noise, measurement=0.002),
            faults=Faults(
                schedule=fault_schedule(fleet.resource_ids, start, days + 1, fault_rate, rng)
            ),
            seed=seed,
        )
        self.ids = fleet.resource_ids
        self._p_min, self._p_max = fleet.limits()
        self._seq = 0
        self._faulted_before = np.zeros(len(specs), dtype=np.bool_)
        self._faults = 0

    @classmethod
    def for_days(
        cls, config: SimulationConfig, prices: PriceDays, *, step_s: float = 60.0
    ) -> BatteryPlant:
        """The plant of ``config`` (its batteries at the end-of-day state of charge, its seed,
        fault rate and tracking noise) from local midnight of the first day of ``prices`` in
        the market's zone, for all of its days."""
        zone = ZoneInfo(config_zone(config))
        first = datetime.combine(pd.Timestamp(prices.dates[0]).date(), time(), zone)
        return cls(
            config.batteries,
            first,
            len(prices.dates),
            soc0=config.end_soc,
            seed=config.seed,
            fault_rate=config.fault_rate,
            tracking_noise=config.tracking_noise,
            step_s=step_s,
        )

    def energy_mwh(self) -> FloatArray:
        return np.asarray(self.sim.stored_mwh, dtype=np.float64).copy()

    def limits(self) -> tuple[FloatArray, FloatArray]:
        down = self.sim.faulted
        return np.where(down, 0.0, self._p_min), np.where(down, 0.0, self._p_max)

    def faults(self) -> int:
        return self._faults

    def deliver(self, start: datetime, setpoints_mw: FloatArray, dt_h: float) -> FloatArray:
        if self.sim.now < start:
            self.sim.advance(start)
        end = start + timedelta(hours=dt_h)
        self._seq += 1
        self.sim.send_now(
            [
                Setpoint(
                    f"sim-{self._seq}-{i}",
                    ORGANIZATION,
                    rid,
                    self._seq,
                    float(p),
                    start,
                    end,
                    0.0,
                    start,
                )
                for i, (rid, p) in enumerate(zip(self.ids, setpoints_mw, strict=True))
            ]
        )
        self.sim.advance(end)
        events = self.sim.drain_now()
        index = {rid: i for i, rid in enumerate(self.ids)}
        total = np.zeros(len(self.ids))
        count = np.zeros(len(self.ids))
        for sample in events.telemetry:
            i = index[sample.resource_id]
            total[i] += sample.p_mw
            count[i] += 1
        faulted = self.sim.faulted.copy()
        self._faults += int((faulted & ~self._faulted_before).sum())
        self._faulted_before = faulted
        # a device that reported nothing in the step (off the link) is metered at 0
        return np.divide(total, count, out=np.zeros_like(total), where=count > 0)
