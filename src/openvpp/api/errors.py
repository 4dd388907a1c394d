"""The one mapping from errors to HTTP responses. No stack trace ever reaches a client."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from openvpp.api.policy import methods_for
from openvpp.core.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
    VenueUnavailable,
)

log = structlog.get_logger("openvpp.api")

STATUS: dict[type[DomainError], int] = {
    ValidationFailed: 422,
    NotFound: 404,
    Conflict: 409,
    AuthenticationFailed: 401,
    PermissionDenied: 403,
    RateLimited: 429,
    VenueUnavailable: 502,
}

HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

DATABASE_UNAVAILABLE = (OperationalError, PoolTimeout)
"""What a database that is down or out of connections raises: answered 503 with Retry-After."""


def request_id_of(request: Request) -> str | None:
    info = getattr(request.state, "openvpp", None)
    return getattr(info, "request_id", None)


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    request_id: str | None,
    field: str | None = None,
    fields: list[dict[str, str]] | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if field is not None:
        body["field"] = field
    if fields is not None:
        body["fields"] = fields
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def status_for(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, AuthenticationFailed):
        headers["WWW-Authenticate"] = 'Bearer realm="openvpp"'
    return error_response(
        status,
        exc.code,
        exc.message,
        request_id=request_id_of(request),
        field=exc.field,
        details=exc.details,
        headers=headers,
    )


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"field": _loc(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    first = fields[0]["field"] if fields else None
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5]) or "invalid request"
    return error_response(
        422,
        "validation_error",
        message,
        request_id=request_id_of(request),
        field=first,
        fields=fields,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(methods_for(request.url.path))
    return error_response(
        exc.status_code,
        code,
        message,
        request_id=request_id_of(request),
        headers=headers,
    )


def database_code(exc: BaseException) -> str | None:
    """The database's own error code behind a driver error, for the logs: PostgreSQL's
    SQLSTATE (``40P01`` deadlock), MariaDB's error number (``1213``), SQLite's error name."""
    orig = getattr(exc, "orig", None)
    for attr in ("sqlstate", "sqlite_errorname"):
        code = getattr(orig, attr, None)
        if isinstance(code, str):
            return code
    args = getattr(orig, "args", ())
    return str(args[0]) if args and isinstance(args[0], int) else None


TRANSIENT_CONFLICTS = frozenset({"40P01", "40001", "1213", "1205"})
"""Deadlock and serialization failure (PostgreSQL), deadlock and lock wait timeout (MariaDB):
the transaction met a concurrent one and may simply be retried."""


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    code = database_code(exc)
    if code in TRANSIENT_CONFLICTS:
        log.warning("database.conflict", error=type(exc).__name__, code=code)
        message, retry = "the request met a concurrent one in the database; retry it", "1"
    else:
        log.error("database.unavailable", error=type(exc).__name__, code=code)
        message, retry = "the database is unavailable; retry shortly", "5"
    return error_response(
        503,
        "service_unavailable",
        message,
        request_id=request_id_of(request),
        headers={"Retry-After": retry},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for exc_type in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exc_type, _database_error)
    app.add_exception_handler(DBAPIError, _dbapi_error)


async def _dbapi_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated:
        return await _database_error(request, exc)
    rid = request_id_of(request)
    if isinstance(exc, IntegrityError):  # lost a race to a concurrent, conflicting write
        return error_response(
            409, "conflict", "conflicts with data written meanwhile; retry", request_id=rid
        )
    if isinstance(exc, DataError):  # e.g. a NUL character, which PostgreSQL text refuses
        return error_response(
            422,
            "validation_error",
            "a value cannot be stored (control characters?)",
            request_id=rid,
        )
    raise exc
