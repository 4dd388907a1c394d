"""Pure ASGI middleware: request id, body limit, access log, metrics, audit of denied and
state-changing requests, and the last-resort 500 that carries no stack trace."""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openvpp.api.errors import DATABASE_UNAVAILABLE
from openvpp.api.logs import REQUEST_ID
from openvpp.api.metrics import AUDIT_FAILURES, LATENCY, REQUESTS
from openvpp.audit.chain import AuditContext, AuditEvent, Outcome
from openvpp.core.canonical import canonical_json
from openvpp.identity.model import Principal
from openvpp.store.uow import AuditSink

log = structlog.get_logger("openvpp.http")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# A random prefix per process and a counter: unique across processes and restarts, and cheaper
# than drawing 16 random bytes (a system call) for every request.
_RID_PREFIX = secrets.token_hex(8)
_RID_COUNTER = itertools.count(1)


def next_request_id() -> str:
    """A new request id: 16 hex characters of process prefix, then a 16-hex-digit counter."""
    return f"{_RID_PREFIX}{next(_RID_COUNTER):016x}"


@dataclass
class RequestInfo:
    """Per-request facts shared by the middleware, ``authorize`` and the unit of work."""

    request_id: str
    ip: str | None
    sink: AuditSink = field(default_factory=AuditSink)
    principal: Principal | None = None
    attempted_actor: str | None = None

    def audit_context(self) -> AuditContext:
        p = self.principal
        if p is None:
            return AuditContext(
                actor_type="anonymous",
                actor_id=self.attempted_actor,
                request_id=self.request_id,
                ip=self.ip,
            )
        return AuditContext(
            actor_type=p.kind,
            actor_id=p.id,
            organization_id=p.organization_id,
            request_id=self.request_id,
            ip=self.ip,
        )


def outcome_for(status: int) -> Outcome:
    if status in (401, 403):
        return "denied"
    if status >= 500:
        return "error"
    if status >= 400:
        return "rejected"
    return "success"


AuditWriter = Callable[[AuditContext, AuditEvent], None]


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        audit_writer: AuditWriter,
        upload_paths: frozenset[str] = frozenset(),
        max_upload_bytes: int = 0,
    ) -> None:
        """``upload_paths`` (exact paths, e.g. a file import) accept bodies up to
        ``max_upload_bytes``; every other path up to ``max_body_bytes``."""
        self.app = app
        self.max_body = max_body_bytes
        self.write_audit = audit_writer
        self.upload_paths = upload_paths
        self.max_upload = max(max_upload_bytes, max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        rid = headers.get("x-request-id", "")
        rid = rid if VALID_REQUEST_ID.match(rid) else next_request_id()
        client = scope.get("client")
        info = RequestInfo(request_id=rid, ip=client[0] if client else None)
        scope.setdefault("state", {})["openvpp"] = info
        rid_token = REQUEST_ID.set(rid)
        method = scope["method"]
        started = time.perf_counter()
        status_box = [500]
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_box[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
                await self._audit(scope, info, method, message["status"])
            await send(message)

        limit = self.max_upload if scope["path"] in self.upload_paths else self.max_body
        try:
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await self._reject_too_large(send_wrapper, rid, limit)
            else:
                await self.app(scope, self._limited(receive, limit), send_wrapper)
        except Exception:
            log.exception("http.unhandled_error", method=method, path=scope["path"])
            if not response_started:
                await self._send_json(
                    send_wrapper,
                    500,
                    {
                        "error": {
                            "code": "internal_error",
                            "message": "internal error; quote the request id when reporting it",
                            "request_id": rid,
                        }
                    },
                )
        finally:
            route = _route_template(scope)
            elapsed = time.perf_counter() - started
            REQUESTS.labels(method, route, str(status_box[0])).inc()
            LATENCY.labels(method, route).observe(elapsed)
            log.info(
                "http.request",
                method=method,
                route=route,
                status=status_box[0],
                duration_ms=round(elapsed * 1000, 2),
            )
            REQUEST_ID.reset(rid_token)

    @staticmethod
    def _limited(receive: Receive, limit: int) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # FastAPI's HTTPException passes through its body parsing unchanged.
                    raise HTTPException(413, f"request body exceeds {limit} bytes")
            return message

        return wrapped

    async def _reject_too_large(self, send: Send, rid: str, limit: int) -> None:
        await self._send_json(
            send,
            413,
            {
                "error": {
                    "code": "payload_too_large",
                    "message": f"request body exceeds {limit} bytes",
                    "field": "body",
                    "request_id": rid,
                }
            },
        )

    @staticmethod
    async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
        payload = canonical_json(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _audit(self, scope: Scope, info: RequestInfo, method: str, status: int) -> None:
        """One row for a state-changing, denied or rate-limited request the services did not
        audit (``authorize`` marks a rate-limited caller's further refusals as audited)."""
        if info.sink.written or (method not in MUTATING and status not in (401, 403, 429)):
            return
        event = AuditEvent(
            action=f"http.{method} {_route_template(scope)}",
            object_type="request",
            object_id=None,
            after={"path": scope["path"][:200]},
            outcome=outcome_for(status),
            status_code=status,
        )
        try:
            await run_in_threadpool(self.write_audit, info.audit_context(), event)
            info.sink.written = True
        except DATABASE_UNAVAILABLE as exc:
            # the database is unavailable (the request got its 503): one line per request, not
            # a traceback each while it is down
            AUDIT_FAILURES.inc()
            log.error("audit.write_failed", status=status, error=type(exc).__name__)
        except Exception:
            AUDIT_FAILURES.inc()
            log.exception("audit.write_failed", status=status)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"
