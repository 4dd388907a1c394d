"""Schemas of authentication, users, roles and API keys."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, StrictBool

from openvpp.api.schemas.common import In, Out, UTCDatetime
from openvpp.identity.model import ApiKey, Organization, Role, User


class LoginIn(In):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(In):
    refresh_token: str = Field(min_length=10, max_length=200)


class TokenOut(Out):
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


class ChangePasswordIn(In):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class UserCreateIn(In):
    email: str = Field(min_length=3, max_length=254)
    display_name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=256)
    roles: list[Role] = Field(min_length=1, max_length=5)


class UserUpdateIn(In):
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=5)
    is_active: StrictBool | None = None


class UserOut(Out):
    id: str
    organization_id: str
    email: str
    display_name: str
    roles: list[Role]
    is_active: bool
    locked: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User, now: datetime) -> UserOut:
        return cls(
            id=user.id,
            organization_id=user.organization_id,
            email=user.email,
            display_name=user.display_name,
            roles=sorted(user.roles),
            is_active=user.is_active,
            locked=user.locked_until is not None and user.locked_until > now,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


class MeOut(Out):
    kind: str
    id: str
    organization_id: str
    roles: list[Role]
    user: UserOut | None = None


class RoleOut(Out):
    role: Role
    description: str


class OrganizationOut(Out):
    id: str
    name: str
    slug: str
    created_at: datetime

    @classmethod
    def of(cls, org: Organization) -> OrganizationOut:
        return cls(id=org.id, name=org.name, slug=org.slug, created_at=org.created_at)


class ApiKeyCreateIn(In):
    name: str = Field(min_length=1, max_length=100)
    roles: list[Role] = Field(min_length=1, max_length=5)
    expires_at: UTCDatetime | None = None


class ApiKeyOut(Out):
    id: str
    name: str
    roles: list[Role]
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            roles=sorted(key.roles),
            created_by=key.created_by,
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreatedOut(ApiKeyOut):
    secret: str = Field(
        description="Shown once. Sign requests with HMAC-SHA256 keyed by "
        "SHA-256(secret); see docs/api.md."
    )
