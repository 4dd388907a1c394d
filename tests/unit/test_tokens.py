"""JWT access tokens (RFC 8725): pinned algorithm, required claims, every tampering refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from openvpp.core.errors import AuthenticationFailed
from openvpp.identity.model import Role
from openvpp.identity.tokens import REQUIRED_CLAIMS, TokenService
from tests.support import ShiftClock

KEY = b"0123456789abcdef0123456789abcdef"


@pytest.fixture
def clock() -> ShiftClock:
    return ShiftClock()


@pytest.fixture
def tokens(clock: ShiftClock) -> TokenService:
    return TokenService(
        KEY, issuer="openvpp", audience="openvpp-api", access_ttl_s=900, clock=clock
    )


def issue(tokens: TokenService) -> str:
    token, _ = tokens.issue_access(
        user_id="u1", organization_id="o1", session_id="s1", roles=frozenset({Role.TRADER})
    )
    return token


def claims_of(token: str) -> dict[str, Any]:
    return dict(
        jwt.decode(
            token,
            KEY,
            algorithms=["HS256"],
            options={"verify_signature": False, "verify_aud": False},
        )
    )


def forge(
    claims: dict[str, Any], *, key: bytes = KEY, alg: str = "HS256", typ: str = "at+jwt"
) -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"typ": typ})


def test_round_trip(tokens: TokenService) -> None:
    claims = tokens.decode_access(issue(tokens))
    assert (claims.subject, claims.organization_id, claims.session_id) == ("u1", "o1", "s1")
    assert claims.roles == frozenset({Role.TRADER})


def test_lifetime_is_at_most_fifteen_minutes(tokens: TokenService) -> None:
    c = claims_of(issue(tokens))
    assert c["exp"] - c["iat"] <= 900


def test_expired_token_refused(tokens: TokenService, clock: ShiftClock) -> None:
    token = issue(tokens)
    clock.advance(901)
    with pytest.raises(AuthenticationFailed, match="expired"):
        tokens.decode_access(token)


def test_token_from_the_future_refused(tokens: TokenService, clock: ShiftClock) -> None:
    clock.advance(3600)
    token = issue(tokens)
    clock.advance(-3600)
    with pytest.raises(AuthenticationFailed):
        tokens.decode_access(token)


@pytest.mark.parametrize(("claim", "value"), [("aud", "someone-else"), ("iss", "evil")])
def test_wrong_audience_or_issuer_refused(tokens: TokenService, claim: str, value: str) -> None:
    claims = claims_of(issue(tokens))
    claims[claim] = value
    with pytest.raises(AuthenticationFailed):
        tokens.decode_access(forge(claims))


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_every_required_claim_is_required(tokens: TokenService, claim: str) -> None:
    claims = claims_of(issue(tokens))
    del claims[claim]
    with pytest.raises(AuthenticationFailed):
        tokens.decode_access(forge(claims))


def test_signed_token_with_an_unknown_role_is_invalid(tokens: TokenService) -> None:
    """A correctly signed token whose roles no longer parse: 401, never an unhandled error."""
    claims = claims_of(issue(tokens))
    claims["roles"] = "trader,emperor"
    with pytest.raises(AuthenticationFailed, match="invalid"):
        tokens.decode_access(forge(claims))


def test_wrong_key_refused(tokens: TokenService) -> None:
    with pytest.raises(AuthenticationFailed):
        tokens.decode_access(forge(claims_of(issue(tokens)), key=b"x" * 32))


def test_tampered_payload_refused(tokens: TokenService) -> None:
    header, payload, signature = issue(tokens).split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=="))
    data["roles"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthenticationFailed):
        tokens.decode_access(f"{header}.{forged}.{signature}")


def test_alg_none_refused(tokens: TokenService) -> None:
    claims = claims_of(issue(tokens))
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"typ": "at+jwt"})
    with pytest.raises(AuthenticationFailed):
        tokens.decode_access(unsigned)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_algorithms_refused(tokens: TokenService, alg: str) -> None:
    with pytest.raises(AuthenticationFailed):
        tokens.decode_access(forge(claims_of(issue(tokens)), key=KEY * 2, alg=alg))


def test_algorithm_confusion_header_refused(tokens: TokenService) -> None:
    """A header claiming RS256 but HMAC-signed with the key (the classic confusion attack)."""
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"at+jwt"}').rstrip(b"=").decode()
    _, payload, signature = issue(tokens).split(".")
    with pytest.raises(AuthenticationFailed):
        tokens.decode_access(f"{header}.{payload}.{signature}")


def test_wrong_token_type_refused(tokens: TokenService) -> None:
    with pytest.raises(AuthenticationFailed):
        tokens.decode_access(forge(claims_of(issue(tokens)), typ="JWT"))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "e30.e30.", "..."])
def test_garbage_refused(tokens: TokenService, garbage: str) -> None:
    with pytest.raises(AuthenticationFailed):
        tokens.decode_access(garbage)


def test_short_key_refused(clock: ShiftClock) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenService(b"short", issuer="i", audience="a", access_ttl_s=60, clock=clock)
