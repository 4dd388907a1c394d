"""Audit trail services: reading and verifying the chain."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from openvpp.audit.chain import AuditRecord, VerifyResult, verify
from openvpp.ports import UnitOfWork


def list_records(
    uow: UnitOfWork,
    organization_id: str,
    *,
    action: str | None = None,
    before_seq: int | None = None,
    limit: int = 100,
) -> list[AuditRecord]:
    """Newest first; page with ``before_seq`` = the last ``seq`` of the previous page."""
    with uow:
        return uow.audit.list(organization_id, action=action, after_seq=before_seq, limit=limit)


def verify_chain(
    uow: UnitOfWork, key: bytes, progress: Callable[[int], None] | None = None
) -> VerifyResult:
    """Check the whole chain and report the first broken row. ``uow`` must read one
    snapshot (``snapshot=True``): otherwise rows appended while it runs look inserted."""
    with uow:
        head = uow.audit.head()

        def counted() -> Iterator[AuditRecord]:
            for n, rec in enumerate(uow.audit.iterate(), start=1):
                if progress is not None and n % 1000 == 0:
                    progress(n)
                yield rec

        return verify(key, counted(), head)
