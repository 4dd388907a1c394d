"""Identity domain objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal


class Role(StrEnum):
    """The five roles. An object's permissions are declared per route in the policy table."""

    ADMIN = "admin"
    OPERATOR = "operator"
    TRADER = "trader"
    ANALYST = "analyst"
    VIEWER = "viewer"


ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.ADMIN: "Manages the organization: users, roles, API keys, audit trail, everything else.",
    Role.OPERATOR: "Runs the fleet: resources, VPPs, dispatch, alerts and jobs.",
    Role.TRADER: "Bids and trades: market data, bids, orders, positions.",
    Role.ANALYST: "Reads everything operational, runs forecasts, backtests and reports.",
    Role.VIEWER: "Read-only access to operational views.",
}


def parse_roles(raw: str) -> frozenset[Role]:
    """Roles from their stored form ``"admin,trader"``."""
    return frozenset(Role(r) for r in raw.split(",") if r)


def format_roles(roles: frozenset[Role]) -> str:
    return ",".join(sorted(r.value for r in roles))


@dataclass
class Organization:
    id: str
    name: str
    slug: str
    created_at: datetime


@dataclass
class User:
    id: str
    organization_id: str
    email: str
    display_name: str
    password_hash: str
    roles: frozenset[Role]
    is_active: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime

    def audit_view(self) -> dict[str, Any]:
        """What the audit trail keeps of a user: never the password hash."""
        return {
            "email": self.email,
            "display_name": self.display_name,
            "roles": sorted(r.value for r in self.roles),
            "is_active": self.is_active,
        }


@dataclass
class AuthSession:
    """A login; every refresh token of one login belongs to its family (= session)."""

    id: str
    user_id: str
    created_at: datetime
    revoked_at: datetime | None = None
    revoked_reason: str | None = None


@dataclass
class RefreshToken:
    id: str
    session_id: str
    user_id: str
    token_hash: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass
class ApiKey:
    """A machine credential. ``signing_key_enc`` is the HMAC key, encrypted with the master key."""

    id: str
    organization_id: str
    created_by: str
    name: str
    roles: frozenset[Role]
    signing_key_enc: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def audit_view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "roles": sorted(r.value for r in self.roles),
            "revoked": self.revoked_at is not None,
        }


@dataclass(frozen=True)
class Principal:
    """Who is calling: a logged-in user or an API key, always inside one organization."""

    kind: Literal["user", "api_key"]
    id: str
    organization_id: str
    roles: frozenset[Role]
    user_id: str
    session_id: str | None = None


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
