"""The dispatch service: a VPP's awarded position turned into per-resource setpoints, stored as
dispatch instructions; the devices' answers applied. Corrections within the interval:
:mod:`openvpp.dispatch.correction_service`; see docs/dispatch_service.md.

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
from openvpp.dispatch.correction import CORRECTION_DEADBAND_MW
from openvpp.dispatch.disaggregate import Fleet, disaggregate
from openvpp.dispatch.fleet import fleet_from_units
from openvpp.dispatch.instructions_service import instruction_of
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
    "cut_grace",
    "instruction_id",
    "interval_start",
    "position_mw",
    "store_batch",
]

FloatArray = NDArray[np.float64]
INTERVAL = timedelta(minutes=15)
MAX_GAP = timedelta(minutes=5)  # longest a telemetry sample holds (metering)


def instruction_id(resource_id: str, seq: int) -> str:
    """``{resource}:{seq}``: unique (the store's key on resource and seq) and a valid MQTT
    id (letters, digits, ``_ . : -``)."""
    return f"{resource_id}:{seq}"


def cut_grace(setpoint: Setpoint, later: Collection[str], next_start: datetime) -> datetime:
    """The setpoint's end: without grace when its resource already holds an instruction from
    ``next_start`` on (which has a lower seq and would otherwise be overridden during the
    grace), else as built."""
    if setpoint.resource_id in later and setpoint.valid_until > next_start:
        return next_start
    return setpoint.valid_until


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
    deadband_mw: float = CORRECTION_DEADBAND_MW
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
    return None if m is None else m.period(product)


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


def store_batch(uow: UnitOfWork, batch: DispatchBatch) -> None:
    """Insert the batch's instructions with one audit row ``dispatch.<kind>`` and commit."""
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
            existing = uow.dispatch.between(organization_id, vpp_id, first, first + 2 * step)
            done = {r.valid_from for r in existing}
            fills = uow.dispatch.fills(organization_id, vpp_id, first, first + 2 * step)
            position, awarded = position_mw(fills, starts)
            todo = [j for j in range(2) if awarded[j] and starts[j] not in done]
            if not todo:
                return None
            allocations, readings = uow.vpps.allocations(vpp_id)
            members = _members(allocations, now, readings)
            if not members.units:
                return None
            # todo is [0], [1] or [0, 1]: a regular grid (with a freq: the load profiles need it)
            index = pd.date_range(starts[todo[0]], periods=len(todo), freq=step)
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
            later = {r.resource_id for r in existing if r.valid_from >= starts[1]}
            setpoints = [
                replace(
                    x,
                    instruction_id=instruction_id(x.resource_id, x.seq),
                    valid_until=cut_grace(x, later, starts[1]),
                )
                for x in setpoints
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
            store_batch(uow, batch)
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
