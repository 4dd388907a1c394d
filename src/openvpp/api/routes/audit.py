"""The audit trail: read the organization's records, verify the whole chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from openvpp.api.deps import PrincipalDep, ReadUow, RuntimeDep, blocking, check_page_size, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.ops import AuditRecordOut, VerifyOut
from openvpp.audit.service import list_records, verify_chain

router = APIRouter(prefix=f"{API_PREFIX}/audit", tags=["audit"])


@router.get("", summary="Audit records of the organization, newest first")
async def audit_records(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    action: Annotated[str | None, Query(max_length=200)] = None,
    before_seq: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> list[AuditRecordOut]:
    check_page_size(rt, limit)
    records = await read(
        rt,
        list_records,
        uow,
        principal.organization_id,
        action=action,
        before_seq=before_seq,
        limit=limit,
    )
    return [AuditRecordOut.of(r) for r in records]


@router.get("/verify", summary="Verify the hash chain; reports the first broken row")
async def verify(rt: RuntimeDep, principal: PrincipalDep) -> VerifyOut:
    # One snapshot for the head and the rows, or concurrent appends would look like tampering.
    result = await blocking(verify_chain, rt.uow(readonly=True, snapshot=True), rt.audit_key)
    return VerifyOut(
        ok=result.ok,
        checked=result.checked,
        first_bad_seq=result.first_bad_seq,
        problem=result.problem,
    )
