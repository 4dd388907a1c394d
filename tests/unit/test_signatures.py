"""HMAC request signatures: canonical form, and any modification changes the signature."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openvpp.identity.signatures import (
    canonical_query,
    canonical_request,
    sign,
    signature_matches,
    signing_key_from_secret,
)

BASE = {
    "method": "POST",
    "path": "/api/vpp/alerts",
    "query": [("b", "2"), ("a", "1")],
    "body": b'{"x":1}',
    "timestamp": "1700000000",
    "nonce": "n" * 16,
    "key_id": "ak_1",
}
KEY = signing_key_from_secret("secret")


def test_query_is_sorted_and_encoded() -> None:
    assert canonical_query([("b", "2"), ("a", "x y"), ("a", "1")]) == "a=1&a=x%20y&b=2"


def test_query_order_does_not_matter() -> None:
    one = canonical_request(**{**BASE, "query": [("a", "1"), ("b", "2")]})  # type: ignore[arg-type]
    two = canonical_request(**{**BASE, "query": [("b", "2"), ("a", "1")]})  # type: ignore[arg-type]
    assert one == two


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "PUT"),
        ("path", "/api/vpp/alertz"),
        ("query", [("a", "1"), ("b", "3")]),
        ("body", b'{"x":2}'),
        ("timestamp", "1700000001"),
        ("nonce", "m" * 16),
        ("key_id", "ak_2"),
    ],
)
def test_every_component_is_signed(field: str, value: object) -> None:
    good = sign(KEY, canonical_request(**BASE))  # type: ignore[arg-type]
    changed = canonical_request(**{**BASE, field: value})  # type: ignore[arg-type]
    assert not signature_matches(KEY, changed, good)
    assert signature_matches(KEY, canonical_request(**BASE), good)  # type: ignore[arg-type]


@given(body=st.binary(max_size=200), other=st.binary(max_size=200))
def test_different_bodies_never_share_a_signature(body: bytes, other: bytes) -> None:
    if body == other:
        return
    a = canonical_request(**{**BASE, "body": body})  # type: ignore[arg-type]
    b = canonical_request(**{**BASE, "body": other})  # type: ignore[arg-type]
    assert sign(KEY, a) != sign(KEY, b)


def test_signature_comparison_accepts_upper_case_hex() -> None:
    message = canonical_request(**BASE)  # type: ignore[arg-type]
    assert signature_matches(KEY, message, sign(KEY, message).upper())
