"""Connectors built from configuration: a kind, an optional base URL, credentials and options.

Built-in kinds: ``simulated`` (in-process, the registry's :class:`SimulatedExchange`;
credentials ``api_key``) and ``openvpp-exchange`` (HTTP; ``base_url``, credentials ``api_key``,
options ``timeout_s``, ``connect_timeout_s``, ``max_response_bytes``, ``max_batch_orders``,
``name``). More kinds are
added with :meth:`ConnectorRegistry.register`. URL policy (SSRF) and credential storage are the
service layer's job, not this module's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from openvpp.markets.connectors.http import HttpExchangeConnector
from openvpp.markets.connectors.protocol import VenueConnector
from openvpp.markets.connectors.simulated import SimulatedConnector
from openvpp.markets.exchange import SimulatedExchange
from openvpp.markets.exchange.model import MAX_BATCH_ORDERS

__all__ = ["ConnectorFactory", "ConnectorRegistry"]

ConnectorFactory = Callable[[str | None, Mapping[str, str], Mapping[str, Any]], VenueConnector]
_HTTP_OPTIONS = {
    "timeout_s": float,
    "connect_timeout_s": float,
    "max_response_bytes": int,
    "max_batch_orders": int,
}


def _require(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    value = mapping.get(key)
    if value in (None, ""):
        raise ValueError(f"{where}.{key} is required")
    return value


def _check_options(options: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"options.{unknown[0]} is not supported; allowed: {sorted(allowed)}")


class ConnectorRegistry:
    """Factories by kind. ``exchange`` backs the ``simulated`` kind."""

    def __init__(
        self, *, exchange: SimulatedExchange | None = None, open_accounts: bool = False
    ) -> None:
        """``open_accounts``: every API key of a ``simulated`` connection gets its own account
        on ``exchange`` (in-process, a key only names an account); otherwise the exchange
        must know the key."""
        self.exchange = exchange
        self.open_accounts = open_accounts
        self._factories: dict[str, ConnectorFactory] = {
            "simulated": self._simulated,
            "openvpp-exchange": self._http,
        }

    def register(self, kind: str, factory: ConnectorFactory, *, replace: bool = False) -> None:
        """Add a kind; ``ValueError`` if it exists and ``replace`` is False."""
        if not kind or (kind in self._factories and not replace):
            raise ValueError(f"kind {kind!r} is empty or already registered")
        self._factories[kind] = factory

    def kinds(self) -> list[str]:
        return sorted(self._factories)

    def build(
        self,
        kind: str,
        *,
        base_url: str | None = None,
        credentials: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> VenueConnector:
        """A connector of ``kind``; ``ValueError`` naming the field when something is wrong."""
        factory = self._factories.get(kind)
        if factory is None:
            raise ValueError(f"kind {kind!r} is unknown; known: {self.kinds()}")
        return factory(base_url, credentials or {}, options or {})

    def _simulated(
        self, base_url: str | None, credentials: Mapping[str, str], options: Mapping[str, Any]
    ) -> VenueConnector:
        _check_options(options, {"name"})
        if self.exchange is None:
            raise ValueError("exchange: the registry has no simulated exchange")
        api_key = str(_require(credentials, "api_key", "credentials"))
        if self.open_accounts:
            digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
            self.exchange.add_account(api_key, f"acct-{digest}")
        return SimulatedConnector(
            self.exchange, str(api_key), name=str(options.get("name", "simulated"))
        )

    def _http(
        self, base_url: str | None, credentials: Mapping[str, str], options: Mapping[str, Any]
    ) -> VenueConnector:
        _check_options(options, {*_HTTP_OPTIONS, "name"})
        if not base_url:
            raise ValueError("base_url is required for kind 'openvpp-exchange'")
        api_key = _require(credentials, "api_key", "credentials")
        kwargs: dict[str, Any] = {}
        for key, convert in _HTTP_OPTIONS.items():
            if key in options:
                try:
                    kwargs[key] = convert(options[key])
                except (TypeError, ValueError):
                    raise ValueError(f"options.{key} must be a number") from None
                if kwargs[key] <= 0:
                    raise ValueError(f"options.{key} must be positive")
        if kwargs.get("max_batch_orders", 0) > MAX_BATCH_ORDERS:
            raise ValueError(f"options.max_batch_orders must be at most {MAX_BATCH_ORDERS}")
        name = str(options.get("name", "openvpp-exchange"))
        return HttpExchangeConnector(base_url, str(api_key), name=name, **kwargs)
