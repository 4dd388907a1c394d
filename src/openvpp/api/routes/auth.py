"""Login, token refresh, logout, the caller's identity and password change."""

from __future__ import annotations

from fastapi import APIRouter, Response

from openvpp.api.deps import InfoDep, PrincipalDep, ReadUow, RuntimeDep, WriteUow, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.identity import (
    ChangePasswordIn,
    LoginIn,
    MeOut,
    RefreshIn,
    TokenOut,
    UserOut,
)

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])


@router.post("/login", summary="Exchange email and password for an access and refresh token")
async def login(body: LoginIn, rt: RuntimeDep, uow: WriteUow, info: InfoDep) -> TokenOut:
    pair = await blocking(
        rt.identity.login, uow, body.email, body.password, client=info.ip or "unknown"
    )
    return TokenOut.model_validate(pair)


@router.post("/refresh", summary="Rotate a refresh token (a reused token revokes its family)")
async def refresh(body: RefreshIn, rt: RuntimeDep, uow: WriteUow) -> TokenOut:
    return TokenOut.model_validate(await blocking(rt.identity.refresh, uow, body.refresh_token))


@router.post("/logout", status_code=204, summary="Revoke the session of this access token")
async def logout(rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep) -> Response:
    await blocking(rt.identity.logout, uow, principal)
    return Response(status_code=204)


@router.get("/me", summary="Who am I")
async def me(rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep) -> MeOut:
    user = None
    if principal.kind == "user":
        user = UserOut.of(
            await read(rt, rt.identity.get_user, uow, principal, principal.user_id), rt.clock.now()
        )
    return MeOut(
        kind=principal.kind,
        id=principal.id,
        organization_id=principal.organization_id,
        roles=sorted(principal.roles),
        user=user,
    )


@router.post("/password", status_code=204, summary="Change my password (ends all my sessions)")
async def change_password(
    body: ChangePasswordIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> Response:
    await blocking(
        rt.identity.change_password, uow, principal, body.current_password, body.new_password
    )
    return Response(status_code=204)
