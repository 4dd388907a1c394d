"""Composition of the market services: the in-process simulated exchange, the connector
registry, the connection service with its credential box and URL policy, and market jobs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pandas as pd
from cryptography.fernet import MultiFernet

from openvpp.audit.chain import AuditContext
from openvpp.config import Settings
from openvpp.core.clock import Clock
from openvpp.core.errors import ValidationFailed
from openvpp.core.keys import fernet_for
from openvpp.core.urls import OutboundPolicy
from openvpp.jobs.registry import JobContext, JobRegistry
from openvpp.markets.connections import ConnectionService, KindInfo
from openvpp.markets.connectors.registry import ConnectorRegistry
from openvpp.markets.credentials import CredentialBox
from openvpp.markets.data_service import (
    check_sync_params,
    venue_imbalance_frame,
    venue_points_frame,
)
from openvpp.markets.exchange import SimulatedExchange
from openvpp.markets.presets import load_presets

if TYPE_CHECKING:
    from openvpp.runtime import Runtime

CREDENTIALS_PURPOSE = "market-credentials"
KINDS: Mapping[str, KindInfo] = {
    "simulated": KindInfo(
        "simulated", False, ("api_key",), "the in-process simulated exchange of this server"
    ),
    "openvpp-exchange": KindInfo(
        "openvpp-exchange",
        True,
        ("api_key",),
        "an OpenVPP simulated exchange over HTTP (`openvpp exchange serve`)",
    ),
}


def build_exchange(clock: Clock, *, live_demo: bool = False) -> SimulatedExchange:
    """The in-process venue with every preset market; accounts are added per API key. With
    ``live_demo`` the demo's live market clears against the cycled PJM prices from 60 days
    before to a year after today (:mod:`openvpp.demo.live_market`)."""
    exchange = SimulatedExchange(load_presets(), clock, api_keys={})
    if live_demo:
        from openvpp.demo.live_market import LIVE_MARKET, LIVE_PRODUCT, cycled_prices

        product = exchange.markets[LIVE_MARKET].product(LIVE_PRODUCT)
        today = clock.now().astimezone(ZoneInfo(product.time_zone)).date()
        prices = cycled_prices(product, today - timedelta(days=60), today + timedelta(days=365))
        exchange.set_replay(LIVE_MARKET, LIVE_PRODUCT, prices)
    return exchange


def credential_box(settings: Settings) -> CredentialBox:
    keys = [fernet_for(settings.master_key, CREDENTIALS_PURPOSE)]
    for previous in settings.previous_secret_keys:
        raw = previous.get_secret_value().encode()
        if len(raw) < 32:
            raise ValueError("every OPENVPP_PREVIOUS_SECRET_KEYS entry must be >= 32 characters")
        keys.append(fernet_for(raw, CREDENTIALS_PURPOSE))
    return CredentialBox(MultiFernet(keys))


def build_connections(
    settings: Settings, clock: Clock, exchange: SimulatedExchange | None
) -> ConnectionService:
    """The market connections; ``exchange`` backs those of kind ``simulated`` (``None``: a
    process that only reads connections, the order store's)."""
    registry = ConnectorRegistry(exchange=exchange, open_accounts=True)

    def kinds() -> dict[str, KindInfo]:
        return {k: KINDS.get(k, KindInfo(k, True)) for k in registry.kinds()}

    return ConnectionService(
        clock,
        credential_box(settings),
        OutboundPolicy(
            allowed_hosts=tuple(settings.connector_allowed_hosts),
            allow_local=settings.connector_allow_local,
        ),
        kinds,
        lambda kind, url, credentials, options: registry.build(
            kind, base_url=url, credentials=credentials, options=options
        ),
        timeout_s=settings.connector_timeout_s,
    )


def register_market_jobs(registry: JobRegistry, rt: Runtime) -> None:
    def sync(ctx: JobContext) -> dict[str, Any]:
        if ctx.organization_id is None:
            raise ValidationFailed("market.sync runs for an organization", field="params")
        p = ctx.params
        context = AuditContext(
            actor_type="system", actor_id="job-runner", organization_id=ctx.organization_id
        )
        ctx.progress(0.1, "fetching from the venue", force=True)
        fetched = rt.connections.fetch_market_data(
            rt.uow(context, readonly=True),
            ctx.organization_id,
            p["connection_id"],
            p["market"],
            p["product"],
            datetime.fromisoformat(p["start"]),
            datetime.fromisoformat(p["end"]),
        )
        points = fetched.points
        ctx.progress(0.6, f"storing {len(points)} intervals", force=True)
        currency, now = load_presets()[p["market"]].currency, rt.clock.now()
        frame = pd.concat(
            [
                venue_points_frame(points, area=p["area"], currency=currency, known_at=now),
                venue_imbalance_frame(
                    fetched.imbalance, area=p["area"], currency=currency, known_at=now
                ),
            ],
            ignore_index=True,
        )
        body = json.dumps(
            [[str(x.delivery_start), str(x.price), str(x.volume_mw)] for x in points]
            + [[str(r.day), r.source, len(r.periods)] for r in fetched.imbalance]
        ).encode()
        outcome = rt.market_data.store(
            rt.uow(context),
            ctx.organization_id,
            frame,
            fmt="connection",
            source=f"connection:{p['connection_id']}",
            data=body,
            rows_read=len(points),
            report={},
            actor=None,
        )
        r = outcome.record
        return {
            "import_id": r.id,
            "intervals": len(points),
            "imbalance_days": len(fetched.imbalance),
            "days_without_imbalance_prices": [str(d) for d in fetched.skipped_days],
            "values_stored": r.values_stored,
            "duplicates": r.duplicates,
            "conflicts": r.conflicts,
        }

    registry.register(
        "market.sync",
        sync,
        description="Fetch market data (prices, volumes) of a market and product from a venue "
        "connection into the market data history.",
        check_params=check_sync_params,
        roles=frozenset({"admin", "operator", "trader"}),
    )
