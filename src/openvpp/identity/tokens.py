"""JWT access tokens (HS256, pinned) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from openvpp.core.clock import Clock
from openvpp.core.errors import AuthenticationFailed
from openvpp.core.ids import new_id, new_secret
from openvpp.identity.model import Role, parse_roles

ALGORITHM = "HS256"
_SKEW_S = 5
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "jti", "sub", "org", "sid", "roles"]


@dataclass(frozen=True)
class AccessClaims:
    subject: str
    organization_id: str
    session_id: str
    roles: frozenset[Role]
    token_id: str
    expires_at: datetime


class TokenService:
    """Issues and checks access tokens. The algorithm is fixed; the header cannot choose it."""

    def __init__(
        self, key: bytes, *, issuer: str, audience: str, access_ttl_s: int, clock: Clock
    ) -> None:
        if len(key) < 32:
            raise ValueError("JWT key must be at least 32 bytes")
        self._key = key
        self._issuer = issuer
        self._audience = audience
        self._ttl = timedelta(seconds=access_ttl_s)
        self._clock = clock

    def issue_access(
        self, *, user_id: str, organization_id: str, session_id: str, roles: frozenset[Role]
    ) -> tuple[str, datetime]:
        now = self._clock.now().replace(microsecond=0)
        expires = now + self._ttl
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": user_id,
            "org": organization_id,
            "sid": session_id,
            "roles": ",".join(sorted(r.value for r in roles)),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": new_id(),
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"typ": "at+jwt"})
        return token, expires

    def decode_access(self, token: str) -> AccessClaims:
        """Validate signature, algorithm, issuer, audience, times and required claims."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM or header.get("typ") != "at+jwt":
                raise AuthenticationFailed("access token has the wrong type or algorithm")
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": REQUIRED_CLAIMS,
                    "strict_aud": True,
                    # Times are checked below against the injected clock, not the system's.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
            now = self._clock.now().timestamp()
            if not isinstance(claims["exp"], int) or claims["exp"] <= now:
                raise AuthenticationFailed("access token has expired")
            if claims["iat"] > now + _SKEW_S or claims["nbf"] > now + _SKEW_S:
                raise AuthenticationFailed("access token is not yet valid")
            return AccessClaims(
                subject=str(claims["sub"]),
                organization_id=str(claims["org"]),
                session_id=str(claims["sid"]),
                roles=parse_roles(str(claims["roles"])),
                token_id=str(claims["jti"]),
                expires_at=datetime.fromtimestamp(claims["exp"], tz=self._clock.now().tzinfo),
            )
        except (jwt.InvalidTokenError, ValueError, KeyError, TypeError) as exc:
            raise AuthenticationFailed("access token is invalid") from exc


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and the SHA-256 hex digest under which it is stored."""
    raw = new_secret(32)
    return raw, hash_refresh_token(raw)


def hash_refresh_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()
