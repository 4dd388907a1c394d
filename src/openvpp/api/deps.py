"""Request dependencies: runtime, authorization (via the policy table), units of work, paging.

Dependencies that do no I/O are ``async``: FastAPI runs a sync dependency in the thread pool,
and each such hop costs more than the work itself. Blocking work (the database) goes to the
thread pool explicitly, through :func:`blocking`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from openvpp.api.middleware import RequestInfo
from openvpp.api.policy import PUBLIC, access_for
from openvpp.core.errors import (
    AuthenticationFailed,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from openvpp.identity import signatures
from openvpp.identity.model import Principal
from openvpp.runtime import Runtime
from openvpp.store.uow import SqlUnitOfWork

P = ParamSpec("P")
T = TypeVar("T")


async def blocking(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking work (database, password hashing) in the thread pool."""
    return await run_in_threadpool(func, *args, **kwargs)


async def read(rt: Runtime, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a read-only service call. On SQLite it runs inline: a WAL read never waits for a
    writer and costs far less than a hand-off to the thread pool. On a network database it
    goes to the thread pool, so that a slow query never stalls the event loop."""
    if rt.inline_reads:
        return func(*args, **kwargs)
    return await run_in_threadpool(func, *args, **kwargs)


# The dependencies below take the Request itself rather than other dependencies: FastAPI's
# per-request cost grows with the number of dependency nodes, and these run on every request.


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def request_info(request: Request) -> RequestInfo:
    info: RequestInfo = request.state.openvpp
    return info


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
InfoDep = Annotated[RequestInfo, Depends(request_info)]


async def authorize(request: Request) -> Principal | None:
    """Authenticate the caller and check the route's roles in the policy table."""
    route = request.scope.get("route")
    access = access_for(request.method, getattr(route, "path", ""))
    if access is None:
        raise PermissionDenied("this route has no access policy")  # fail closed
    if access is PUBLIC:
        return None
    info: RequestInfo = request.state.openvpp
    principal = await _authenticate(request, request.app.state.runtime, info)
    info.principal = principal
    limiter = request.app.state.rate_limiter
    refusal = limiter.check(f"{principal.kind}:{principal.id}")
    if refusal is not None:
        info.sink.written = not refusal.first  # one audit row per episode, not per request
        raise RateLimited(
            f"more than {limiter.rate_per_s:g} requests per second; retry later",
            retry_after=refusal.retry_after_s,
        )
    assert isinstance(access, frozenset)
    if not principal.roles & access:
        raise PermissionDenied(
            f"{request.method} {getattr(route, 'path', '')} needs one of the roles "
            f"{sorted(r.value for r in access)}"
        )
    return principal


async def _authenticate(request: Request, rt: Runtime, info: RequestInfo) -> Principal:
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed("Authorization must be 'Bearer <access token>'")
        return await read(rt, rt.identity.authenticate_bearer, rt.uow(readonly=True), token.strip())
    if signatures.HEADER_SIGNATURE in request.headers:
        # Not a pure read: the nonce is recorded (replay protection), so it takes a thread.
        info.attempted_actor = request.headers.get(signatures.HEADER_KEY, "")[:40] or None
        body = await request.body()
        return await blocking(
            lambda: rt.identity.authenticate_signature(
                rt.uow(readonly=True),
                headers={k.lower(): v for k, v in request.headers.items()},
                method=request.method,
                path=request.url.path,
                query=list(request.query_params.multi_items()),
                body=body,
            )
        )
    raise AuthenticationFailed("authentication required: a Bearer token or an HMAC signature")


AuthorizedDep = Annotated[Principal | None, Depends(authorize)]


async def current_principal(request: Request, _authorized: AuthorizedDep) -> Principal:
    """The authenticated caller (routes whose policy is not PUBLIC)."""
    principal: Principal | None = request.state.openvpp.principal
    if principal is None:
        raise AuthenticationFailed("authentication required")
    return principal


async def write_uow(request: Request, _authorized: AuthorizedDep) -> SqlUnitOfWork:
    """A unit of work whose audit rows carry this request's actor (known after ``authorize``)."""
    info: RequestInfo = request.state.openvpp
    runtime: Runtime = request.app.state.runtime
    return runtime.uow(info.audit_context(), info.sink)


async def read_uow(request: Request, _authorized: AuthorizedDep) -> SqlUnitOfWork:
    info: RequestInfo = request.state.openvpp
    runtime: Runtime = request.app.state.runtime
    return runtime.uow(info.audit_context(), info.sink, readonly=True)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
WriteUow = Annotated[SqlUnitOfWork, Depends(write_uow)]
ReadUow = Annotated[SqlUnitOfWork, Depends(read_uow)]


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def check_page_size(rt: Runtime, limit: int) -> int:
    """``limit``, or a 422 naming it when it exceeds the configured cap."""
    cap = rt.settings.max_page_size
    if limit > cap:
        raise ValidationFailed(f"limit must be at most {cap}", field="limit")
    return limit


async def page(
    request: Request,
    limit: Annotated[int, Query(ge=1, description="page size (capped by settings)")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page:
    return Page(check_page_size(request.app.state.runtime, limit), offset)


PageDep = Annotated[Page, Depends(page)]
