"""Request dependencies: runtime, authorization (via the policy table), units of work, paging."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from openvpp.api.middleware import RequestInfo
from openvpp.api.policy import PUBLIC, access_for
from openvpp.core.errors import AuthenticationFailed, PermissionDenied, ValidationFailed
from openvpp.identity import signatures
from openvpp.identity.model import Principal
from openvpp.runtime import Runtime
from openvpp.store.uow import SqlUnitOfWork


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def request_info(request: Request) -> RequestInfo:
    info: RequestInfo = request.state.openvpp
    return info


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
InfoDep = Annotated[RequestInfo, Depends(request_info)]


async def authorize(request: Request, rt: RuntimeDep, info: InfoDep) -> Principal | None:
    """Authenticate the caller and check the route's roles in the policy table."""
    route = request.scope.get("route")
    access = access_for(request.method, getattr(route, "path", ""))
    if access is None:
        raise PermissionDenied("this route has no access policy")  # fail closed
    if access is PUBLIC:
        return None
    principal = await _authenticate(request, rt, info)
    info.principal = principal
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
        return await run_in_threadpool(
            rt.identity.authenticate_bearer, rt.uow(readonly=True), token.strip()
        )
    if signatures.HEADER_SIGNATURE in request.headers:
        info.attempted_actor = request.headers.get(signatures.HEADER_KEY, "")[:40] or None
        body = await request.body()
        return await run_in_threadpool(
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


def current_principal(
    info: InfoDep, _authorized: Annotated[Principal | None, Depends(authorize)]
) -> Principal:
    """The authenticated caller (routes whose policy is not PUBLIC)."""
    if info.principal is None:
        raise AuthenticationFailed("authentication required")
    return info.principal


AuthorizedDep = Annotated[Principal | None, Depends(authorize)]


def write_uow(rt: RuntimeDep, info: InfoDep, _authorized: AuthorizedDep) -> SqlUnitOfWork:
    """A unit of work whose audit rows carry this request's actor (known after ``authorize``)."""
    return rt.uow(info.audit_context(), info.sink)


def read_uow(rt: RuntimeDep, info: InfoDep, _authorized: AuthorizedDep) -> SqlUnitOfWork:
    return rt.uow(info.audit_context(), info.sink, readonly=True)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
WriteUow = Annotated[SqlUnitOfWork, Depends(write_uow)]
ReadUow = Annotated[SqlUnitOfWork, Depends(read_uow)]


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def page(
    rt: RuntimeDep,
    limit: Annotated[int, Query(ge=1, description="page size (capped by settings)")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page:
    cap = rt.settings.max_page_size
    if limit > cap:
        raise ValidationFailed(f"limit must be at most {cap}", field="limit")
    return Page(limit, offset)


PageDep = Annotated[Page, Depends(page)]
