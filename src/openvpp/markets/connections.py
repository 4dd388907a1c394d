"""Venue connections: configuration with credentials encrypted at rest, URL checks against
SSRF, and health checks with a history.

Credentials are a small JSON object (e.g. ``{"api_key": "..."}``) encrypted with a Fernet key
derived from the master secret, which never lives in the database; they are decrypted only to
build a connector and are never returned, logged or audited (only their key names are).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.errors import Conflict, NotFound, ValidationFailed, VenueUnavailable
from openvpp.core.ids import new_id
from openvpp.core.urls import OutboundPolicy, Resolver, check_outbound_url, system_resolver
from openvpp.identity.model import Principal
from openvpp.markets.connectors.protocol import (
    ImbalanceResult,
    MarketDataPoint,
    VenueConnector,
    VenueRejectedError,
)
from openvpp.markets.credentials import CredentialBox
from openvpp.markets.presets import load_presets
from openvpp.markets.records import ConnectionCheck, ConnectionStatus, MarketConnection
from openvpp.ops.model import Alert, AlertStatus, Severity
from openvpp.ports import UnitOfWork

__all__ = [
    "BuildConnector",
    "ConnectionService",
    "ConnectionSpec",
    "KindInfo",
    "VenueData",
]

MAX_CREDENTIALS = 20
SLOW_S = 2.0
"""A health check slower than this [s] counts as degraded."""
BuildConnector = Callable[[str, str | None, Mapping[str, str], Mapping[str, Any]], VenueConnector]
"""Builds a connector from (kind, base_url, credentials, options); ``ValueError`` if invalid."""
_CREDENTIAL_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_CREDENTIAL_VALUE = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]{0,4094}[\x21-\x7e])?$")
UNREADABLE = "<undecryptable>"
"""Listed instead of the credential names when the stored credentials cannot be decrypted."""


@dataclass(frozen=True, slots=True)
class KindInfo:
    """A connector kind: whether it needs a URL and which credential keys it requires."""

    name: str
    needs_url: bool
    required_credentials: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class VenueData:
    """What a sync fetched: interval prices and volumes, imbalance prices per local day, and
    the days the venue had no imbalance prices for."""

    points: list[MarketDataPoint]
    imbalance: list[ImbalanceResult]
    skipped_days: list[date]


@dataclass(frozen=True, slots=True)
class ConnectionSpec:
    name: str
    kind: str
    markets: list[str]
    base_url: str | None = None
    credentials: dict[str, str] | None = None
    options: dict[str, Any] | None = None
    enabled: bool = True


def _view(c: MarketConnection, credential_keys: Sequence[str]) -> dict[str, Any]:
    """The audited view: never the credentials, only their names."""
    return {
        "name": c.name,
        "kind": c.kind,
        "base_url": c.base_url,
        "markets": c.markets,
        "options": c.options,
        "enabled": c.enabled,
        "credential_keys": sorted(credential_keys),
    }


class ConnectionService:
    def __init__(
        self,
        clock: Clock,
        box: CredentialBox,
        policy: OutboundPolicy,
        kinds: Callable[[], Mapping[str, KindInfo]],
        build: BuildConnector,
        *,
        resolver: Resolver = system_resolver,
        timeout_s: float = 10.0,
    ) -> None:
        self._clock = clock
        self._box = box
        self.policy = policy
        self._kinds = kinds
        self._build = build
        self._resolver = resolver
        self.timeout_s = timeout_s

    def kinds(self) -> list[KindInfo]:
        return [self._kinds()[k] for k in sorted(self._kinds())]

    # --- validation -------------------------------------------------------------------
    def _kind(self, name: str) -> KindInfo:
        kinds = self._kinds()
        if name not in kinds:
            raise ValidationFailed(
                f"unknown connector kind {name!r}; known: {sorted(kinds)}", field="kind"
            )
        return kinds[name]

    def check_url(self, url: str | None, kind: KindInfo) -> str | None:
        """The URL checked against the outbound policy (:mod:`openvpp.core.urls`)."""
        if url is None:
            if kind.needs_url:
                raise ValidationFailed(f"kind {kind.name!r} needs a base_url", field="base_url")
            return None
        if not kind.needs_url:
            raise ValidationFailed(f"kind {kind.name!r} takes no base_url", field="base_url")
        return check_outbound_url(url, self.policy, resolver=self._resolver)

    @staticmethod
    def _check_markets(markets: Sequence[str]) -> list[str]:
        known = load_presets()
        unknown = [m for m in markets if m not in known]
        if unknown:
            raise ValidationFailed(
                f"unknown market codes {unknown}; known: {sorted(known)}", field="markets"
            )
        if len(set(markets)) != len(markets):
            raise ValidationFailed("markets lists a code twice", field="markets")
        return list(markets)

    @staticmethod
    def _check_credentials(credentials: Mapping[str, str], kind: KindInfo) -> dict[str, str]:
        if len(credentials) > MAX_CREDENTIALS:
            raise ValidationFailed(
                f"at most {MAX_CREDENTIALS} credential values", field="credentials"
            )
        for key, value in credentials.items():
            if not _CREDENTIAL_KEY.fullmatch(key):
                raise ValidationFailed(
                    f"credential name {key!r} must match {_CREDENTIAL_KEY.pattern}",
                    field="credentials",
                )
            if not isinstance(value, str) or not _CREDENTIAL_VALUE.fullmatch(value):
                raise ValidationFailed(
                    f"credential {key!r} must be 1 to 4096 printable ASCII characters without "
                    "leading or trailing spaces",
                    field=f"credentials.{key}",
                )
        missing = [k for k in kind.required_credentials if k not in credentials]
        if missing:
            raise ValidationFailed(
                f"kind {kind.name!r} needs credentials {missing}", field="credentials"
            )
        return dict(credentials)

    # --- commands ---------------------------------------------------------------------
    def create(
        self, uow: UnitOfWork, principal: Principal, spec: ConnectionSpec
    ) -> MarketConnection:
        kind = self._kind(spec.kind)
        url = self.check_url(spec.base_url, kind)
        markets = self._check_markets(spec.markets)
        credentials = self._check_credentials(spec.credentials or {}, kind)
        now = self._clock.now()
        connection = MarketConnection(
            id=new_id(),
            organization_id=principal.organization_id,
            name=spec.name,
            kind=kind.name,
            base_url=url,
            markets=markets,
            options=dict(spec.options or {}),
            credentials=self._box.seal(credentials),
            enabled=spec.enabled,
            status=ConnectionStatus.UNKNOWN.value,
            status_changed_at=None,
            last_checked_at=None,
            last_error=None,
            created_at=now,
            updated_at=now,
        )
        with uow:
            if uow.market_connections.name_taken(principal.organization_id, spec.name):
                raise Conflict(f"a connection named {spec.name!r} exists", field="name")
            uow.market_connections.add(connection)
            uow.record(
                AuditEvent(
                    action="market_connection.create",
                    object_type="market_connection",
                    object_id=connection.id,
                    after=_view(connection, list(credentials)),
                )
            )
            uow.commit()
        return connection

    def get(self, uow: UnitOfWork, principal: Principal, connection_id: str) -> MarketConnection:
        with uow:
            return self._get(uow, principal.organization_id, connection_id)

    @staticmethod
    def _get(
        uow: UnitOfWork, organization_id: str, connection_id: str, *, lock: bool = False
    ) -> MarketConnection:
        found = uow.market_connections.get(organization_id, connection_id, lock=lock)
        if found is None:
            raise NotFound(f"no connection {connection_id!r}", field="connection_id")
        return found

    def all(self, uow: UnitOfWork, principal: Principal) -> list[MarketConnection]:
        with uow:
            return uow.market_connections.of_org(principal.organization_id)

    def credential_keys(self, connection: MarketConnection) -> list[str]:
        """The names of the stored credentials, or ``[UNREADABLE]`` when they cannot be
        decrypted (the key changed): the connection stays listable, fixable and deletable."""
        try:
            return sorted(self._box.open(connection.credentials))
        except ValidationFailed:
            return [UNREADABLE]

    def _redact(self, connection: MarketConnection, text: str) -> str:
        """``text`` without any of the connection's credential values (an error message of a
        transport library may quote a header)."""
        try:
            secrets = self._box.open(connection.credentials).values()
        except ValidationFailed:
            return text
        for secret in sorted(secrets, key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, "***")
        return text

    def update(
        self,
        uow: UnitOfWork,
        principal: Principal,
        connection_id: str,
        changes: Mapping[str, Any],
    ) -> MarketConnection:
        """Apply ``changes`` (any of name, base_url, markets, credentials — replaced as a
        whole —, options, enabled)."""
        with uow:
            old = self._get(uow, principal.organization_id, connection_id, lock=True)
            kind = self._kind(old.kind)
            fields: dict[str, Any] = {}
            if "name" in changes and changes["name"] != old.name:
                if uow.market_connections.name_taken(
                    principal.organization_id, changes["name"], except_id=old.id
                ):
                    raise Conflict(f"a connection named {changes['name']!r} exists", field="name")
                fields["name"] = changes["name"]
            if "base_url" in changes:
                fields["base_url"] = self.check_url(changes["base_url"], kind)
            if "markets" in changes:
                fields["markets"] = self._check_markets(changes["markets"])
            if "options" in changes:
                fields["options"] = dict(changes["options"] or {})
            if "enabled" in changes:
                fields["enabled"] = bool(changes["enabled"])
            old_keys = self.credential_keys(old)
            new_keys = old_keys
            if "credentials" in changes:
                credentials = self._check_credentials(changes["credentials"] or {}, kind)
                fields["credentials"] = self._box.seal(credentials)
                new_keys = list(credentials)
            new = replace(old, **fields, updated_at=self._clock.now())
            uow.market_connections.update(new)
            before, after = _view(old, old_keys), _view(new, new_keys)
            if "credentials" in changes:
                after["credentials_changed"] = True
            uow.record(
                AuditEvent(
                    action="market_connection.update",
                    object_type="market_connection",
                    object_id=old.id,
                    before=before,
                    after=after,
                )
            )
            uow.commit()
        return new

    def delete(self, uow: UnitOfWork, principal: Principal, connection_id: str) -> None:
        with uow:
            old = self._get(uow, principal.organization_id, connection_id, lock=True)
            uow.market_connections.delete(old.id)
            source = f"market_connection:{old.id}"
            for alert in uow.alerts.unresolved_from(old.organization_id, source):
                alert.resolve(principal.id, self._clock.now())  # nothing left to be down
                uow.alerts.update(alert)
            uow.record(
                AuditEvent(
                    action="market_connection.delete",
                    object_type="market_connection",
                    object_id=old.id,
                    before=_view(old, self.credential_keys(old)),
                )
            )
            uow.commit()

    def checks(
        self, uow: UnitOfWork, principal: Principal, connection_id: str, limit: int
    ) -> Sequence[ConnectionCheck]:
        with uow:
            self._get(uow, principal.organization_id, connection_id)
            return uow.market_connections.checks(connection_id, limit)

    def rotate_credentials(self, uow: UnitOfWork) -> tuple[int, list[str]]:
        """Re-encrypt every connection's credentials with the current key. Returns the number
        re-encrypted and the ids of connections whose credentials no configured key opens
        (left as they are: set new credentials on them)."""
        rotated = 0
        unreadable: list[str] = []
        with uow:
            for connection_id, token in uow.market_connections.all_credentials():
                try:
                    fresh = self._box.rotate(token)
                except ValidationFailed:
                    unreadable.append(connection_id)
                    continue
                uow.market_connections.set_credentials(connection_id, fresh)
                rotated += 1
            uow.record(
                AuditEvent(
                    action="market_connection.rotate_credentials",
                    object_type="market_connection",
                    object_id="*",
                    after={"connections": rotated, "unreadable": unreadable},
                )
            )
            uow.commit()
        return rotated, unreadable

    # --- using a connection -----------------------------------------------------------
    def connector(self, connection: MarketConnection) -> VenueConnector:
        """A connector for ``connection``; its URL is checked again (DNS may have changed
        since it was stored)."""
        if not connection.enabled:
            raise ValidationFailed(f"connection {connection.name!r} is disabled", field="enabled")
        kind = self._kind(connection.kind)
        url = self.check_url(connection.base_url, kind)
        try:
            return self._build(
                kind.name, url, self._box.open(connection.credentials), connection.options
            )
        except ValueError as exc:
            raise ValidationFailed(
                f"connection {connection.name!r}: {exc}", field="options"
            ) from None

    def check(self, uow: UnitOfWork, organization_id: str, connection_id: str) -> ConnectionCheck:
        """Ask the venue whether it is healthy; record the check, update the connection's
        status, and raise an alert when it goes down (resolved when it comes back)."""
        with uow:
            connection = self._get(uow, organization_id, connection_id)
        started = time.perf_counter()
        status, error = ConnectionStatus.UP, None
        try:
            health = asyncio.run(self._health(self.connector(connection)))
            if not health.ok:
                status = ConnectionStatus.DEGRADED if health.reachable else ConnectionStatus.DOWN
                error = health.detail or "venue not ok"
        except ValidationFailed as exc:
            status, error = ConnectionStatus.DOWN, exc.message
        except Exception as exc:  # any failure to reach the venue means it is down for us
            status, error = ConnectionStatus.DOWN, f"{type(exc).__name__}: {exc}"
        latency_ms = (time.perf_counter() - started) * 1000
        if status is ConnectionStatus.UP and latency_ms > SLOW_S * 1000:
            status, error = ConnectionStatus.DEGRADED, f"slow: {latency_ms:.0f} ms"
        error = None if error is None else self._redact(connection, error)[:500]
        return self._record_check(uow, organization_id, connection_id, status, latency_ms, error)

    async def _health(self, connector: VenueConnector) -> Any:
        try:
            return await asyncio.wait_for(connector.health(), self.timeout_s)
        finally:
            await connector.aclose()

    def _record_check(
        self,
        uow: UnitOfWork,
        organization_id: str,
        connection_id: str,
        status: ConnectionStatus,
        latency_ms: float,
        error: str | None,
    ) -> ConnectionCheck:
        now = self._clock.now()
        check = ConnectionCheck(new_id(), connection_id, now, status.value, latency_ms, error)
        with uow:
            old = self._get(uow, organization_id, connection_id, lock=True)
            changed = old.status != status.value
            uow.market_connections.add_check(check)
            uow.market_connections.update(
                replace(
                    old,
                    status=status.value,
                    status_changed_at=now if changed else old.status_changed_at,
                    last_checked_at=now,
                    last_error=error,
                )
            )
            alerts = self._follow_alerts(uow, old, status, error, now) if changed else {}
            if changed:
                uow.record(
                    AuditEvent(
                        action="market_connection.status",
                        object_type="market_connection",
                        object_id=connection_id,
                        before={"status": old.status},
                        after={"status": status.value, "error": error, **alerts},
                    )
                )
            uow.commit()
        return check

    @staticmethod
    def _follow_alerts(
        uow: UnitOfWork,
        connection: MarketConnection,
        status: ConnectionStatus,
        error: str | None,
        now: datetime,
    ) -> dict[str, list[str]]:
        """Raise a critical alert when the connection goes down (unless one is open already)
        and resolve its alerts when it is up again; returns the alert ids for the audit row
        of the status change."""
        source = f"market_connection:{connection.id}"
        unresolved = uow.alerts.unresolved_from(connection.organization_id, source)
        if status is ConnectionStatus.UP:
            for alert in unresolved:
                alert.resolve("connection-monitor", now)
                uow.alerts.update(alert)
            return {"alerts_resolved": [a.id for a in unresolved]} if unresolved else {}
        if status is ConnectionStatus.DOWN and not unresolved:
            alert = Alert(
                id=new_id(),
                organization_id=connection.organization_id,
                severity=Severity.CRITICAL,
                source=source,
                title=f"Market connection {connection.name!r} is down",
                message=error or "no answer",
                status=AlertStatus.OPEN,
                raised_at=now,
                raised_by="connection-monitor",
            )
            uow.alerts.add(alert)
            return {"alert_raised": [alert.id]}
        return {}

    def fetch_market_data(
        self,
        uow: UnitOfWork,
        organization_id: str,
        connection_id: str,
        market: str,
        product: str,
        start: datetime,
        end: datetime,
    ) -> VenueData:
        """From the venue: market data of ``market``/``product`` for deliveries in
        ``[start, end)`` [UTC], and the imbalance prices of every local day the range touches
        (a day the venue has none for, e.g. not cleared yet, is listed in ``skipped_days``).
        The ``market.sync`` job stores both."""
        with uow:
            connection = self._get(uow, organization_id, connection_id)
        if market not in connection.markets:
            raise ValidationFailed(
                f"connection {connection.name!r} does not serve market {market!r}; "
                f"it serves {connection.markets}",
                field="market",
            )
        connector = self.connector(connection)
        zone = ZoneInfo(load_presets()[market].time_zone)
        first = start.astimezone(zone).date()
        last = (end - timedelta(microseconds=1)).astimezone(zone).date()
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]

        async def fetch() -> VenueData:
            try:
                points = await asyncio.wait_for(
                    connector.fetch_market_data(market, product, start, end), self.timeout_s
                )
                imbalance: list[ImbalanceResult] = []
                skipped: list[date] = []
                for day in days:
                    try:
                        imbalance.append(
                            await asyncio.wait_for(
                                connector.fetch_imbalance_prices(market, day), self.timeout_s
                            )
                        )
                    except VenueRejectedError:
                        skipped.append(day)
                return VenueData(points, imbalance, skipped)
            finally:
                await connector.aclose()

        try:
            return asyncio.run(fetch())
        except Exception as exc:  # the venue's failure, without any credential in the text
            message = self._redact(connection, f"{type(exc).__name__}: {exc}")[:500]
            raise VenueUnavailable(
                f"connection {connection.name!r}: {message}", field="connection_id"
            ) from None
