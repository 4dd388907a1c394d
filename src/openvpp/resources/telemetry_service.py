"""Telemetry: batch ingestion (API, CSV, CLI import), range and resampled queries, and the
refresh of statuses of resources that went silent."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.errors import ValidationFailed
from openvpp.identity.model import Principal
from openvpp.ports import UnitOfWork
from openvpp.resources.model import ResourceStatus
from openvpp.resources.service import ResourceService
from openvpp.resources.telemetry import (
    DEFAULT_STALE_AFTER,
    FUTURE_TOLERANCE,
    RESAMPLE_MAX_ROWS,
    IngestResult,
    LatestReading,
    Resolution,
    TelemetryBucket,
    TelemetryPoint,
    check_bucket_span,
    derive_status,
    resample,
    screen,
    went_silent_at,
)

_AUDITED_CHANGES = 50  # status changes named in one audit row; the count is always exact


class TelemetryService:
    def __init__(self, clock: Clock, stale_after: timedelta = DEFAULT_STALE_AFTER) -> None:
        self._clock = clock
        self.stale_after = stale_after
        self._totals = IngestResult()
        self._totals_lock = threading.Lock()

    def totals(self) -> IngestResult:
        """What this service stored, found duplicate and rejected (by reason) since it started:
        committed batches only (the ``/metrics`` counters)."""
        with self._totals_lock:
            copy = IngestResult()
            copy.merge(self._totals)
            return copy

    def ingest(
        self, uow: UnitOfWork, principal: Principal, points: Sequence[TelemetryPoint]
    ) -> IngestResult:
        """Store a batch in the caller's organization (see :meth:`ingest_for`)."""
        return self.ingest_for(uow, principal.organization_id, points)

    def ingest_for(
        self, uow: UnitOfWork, organization_id: str, points: Sequence[TelemetryPoint]
    ) -> IngestResult:
        """Screen, store and count a batch in one transaction with one audit row. A resource of
        another organization counts as unknown. Each resource's newest reading sets its
        ``last_seen_at`` and status (:func:`derive_status`)."""
        ids = sorted({p.resource_id for p in points})
        now = self._clock.now()
        with uow:
            # Share-locked: a resource cannot be deleted under the batch (telemetry has no
            # foreign key; see store.tables).
            known = {r.id: r for r in uow.resources.get_many(organization_id, ids, share_lock=True)}
            keep, result = screen(
                points, known, uow.telemetry.existing, not_after=now + FUTURE_TOLERANCE
            )
            inserted = uow.telemetry.add_many(keep, now)
            if inserted < len(keep):  # stored meanwhile by a concurrent batch
                result.duplicates += len(keep) - inserted
                result.accepted = inserted
            latest: dict[str, TelemetryPoint] = {}
            for p in keep:  # sorted by resource, then time: the last one wins
                seen_at = known[p.resource_id].last_seen_at
                if seen_at is None or p.ts > seen_at:  # a late reading is not the newest
                    latest[p.resource_id] = p
            readings = [
                LatestReading(rid, p.ts, derive_status(known[rid], p, now, self.stale_after))
                for rid, p in latest.items()
            ]
            uow.telemetry.record_latest(readings, now)
            changes = {
                x.resource_id: x.status.value
                for x in readings
                if x.status is not known[x.resource_id].status
            }
            uow.record(
                AuditEvent(
                    "telemetry.ingest",
                    "telemetry",
                    None,
                    after={
                        "accepted": result.accepted,
                        "duplicates": result.duplicates,
                        "rejected": dict(result.rejected),
                        "resources": len(readings),
                        "status_changes": len(changes),
                        "statuses": dict(list(changes.items())[:_AUDITED_CHANGES]),
                    },
                    organization_id=organization_id,
                )
            )
            uow.commit()
        with self._totals_lock:
            self._totals.merge(result)
        return result

    def query(
        self,
        uow: UnitOfWork,
        principal: Principal,
        resource_id: str,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        offset: int = 0,
    ) -> list[TelemetryPoint]:
        """Raw readings, oldest first, one page."""
        with uow:
            ResourceService.find(uow, principal, resource_id)
            return uow.telemetry.query(resource_id, start, end, limit, offset)

    def resampled(
        self,
        uow: UnitOfWork,
        principal: Principal,
        resource_id: str,
        start: datetime,
        end: datetime,
        resolution: Resolution,
        tz: tzinfo,
    ) -> list[TelemetryBucket]:
        """Readings in [start, end) in buckets (:func:`resample`). Reads at most
        ``RESAMPLE_MAX_ROWS`` readings; a range holding more is refused (422)."""
        check_bucket_span(start, end, resolution)
        with uow:
            ResourceService.find(uow, principal, resource_id)
            rows = uow.telemetry.query(resource_id, start, end, RESAMPLE_MAX_ROWS + 1)
        if len(rows) > RESAMPLE_MAX_ROWS:
            raise ValidationFailed(
                f"the range holds more than {RESAMPLE_MAX_ROWS} readings; narrow it",
                field="start",
            )
        return resample(rows, resolution, tz)

    def refresh_status(self, uow: UnitOfWork, organization_id: str | None) -> dict[str, Any]:
        """Record OFFLINE for every ONLINE or FAULT resource (of one organization, or of all)
        whose newest reading is older than ``stale_after``; one audit row when any changed.
        Each is marked offline as of the moment it went silent (reading time + stale_after)."""
        now = self._clock.now()
        stale_before = now - self.stale_after
        with uow:
            silent = uow.telemetry.silent(organization_id, stale_before)
            changes = [
                (rid, went_silent_at(seen, changed, self.stale_after))
                for rid, seen, changed in silent
            ]
            marked = uow.telemetry.mark_offline(changes, stale_before)
            if marked:
                uow.record(
                    AuditEvent(
                        "resource.status.refresh",
                        "resource",
                        None,
                        after={
                            "offline": marked,
                            "resource_ids": [rid for rid, _ in changes[:_AUDITED_CHANGES]],
                            "status": ResourceStatus.OFFLINE.value,
                        },
                        organization_id=organization_id,
                    )
                )
            uow.commit()
        return {"marked_offline": marked, "stale_before": stale_before.isoformat()}
