"""Monitoring as a service: after each dispatched interval, metered against scheduled per
resource and for the VPP from the stored telemetry, stored as monitoring records; deviation
and data-quality alerts raised as ops alerts, once per VPP and interval; the live estimate of
the interval in progress.

**Scheduled**, per resource, is what it was instructed: the time-weighted average of its
setpoints in effect over the interval (the first dispatch from the start, each correction from
its ``valid_from``), so a device that followed its corrections is on schedule. The VPP's
schedule is the plan as first dispatched (the sum of the initial setpoints): corrections do not
move the VPP's obligation. Resources without an instruction for the interval are not
monitored. Power [MW] injection positive; instants UTC.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock, ensure_utc
from openvpp.core.errors import NotFound, ValidationFailed
from openvpp.core.ids import new_id
from openvpp.dispatch.instructions_service import VPP_TOTAL, InstructionRecord, MonitoringRecord
from openvpp.dispatch.monitoring import (
    VPP,
    DeviationAlert,
    DeviationThresholds,
    LiveEstimate,
    MonitoringFrame,
    alerts,
    compare,
    live_estimate,
    metered_energy,
    thresholds_from,
)
from openvpp.dispatch.service import INTERVAL, MAX_GAP, interval_start
from openvpp.ops.model import Alert, AlertStatus, Severity
from openvpp.ports import UnitOfWork
from openvpp.resources.telemetry import TelemetryPoint
from openvpp.vpp.model import settings_at

__all__ = ["MonitoringResult", "MonitoringService"]

log = logging.getLogger(__name__)

LOOKBACK = timedelta(hours=6)  # how far back unmonitored intervals are picked up
_RANK = {None: 0, Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


@dataclass(frozen=True)
class MonitoringResult:
    vpp_id: str
    interval_start: datetime
    records: tuple[MonitoringRecord, ...]
    alerts: tuple[DeviationAlert, ...]
    new: bool  # False: the interval was recorded before (no alert raised again)


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _samples(
    uow: UnitOfWork, ids: list[str], start: datetime, end: datetime
) -> list[TelemetryPoint]:
    return [p for rid in ids for p in uow.telemetry.query(rid, start - MAX_GAP, end, 100_000)]


def _initial(instrs: list[InstructionRecord], start: datetime) -> dict[str, InstructionRecord]:
    return {r.resource_id: r for r in instrs if r.valid_from == start}


class MonitoringService:
    def __init__(
        self,
        clock: Clock,
        thresholds: DeviationThresholds | None = None,
        *,
        interval: timedelta = INTERVAL,
        settle: timedelta = timedelta(seconds=60),
    ) -> None:
        self._clock = clock
        self.thresholds = thresholds or DeviationThresholds()
        self.interval = interval
        self.settle = settle

    def due(self, uow: UnitOfWork, organization_id: str) -> list[tuple[str, datetime]]:
        """(VPP, interval start) of dispatched intervals that ended at least ``settle`` ago
        and have no monitoring record yet (the last six hours), oldest first."""
        now = self._clock.now()
        last = interval_start(now - self.settle, self.interval) - self.interval
        with uow:
            pairs = uow.dispatch.vpps_with_instructions(
                organization_id, now - LOOKBACK, last + self.interval
            )
            starts: dict[str, set[datetime]] = {}
            for vpp, at in pairs:
                starts.setdefault(vpp, set()).add(interval_start(at, self.interval))
            out = []
            for vpp, s in starts.items():
                done = uow.monitoring.monitored(organization_id, vpp, sorted(s))
                out += [(vpp, x) for x in s if x not in done]
        return sorted(out, key=lambda p: (p[1], p[0]))

    def monitor(
        self, uow: UnitOfWork, organization_id: str, vpp_id: str, start: datetime
    ) -> MonitoringResult | None:
        """Record the interval from ``start`` (None: nothing was dispatched for it). Alerts
        are raised only when the VPP's record is new, so a repeated run raises none."""
        start = ensure_utc(start)
        end = start + self.interval
        now = self._clock.now()
        with uow:
            instrs = uow.dispatch.between(organization_id, vpp_id, start, end)
            initial = _initial(instrs, start)
            if not initial:
                return None
            ids = sorted(initial)
            samples = _samples(uow, ids, start, end)
            metered = metered_energy(
                samples,
                pd.DatetimeIndex([start]),
                resource_ids=ids,
                interval=self.interval,
                max_gap=MAX_GAP,
                until=end,
            )
            frame = compare(self._instructed(instrs, ids, start), metered)
            vpp_scheduled = frame.scheduled_mw.copy()
            vpp_scheduled[-1, 0] = sum(initial[r].p_mw for r in ids)
            frame = replace(frame, scheduled_mw=vpp_scheduled)
            thresholds = self.thresholds_of(uow, vpp_id, start)
            history = self._history(uow, organization_id, vpp_id, frame, thresholds.consecutive)
            found = [a for a in alerts(history, thresholds) if a.interval_start == start]
            records = self._records(frame, found, organization_id, vpp_id, now)
            new = uow.monitoring.upsert(records)[-1]
            if new:
                for a in found:
                    uow.alerts.add(self._alert(a, organization_id, vpp_id, now))
            vpp_row = records[-1]
            uow.record(
                AuditEvent(
                    "dispatch.monitor",
                    "vpp",
                    vpp_id,
                    after={
                        "interval_start": start.isoformat(),
                        "scheduled_mw": vpp_row.scheduled_mw,
                        "metered_mw": vpp_row.metered_mw,
                        "coverage": vpp_row.coverage,
                        "alerts": len(found) if new else 0,
                        "new": new,
                    },
                    organization_id=organization_id,
                )
            )
            uow.commit()
        return MonitoringResult(vpp_id, start, tuple(records), tuple(found), new)

    def thresholds_of(self, uow: UnitOfWork, vpp_id: str, at: datetime) -> DeviationThresholds:
        """The VPP's thresholds at ``at``: the server's, with the keys its parameters in force
        then set (``monitoring_thresholds``) replaced."""
        own = settings_at(uow.vpps.settings_history([vpp_id]), at).monitoring_thresholds
        if not own:
            return self.thresholds
        try:
            return thresholds_from(own, self.thresholds)
        except ValidationFailed as exc:  # e.g. the server's critical level lowered below it
            log.warning("VPP %s: monitoring thresholds %s ignored: %s", vpp_id, own, exc.message)
            return self.thresholds

    def _history(
        self,
        uow: UnitOfWork,
        organization_id: str,
        vpp_id: str,
        frame: MonitoringFrame,
        consecutive: int,
    ) -> MonitoringFrame:
        """The frame preceded by the stored records of the ``consecutive - 1`` intervals
        before it, so that a streak spans intervals; an interval without a record counts as
        not metered (it breaks streaks)."""
        k = consecutive - 1
        if k == 0:
            return frame
        start = frame.index[0].to_pydatetime()
        first = start - k * self.interval
        stored = uow.monitoring.page(
            organization_id,
            vpp_id=vpp_id,
            resource_id=None,
            start=first,
            end=start,
            limit=k * (len(frame.subjects) + 1) * 4,
            offset=0,
        )
        rows = {VPP_TOTAL if s == VPP else s: i for i, s in enumerate(frame.subjects)}
        shape = (len(frame.subjects), k)
        sched, met, cov = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape)
        for rec in stored:
            j = int((rec.interval_start - first) / self.interval)
            i = rows.get(rec.resource_id)
            if i is not None and 0 <= j < k:
                sched[i, j] = rec.scheduled_mw
                met[i, j] = np.nan if rec.metered_mw is None else rec.metered_mw
                cov[i, j] = rec.coverage
        return replace(
            frame,
            index=pd.date_range(first, periods=k + 1, freq=self.interval),
            scheduled_mw=np.hstack([sched, frame.scheduled_mw]),
            metered_mw=np.hstack([met, frame.metered_mw]),
            coverage=np.hstack([cov, frame.coverage]),
        )

    def _instructed(
        self, instrs: list[InstructionRecord], ids: list[str], start: datetime
    ) -> np.ndarray[tuple[int, int], np.dtype[np.float64]]:
        """Per resource, the time-weighted average setpoint over the interval [MW] ``(n, 1)``."""
        end = start + self.interval
        out = np.zeros((len(ids), 1))
        for i, rid in enumerate(ids):
            own = sorted((r for r in instrs if r.resource_id == rid), key=lambda r: r.seq)
            for k, r in enumerate(own):
                since = max(r.valid_from, start)
                until = own[k + 1].valid_from if k + 1 < len(own) else end
                if until > since:
                    out[i, 0] += r.p_mw * ((until - since) / self.interval)
        return out

    def _records(
        self,
        frame: MonitoringFrame,
        found: list[DeviationAlert],
        organization_id: str,
        vpp_id: str,
        now: datetime,
    ) -> list[MonitoringRecord]:
        worst: dict[str, Severity] = {}
        for a in found:
            if _RANK[a.severity] > _RANK[worst.get(a.subject)]:
                worst[a.subject] = a.severity
        dev, dev_e = frame.deviation_mw, frame.deviation_mwh
        out = []
        for r, subject in enumerate(frame.subjects):  # the resources, then the VPP
            sev = worst.get(subject)
            out.append(
                MonitoringRecord(
                    id=new_id(),
                    organization_id=organization_id,
                    vpp_id=vpp_id,
                    resource_id=VPP_TOTAL if subject == VPP else subject,
                    interval_start=frame.index[0].to_pydatetime(),
                    interval_min=int(self.interval / timedelta(minutes=1)),
                    scheduled_mw=float(np.nan_to_num(frame.scheduled_mw[r, 0])),
                    metered_mw=_finite(frame.metered_mw[r, 0]),
                    deviation_mw=_finite(dev[r, 0]),
                    deviation_mwh=_finite(dev_e[r, 0]),
                    coverage=float(np.nan_to_num(frame.coverage[r, 0])),
                    severity=None if sev is None else sev.value,
                    created_at=now,
                )
            )
        return out

    @staticmethod
    def _alert(a: DeviationAlert, organization_id: str, vpp_id: str, now: datetime) -> Alert:
        return Alert(
            id=new_id(),
            organization_id=organization_id,
            severity=a.severity,
            source=a.source,
            title=a.title[:200],
            message=f"VPP {vpp_id}: {a.message}",
            status=AlertStatus.OPEN,
            raised_at=now,
        )

    def live(
        self, uow: UnitOfWork, organization_id: str, vpp_id: str, now: datetime | None = None
    ) -> LiveEstimate | None:
        """The interval in progress from the stored telemetry (None: not dispatched)."""
        now = ensure_utc(now or self._clock.now())
        start = interval_start(now, self.interval)
        with uow:
            if uow.vpps.get(organization_id, vpp_id) is None:
                raise NotFound(f"no VPP {vpp_id}", field="vpp_id")
            initial = _initial(
                uow.dispatch.between(organization_id, vpp_id, start, start + self.interval), start
            )
            if not initial:
                return None
            ids = sorted(initial)
            samples = _samples(uow, ids, start, now + timedelta(microseconds=1))
        return live_estimate(
            samples,
            start,
            self.interval,
            now,
            np.array([initial[r].p_mw for r in ids]),
            resource_ids=ids,
            max_gap=MAX_GAP,
        )
