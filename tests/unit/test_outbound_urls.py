"""SSRF policy for connector URLs (RELIABILITY item 18) and credentials at rest (item 19)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from cryptography.fernet import Fernet, MultiFernet

from openvpp.core.errors import ValidationFailed
from openvpp.core.keys import fernet_for
from openvpp.core.urls import OutboundPolicy, check_outbound_url
from openvpp.markets.credentials import CredentialBox

POLICY = OutboundPolicy(allowed_hosts=("api.venue.example", "*.exchange.example", "10.0.0.5"))


def resolver(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError("name not known")
        return table[host]

    return resolve


PUBLIC = resolver(
    {
        "api.venue.example": ["93.184.216.34"],
        "eu.exchange.example": ["2606:4700::6810:84e5"],
        "rebind.exchange.example": ["93.184.216.34", "127.0.0.1"],
        "meta.exchange.example": ["169.254.169.254"],
        "mapped.exchange.example": ["::ffff:10.1.2.3"],
        "shared.exchange.example": ["100.64.1.1"],
        "compat.exchange.example": ["::7f00:1"],
        "nat64.exchange.example": ["64:ff9b::a9fe:a9fe"],
        "sixtofour.exchange.example": ["2002:7f00:1::1"],
        "siit.exchange.example": ["::ffff:0:7f00:1"],
        "sitelocal.exchange.example": ["fec0::1"],
        "10.0.0.5": ["10.0.0.5"],
    }
)


def test_public_https_allowlisted_host_passes() -> None:
    url = "https://api.venue.example/v1/"
    assert check_outbound_url(url, POLICY, resolver=PUBLIC) == "https://api.venue.example/v1"
    assert check_outbound_url("https://eu.exchange.example:8443", POLICY, resolver=PUBLIC)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://api.venue.example", "https"),
        ("ftp://api.venue.example", "https"),
        ("file:///etc/passwd", "https"),
        ("https://user:pw@api.venue.example", "credentials"),
        ("https://api.venue.example#x", "fragment"),
        ("https://other.example", "allowlist"),
        ("https://exchange.example", "allowlist"),  # *.suffix does not match the bare suffix
        ("https://evil-exchange.example", "allowlist"),
        ("https://rebind.exchange.example", "127.0.0.1"),
        ("https://meta.exchange.example", "169.254.169.254"),
        ("https://mapped.exchange.example", "::ffff:10.1.2.3"),
        ("https://shared.exchange.example", "100.64.1.1"),
        ("https://compat.exchange.example", "::7f00:1"),
        ("https://nat64.exchange.example", "metadata"),
        ("https://sixtofour.exchange.example", "2002:7f00:1::1"),
        ("https://siit.exchange.example", "::ffff:0:7f00:1"),
        ("https://sitelocal.exchange.example", "fec0::1"),
        ("https://metadata.google.internal.", "metadata"),
        ("https://10.0.0.5", "10.0.0.5"),
        ("https://nowhere.exchange.example", "resolve"),
        ("https://metadata.google.internal", "metadata"),
        ("https://api.venue.example:99999", "valid URL"),
        ("https:///nohost", "host"),
    ],
)
def test_refused_urls_name_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        check_outbound_url(url, POLICY, resolver=PUBLIC)
    assert exc.value.field == "base_url"
    assert reason in exc.value.message


def test_local_exchange_needs_explicit_permission() -> None:
    local = resolver({"127.0.0.1": ["127.0.0.1"], "localhost": ["127.0.0.1", "::1"]})
    strict = OutboundPolicy(allowed_hosts=("127.0.0.1",))
    with pytest.raises(ValidationFailed):
        check_outbound_url("http://127.0.0.1:8123", strict, resolver=local)
    dev = OutboundPolicy(allowed_hosts=("127.0.0.1",), allow_local=True)
    assert check_outbound_url("http://127.0.0.1:8123", dev, resolver=local)
    # the metadata service stays refused even for a local exchange
    meta = resolver({"127.0.0.1": ["169.254.169.254"]})
    with pytest.raises(ValidationFailed, match="metadata"):
        check_outbound_url("http://127.0.0.1:8123", dev, resolver=meta)
    # allow_local never widens the allowlist
    with pytest.raises(ValidationFailed, match="allowlist"):
        check_outbound_url("http://localhost:8123", dev, resolver=local)


def test_empty_allowlist_refuses_everything() -> None:
    with pytest.raises(ValidationFailed, match="allowlist"):
        check_outbound_url("https://api.venue.example", OutboundPolicy(), resolver=PUBLIC)


def test_credentials_round_trip_and_rotation() -> None:
    old_master, new_master = b"o" * 32, b"n" * 32
    old_box = CredentialBox(MultiFernet([fernet_for(old_master, "market-credentials")]))
    token = old_box.seal({"api_key": "canary-secret-123"})
    assert "canary-secret-123" not in token
    both = CredentialBox(
        MultiFernet(
            [
                fernet_for(new_master, "market-credentials"),
                fernet_for(old_master, "market-credentials"),
            ]
        )
    )
    assert both.open(token) == {"api_key": "canary-secret-123"}
    rotated = both.rotate(token)
    new_only = CredentialBox(MultiFernet([fernet_for(new_master, "market-credentials")]))
    assert new_only.open(rotated) == {"api_key": "canary-secret-123"}
    with pytest.raises(ValidationFailed) as exc:
        new_only.open(token)
    assert exc.value.field == "credentials"
    stranger = CredentialBox(MultiFernet([Fernet(Fernet.generate_key())]))
    with pytest.raises(ValidationFailed):
        stranger.open(rotated)
