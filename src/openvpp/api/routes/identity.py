"""Organization, users, roles and API keys."""

from __future__ import annotations

from fastapi import APIRouter

from openvpp.api.deps import PageDep, PrincipalDep, ReadUow, RuntimeDep, WriteUow, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.identity import (
    ApiKeyCreatedOut,
    ApiKeyCreateIn,
    ApiKeyOut,
    OrganizationOut,
    RoleOut,
    UserCreateIn,
    UserOut,
    UserUpdateIn,
)
from openvpp.identity.model import ROLE_DESCRIPTIONS

router = APIRouter(prefix=API_PREFIX, tags=["identity"])


@router.get("/organization", summary="The caller's organization")
async def organization(rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep) -> OrganizationOut:
    return OrganizationOut.of(
        await read(rt, rt.identity.get_organization, uow, principal.organization_id)
    )


@router.get("/roles", summary="The roles and what they are for")
async def roles() -> list[RoleOut]:
    return [RoleOut(role=r, description=d) for r, d in ROLE_DESCRIPTIONS.items()]


@router.get("/users", summary="Users of the organization")
async def list_users(
    rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep, page: PageDep
) -> list[UserOut]:
    now = rt.clock.now()
    return [
        UserOut.of(u, now)
        for u in await read(rt, rt.identity.list_users, uow, principal, page.limit, page.offset)
    ]


@router.post("/users", status_code=201, summary="Create a user in the organization")
async def create_user(
    body: UserCreateIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> UserOut:
    user = await blocking(
        rt.identity.create_user,
        uow,
        organization_id=principal.organization_id,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        roles=frozenset(body.roles),
    )
    return UserOut.of(user, rt.clock.now())


@router.get("/users/{user_id}", summary="One user")
async def get_user(user_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep) -> UserOut:
    return UserOut.of(await read(rt, rt.identity.get_user, uow, principal, user_id), rt.clock.now())


@router.patch("/users/{user_id}", summary="Change a user's name, roles or active flag")
async def update_user(
    user_id: str, body: UserUpdateIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> UserOut:
    user = await blocking(
        rt.identity.update_user,
        uow,
        principal,
        user_id,
        display_name=body.display_name,
        roles=frozenset(body.roles) if body.roles is not None else None,
        is_active=body.is_active,
    )
    return UserOut.of(user, rt.clock.now())


@router.get("/api-keys", summary="API keys of the organization (never their secrets)")
async def list_api_keys(
    rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep, page: PageDep
) -> list[ApiKeyOut]:
    return [
        ApiKeyOut.of(k)
        for k in await read(rt, rt.identity.list_api_keys, uow, principal, page.limit, page.offset)
    ]


@router.post("/api-keys", status_code=201, summary="Create an API key; the secret is shown once")
async def create_api_key(
    body: ApiKeyCreateIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> ApiKeyCreatedOut:
    key, secret = await blocking(
        rt.identity.create_api_key,
        uow,
        principal,
        name=body.name,
        roles=frozenset(body.roles),
        expires_at=body.expires_at,
    )
    return ApiKeyCreatedOut(**ApiKeyOut.of(key).model_dump(), secret=secret)


@router.delete("/api-keys/{key_id}", summary="Revoke an API key")
async def revoke_api_key(
    key_id: str, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> ApiKeyOut:
    return ApiKeyOut.of(await blocking(rt.identity.revoke_api_key, uow, principal, key_id))
