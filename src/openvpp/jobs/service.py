"""Job services behind the API and the CLI: submit, inspect, cancel, retry."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.errors import Conflict, NotFound, PermissionDenied
from openvpp.core.ids import new_id
from openvpp.identity.model import Principal
from openvpp.jobs.model import FINAL_STATUSES, RETRYABLE_STATUSES, Job, JobStatus
from openvpp.jobs.registry import JobRegistry
from openvpp.ports import UnitOfWork


class JobService:
    def __init__(self, registry: JobRegistry, clock: Clock) -> None:
        self.registry = registry
        self._clock = clock

    def submit(
        self, uow: UnitOfWork, principal: Principal | None, kind: str, params: dict[str, Any]
    ) -> Job:
        spec = self.registry.get(kind)
        if principal is not None and not {r.value for r in principal.roles} & spec.roles:
            raise PermissionDenied(f"job kind {kind!r} needs one of the roles {sorted(spec.roles)}")
        checked = spec.check_params(params)
        job = Job(
            id=new_id(),
            organization_id=principal.organization_id if principal else None,
            kind=kind,
            params=checked,
            status=JobStatus.QUEUED,
            created_at=self._clock.now(),
            created_by=principal.id if principal else None,
        )
        with uow:
            uow.jobs.add(job)
            uow.record(AuditEvent("job.submit", "job", job.id, after=job.audit_view()))
            uow.commit()
        return job

    def get(self, uow: UnitOfWork, principal: Principal | None, job_id: str) -> Job:
        with uow:
            return self._job(uow, principal, job_id)

    def list(
        self,
        uow: UnitOfWork,
        principal: Principal | None,
        status: JobStatus | None,
        limit: int,
        offset: int,
    ) -> list[Job]:
        with uow:
            org = principal.organization_id if principal else None
            return uow.jobs.list(org, status, limit, offset)

    def cancel(self, uow: UnitOfWork, principal: Principal | None, job_id: str) -> Job:
        """A queued job is cancelled at once; a running one is asked to stop at its next step."""
        with uow:
            job = self._job(uow, principal, job_id, for_update=True)
            if job.status in FINAL_STATUSES or job.status is JobStatus.INTERRUPTED:
                raise Conflict(f"job is {job.status.value}; it cannot be cancelled", field="status")
            if job.status is JobStatus.QUEUED:
                new = replace(
                    job,
                    status=JobStatus.CANCELLED,
                    cancel_requested=True,
                    finished_at=self._clock.now(),
                    error="cancelled before start",
                )
            else:
                new = replace(job, cancel_requested=True)
            uow.jobs.update(new)
            uow.record(
                AuditEvent(
                    "job.cancel", "job", job.id, before=job.audit_view(), after=new.audit_view()
                )
            )
            uow.commit()
        return new

    def retry(self, uow: UnitOfWork, principal: Principal | None, job_id: str) -> Job:
        with uow:
            job = self._job(uow, principal, job_id, for_update=True)
            if job.status not in RETRYABLE_STATUSES:
                raise Conflict(
                    f"job is {job.status.value}; only failed, cancelled or "
                    "interrupted jobs can be retried",
                    field="status",
                )
            new = replace(
                job,
                status=JobStatus.QUEUED,
                progress=0.0,
                message="",
                result=None,
                error=None,
                cancel_requested=False,
                started_at=None,
                finished_at=None,
                heartbeat_at=None,
                worker_id=None,
            )
            uow.jobs.update(new)
            uow.record(
                AuditEvent(
                    "job.retry", "job", job.id, before=job.audit_view(), after=new.audit_view()
                )
            )
            uow.commit()
        return new

    @staticmethod
    def _job(
        uow: UnitOfWork, principal: Principal | None, job_id: str, *, for_update: bool = False
    ) -> Job:
        job = uow.jobs.get(job_id, for_update=for_update)
        if job is None or (
            principal is not None and job.organization_id != principal.organization_id
        ):
            raise NotFound(f"job {job_id!r} not found", field="job_id")
        return job
