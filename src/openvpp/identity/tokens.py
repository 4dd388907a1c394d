"""JWT access tokens (HS256, pinned) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from openvpp.core.clock import Clock
from openvpp.core.errors import AuthenticationFailed
from openvpp.core.ids import new_id, new_secret
from openvpp.identity.model import Role, parse_roles

ALGORITHM = "HS256"
_SKEW_S = 5
_VERIFIED_CACHE_SIZE = 10_000
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
        self._verified: dict[str, dict[str, Any]] = {}

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
            claims = self._verified_claims(token)
            access = AccessClaims(
                subject=str(claims["sub"]),
                organization_id=str(claims["org"]),
                session_id=str(claims["sid"]),
                roles=parse_roles(str(claims["roles"])),  # an unknown role: ValueError
                token_id=str(claims["jti"]),
                expires_at=datetime.fromtimestamp(claims["exp"], tz=UTC),
            )
        except (jwt.InvalidTokenError, ValueError, KeyError, TypeError) as exc:
            raise AuthenticationFailed("access token is invalid") from exc
        now = self._clock.now().timestamp()
        if claims["exp"] <= now:
            raise AuthenticationFailed("access token has expired")
        if claims["iat"] > now + _SKEW_S or claims["nbf"] > now + _SKEW_S:
            raise AuthenticationFailed("access token is not yet valid")
        return access

    def _verified_claims(self, token: str) -> dict[str, Any]:
        """The claims of a token whose signature, algorithm, type, issuer and audience hold.

        Memoized per token string: verification is a pure function of the bytes and the key,
        and a client sends the same token on every request. Times are checked by the caller
        on every call, and the session is checked against the database on every request.
        """
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        # One parse: the algorithm list refuses any other "alg" before the signature is
        # checked; the header's type is checked on the verified result.
        decoded = jwt.decode_complete(
            token,
            self._key,
            algorithms=[ALGORITHM],
            audience=self._audience,
            issuer=self._issuer,
            options={
                "require": REQUIRED_CLAIMS,
                "strict_aud": True,
                # Times are checked against the injected clock, not the system's.
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
        header: dict[str, Any] = decoded["header"]
        claims: dict[str, Any] = decoded["payload"]
        if header.get("alg") != ALGORITHM or header.get("typ") != "at+jwt":
            raise jwt.InvalidTokenError("wrong token type or algorithm")
        for name in ("exp", "iat", "nbf"):
            if not isinstance(claims[name], int):
                raise jwt.InvalidTokenError(f"{name} must be an integer")
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = claims
        return claims


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and the SHA-256 hex digest under which it is stored."""
    raw = new_secret(32)
    return raw, hash_refresh_token(raw)


def hash_refresh_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()
