"""The in-process device simulator: a digital twin of a fleet behind the
:class:`~openvpp.dispatch.protocol.DeviceGateway` contract.

Every device runs the fail-safe of :mod:`openvpp.dispatch.device` (one vectorized
:class:`~openvpp.dispatch.device.FleetController` for the fleet). Time is simulated: nothing
sleeps; :meth:`DeviceSimulator.advance` steps the fleet every ``step_s`` up to a given
instant, so a day runs in well under a second of wall time.

Physics per step (powers [MW], injection positive):

- **PV**: available power = DC capacity · output per MW DC (NSRDB irradiance through pvlib,
  :mod:`openvpp.dispatch.sim_data`) · a cloud factor, capped at the AC capacity; the setpoint
  is a cap: output ``= clip(setpoint + tracking error, 0, available)``.
- **Battery**: the setpoint within the power limits and what the stored energy allows
  (efficiencies, self-discharge, as :mod:`openvpp.resources.models.battery`); energy
  integrated over the step.
- **Loads**: demand = peak · load shape · (1 + noise); output within
  ``[-demand, -(1 - curtailable fraction) · demand]``.

Noise (seeded ``numpy`` Generator): measurement noise on telemetry, tracking error on the
applied power, an AR(1) cloud factor per plant (a common and an individual part), load noise.

Faults (random rates and/or a schedule): ``fault`` (output 0, heartbeats say FAULT, setpoints
rejected), ``offline`` (the device drops off the link: nothing delivered to or from it; its
fail-safe falls back after the link timeout), ``ignore`` (acknowledges but does not follow:
runs at its natural output, still reporting FOLLOWING). Setpoints can be lost or delayed.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.dispatch.device import FOLLOWING, MODES, FleetController
from openvpp.dispatch.protocol import (
    Ack,
    GatewayEvents,
    Heartbeat,
    Setpoint,
    TelemetrySample,
)
from openvpp.dispatch.sim_data import Profiles
from openvpp.dispatch.sim_fleet import BATTERY, PV, Faults, Noise, ScheduledFault, SimFleet

__all__ = ["DeviceSimulator", "Faults", "Noise", "ScheduledFault", "SimClock", "SimFleet"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass
class SimClock:
    """The simulated time (a :class:`openvpp.core.clock.Clock`)."""

    current: datetime

    def now(self) -> datetime:
        return self.current


class DeviceSimulator:
    """A simulated fleet behind the gateway contract (see the module docstring).

    ``step_s``: control cycle [s]; ``telemetry_s`` / ``heartbeat_s``: reporting periods [s];
    ``controller_heartbeat_s``: how often the controller side signals life to the devices;
    ``link_timeout_s``: the devices' fail-safe timeout. Internally the devices are grouped by
    kind (contiguous slices); the public arrays (``applied_mw``, ``available_mw``,
    ``stored_mwh``, ``mode``, ``faulted``, :meth:`soc`) are in the fleet's order.
    """

    def __init__(
        self,
        fleet: SimFleet,
        profiles: Profiles,
        start: datetime,
        *,
        step_s: float = 10.0,
        telemetry_s: float = 60.0,
        heartbeat_s: float = 300.0,
        controller_heartbeat_s: float = 15.0,
        link_timeout_s: float = 60.0,
        noise: Noise | None = None,
        faults: Faults | None = None,
        seed: int = 0,
    ) -> None:
        if step_s <= 0:
            raise ValueError(f"step_s must be positive, got {step_s}")
        self.fleet = fleet
        self.profiles = profiles
        self.noise = noise or Noise()
        self.faults = faults or Faults()
        self.step_s = float(step_s)
        self.telemetry_s, self.heartbeat_s = float(telemetry_s), float(heartbeat_s)
        self.controller_heartbeat_s = float(controller_heartbeat_s)
        self.clock = SimClock(start.astimezone(UTC))
        self.now_s = start.timestamp()
        self.rng = np.random.default_rng(seed)
        n = len(fleet.resource_ids)
        codes = fleet.kind_codes
        self._perm = np.argsort(codes, kind="stable")  # internal row -> fleet row
        self._inv = np.argsort(self._perm)  # fleet row -> internal row
        f = self._f = _permuted(fleet, self._perm)
        counts = np.bincount(codes, minlength=3)
        self._pv = slice(0, int(counts[PV]))
        self._bat = slice(int(counts[PV]), int(counts[PV] + counts[BATTERY]))
        self._load = slice(int(counts[PV] + counts[BATTERY]), n)
        p_min, p_max = f.limits()
        self._rating = np.maximum(p_max - p_min, 1e-6)
        self.controller = FleetController(
            f.resource_ids,
            p_min_mw=p_min,
            p_max_mw=p_max,
            ramp_mw_per_s=f.ramp_mw_per_s,
            fallback_mw=f.fallback_mw,
            link_timeout_s=link_timeout_s,
        )
        self.controller.heard(start)
        bat = self._bat
        self._b = {
            "p_ch": f.p_charge_max_mw[bat],
            "p_dis": f.p_discharge_max_mw[bat],
            "eta_c": f.eta_charge[bat],
            "eta_d": f.eta_discharge[bat],
            "sd": f.self_discharge_per_h[bat],
            "e_min": f.soc_min[bat] * f.energy_mwh[bat],
            "e_max": f.soc_max[bat] * f.energy_mwh[bat],
            "energy": f.energy_mwh[bat],
        }
        self._stored = f.soc0[bat] * f.energy_mwh[bat]
        self._applied = np.zeros(n)
        self._available = np.zeros(n)
        self._natural = np.zeros(n)
        self._mode = np.full(n, 1, dtype=np.int8)
        self._faulted = np.zeros(n, dtype=np.bool_)  # random faults (persist)
        self._faulted_now = np.zeros(n, dtype=np.bool_)  # random or scheduled, this step
        self._offline = np.zeros(n, dtype=np.bool_)
        self._offline_until = np.full(n, -np.inf)
        self._ignoring = (self.rng.random(n) < self.faults.ignore_fraction)[self._perm]
        self.controller_link = True
        self._cloud_common = 0.0
        self._cloud_own = np.zeros(self._pv.stop)
        self._tel_seq = np.zeros(n, dtype=np.int64)
        self._next_tel = self._next_hb = self._next_ctl_hb = self.now_s
        self._inflight: list[tuple[float, int, Setpoint]] = []
        self._order = 0
        self._events = GatewayEvents()
        index = self.controller.index
        self._sched = [
            (index[x.resource_id], x.kind, x.start.timestamp(),
             np.inf if x.end is None else x.end.timestamp())
            for x in self.faults.schedule
        ]  # fmt: skip
        self._closed = False
        self._pv_curve = _curve(profiles.pv_per_mw_dc)
        self._load_curve = _curve(profiles.load_shape)
        self._physics(self.now_s, 0.0)

    # -- the gateway contract ---------------------------------------------------------------

    async def send(self, setpoints: Sequence[Setpoint]) -> None:
        self.send_now(setpoints)

    async def drain(self) -> GatewayEvents:
        return self.drain_now()

    async def aclose(self) -> None:
        self._closed = True

    def send_now(self, setpoints: Sequence[Setpoint]) -> None:
        """Queue setpoints for delivery (lost with probability ``faults.loss``, or all while
        the controller's link is down; delayed by a latency drawn from ``faults.latency_s``);
        those due now are delivered at once."""
        if self._closed:
            raise RuntimeError("simulator closed")
        if not self.controller_link or not setpoints:
            return
        lo, hi = self.faults.latency_s
        m = len(setpoints)
        kept = self.rng.random(m) >= self.faults.loss
        delay = self.rng.uniform(lo, hi, m) if hi > 0 else np.zeros(m)
        for sp, keep, d in zip(setpoints, kept.tolist(), delay.tolist(), strict=True):
            if keep:
                self._order += 1
                heapq.heappush(self._inflight, (self.now_s + d, self._order, sp))
        self._deliver(self.now_s)

    def drain_now(self) -> GatewayEvents:
        events, self._events = self._events, GatewayEvents()
        return events

    # -- simulated time ---------------------------------------------------------------------

    def advance(self, to: datetime) -> None:
        """Step the fleet every ``step_s`` until ``to`` (the last step lands on ``to``). A step
        is also cut where an accepted setpoint's window opens or closes, so that each step runs
        under one command: a setpoint is applied over exactly its window, whatever the grid."""
        end = to.timestamp()
        grid = self.now_s + self.step_s
        while self.now_s < end - 1e-9:
            t = min(grid, end, self.controller.next_boundary(self.now_s))
            self._step(t)
            if t >= grid - 1e-9:
                grid = t + self.step_s

    def set_controller_link(self, up: bool) -> None:
        """Break (or restore) the controller's link to every device (a broker outage)."""
        self.controller_link = up

    def _step(self, t: float) -> None:
        """One step ``(now, t]``. The command held over the step is the fail-safe's at the
        step's start, from the setpoints received and the link as they were then: a setpoint
        valid for ``[start, end)`` drives every step that starts inside it, the last one
        included, and none after. Faults are those at ``t``, as in the physics; setpoints and
        heartbeats arriving within the step act from the next one."""
        start, dt = self.now_s, t - self.now_s
        ignoring = self._fault_state(t, dt)
        ctl = self.controller
        cmd, self._mode = ctl.step_at(start)
        self.now_s = t
        self.clock.current = datetime.fromtimestamp(t, UTC)
        self._deliver(t)
        if self.controller_link and t >= self._next_ctl_hb - 1e-9:
            ctl.last_heard[~self._offline] = t
            self._next_ctl_hb = t + self.controller_heartbeat_s
        self._physics(t, dt, cmd, ignoring)
        self._report(t)

    def _fault_state(self, t: float, dt: float) -> BoolArray:
        """Update fault, link and ignore states for the step at ``t``; the ignore mask."""
        n = self._applied.size
        f = self.faults
        if f.fault_per_h > 0:
            self._faulted |= self.rng.random(n) < -np.expm1(-f.fault_per_h * dt / 3600)
        if f.drop_per_h > 0:
            drop = self.rng.random(n) < -np.expm1(-f.drop_per_h * dt / 3600)
            until = self._offline_until
            until[drop] = np.maximum(until[drop], t + f.drop_duration_s)
        offline = self._offline_until > t
        ignoring = self._ignoring
        faulted = self._faulted.copy()
        if self._sched:
            ignoring = ignoring.copy()
            for i, kind, start, end in self._sched:
                if start <= t < end:
                    {"fault": faulted, "offline": offline, "ignore": ignoring}[kind][i] = True
        self._offline = offline
        self._faulted_now = faulted
        self.controller.faulted[:] = faulted
        return ignoring

    def _deliver(self, t: float) -> None:
        due: list[Setpoint] = []
        at_s: list[float] = []
        while self._inflight and self._inflight[0][0] <= t + 1e-9:
            deliver_s, _, sp = heapq.heappop(self._inflight)
            due.append(sp)
            at_s.append(deliver_s)
        if not due:
            return
        index = self.controller.index
        rows = [index.get(sp.resource_id, -1) for sp in due]
        # unknown devices and unreachable ones: the message is lost
        keep = [j for j, i in enumerate(rows) if i >= 0 and not self._offline[i]]
        when = datetime.fromtimestamp(t, UTC)
        # messages of one step are judged at the step's instant (latency below a step is
        # not resolved further)
        results = self.controller.receive_batch([rows[j] for j in keep], [due[j] for j in keep], t)
        self._events.acks.extend(
            Ack(due[j].instruction_id, due[j].resource_id, status, when, reason)
            for j, (status, reason) in zip(keep, results, strict=True)
        )

    def _physics(
        self, t: float, dt: float, cmd: FloatArray | None = None, ignoring: BoolArray | None = None
    ) -> None:
        f, nz, rng = self._f, self.noise, self.rng
        pv, bat, load = self._pv, self._bat, self._load
        # cloud factor per plant: AR(1) with a common and an own part
        a = float(np.exp(-dt / nz.cloud_tau_s)) if dt > 0 else 1.0
        s = np.sqrt(1 - a * a)
        self._cloud_common = a * self._cloud_common + s * float(rng.standard_normal())
        own = self._cloud_own
        own *= a
        own += s * rng.standard_normal(own.size)
        c = nz.cloud_common
        cloud = 1.0 + nz.cloud * (np.sqrt(c) * self._cloud_common + np.sqrt(1 - c) * own)
        np.clip(cloud, 0.0, 1.3, out=cloud)
        per_dc = float(np.interp(t, *self._pv_curve))
        avail = np.minimum(f.pv_dc_mw[pv] * (per_dc * cloud), f.pv_ac_mw[pv])
        self._available[pv] = avail
        shape = float(np.interp(t, *self._load_curve))
        noise = np.maximum(1 + nz.load * rng.standard_normal(load.stop - load.start), 0.0)
        demand = f.load_peak_mw[load] * shape * noise
        self._available[load] = demand
        natural = self._natural
        natural[pv], natural[load] = avail, -demand
        want = natural.copy() if cmd is None else cmd
        if ignoring is not None and ignoring.any():
            lazy = ignoring & (self._mode == FOLLOWING)
            want[lazy] = natural[lazy]
        want += nz.tracking * self._rating * rng.standard_normal(want.size)
        want[pv] = np.minimum(np.maximum(want[pv], 0.0), avail)
        want[load] = np.minimum(
            np.maximum(want[load], -demand), -(1 - f.load_curtailable[load]) * demand
        )
        want[bat] = self._battery(want[bat], dt)
        want[self._faulted_now] = 0.0
        self._applied = want

    def _battery(self, want: FloatArray, dt: float) -> FloatArray:
        """One step of the battery model (:mod:`openvpp.resources.models.battery`) for the
        battery rows: powers within the limits and the stored energy; energy integrated."""
        b = self._b
        p = np.minimum(np.maximum(want, -b["p_ch"]), b["p_dis"])
        p[self._faulted_now[self._bat]] = 0.0
        dt_h = dt / 3600
        if dt_h <= 0:
            return p
        start = self._stored * (1 - b["sd"]) ** dt_h
        max_dis = np.maximum(0.0, (start - b["e_min"]) * b["eta_d"] / dt_h)
        max_ch = np.maximum(0.0, (b["e_max"] - start) / (b["eta_c"] * dt_h))
        p = np.minimum(np.maximum(p, -max_ch), max_dis)
        delta = (np.maximum(-p, 0) * b["eta_c"] - np.maximum(p, 0) / b["eta_d"]) * dt_h
        self._stored = start + delta
        return p

    def _report(self, t: float) -> None:
        if t < min(self._next_tel, self._next_hb) - 1e-9:
            return
        when = datetime.fromtimestamp(t, UTC)
        ids = self._f.resource_ids
        modes = [MODES[m] for m in self._mode.tolist()]
        idx = np.flatnonzero(~self._offline)
        if t >= self._next_tel - 1e-9:
            self._next_tel = t + self.telemetry_s
            noise = self.noise.measurement * self._rating[idx] * self.rng.standard_normal(idx.size)
            self._tel_seq[idx] += 1
            soc = np.full(self._applied.size, np.nan)
            soc[self._bat] = self._stored / self._b["energy"]
            socs = [None if x != x else x for x in soc[idx].tolist()]  # NaN: not storage
            rows = idx.tolist()
            self._events.telemetry.extend(
                map(
                    TelemetrySample,
                    [ids[i] for i in rows],
                    [when] * len(rows),
                    (self._applied[idx] + noise).tolist(),
                    self._tel_seq[idx].tolist(),
                    socs,
                    [modes[i] for i in rows],
                )
            )
        if t >= self._next_hb - 1e-9:
            self._next_hb = t + self.heartbeat_s
            following = self.controller.instruction_ids(t)
            self._events.heartbeats.extend(
                Heartbeat(ids[i], when, modes[i], following[i]) for i in idx.tolist()
            )

    # -- inspection, in the fleet's order ---------------------------------------------------

    @property
    def applied_mw(self) -> FloatArray:
        """Power each device applies [MW] (after physics, before measurement noise)."""
        return np.asarray(self._applied[self._inv], dtype=np.float64)

    @property
    def available_mw(self) -> FloatArray:
        """PV: available power [MW]; loads: demand [MW]; batteries: 0."""
        return np.asarray(self._available[self._inv], dtype=np.float64)

    @property
    def stored_mwh(self) -> FloatArray:
        """Stored energy [MWh]; NaN for non-storage."""
        out = np.full(self._applied.size, np.nan)
        out[self._bat] = self._stored
        return np.asarray(out[self._inv], dtype=np.float64)

    def soc(self) -> FloatArray:
        """State of charge [fraction of energy]; NaN for non-storage."""
        out = np.full(self._applied.size, np.nan)
        out[self._bat] = self._stored / self._b["energy"]
        return np.asarray(out[self._inv], dtype=np.float64)

    @property
    def mode(self) -> NDArray[np.int8]:
        """Mode code per device (index into :data:`openvpp.dispatch.device.MODES`)."""
        return np.asarray(self._mode[self._inv], dtype=np.int8)

    @property
    def faulted(self) -> BoolArray:
        """Devices in fault now (random or scheduled)."""
        return np.asarray(self._faulted_now[self._inv], dtype=np.bool_)

    @property
    def now(self) -> datetime:
        return self.clock.current

    def step_times(self, until: datetime) -> list[datetime]:
        """The control cycles' instants up to ``until`` (:meth:`advance` steps at these, and
        also where a setpoint's window opens or closes between them)."""
        k = int(np.ceil((until.timestamp() - self.now_s) / self.step_s - 1e-9))
        return [self.now + timedelta(seconds=self.step_s * (j + 1)) for j in range(k)]


def _permuted(fleet: SimFleet, order: NDArray[np.intp]) -> SimFleet:
    """The fleet with its devices in ``order``."""
    values: dict[str, object] = {}
    for fd in fields(SimFleet):
        v = getattr(fleet, fd.name)
        values[fd.name] = tuple(v[i] for i in order.tolist()) if isinstance(v, tuple) else v[order]
    return SimFleet(**values)  # type: ignore[arg-type]


def _curve(series: pd.Series) -> tuple[FloatArray, FloatArray]:
    """A series on a UTC index as (POSIX seconds, values) for ``np.interp``."""
    x = pd.DatetimeIndex(series.index).as_unit("ns").asi8 / 1e9
    return np.asarray(x, dtype=np.float64), series.to_numpy(np.float64)
