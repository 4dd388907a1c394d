"""Venue connections (``/api/vpp/market/connections``): configuration with encrypted
credentials that are never returned, health checks with their history, and the market data
sync job (``POST /api/vpp/market/sync``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from openvpp.api.deps import PrincipalDep, ReadUow, RuntimeDep, WriteUow, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.markets import (
    ConnectionCheckOut,
    ConnectionIn,
    ConnectionOut,
    ConnectionUpdateIn,
    KindOut,
    SyncIn,
)
from openvpp.api.schemas.ops import JobOut
from openvpp.markets.connections import ConnectionSpec
from openvpp.markets.records import MarketConnection
from openvpp.runtime import Runtime

router = APIRouter(prefix=API_PREFIX, tags=["market connections"])


def _out(rt: Runtime, c: MarketConnection) -> ConnectionOut:
    return ConnectionOut.of(c, rt.connections.credential_keys(c))


@router.get("/market/connector-kinds", summary="Connector kinds and what each needs")
async def connector_kinds(rt: RuntimeDep, _p: PrincipalDep) -> list[KindOut]:
    return [KindOut.of(k) for k in rt.connections.kinds()]


@router.get("/market/connections", summary="Venue connections of the organization")
async def list_connections(
    rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> list[ConnectionOut]:
    found = await read(rt, rt.connections.all, uow, principal)
    return [_out(rt, c) for c in found]


@router.post(
    "/market/connections",
    status_code=201,
    summary="Configure a venue connection",
    description="`credentials` are encrypted at rest with a key derived from the master "
    "secret (never stored in the database) and are never returned: responses list only "
    "their names. `base_url` must be https and its host in `OPENVPP_CONNECTOR_ALLOWED_HOSTS`; "
    "hosts resolving to loopback, private, link-local or metadata addresses are refused "
    "(unless `OPENVPP_CONNECTOR_ALLOW_LOCAL`, for a local simulated exchange).",
)
async def create_connection(
    body: ConnectionIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> ConnectionOut:
    spec = ConnectionSpec(**body.model_dump())
    created = await blocking(rt.connections.create, uow, principal, spec)
    return _out(rt, created)


@router.get("/market/connections/{connection_id}", summary="One venue connection")
async def get_connection(
    connection_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> ConnectionOut:
    return _out(rt, await read(rt, rt.connections.get, uow, principal, connection_id))


@router.patch(
    "/market/connections/{connection_id}",
    summary="Change a connection; `credentials`, when given, replace the stored ones whole",
)
async def update_connection(
    connection_id: str,
    body: ConnectionUpdateIn,
    rt: RuntimeDep,
    uow: WriteUow,
    principal: PrincipalDep,
) -> ConnectionOut:
    changes = body.model_dump(exclude_unset=True)
    updated = await blocking(rt.connections.update, uow, principal, connection_id, changes)
    return _out(rt, updated)


@router.delete(
    "/market/connections/{connection_id}", status_code=204, summary="Delete a connection"
)
async def delete_connection(
    connection_id: str, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> Response:
    await blocking(rt.connections.delete, uow, principal, connection_id)
    return Response(status_code=204)


@router.post(
    "/market/connections/{connection_id}/check",
    summary="Check the venue's health now; records the result in the history",
)
async def check_connection(
    connection_id: str, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> ConnectionCheckOut:
    check = await blocking(rt.connections.check, uow, principal.organization_id, connection_id)
    return ConnectionCheckOut.of(check)


@router.get(
    "/market/connections/{connection_id}/checks", summary="Health check history, newest first"
)
async def connection_checks(
    connection_id: str,
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ConnectionCheckOut]:
    found = await read(rt, rt.connections.checks, uow, principal, connection_id, limit)
    return [ConnectionCheckOut.of(c) for c in found]


@router.post(
    "/market/sync",
    status_code=202,
    summary="Fetch market data from a connection into the history (a job)",
    description="Submits a `market.sync` job; poll `GET /api/vpp/jobs/{id}`. The values are "
    "stored like a file import (source `connection:<name>`), known at the time of the fetch.",
)
async def sync(body: SyncIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep) -> JobOut:
    params = body.model_dump(mode="json")
    job = await blocking(rt.jobs.submit, uow, principal, "market.sync", params)
    return JobOut.of(job)
