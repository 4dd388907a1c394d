"""The dispatch service: a VPP's awarded position turned into per-resource setpoints, stored as
dispatch instructions; the devices' answers applied; within-interval corrections.

**Position.** Per 15-min delivery interval, the sum of the VPP's fills whose delivery period
covers it (sales positive, purchases negative) [MW], on top of the members' baseline (what
they do without the VPP). An interval without a fill has no award: its members get **no**
setpoint and run on their own operation or their fallback.

**Shares.** A member held at share ``s`` contributes ``s`` of its bounds, baseline and stored
energy to the VPP; the rest of the device (``1 - s``, other VPPs' shares) is held at its
baseline. The device's setpoint is the VPP's part plus ``(1 - s) x baseline``.

**Who is dispatched.** Members the organization's gateway serves and that are in service
(not ``fault``/``maintenance``); the others are held at their baseline in the plan and get no
setpoint. Power [MW] injection positive; instants UTC.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.aggregation.engine import OUT_OF_SERVICE, Allocation, Unit
from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock, ensure_utc
from openvpp.core.errors import NotFound
from openvpp.dispatch.correction import within_interval
from openvpp.dispatch.disaggregate import Fleet, disaggregate
from openvpp.dispatch.fleet import battery_spec, fleet_from_units
from openvpp.dispatch.instructions_service import InstructionRecord, instruction_of
from openvpp.dispatch.monitoring import live_estimate
from openvpp.dispatch.protocol import Ack, Setpoint
from openvpp.dispatch.setpoints import build_setpoints, default_fallback_mw
from openvpp.markets.presets import load_presets
from openvpp.ports import UnitOfWork
from openvpp.resources.telemetry import TelemetryPoint
from openvpp.resources.templates import ResourceType

__all__ = [
    "INTERVAL",
    "DispatchBatch",
    "DispatchPolicy",
    "DispatchService",
    "instruction_id",
    "interval_start",
    "position_mw",
]

FloatArray = NDArray[np.float64]
INTERVAL = timedelta(minutes=15)
MAX_GAP = timedelta(minutes=5)
_MIN_CHANGE_MW = 1e-3


def instruction_id(resource_id: str, seq: int) -> str:
    """``{resource}:{seq}``: unique (the store's key on resource and seq) and a valid MQTT
    id (letters, digits, ``_ . : -``)."""
    return f"{resource_id}:{seq}"


def interval_start(at: datetime, interval: timedelta = INTERVAL) -> datetime:
    """The start of the interval holding ``at`` (UTC, aligned to the epoch)."""
    at = ensure_utc(at)
    step = int(interval.total_seconds())
    return datetime.fromtimestamp(int(at.timestamp()) // step * step, tz=at.tzinfo)


@dataclass(frozen=True)
class DispatchPolicy:
    """``grace``: how long a setpoint is held past its interval; ``deadband_mw``: a
    within-interval deviation needing less is left alone; ``correction_every``: least time
    between two corrections of a VPP; corrections only while the elapsed fraction of the
    interval lies in ``[min_elapsed, max_elapsed]``."""

    interval: timedelta = INTERVAL
    grace: timedelta = timedelta(seconds=60)
    deadband_mw: float = 0.05
    correction_every: timedelta = timedelta(seconds=60)
    min_elapsed: float = 0.1
    max_elapsed: float = 0.9


@dataclass(frozen=True)
class DispatchBatch:
    """Setpoints stored in one unit of work, to be sent through the gateway."""

    organization_id: str
    vpp_id: str
    kind: str  # "dispatch" or "correction"
    intervals: tuple[datetime, ...]
    setpoints: tuple[Setpoint, ...]
    target_mw: tuple[float, ...] = ()
    residual_mw: tuple[float, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> dict[str, object]:
        return {
            "vpp_id": self.vpp_id,
            "kind": self.kind,
            "intervals": [s.isoformat() for s in self.intervals],
            "setpoints": len(self.setpoints),
            "target_mw": [round(x, 6) for x in self.target_mw],
            "residual_mw": [round(x, 6) for x in self.residual_mw],
            "notes": list(self.notes),
        }


def _period(market: str, product: str) -> timedelta | None:
    m = load_presets().get(market)
    if m is None:
        return None
    for p in m.products:
        if p.code == product:
            return timedelta(minutes=p.period_min)
    return None


def position_mw(
    fills: Sequence[tuple[str, str, datetime, str, Decimal, Decimal]], starts: Sequence[datetime]
) -> tuple[FloatArray, list[bool]]:
    """Net position per interval start [MW, sale positive] and whether any fill covers it."""
    out = np.zeros(len(starts))
    awarded = [False] * len(starts)
    for market, product, delivery, side, qty, _ in fills:
        period = _period(market, product)
        if period is None:
            continue
        sign = 1.0 if side == "sell" else -1.0
        for j, s in enumerate(starts):
            if delivery <= s < delivery + period:
                out[j] += sign * float(qty)
                awarded[j] = True
    return out, awarded


def _time_zone(fills: Sequence[tuple[str, str, datetime, str, Decimal, Decimal]]) -> str:
    for market, *_ in fills:
        m = load_presets().get(market)
        if m is not None:
            return m.time_zone
    return "UTC"


@dataclass(frozen=True)
class _Members:
    units: list[Unit]
    shares: FloatArray  # fractions
    readings: dict[str, TelemetryPoint]


def _members(
    allocations: Sequence[Allocation], at: datetime, readings: dict[str, TelemetryPoint]
) -> _Members:
    share: dict[str, float] = {}
    units: dict[str, Unit] = {}
    for a in allocations:
        if a.valid_from <= at and (a.valid_to is None or at < a.valid_to):
            units[a.unit.id] = a.unit
            share[a.unit.id] = share.get(a.unit.id, 0.0) + float(a.share_pct) / 100.0
    ids = sorted(units)
    return _Members([units[i] for i in ids], np.array([min(share[i], 1.0) for i in ids]), readings)


def _scaled(fleet: Fleet, share: FloatArray, controlled: NDArray[np.bool_], dt_h: float) -> Fleet:
    """The VPP's share of the fleet; rows not controlled held at their (scaled) baseline."""
    s = share[:, None]
    base = fleet.baseline_mw * s
    keep = controlled[:, None]

    def ramp(a: FloatArray) -> FloatArray:
        arr = np.asarray(a, dtype=np.float64)
        return arr * (share if arr.ndim == 1 else s)

    fixed_e = np.cumsum(base * dt_h, axis=1)
    e_min = fleet.e_min_mwh * s if fleet.e_min_mwh is not None else None
    e_max = fleet.e_max_mwh * s if fleet.e_max_mwh is not None else None
    storage = fleet.storage
    if storage is not None:
        rs = share[storage.rows]
        storage = replace(
            storage,
            energy_mwh=storage.energy_mwh * rs,
            e_min_mwh=storage.e_min_mwh * rs,
            e_max_mwh=storage.e_max_mwh * rs,
        )
    return replace(
        fleet,
        baseline_mw=base,
        p_min_mw=np.where(keep, fleet.p_min_mw * s, base),
        p_max_mw=np.where(keep, fleet.p_max_mw * s, base),
        ramp_up_mw=ramp(fleet.ramp_up_mw),
        ramp_down_mw=ramp(fleet.ramp_down_mw),
        p0_mw=None,
        e_min_mwh=None if e_min is None else np.where(keep, e_min, fixed_e),
        e_max_mwh=None if e_max is None else np.where(keep, e_max, fixed_e),
        storage=storage,
    )


class DispatchService:
    def __init__(self, clock: Clock, policy: DispatchPolicy | None = None) -> None:
        self._clock = clock
        self.policy = policy or DispatchPolicy()

    # -- the award -------------------------------------------------------------------------

    def dispatch(
        self,
        uow: UnitOfWork,
        organization_id: str,
        vpp_id: str,
        *,
        served: Collection[str] | None = None,
        now: datetime | None = None,
    ) -> DispatchBatch | None:
        """Dispatch the current and the next interval of the VPP, those of them with an award
        and no instruction yet: plan, store the instructions (one audit row), commit. Returns
        the batch to send (None: nothing to dispatch). ``served``: the resources the gateway
        reaches (None: all). Raises NotFound (field ``vpp_id``) for another organization's
        VPP."""
        now = ensure_utc(now or self._clock.now())
        step = self.policy.interval
        first = interval_start(now, step)
        starts = [first, first + step]
        with uow:
            if uow.vpps.get(organization_id, vpp_id) is None:
                raise NotFound(f"no VPP {vpp_id}", field="vpp_id")
            done = {
                r.valid_from
                for r in uow.dispatch.between(organization_id, vpp_id, first, first + 2 * step)
            }
            fills = uow.dispatch.fills(organization_id, vpp_id, first, first + 2 * step)
            position, awarded = position_mw(fills, starts)
            todo = [j for j in range(2) if awarded[j] and starts[j] not in done]
            if not todo:
                return None
            allocations, readings = uow.vpps.allocations(vpp_id)
            members = _members(allocations, now, readings)
            if not members.units:
                return None
            index = pd.DatetimeIndex([starts[j] for j in todo])
            plan = self._plan(members, index, position[todo], now, served, _time_zone(fills))
            if plan is None:
                return None
            p_dev, controlled, kinds, base, target, residual, notes = plan
            rows = np.flatnonzero(controlled)
            ids = [members.units[i].id for i in rows]
            seqs = uow.dispatch.next_seq(ids)
            setpoints, _ = build_setpoints(
                p_dev[rows],
                ids,
                [t.to_pydatetime() for t in index],
                step,
                organization_id=organization_id,
                issued_at=now,
                fallback_mw=default_fallback_mw([kinds[i] for i in rows], base[rows]),
                first_seq=np.array([seqs[i] for i in ids], dtype=np.int64),
                grace=self.policy.grace,
            )
            setpoints = [
                replace(x, instruction_id=instruction_id(x.resource_id, x.seq)) for x in setpoints
            ]
            batch = DispatchBatch(
                organization_id,
                vpp_id,
                "dispatch",
                tuple(t.to_pydatetime() for t in index),
                tuple(setpoints),
                tuple(float(x) for x in target),
                tuple(float(x) for x in residual),
                tuple(notes),
            )
            self._store(uow, batch)
        return batch

    def _plan(
        self,
        members: _Members,
        index: pd.DatetimeIndex,
        position: FloatArray,
        now: datetime,
        served: Collection[str] | None,
        tz: str,
    ) -> (
        tuple[
            FloatArray,
            NDArray[np.bool_],
            list[ResourceType],
            FloatArray,
            FloatArray,
            FloatArray,
            list[str],
        ]
        | None
    ):
        fleet, kinds, notes = fleet_from_units(
            members.units, index, tz=tz, now=now, readings=members.readings
        )
        controlled = np.array(
            [
                (served is None or u.id in served) and u.status not in OUT_OF_SERVICE
                for u in members.units
            ],
            dtype=np.bool_,
        )
        if not controlled.any():
            return None
        dt_h = self.policy.interval / timedelta(hours=1)
        part = _scaled(fleet, members.shares, controlled, dt_h)
        target = position + part.baseline_mw.sum(axis=0)
        plan = disaggregate(part, target, dt_h)
        rest = (1.0 - members.shares)[:, None] * fleet.baseline_mw
        device = np.clip(plan.p_mw + rest, fleet.p_min_mw, fleet.p_max_mw)
        return device, controlled, kinds, fleet.baseline_mw, target, plan.residual_mw, notes

    def _store(self, uow: UnitOfWork, batch: DispatchBatch) -> None:
        uow.dispatch.add_many([instruction_of(s, batch.vpp_id) for s in batch.setpoints])
        uow.record(
            AuditEvent(
                f"dispatch.{batch.kind}",
                "vpp",
                batch.vpp_id,
                after=batch.summary(),
                organization_id=batch.organization_id,
            )
        )
        uow.commit()

    # -- answers ---------------------------------------------------------------------------

    def apply_acks(self, uow: UnitOfWork, organization_id: str, acks: Sequence[Ack]) -> int:
        """Record the devices' answers and expire the instructions never answered whose
        window ended. No audit row (the instructions carry the answers)."""
        now = self._clock.now()
        with uow:
            changed = uow.dispatch.apply_acks(organization_id, acks) if acks else 0
            changed += uow.dispatch.expire_unanswered(organization_id, now)
            uow.commit()
        return changed

    # -- within the interval ---------------------------------------------------------------

    def correct(
        self,
        uow: UnitOfWork,
        organization_id: str,
        vpp_id: str,
        *,
        served: Collection[str] | None = None,
        now: datetime | None = None,
    ) -> DispatchBatch | None:
        """Re-dispatch the remaining flexibility of the interval in progress when the
        projected energy misses the schedule by more than the deadband
        (:func:`~openvpp.dispatch.correction.within_interval`): new setpoints (higher seq)
        valid from now to the interval's end plus grace. Resources in fault, without
        telemetry or not served are held at their current power."""
        pol = self.policy
        now = ensure_utc(now or self._clock.now())
        start = interval_start(now, pol.interval)
        elapsed = (now - start) / pol.interval
        if not pol.min_elapsed <= elapsed <= pol.max_elapsed:
            return None
        with uow:
            instrs = uow.dispatch.between(organization_id, vpp_id, start, start + pol.interval)
            initial = {r.resource_id: r for r in instrs if r.valid_from == start}
            if not initial:
                return None
            if now - max(r.issued_at for r in instrs) < pol.correction_every:
                return None
            ids = sorted(initial)
            latest: dict[str, InstructionRecord] = {}
            for r in instrs:
                if r.resource_id not in latest or r.seq > latest[r.resource_id].seq:
                    latest[r.resource_id] = r
            samples = [
                p
                for rid in ids
                for p in uow.telemetry.query(
                    rid, start - MAX_GAP, now + timedelta(microseconds=1), 10_000
                )
            ]
            allocations, readings = uow.vpps.allocations(vpp_id)
            units = {a.unit.id: a.unit for a in allocations}
            est = live_estimate(
                samples,
                start,
                pol.interval,
                now,
                np.array([initial[r].p_mw for r in ids]),
                resource_ids=ids,
                max_gap=MAX_GAP,
            )
            setpoint_now = np.array([latest[r].p_mw for r in ids])
            expected = np.where(np.isfinite(est.current_mw), est.current_mw, setpoint_now)
            lo, hi, e_up, e_down = self._room(ids, units, readings, now, expected, samples, served)
            corr = within_interval(
                est.vpp_scheduled_mwh,
                est.vpp_delivered_mwh,
                pol.interval,
                min(est.elapsed, 0.999),
                expected,
                lo,
                hi,
                energy_up_mwh=e_up,
                energy_down_mwh=e_down,
                deadband_mw=pol.deadband_mw,
            )
            change = np.abs(corr.setpoint_mw - setpoint_now)
            rows = np.flatnonzero(
                (np.abs(corr.delta_mw) > _MIN_CHANGE_MW) & (change > _MIN_CHANGE_MW)
            )
            if corr.needed_mw == 0.0 or rows.size == 0:
                return None
            seqs = uow.dispatch.next_seq([ids[i] for i in rows])
            until = start + pol.interval + pol.grace
            setpoints = tuple(
                Setpoint(
                    instruction_id=instruction_id(ids[i], seqs[ids[i]]),
                    organization_id=organization_id,
                    resource_id=ids[i],
                    seq=seqs[ids[i]],
                    p_mw=float(np.clip(corr.setpoint_mw[i], lo[i], hi[i])),
                    valid_from=now,
                    valid_until=until,
                    fallback_mw=initial[ids[i]].fallback_mw,
                    issued_at=now,
                )
                for i in rows
            )
            batch = DispatchBatch(
                organization_id,
                vpp_id,
                "correction",
                (start,),
                setpoints,
                (corr.vpp_target_mw,),
                (corr.uncorrectable_mw,),
                (f"needed {corr.needed_mw:+.3f} MW over {corr.remaining_h * 60:.1f} min left",),
            )
            self._store(uow, batch)
        return batch

    def _room(
        self,
        ids: Sequence[str],
        units: dict[str, Unit],
        readings: dict[str, TelemetryPoint],
        now: datetime,
        expected: FloatArray,
        samples: Sequence[TelemetryPoint],
        served: Collection[str] | None,
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Each resource's feasible power now and energy room (batteries) for a correction;
        resources that cannot respond are pinned at ``expected``."""
        n = len(ids)
        lo, hi = expected.copy(), expected.copy()
        e_up, e_down = np.full(n, math.inf), np.full(n, math.inf)
        known = [i for i, r in enumerate(ids) if r in units]
        if known:
            index = pd.DatetimeIndex([interval_start(now, self.policy.interval)])
            fleet, _, _ = fleet_from_units(
                [units[ids[i]] for i in known], index, tz="UTC", now=now, readings=readings
            )
            last: dict[str, TelemetryPoint] = {}
            for p in samples:
                if p.resource_id not in last or p.ts >= last[p.resource_id].ts:
                    last[p.resource_id] = p
            for k, i in enumerate(known):
                unit = units[ids[i]]
                reading = last.get(ids[i])
                dead = unit.status in OUT_OF_SERVICE or (
                    served is not None and ids[i] not in served
                )
                if dead or reading is None or reading.fault:
                    continue
                lo[i] = min(float(fleet.p_min_mw[k, 0]), expected[i])
                hi[i] = max(float(fleet.p_max_mw[k, 0]), expected[i])
                if unit.resource_type is ResourceType.BATTERY and reading.soc is not None:
                    spec = battery_spec(unit.parameters)
                    stored = reading.soc * spec.energy_mwh
                    e_up[i] = max(stored - spec.soc_min * spec.energy_mwh, 0.0) * spec.eta_discharge
                    e_down[i] = max(spec.soc_max * spec.energy_mwh - stored, 0.0) / spec.eta_charge
        return lo, hi, e_up, e_down
