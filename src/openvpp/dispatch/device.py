"""The device-side fail-safe: which power a device applies, given the setpoints it accepted and
the state of its link to the controller.

Rules (one device; :class:`FleetController` applies them to many devices at once):

- **Receive.** A setpoint is ``EXPIRED`` when it arrives at or after its ``valid_until`` (it is
  never applied), ``STALE`` when its ``seq`` is not newer than the last accepted one,
  ``REJECTED`` (with a reason) when its power lies outside ``[p_min, p_max]``, its window is
  empty, it is addressed to another resource or the device is in fault; else ``ACCEPTED``.
  Every message from the controller (setpoint or heartbeat) counts as a sign of life.
- **Target.** With the link up, the accepted setpoint whose window ``[valid_from, valid_until)``
  contains *now* (the newest ``seq`` when several do) is followed (``FOLLOWING``); otherwise —
  no valid setpoint, or link lost — the device goes to its fallback (``FALLBACK``). An expired
  setpoint is never applied, including after a reconnect: the window is checked at every step.
- **Link.** Up while the last sign of life is younger than ``link_timeout_s`` [s].
- **Fallback value.** The ``fallback_mw`` of the last accepted setpoint (the controller's
  latest word), else the device's configured one; clipped to ``[p_min, p_max]``.
- **Ramp.** While following, the output moves toward the target by at most
  ``ramp_mw_per_s · Δt``. The move to the fallback uses ``fallback_ramp_mw_per_s`` (default:
  unlimited — the safe setpoint is reached in the first control cycle after the link timed
  out, i.e. within ``link_timeout_s`` + one cycle). A device in fault outputs 0.

Power [MW], injection positive. Instants are tz-aware UTC ``datetime``; internally POSIX
seconds (float), so the fleet can be stepped as numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from openvpp.dispatch.protocol import Ack, AckStatus, DeviceMode, Setpoint

__all__ = ["MODES", "DeviceController", "FleetController", "ramp_per_second"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

#: Mode codes of :meth:`FleetController.step` (index into this tuple).
MODES: tuple[DeviceMode, DeviceMode, DeviceMode] = (
    DeviceMode.FOLLOWING,
    DeviceMode.FALLBACK,
    DeviceMode.FAULT,
)
FOLLOWING, FALLBACK, FAULT = 0, 1, 2
_EPS_MW = 1e-9


def ramp_per_second(ramp_mw_per_interval: float | FloatArray, interval_s: float) -> FloatArray:
    """A ramp limit per interval [MW per interval] as a rate [MW/s]."""
    if interval_s <= 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    return np.asarray(ramp_mw_per_interval, dtype=np.float64) / interval_s


def _ts(at: datetime) -> float:
    if at.tzinfo is None:
        raise ValueError("instants must be tz-aware (UTC)")
    return at.timestamp()


class FleetController:
    """The fail-safe of ``n`` devices as arrays (see the module docstring for the rules).

    Parameters [MW, MW/s, s] are per device (scalars broadcast). Accepted setpoints are kept
    in per-device slots (``(n, k)`` arrays, ``k`` grows when a device holds more pending
    setpoints than slots); slots whose window has ended are reused.
    """

    def __init__(
        self,
        resource_ids: Sequence[str],
        *,
        p_min_mw: float | FloatArray,
        p_max_mw: float | FloatArray,
        ramp_mw_per_s: float | FloatArray,
        fallback_mw: float | FloatArray = 0.0,
        link_timeout_s: float = 60.0,
        fallback_ramp_mw_per_s: float | FloatArray | None = None,
        p0_mw: float | FloatArray | None = None,
        slots: int = 4,
    ) -> None:
        n = len(resource_ids)
        self.resource_ids = list(resource_ids)
        self.index = {rid: i for i, rid in enumerate(self.resource_ids)}
        if len(self.index) != n:
            raise ValueError("resource_ids must be unique")
        self.p_min = np.broadcast_to(np.asarray(p_min_mw, dtype=np.float64), (n,)).copy()
        self.p_max = np.broadcast_to(np.asarray(p_max_mw, dtype=np.float64), (n,)).copy()
        if np.any(self.p_min > self.p_max):
            raise ValueError("p_min_mw must not exceed p_max_mw")
        self.ramp = np.broadcast_to(np.asarray(ramp_mw_per_s, dtype=np.float64), (n,)).copy()
        if np.any(self.ramp < 0):
            raise ValueError("ramp_mw_per_s must be non-negative")
        fb_ramp = np.inf if fallback_ramp_mw_per_s is None else fallback_ramp_mw_per_s
        self.fallback_ramp = np.broadcast_to(np.asarray(fb_ramp, dtype=np.float64), (n,)).copy()
        if link_timeout_s <= 0:
            raise ValueError(f"link_timeout_s must be positive, got {link_timeout_s}")
        self.link_timeout_s = float(link_timeout_s)
        fb = np.broadcast_to(np.asarray(fallback_mw, dtype=np.float64), (n,))
        self.fallback = np.clip(fb, self.p_min, self.p_max)
        p0 = self.fallback if p0_mw is None else np.asarray(p0_mw, dtype=np.float64)
        self.output = np.clip(np.broadcast_to(p0, (n,)), self.p_min, self.p_max).astype(np.float64)
        self.last_seq = np.full(n, -1, dtype=np.int64)
        self.last_heard = np.full(n, -np.inf)
        self.faulted = np.zeros(n, dtype=np.bool_)
        self.last_step_s: float | None = None
        k = max(1, int(slots))
        self._sp_p = np.zeros((n, k))
        self._sp_from = np.full((n, k), np.inf)
        self._sp_until = np.full((n, k), -np.inf)
        self._sp_seq = np.full((n, k), -1, dtype=np.int64)
        self._sp_id: list[list[str | None]] = [[None] * k for _ in range(n)]
        self._active_cache: tuple[float, float, IntArray, BoolArray] | None = None

    @property
    def n(self) -> int:
        return len(self.resource_ids)

    # -- messages from the controller ------------------------------------------------------

    def receive(self, setpoint: Setpoint, now: datetime) -> Ack:
        """Judge one setpoint arriving at ``now`` and keep it when accepted."""
        i = self.index.get(setpoint.resource_id)
        if i is None:
            return Ack(
                setpoint.instruction_id,
                setpoint.resource_id,
                AckStatus.REJECTED,
                now,
                f"unknown resource_id {setpoint.resource_id!r}",
            )
        status, reason = self.receive_at(i, setpoint, _ts(now))
        return Ack(setpoint.instruction_id, setpoint.resource_id, status, now, reason)

    def receive_at(self, i: int, sp: Setpoint, now_s: float) -> tuple[AckStatus, str]:
        """:meth:`receive` for device index ``i`` at POSIX time ``now_s`` [s]."""
        self.last_heard[i] = max(self.last_heard[i], now_s)
        start, until = _ts(sp.valid_from), _ts(sp.valid_until)
        if now_s >= until:
            return AckStatus.EXPIRED, ""
        if sp.seq <= self.last_seq[i]:
            return AckStatus.STALE, ""
        if self.faulted[i]:
            return AckStatus.REJECTED, "device in fault"
        if not (np.isfinite(sp.p_mw) and np.isfinite(sp.fallback_mw)):
            return AckStatus.REJECTED, f"p_mw={sp.p_mw} / fallback_mw={sp.fallback_mw} not finite"
        if start >= until:
            return AckStatus.REJECTED, "valid_from is not before valid_until"
        lo, hi = self.p_min[i], self.p_max[i]
        if not lo - _EPS_MW <= sp.p_mw <= hi + _EPS_MW:
            return AckStatus.REJECTED, f"p_mw={sp.p_mw} outside [{lo}, {hi}]"
        slot = self._free_slot(i, now_s)
        self._active_cache = None
        self._sp_p[i, slot] = min(max(sp.p_mw, lo), hi)
        self._sp_from[i, slot] = start
        self._sp_until[i, slot] = until
        self._sp_seq[i, slot] = sp.seq
        self._sp_id[i][slot] = sp.instruction_id
        self.last_seq[i] = sp.seq
        self.fallback[i] = min(max(sp.fallback_mw, lo), hi)
        return AckStatus.ACCEPTED, ""

    def heard(self, now: datetime, resource_ids: Sequence[str] | None = None) -> None:
        """A controller heartbeat reached the devices (all when ``resource_ids`` is None)."""
        now_s = _ts(now)
        if resource_ids is None:
            np.maximum(self.last_heard, now_s, out=self.last_heard)
            return
        idx = np.fromiter((self.index[r] for r in resource_ids), dtype=np.int64)
        self.last_heard[idx] = np.maximum(self.last_heard[idx], now_s)

    def set_fault(self, idx: IntArray | Sequence[int], faulted: bool = True) -> None:
        """Take devices out of service (output 0, setpoints rejected) or back in."""
        self.faulted[np.asarray(idx, dtype=np.int64)] = faulted

    def receive_batch(
        self, idx: IntArray | Sequence[int], setpoints: Sequence[Setpoint], now_s: float
    ) -> list[tuple[AckStatus, str]]:
        """:meth:`receive_at` for many setpoints arriving at ``now_s`` [s] (device indices
        ``idx``), vectorized; the same results as judging them one by one in order."""
        rows = np.asarray(idx, dtype=np.int64)
        if np.unique(rows).size != rows.size:  # a device twice: one by one, in order
            return [
                self.receive_at(i, sp, now_s)
                for i, sp in zip(rows.tolist(), setpoints, strict=True)
            ]
        start = np.array([sp.valid_from.timestamp() for sp in setpoints])
        until = np.array([sp.valid_until.timestamp() for sp in setpoints])
        seq = np.array([sp.seq for sp in setpoints], dtype=np.int64)
        p = np.array([sp.p_mw for sp in setpoints], dtype=np.float64)
        fb = np.array([sp.fallback_mw for sp in setpoints], dtype=np.float64)
        self.last_heard[rows] = np.maximum(self.last_heard[rows], now_s)
        lo, hi = self.p_min[rows], self.p_max[rows]
        expired = now_s >= until
        stale = ~expired & (seq <= self.last_seq[rows])
        judged = expired | stale
        bad = ~judged & (
            self.faulted[rows]
            | ~np.isfinite(p)
            | ~np.isfinite(fb)
            | (start >= until)
            | ~((lo - _EPS_MW <= p) & (p <= hi + _EPS_MW))
        )
        ok = ~(judged | bad)
        out: list[tuple[AckStatus, str]] = [(AckStatus.ACCEPTED, "")] * rows.size
        for j in np.flatnonzero(~ok).tolist():
            if expired[j]:
                out[j] = (AckStatus.EXPIRED, "")
            elif stale[j]:
                out[j] = (AckStatus.STALE, "")
            else:  # the single-setpoint path names the reason
                out[j] = self.receive_at(int(rows[j]), setpoints[j], now_s)
        acc = rows[ok]
        if acc.size == 0:
            return out
        free = self._sp_until[acc] <= now_s
        while not free.any(axis=1).all():
            self._grow()
            free = self._sp_until[acc] <= now_s
        slot = np.argmax(free, axis=1)
        self._active_cache = None
        self._sp_p[acc, slot] = np.clip(p[ok], lo[ok], hi[ok])
        self._sp_from[acc, slot] = start[ok]
        self._sp_until[acc, slot] = until[ok]
        self._sp_seq[acc, slot] = seq[ok]
        for i, k, j in zip(acc.tolist(), slot.tolist(), np.flatnonzero(ok).tolist(), strict=True):
            self._sp_id[i][k] = setpoints[j].instruction_id
        self.last_seq[acc] = seq[ok]
        self.fallback[acc] = np.clip(fb[ok], lo[ok], hi[ok])
        return out

    def _free_slot(self, i: int, now_s: float) -> int:
        free = np.flatnonzero(self._sp_until[i] <= now_s)
        if free.size:
            return int(free[0])
        k = self._sp_p.shape[1]
        self._grow()
        return k

    def _grow(self) -> None:
        """All slots of some device pending: double the capacity of every device."""
        k = self._sp_p.shape[1]
        n = self.n
        self._sp_p = np.concatenate([self._sp_p, np.zeros((n, k))], axis=1)
        self._sp_from = np.concatenate([self._sp_from, np.full((n, k), np.inf)], axis=1)
        self._sp_until = np.concatenate([self._sp_until, np.full((n, k), -np.inf)], axis=1)
        self._sp_seq = np.concatenate([self._sp_seq, np.full((n, k), -1, np.int64)], axis=1)
        for ids in self._sp_id:
            ids.extend([None] * k)

    # -- what to apply ---------------------------------------------------------------------

    def link_ok(self, now_s: float) -> BoolArray:
        """Whether each device heard from the controller within ``link_timeout_s``."""
        return np.asarray(now_s - self.last_heard < self.link_timeout_s)

    def active(self, now_s: float) -> tuple[IntArray, BoolArray]:
        """Slot of the setpoint in force at ``now_s`` per device (newest seq) and whether any is."""
        c = self._active_cache
        if c is not None and c[0] <= now_s < c[1]:  # no window opened or closed since
            return c[2], c[3]
        inside = (self._sp_from <= now_s) & (now_s < self._sp_until)
        seq = np.where(inside, self._sp_seq, -1)
        slot = np.argmax(seq, axis=1).astype(np.int64)
        has = np.asarray(inside.any(axis=1), dtype=np.bool_)
        # valid until the next window boundary after now (a receive clears the cache)
        self._active_cache = (now_s, self._boundary_after(now_s), slot, has)
        return slot, has

    def next_boundary(self, now_s: float) -> float:
        """The first instant after ``now_s`` at which an accepted setpoint's window opens or
        closes [s, POSIX]; ``inf`` when none will."""
        c = self._active_cache
        if c is not None and c[0] <= now_s < c[1]:
            return c[1]
        return self._boundary_after(now_s)

    def _boundary_after(self, now_s: float) -> float:
        return min(
            float(np.min(self._sp_from, where=self._sp_from > now_s, initial=np.inf)),
            float(np.min(self._sp_until, where=self._sp_until > now_s, initial=np.inf)),
        )

    def target_at(
        self, now_s: float, link_ok: BoolArray | None = None
    ) -> tuple[FloatArray, NDArray[np.int8]]:
        """Unramped target [MW] and mode code (index into :data:`MODES`) per device."""
        ok = self.link_ok(now_s) if link_ok is None else np.asarray(link_ok, dtype=np.bool_)
        slot, has = self.active(now_s)
        follow = has & ok & ~self.faulted
        p_set = self._sp_p[np.arange(self.n), slot]
        target = np.where(follow, p_set, self.fallback)
        mode = np.where(follow, FOLLOWING, FALLBACK).astype(np.int8)
        mode[self.faulted] = FAULT
        target[self.faulted] = 0.0
        return target, mode

    def step_at(
        self, now_s: float, link_ok: BoolArray | None = None
    ) -> tuple[FloatArray, NDArray[np.int8]]:
        """Move every output toward its target within the ramp limits; returns the applied
        powers [MW] (a copy) and mode codes. The first step cannot move a following device
        (no elapsed time is known)."""
        target, mode = self.target_at(now_s, link_ok)
        dt = 0.0 if self.last_step_s is None else max(0.0, now_s - self.last_step_s)
        rate = np.where(mode == FOLLOWING, self.ramp, self.fallback_ramp)
        unlimited = ~np.isfinite(rate) | (mode == FAULT)
        max_move = np.where(unlimited, np.inf, np.where(unlimited, 0.0, rate) * dt)
        move = np.clip(target - self.output, -max_move, max_move)
        self.output = np.clip(self.output + move, self.p_min, self.p_max)
        self.output[mode == FAULT] = 0.0
        self.last_step_s = now_s if self.last_step_s is None else max(self.last_step_s, now_s)
        return self.output.copy(), mode

    def step(self, now: datetime) -> tuple[FloatArray, NDArray[np.int8]]:
        """:meth:`step_at` at a tz-aware instant, link state from the last signs of life."""
        return self.step_at(_ts(now))

    def instruction_ids(self, now_s: float) -> list[str | None]:
        """The instruction each device follows at ``now_s`` (None: none in force)."""
        slot, has = self.active(now_s)
        return [
            self._sp_id[i][int(s)] if h else None
            for i, (s, h) in enumerate(zip(slot, has, strict=True))
        ]


class DeviceController:
    """The fail-safe of one device (a :class:`FleetController` of one), for gateways that
    run per device (MQTT). Powers [MW], ramp [MW/s], timeout [s]."""

    def __init__(
        self,
        resource_id: str,
        *,
        p_min_mw: float,
        p_max_mw: float,
        ramp_mw_per_s: float = float("inf"),
        fallback_mw: float = 0.0,
        link_timeout_s: float = 60.0,
        fallback_ramp_mw_per_s: float | None = None,
        p0_mw: float | None = None,
    ) -> None:
        self.resource_id = resource_id
        self._fleet = FleetController(
            [resource_id],
            p_min_mw=p_min_mw,
            p_max_mw=p_max_mw,
            ramp_mw_per_s=ramp_mw_per_s,
            fallback_mw=fallback_mw,
            link_timeout_s=link_timeout_s,
            fallback_ramp_mw_per_s=fallback_ramp_mw_per_s,
            p0_mw=p0_mw,
        )

    @property
    def output_mw(self) -> float:
        """The power applied at the last step [MW]."""
        return float(self._fleet.output[0])

    @property
    def fallback_mw(self) -> float:
        return float(self._fleet.fallback[0])

    @property
    def last_seq(self) -> int:
        return int(self._fleet.last_seq[0])

    def receive(self, setpoint: Setpoint, now: datetime) -> Ack:
        """Judge a setpoint arriving at ``now`` (see the module docstring)."""
        return self._fleet.receive(setpoint, now)

    def heartbeat(self, now: datetime) -> None:
        """A heartbeat (or any message) from the controller arrived at ``now``."""
        self._fleet.heard(now)

    def link_ok(self, now: datetime) -> bool:
        return bool(self._fleet.link_ok(_ts(now))[0])

    def set_fault(self, faulted: bool = True) -> None:
        self._fleet.set_fault([0], faulted)

    def target(self, now: datetime, link_ok: bool | None = None) -> tuple[float, DeviceMode]:
        """The power the device should be at [MW] (not ramp-limited) and its mode. ``link_ok``
        None: derived from the last sign of life and ``link_timeout_s``."""
        ok = None if link_ok is None else np.array([link_ok])
        p, mode = self._fleet.target_at(_ts(now), ok)
        return float(p[0]), MODES[int(mode[0])]

    def step(self, now: datetime, link_ok: bool | None = None) -> tuple[float, DeviceMode]:
        """Apply one control cycle at ``now``: the ramp-limited power [MW] and the mode."""
        ok = None if link_ok is None else np.array([link_ok])
        p, mode = self._fleet.step_at(_ts(now), ok)
        return float(p[0]), MODES[int(mode[0])]

    def instruction_id(self, now: datetime) -> str | None:
        """The instruction in force at ``now`` (None: none)."""
        return self._fleet.instruction_ids(_ts(now))[0]
