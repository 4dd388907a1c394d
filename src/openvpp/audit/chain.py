"""The hash chain behind the audit trail.

Row ``n`` stores ``hash_n = SHA-256(hash_{n-1} || canonical(row_n))`` and ``seq = n`` with no
gaps. Editing a row breaks its hash; inserting or deleting one breaks the sequence or the link;
deleting the newest rows is caught by the chain head, which records the last sequence and hash.
The hash is an HMAC keyed with a key derived from the master secret, which lives outside the
database: someone who can write to the database alone cannot re-forge a consistent chain.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from openvpp.core.canonical import canonical_json

GENESIS_HASH = "0" * 64
Outcome = Literal["success", "denied", "rejected", "error"]


@dataclass(frozen=True)
class AuditEvent:
    """What happened, as recorded by a service or the request middleware."""

    action: str
    object_type: str | None = None
    object_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    outcome: Outcome = "success"
    status_code: int | None = None
    organization_id: str | None = None
    """Set when the context has no organization yet (a login names the user's)."""


@dataclass(frozen=True)
class AuditContext:
    """Who and where: filled by the API per request, or by the CLI/job runner as ``system``."""

    actor_type: str = "system"
    actor_id: str | None = None
    organization_id: str | None = None
    request_id: str | None = None
    ip: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    occurred_at: datetime
    request_id: str | None
    actor_type: str
    actor_id: str | None
    organization_id: str | None
    action: str
    object_type: str | None
    object_id: str | None
    before: str | None
    after: str | None
    outcome: str
    status_code: int | None
    ip: str | None
    prev_hash: str
    hash: str


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return None if value is None else canonical_json(value)


def payload(
    seq: int, occurred_at: datetime, ctx: AuditContext, event: AuditEvent
) -> dict[str, Any]:
    """The stored fields of a row, before chaining (``before``/``after`` as canonical JSON)."""
    return {
        "seq": seq,
        "occurred_at": occurred_at,
        "request_id": ctx.request_id,
        "actor_type": ctx.actor_type,
        "actor_id": ctx.actor_id,
        "organization_id": ctx.organization_id or event.organization_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": _json_or_none(event.before),
        "after": _json_or_none(event.after),
        "outcome": event.outcome,
        "status_code": event.status_code,
        "ip": ctx.ip,
    }


def row_hash(key: bytes, prev_hash: str, fields: dict[str, Any]) -> str:
    """HMAC of one row chained to its predecessor. Times enter as UTC ISO-8601 with microseconds."""
    material = dict(fields)
    material["occurred_at"] = fields["occurred_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    message = (prev_hash + canonical_json(material)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def chain(
    key: bytes,
    prev_seq: int,
    prev_hash: str,
    occurred_at: datetime,
    ctx: AuditContext,
    event: AuditEvent,
) -> AuditRecord:
    """The next record after (``prev_seq``, ``prev_hash``)."""
    fields = payload(prev_seq + 1, occurred_at, ctx, event)
    return AuditRecord(**fields, prev_hash=prev_hash, hash=row_hash(key, prev_hash, fields))


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


def _fields(rec: AuditRecord) -> dict[str, Any]:
    return {
        k: getattr(rec, k)
        for k in (
            "seq",
            "occurred_at",
            "request_id",
            "actor_type",
            "actor_id",
            "organization_id",
            "action",
            "object_type",
            "object_id",
            "before",
            "after",
            "outcome",
            "status_code",
            "ip",
        )
    }


def verify(
    key: bytes, records: Iterable[AuditRecord], head: tuple[int, str] | None
) -> VerifyResult:
    """Walk ``records`` in ``seq`` order and report the first row that breaks the chain.

    ``head`` is the stored (last seq, last hash): ``(0, GENESIS_HASH)`` for an empty trail,
    ``None`` when the head row itself is gone.
    """
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for rec in records:
        if rec.seq != expected_seq:
            kind = "deleted" if rec.seq > expected_seq else "inserted"
            return VerifyResult(
                False,
                checked,
                expected_seq,
                f"row {expected_seq} is missing or a row was {kind} (found seq {rec.seq})",
            )
        if rec.prev_hash != prev_hash:
            return VerifyResult(
                False,
                checked,
                rec.seq,
                f"row {rec.seq} does not link to row {rec.seq - 1} "
                "(inserted, or its predecessor was edited)",
            )
        if not hmac.compare_digest(row_hash(key, prev_hash, _fields(rec)), rec.hash):
            return VerifyResult(False, checked, rec.seq, f"row {rec.seq} was edited")
        prev_hash, expected_seq, checked = rec.hash, expected_seq + 1, checked + 1
    last_seq = expected_seq - 1
    if head is None:
        if last_seq:
            return VerifyResult(False, checked, 1, "chain head is missing")
        return VerifyResult(True, 0)
    head_seq, head_hash = head
    if head_seq > last_seq:
        return VerifyResult(
            False, checked, last_seq + 1, f"rows {last_seq + 1}..{head_seq} were deleted"
        )
    if head_seq < last_seq:
        return VerifyResult(
            False,
            checked,
            head_seq + 1,
            f"rows after {head_seq} were inserted behind the chain head",
        )
    if head_hash != prev_hash:
        return VerifyResult(False, checked, last_seq, f"row {last_seq} was edited")
    return VerifyResult(True, checked)
