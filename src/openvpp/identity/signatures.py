"""HMAC-SHA256 request signatures for API keys.

The client holds the key id and the secret shown once at creation. It signs with
``signing_key = SHA-256(secret)`` over the canonical request::

    OPENVPP-HMAC-SHA256
    <METHOD>
    <path>
    <sorted, percent-encoded query>
    <hex SHA-256 of the body>
    <unix timestamp [s]>
    <nonce>
    <key id>

and sends ``X-OpenVPP-Key``, ``X-OpenVPP-Timestamp``, ``X-OpenVPP-Nonce`` and
``X-OpenVPP-Signature`` (lower-case hex). The server stores the signing key only encrypted with
a key derived from the master secret, never the secret itself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from urllib.parse import quote

SCHEME = "OPENVPP-HMAC-SHA256"
HEADER_KEY = "x-openvpp-key"
HEADER_TIMESTAMP = "x-openvpp-timestamp"
HEADER_NONCE = "x-openvpp-nonce"
HEADER_SIGNATURE = "x-openvpp-signature"
NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
SIGNATURE_PATTERN = re.compile(r"^[0-9a-fA-F]{64}$")


def signing_key_from_secret(secret: str) -> bytes:
    """The HMAC key both sides use: SHA-256 of the API key secret [32 bytes]."""
    return hashlib.sha256(secret.encode()).digest()


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Query parameters percent-encoded (RFC 3986 unreserved kept) and sorted by name, value."""
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_request(
    *,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    body: bytes,
    timestamp: str,
    nonce: str,
    key_id: str,
) -> bytes:
    return "\n".join(
        [
            SCHEME,
            method.upper(),
            path,
            canonical_query(query),
            hashlib.sha256(body).hexdigest(),
            timestamp,
            nonce,
            key_id,
        ]
    ).encode()


def sign(signing_key: bytes, message: bytes) -> str:
    return hmac.new(signing_key, message, hashlib.sha256).hexdigest()


def signature_matches(signing_key: bytes, message: bytes, signature: str) -> bool:
    """Constant-time comparison of the expected and the presented signature."""
    return hmac.compare_digest(sign(signing_key, message), signature.lower())


def signed_headers(
    *,
    key_id: str,
    secret: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    timestamp: int,
    nonce: str,
) -> dict[str, str]:
    """Client side: the four headers that authenticate one request."""
    message = canonical_request(
        method=method,
        path=path,
        query=query,
        body=body,
        timestamp=str(timestamp),
        nonce=nonce,
        key_id=key_id,
    )
    return {
        HEADER_KEY: key_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign(signing_key_from_secret(secret), message),
    }
