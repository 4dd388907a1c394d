"""Outbound URL policy against server-side request forgery (SSRF).

A venue connection's URL is operator input that makes the server open connections, so it is
checked when it is stored and again each time a connector is built (DNS may have changed):

- the scheme is ``https`` (``http`` only for hosts allowed as local development hosts);
- no user name or password in the URL, no fragment;
- the host is in the allowlist (an exact name or address, or ``*.example.com`` for its
  subdomains);
- every address the host resolves to is globally routable: never loopback, private, link-local
  (which includes the 169.254.169.254 cloud metadata service), shared (100.64.0.0/10),
  site-local, multicast, reserved or unspecified, also when it carries an IPv4 address
  (IPv4-mapped or -compatible, NAT64, 6to4, Teredo). ``allow_local`` lifts this rule for the
  allowlisted hosts only, for a simulated exchange on the same machine or network; the
  metadata addresses stay refused.

DNS may answer differently when the connector connects than when the URL was checked (DNS
rebinding): allowlist exact host names under your control rather than broad patterns.

Redirects are never followed by the connectors (a redirect could lead anywhere).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from openvpp.core.errors import ValidationFailed

__all__ = ["OutboundPolicy", "Resolver", "check_outbound_url", "system_resolver"]

Resolver = Callable[[str, int], Sequence[str]]
_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (A and AAAA)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """``allowed_hosts``: exact host names or addresses, or ``*.suffix`` patterns.
    ``allow_local``: permit ``http`` and non-global addresses for allowlisted hosts."""

    allowed_hosts: tuple[str, ...] = ()
    allow_local: bool = False

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for pattern in self.allowed_hosts:
            pattern = pattern.lower().rstrip(".")
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]) and host != pattern[2:]:
                    return True
            elif host == pattern:
                return True
        return False


def _refuse(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, field=field)


_NAT64 = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT)
)
_METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries by translation or tunnelling: IPv4-mapped,
    IPv4-compatible (``::a.b.c.d``), NAT64 (``64:ff9b::/96``, ``64:ff9b:1::/48``),
    IPv4-translated (``::ffff:0:a.b.c.d``), 6to4 and Teredo (the client address)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    packed = int(ip)
    if any(ip in net for net in _NAT64) or (packed >> 32 == 0 and packed > 1):
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


def _addresses(address: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The address and any IPv4 address it carries."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            found.append(inner)
    return found


def _global(address: str) -> bool:
    return all(
        ip.is_global and not ip.is_multicast and not getattr(ip, "is_site_local", False)
        for ip in _addresses(address)
    )


def _metadata(address: str) -> bool:
    return any(ip in _METADATA_ADDRESSES for ip in _addresses(address))


def check_outbound_url(
    url: str,
    policy: OutboundPolicy,
    *,
    resolver: Resolver = system_resolver,
    field: str = "base_url",
) -> str:
    """Return ``url`` normalized (no trailing slash) when ``policy`` allows connecting to it;
    raise :class:`ValidationFailed` naming ``field`` and the reason otherwise."""
    if len(url) > 500:
        raise _refuse("the URL is longer than 500 characters", field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refuse(f"not a valid URL: {exc}", field) from None
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in ("https", "http"):
        raise _refuse("the URL must use https", field)
    if not host:
        raise _refuse("the URL has no host", field)
    if parts.username is not None or parts.password is not None:
        raise _refuse("credentials may not be part of the URL; use the credentials field", field)
    if parts.fragment:
        raise _refuse("the URL may not have a fragment", field)
    if host in _METADATA_HOSTS:
        raise _refuse(f"host {host!r} is a cloud metadata service", field)
    if not policy.allows_host(host):
        raise _refuse(
            f"host {host!r} is not in the allowlist (OPENVPP_CONNECTOR_ALLOWED_HOSTS)", field
        )
    if parts.scheme == "http" and not policy.allow_local:
        raise _refuse("the URL must use https", field)
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = list(resolver(host, port))
    except (OSError, UnicodeError) as exc:
        raise _refuse(f"host {host!r} does not resolve: {exc}", field) from None
    if not addresses:
        raise _refuse(f"host {host!r} does not resolve", field)
    for address in addresses:
        try:
            metadata = _metadata(address)
        except ValueError:
            metadata = False
        if metadata:  # never, not even for a local exchange
            raise _refuse(f"host {host!r} resolves to {address}, a cloud metadata service", field)
    if not policy.allow_local:
        for address in addresses:
            try:
                ok = _global(address)
            except ValueError:
                ok = False
            if not ok:
                raise _refuse(
                    f"host {host!r} resolves to {address}, which is not a public address", field
                )
    return url.rstrip("/")
