"""Durable jobs: submit, list, inspect, cancel, retry."""

from __future__ import annotations

from fastapi import APIRouter

from openvpp.api.deps import PageDep, PrincipalDep, ReadUow, RuntimeDep, WriteUow, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.ops import JobIn, JobKindOut, JobOut
from openvpp.jobs.model import JobStatus

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"])


@router.get("", summary="Jobs of the organization, newest first")
async def list_jobs(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    status: JobStatus | None = None,
) -> list[JobOut]:
    return [
        JobOut.of(j)
        for j in await read(rt, rt.jobs.list, uow, principal, status, page.limit, page.offset)
    ]


@router.post("", status_code=202, summary="Submit a job; poll it for progress and result")
async def submit_job(body: JobIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep) -> JobOut:
    return JobOut.of(await blocking(rt.jobs.submit, uow, principal, body.kind, body.params))


@router.get("/kinds", summary="The job kinds this server runs")
async def job_kinds(rt: RuntimeDep) -> list[JobKindOut]:
    return [
        JobKindOut(kind=k.name, description=k.description, roles=sorted(k.roles))
        for k in rt.jobs.registry.kinds()
    ]


@router.get("/{job_id}", summary="One job with status, progress, result or error")
async def get_job(job_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep) -> JobOut:
    return JobOut.of(await read(rt, rt.jobs.get, uow, principal, job_id))


@router.post("/{job_id}/cancel", summary="Cancel a queued job, or ask a running one to stop")
async def cancel_job(job_id: str, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep) -> JobOut:
    return JobOut.of(await blocking(rt.jobs.cancel, uow, principal, job_id))


@router.post("/{job_id}/retry", summary="Queue a failed, cancelled or interrupted job again")
async def retry_job(job_id: str, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep) -> JobOut:
    return JobOut.of(await blocking(rt.jobs.retry, uow, principal, job_id))
