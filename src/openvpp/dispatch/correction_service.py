"""Within-interval correction as a service: while a dispatched interval runs, the energy
projected from the stored telemetry is compared with the VPP's schedule; beyond the deadband,
the remaining flexibility is re-dispatched (:func:`~openvpp.dispatch.correction.within_interval`)
with new setpoints (higher ``seq``) valid from now to the interval's end plus grace.
Power [MW] injection positive; instants UTC."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from openvpp.aggregation.engine import OUT_OF_SERVICE, Unit
from openvpp.core.clock import Clock, ensure_utc
from openvpp.dispatch.correction import within_interval
from openvpp.dispatch.fleet import battery_spec, fleet_from_units
from openvpp.dispatch.instructions_service import InstructionRecord
from openvpp.dispatch.monitoring import live_estimate
from openvpp.dispatch.protocol import Setpoint
from openvpp.dispatch.service import (
    MAX_GAP,
    DispatchBatch,
    DispatchPolicy,
    FloatArray,
    instruction_id,
    interval_start,
    store_batch,
)
from openvpp.ports import UnitOfWork
from openvpp.resources.telemetry import TelemetryPoint
from openvpp.resources.templates import ResourceType

__all__ = ["CorrectionService"]

_MIN_CHANGE_MW = 1e-3


class CorrectionService:
    def __init__(self, clock: Clock, policy: DispatchPolicy | None = None) -> None:
        self._clock = clock
        self.policy = policy or DispatchPolicy()

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
            end = start + pol.interval
            later = {
                r.resource_id
                for r in uow.dispatch.between(organization_id, vpp_id, end, end + pol.interval)
            }
            setpoints = tuple(
                Setpoint(
                    instruction_id=instruction_id(ids[i], seqs[ids[i]]),
                    organization_id=organization_id,
                    resource_id=ids[i],
                    seq=seqs[ids[i]],
                    p_mw=float(np.clip(corr.setpoint_mw[i], lo[i], hi[i])),
                    valid_from=now,
                    # the next interval's instruction (a lower seq) takes over at the end
                    valid_until=end if ids[i] in later else until,
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
            store_batch(uow, batch)
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
            index = pd.date_range(
                interval_start(now, self.policy.interval), periods=1, freq=self.policy.interval
            )
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
