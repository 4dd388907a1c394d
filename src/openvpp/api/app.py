"""The FastAPI app factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI
from starlette.routing import Route

from openvpp import __version__
from openvpp.api.deps import authorize
from openvpp.api.errors import install_error_handlers
from openvpp.api.heap import HeapPolicy
from openvpp.api.logs import configure_logging
from openvpp.api.metrics import ORDER_BATCH_SIZE, runtime_registry
from openvpp.api.middleware import RequestMiddleware
from openvpp.api.policy import API_PREFIX
from openvpp.api.ratelimit import RequestRateLimiter
from openvpp.api.routes import (
    ai,
    analysis,
    audit,
    auth,
    autobid,
    dispatch,
    health,
    identity,
    jobs,
    market_connections,
    market_data,
    markets,
    ops,
    resources,
    settlement,
    strategies,
    telemetry,
    templates,
    trading,
    vpps,
)
from openvpp.api.schemas.common import ERROR_RESPONSES
from openvpp.audit.chain import AuditContext, AuditEvent
from openvpp.config import Settings, load_settings
from openvpp.markets.exchange.http_app import tick_forever
from openvpp.runtime import Runtime, build_runtime
from openvpp.runtime_autobid import autobid_loop
from openvpp.runtime_demo import demo_feed_loop
from openvpp.runtime_dispatch import dispatch_loop
from openvpp.runtime_settlement import settlement_loop
from openvpp.runtime_trading import trading_loop

DESCRIPTION = """
OpenVPP operations and trading center API.

**Sign convention:** power and energy are positive for injection into the grid (generation,
discharge) and negative for withdrawal (consumption, charging). Timestamps are ISO-8601 with an
offset; the API returns UTC.

**Authentication:** `Authorization: Bearer <access token>` from `POST /api/vpp/auth/login`, or an
API key with an HMAC-SHA256 request signature (headers `X-OpenVPP-Key`, `-Timestamp`, `-Nonce`,
`-Signature`). Errors are `{"error": {"code", "message", "field", "request_id"}}`.
"""


# Each router carries its full path prefix, so a route's ``path`` is the template the policy
# table names. The app includes exactly these. A request is matched against the routes in this
# order (about 10 us per route), so the busiest come first: order submission and device
# telemetry; no two routers share a path, so the order changes nothing else.
ROUTERS: tuple[APIRouter, ...] = (
    trading.router,
    telemetry.router,
    health.router,
    auth.router,
    identity.router,
    audit.router,
    ops.router,
    jobs.router,
    resources.router,
    templates.router,
    vpps.router,
    markets.router,
    market_data.router,
    market_connections.router,
    ai.router,
    dispatch.router,
    autobid.router,
    settlement.router,
    analysis.router,
    analysis.reports,
    strategies.router,
)


UPLOAD_PATHS = frozenset({f"{API_PREFIX}/market/data/import"})
"""Routes taking files, with the larger body limit ``OPENVPP_MAX_UPLOAD_BYTES``."""


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) the app serves: its own routes (docs) and ``ROUTERS``."""
    routes = [r for r in app.routes if isinstance(r, Route)]
    routes += [r for router in ROUTERS for r in router.routes if isinstance(r, Route)]
    return sorted({(m, r.path) for r in routes for m in (r.methods or ()) if m != "HEAD"})


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    start_jobs: bool | None = None,
) -> FastAPI:
    """Build the app. ``runtime`` may be injected (tests); otherwise it is built from settings."""
    settings = settings or (runtime.settings if runtime else load_settings())
    configure_logging(settings.log_level, json=settings.log_json)
    rt = runtime or build_runtime(settings)
    run_jobs = settings.jobs_inprocess if start_jobs is None else start_jobs

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # As many request threads as pooled connections: no thread waits for a connection,
        # and no connection is opened and closed per request.
        to_thread.current_default_thread_limiter().total_tokens = settings.db_pool_size
        ticker = trader = bidder = dispatcher = settler = feed = None
        # the order store's process (if so configured) starts with the server, not at the
        # first order
        rt.trading.submissions.start()
        if run_jobs:
            rt.runner.start()
            # the in-process simulated exchange clears its auctions at gate closure
            ticker = asyncio.create_task(tick_forever(rt.exchange, 1.0))
            # open orders reconciled at start-up; then expiry, UNKNOWN orders and fills
            trader = asyncio.create_task(trading_loop(rt, 1.0))
            # device gateways, telemetry, dispatch of awards, corrections, monitoring
            dispatcher = asyncio.create_task(dispatch_loop(rt, settings.dispatch_interval_s))
            # every due automatic bidding decision: forecast, optimize, submit, record
            bidder = asyncio.create_task(autobid_loop(rt, settings.autobid_interval_s))
            # every ended market day of a VPP with fills: settled and posted to the ledger
            settler = asyncio.create_task(settlement_loop(rt, settings.settlement_interval_s))
            if settings.demo_live_market:
                # the demo market's prices published as time goes on (openvpp.runtime_demo)
                feed = asyncio.create_task(demo_feed_loop(rt))
        # A server (tests inject their runtime and build many apps in one process): the
        # start-up heap and what survives each full pass are frozen, so that the collector's
        # full passes scan only what is new (api/heap.py).
        heap = HeapPolicy(settings.gc_sweep_s) if runtime is None else None
        if heap is not None:
            heap.install()
        try:
            yield
        finally:
            if heap is not None:
                heap.uninstall()
            for task in (ticker, trader, bidder, dispatcher, settler, feed):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if run_jobs:
                rt.runner.stop()
            if runtime is None:
                rt.close()

    app = FastAPI(
        title="OpenVPP",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        dependencies=[Depends(authorize)],
        responses=ERROR_RESPONSES,
    )
    app.state.runtime = rt
    rt.trading.submissions.on_batch = ORDER_BATCH_SIZE.observe
    app.state.metrics = runtime_registry(rt)
    app.state.rate_limiter = RequestRateLimiter(settings.api_rate_per_s, settings.api_burst)
    _document_page_cap(app, settings.max_page_size)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)

    def write_audit(ctx: AuditContext, event: AuditEvent) -> None:
        with rt.uow(ctx) as uow:
            uow.record(event)
            uow.commit()

    app.add_middleware(
        RequestMiddleware,
        max_body_bytes=settings.max_body_bytes,
        audit_writer=write_audit,
        upload_paths=UPLOAD_PATHS,
        max_upload_bytes=settings.max_upload_bytes,
    )
    return app


def _document_page_cap(app: FastAPI, cap: int) -> None:
    """Publish the configured page-size cap as the ``maximum`` of every ``limit`` parameter."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = default_openapi()
            for operation in (op for path in spec["paths"].values() for op in path.values()):
                for param in operation.get("parameters", []):
                    if param["name"] == "limit" and param["in"] == "query":
                        param["schema"]["maximum"] = cap
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
