"""HTTP service over a :class:`SimulatedExchange`, with fault injection.

Endpoints (JSON; ``Decimal`` values as strings; API key in the ``X-API-Key`` header):
``POST /v1/orders``, ``POST /v1/orders/batch``, ``GET /v1/orders/{venue_id}``,
``GET /v1/orders?client_order_id=``, ``DELETE /v1/orders/{venue_id}``, ``POST /v1/orders/cancel``,
``PATCH /v1/orders/{venue_id}``, ``GET /v1/fills?after=``,
``GET /v1/results?market=&product=&day=``, ``GET /v1/market-data?market=&product=&start=&end=``,
``POST /v1/auctions/run``, ``GET /v1/imbalance-prices?market=&day=``, ``GET /v1/health`` (no
key) and ``GET|POST|DELETE /v1/admin/faults``.
Errors are ``{"error": code, "message": ..., "field": ...}`` with 401, 404, 409 or 422. A batch
(``{"orders": [...]}``, 1 to ``MAX_BATCH_ORDERS``) is answered 200 with one result per order, in
its order: ``{"status": 201|200, "order": ...}`` or ``{"status": 4xx, "error": ..., "message":
..., "field": ...}``; each order is validated and entered on its own, as ``POST /v1/orders``
would. A batch cancellation (``{"venue_order_ids": [...]}``, 1 to ``MAX_BATCH_ORDERS``) is
answered the same way: ``{"status": 200, "order": ...}`` (the order as cancelled) or the 4xx that
``DELETE /v1/orders/{venue_id}`` would give for that order alone.
Fault modes: :mod:`openvpp.markets.exchange.faults`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, MutableMapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from openvpp.core.errors import AuthenticationFailed, Conflict, DomainError, NotFound
from openvpp.markets.exchange.core import SimulatedExchange
from openvpp.markets.exchange.faults import (
    AFTER_MODES,
    BEFORE_MODES,
    FaultInjector,
    FaultMode,
    FaultSpec,
)
from openvpp.markets.exchange.model import MAX_BATCH_ORDERS, ExecType, NewOrder, TradeSide
from openvpp.markets.exchange.rules import MAX_YEAR, MIN_YEAR
from openvpp.markets.exchange.wire import (
    auction_json,
    fill_page_json,
    imbalance_json,
    market_data_json,
    order_json,
)

__all__ = ["MAX_BATCH_ORDERS", "ExchangeASGI", "create_app"]

log = logging.getLogger(__name__)
DROP_KEY = "openvpp.drop_ack"
Scope = MutableMapping[str, Any]
ASGIApp = Callable[..., Any]
Payload = tuple[int, Any]
ApiKey = Annotated[str | None, Header(alias="X-API-Key")]


def _year_in_range(value: date) -> date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


# Decimal inputs: at most 20 digits, 10 of them after the point (no huge exponents).
Price = Annotated[Decimal, Field(max_digits=20, decimal_places=10, allow_inf_nan=False)]
Volume = Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=10, allow_inf_nan=False)]
DeliveryStart = Annotated[AwareDatetime, AfterValidator(_year_in_range)]
Day = Annotated[date, AfterValidator(_year_in_range)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrderIn(_In):
    client_order_id: str = Field(..., min_length=1, max_length=64)
    market: str = Field(..., min_length=1, max_length=32)
    product: str = Field(..., min_length=1, max_length=32)
    delivery_start: DeliveryStart
    side: TradeSide
    price: Price
    quantity_mw: Volume
    order_type: ExecType = ExecType.LIMIT
    clip_mw: Volume | None = None


class BatchIn(_In):
    orders: list[dict[str, Any]] = Field(..., min_length=1, max_length=MAX_BATCH_ORDERS)


class CancelBatchIn(_In):
    venue_order_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        ..., min_length=1, max_length=MAX_BATCH_ORDERS
    )


class ModifyIn(_In):
    price: Price | None = None
    quantity_mw: Volume | None = None


class AuctionIn(_In):
    market: str
    product: str
    day: Day


class FaultIn(_In):
    mode: FaultMode
    endpoints: list[str] = []
    probability: float = Field(1.0, ge=0, le=1)
    count: int | None = Field(None, ge=1)
    status: int | None = Field(None, ge=500, le=599)
    delay_s: float = Field(5.0, ge=0, le=600)
    retry_after_s: int = Field(1, ge=0, le=3600)
    size_bytes: int = Field(8_000_000, ge=1, le=64_000_000)


class FaultsIn(_In):
    faults: list[FaultIn]
    replace: bool = True


def _error(exc: DomainError) -> Payload:
    status = 422
    if isinstance(exc, AuthenticationFailed):
        status = 401
    elif isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, Conflict):
        status = 409
    return status, {"error": exc.code, "message": exc.message, "field": exc.field}


def _item(act: Callable[[], Payload]) -> dict[str, Any]:
    """One item of a batch request, done as its own request would be: its status and order,
    or its own refusal (``{"status": 4xx, "error", "message", "field"}``)."""
    try:
        status, order = act()
    except ValidationError as exc:
        return {"status": 422, **_invalid(exc.errors())}
    except DomainError as exc:
        status, payload = _error(exc)
        return {"status": status, **payload}
    return {"status": status, "order": order}


def _invalid(errors: Sequence[Any]) -> dict[str, Any]:
    """The error body naming the first invalid field of pydantic's ``errors``."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = [str(p) for p in first["loc"] if p not in ("body", "query", "path", "header")]
    name = ".".join(loc) or None
    message = f"{name}: {first['msg']}" if name else str(first["msg"])
    return {"error": "validation_error", "message": message, "field": name}


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(_invalid(exc.errors()), status_code=422)


class ExchangeASGI:
    """The ASGI app: the FastAPI routes wrapped by a layer that can abort a connection
    (``drop_ack``). ``fastapi``, ``exchange`` and ``faults`` are exposed for tests."""

    def __init__(self, fastapi: FastAPI, exchange: SimulatedExchange, faults: FaultInjector):
        self.fastapi = fastapi
        self.exchange = exchange
        self.faults = faults

    async def __call__(self, scope: Scope, receive: ASGIApp, send: ASGIApp) -> None:
        if scope["type"] != "http":
            await self.fastapi(scope, receive, send)
            return
        flag = {"drop": False}
        scope[DROP_KEY] = flag
        cycle = getattr(send, "__self__", None)

        async def guarded(message: MutableMapping[str, Any]) -> None:
            if flag["drop"]:
                transport = getattr(cycle, "transport", None)
                if transport is None:
                    raise ConnectionAbortedError("drop_ack needs a server transport")
                transport.abort()
                return
            await send(message)

        await self.fastapi(scope, receive, guarded)
        if flag["drop"]:
            for _ in range(50):  # let the server notice the lost connection before returning
                if getattr(cycle, "disconnected", True):
                    break
                await asyncio.sleep(0.001)


async def _respond(
    request: Request,
    faults: FaultInjector,
    endpoint: str,
    action: Callable[[], Payload],
    feed: bool = False,
) -> Response:
    spec = faults.pick(endpoint, BEFORE_MODES)
    if spec is not None:
        return _before(spec)
    try:
        status, payload = action()
    except DomainError as exc:
        status, payload = _error(exc)
    if feed and status == 200:
        payload = _feed(faults, payload)
    spec = faults.pick(endpoint, AFTER_MODES)
    if spec is None:
        return JSONResponse(payload, status_code=status)
    if spec.mode is FaultMode.DELAY_AFTER_ACCEPT:
        await asyncio.sleep(spec.delay_s)
        return JSONResponse(payload, status_code=status)
    if spec.mode is FaultMode.ERROR_5XX_AFTER:
        body = {"error": "internal", "message": "injected fault after processing", "field": None}
        return JSONResponse(body, status_code=spec.status or 500)
    if spec.mode is FaultMode.DROP_ACK:
        request.scope[DROP_KEY]["drop"] = True
        return Response(status_code=204)
    if spec.mode is FaultMode.MALFORMED:
        return Response(
            b'{"venue_order_id": "V0', status_code=status, media_type="application/json"
        )
    pad = b"x" * max(0, spec.size_bytes - 12)
    return Response(b'{"pad": "' + pad + b'"}', media_type="application/json")


def _before(spec: FaultSpec) -> Response:
    if spec.mode is FaultMode.RATE_LIMIT_429:
        body = {"error": "rate_limited", "message": "too many requests", "field": None}
        headers = {"Retry-After": str(spec.retry_after_s), "X-Request-Processed": "false"}
        return JSONResponse(body, status_code=429, headers=headers)
    body = {"error": "unavailable", "message": "injected fault, not processed", "field": None}
    return JSONResponse(
        body, status_code=spec.status or 503, headers={"X-Request-Processed": "false"}
    )


def _feed(faults: FaultInjector, payload: dict[str, Any]) -> dict[str, Any]:
    """Apply the feed faults; a rule is only used up (``count``) on a page it can change:
    duplication needs a fill, reordering two different fills."""
    fills = list(payload["fills"])
    distinct = len(fills)
    if distinct >= 1 and faults.pick("fills", frozenset({FaultMode.DUPLICATE_FILLS})):
        fills = [f for f in fills for _ in (0, 1)]
    if distinct >= 2 and faults.pick("fills", frozenset({FaultMode.OUT_OF_ORDER_FILLS})):
        fills.reverse()
    return {**payload, "fills": fills}


async def tick_forever(exchange: SimulatedExchange, interval_s: float) -> None:
    """Call :meth:`SimulatedExchange.tick` every ``interval_s`` [s] in a worker thread
    (auctions clear when their gate closes, expired continuous orders end) until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(exchange.tick)
        except Exception:  # keep the loop alive; the error is logged
            log.exception("exchange tick failed")


def create_app(
    exchange: SimulatedExchange,
    faults: FaultInjector | None = None,
    *,
    tick_interval_s: float | None = 1.0,
) -> ExchangeASGI:
    """The HTTP exchange; ``tick_interval_s`` [s] paces :meth:`SimulatedExchange.tick`
    (automatic auction clearing at gate closure), ``None`` disables it."""
    inj = faults or FaultInjector()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = (
            None
            if tick_interval_s is None
            else asyncio.create_task(tick_forever(exchange, tick_interval_s))
        )
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="OpenVPP simulated exchange", lifespan=lifespan)
    app.add_exception_handler(RequestValidationError, _validation_error)
    ex = exchange

    def submitted(account: str, body: OrderIn) -> Payload:
        order, created = ex.submit(account, NewOrder(**body.model_dump()))
        return (201 if created else 200), order_json(order)

    def entered(account: str, item: dict[str, Any]) -> Payload:
        """One order of a batch, validated on its own."""
        return submitted(account, OrderIn.model_validate(item))

    def cancelled(account: str, venue_id: str) -> Payload:
        return 200, order_json(ex.cancel(account, venue_id))

    @app.post("/v1/orders")
    async def submit(request: Request, body: OrderIn, key: ApiKey = None) -> Response:
        return await _respond(request, inj, "submit", lambda: submitted(ex.account_for(key), body))

    @app.post("/v1/orders/batch")
    async def submit_batch(request: Request, body: BatchIn, key: ApiKey = None) -> Response:
        def act() -> Payload:
            account = ex.account_for(key)  # a wrong key refuses the request, not each order
            results = [_item(functools.partial(entered, account, o)) for o in body.orders]
            return 200, {"results": results}

        return await _respond(request, inj, "submit_batch", act)

    @app.get("/v1/orders/{venue_id}")
    async def get_order(request: Request, venue_id: str, key: ApiKey = None) -> Response:
        return await _respond(
            request,
            inj,
            "get_order",
            lambda: (200, order_json(ex.get_order(ex.account_for(key), venue_id))),
        )

    @app.get("/v1/orders")
    async def find_order(
        request: Request,
        client_order_id: Annotated[str, Query(min_length=1)],
        key: ApiKey = None,
    ) -> Response:
        return await _respond(
            request,
            inj,
            "find_order",
            lambda: (200, order_json(ex.find_order(ex.account_for(key), client_order_id))),
        )

    @app.delete("/v1/orders/{venue_id}")
    async def cancel(request: Request, venue_id: str, key: ApiKey = None) -> Response:
        return await _respond(
            request, inj, "cancel", lambda: cancelled(ex.account_for(key), venue_id)
        )

    @app.post("/v1/orders/cancel")
    async def cancel_batch(request: Request, body: CancelBatchIn, key: ApiKey = None) -> Response:
        def act() -> Payload:
            account = ex.account_for(key)  # a wrong key refuses the request, not each order
            ids = body.venue_order_ids
            results = [_item(functools.partial(cancelled, account, v)) for v in ids]
            return 200, {"results": results}

        return await _respond(request, inj, "cancel_batch", act)

    @app.patch("/v1/orders/{venue_id}")
    async def modify(
        request: Request, venue_id: str, body: ModifyIn, key: ApiKey = None
    ) -> Response:
        def act() -> Payload:
            order = ex.modify(
                ex.account_for(key), venue_id, price=body.price, quantity_mw=body.quantity_mw
            )
            return 200, order_json(order)

        return await _respond(request, inj, "modify", act)

    @app.get("/v1/fills")
    async def fills(
        request: Request,
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
        key: ApiKey = None,
    ) -> Response:
        return await _respond(
            request,
            inj,
            "fills",
            lambda: (200, fill_page_json(ex.fills_since(ex.account_for(key), after, limit))),
            feed=True,
        )

    @app.get("/v1/results")
    async def results(
        request: Request, market: str, product: str, day: date, key: ApiKey = None
    ) -> Response:
        def act() -> Payload:
            ex.account_for(key)
            return 200, auction_json(ex.results(market, product, day))

        return await _respond(request, inj, "results", act)

    @app.get("/v1/market-data")
    async def market_data(
        request: Request,
        market: str,
        product: str,
        start: AwareDatetime,
        end: AwareDatetime,
        key: ApiKey = None,
    ) -> Response:
        def act() -> Payload:
            ex.account_for(key)
            return 200, market_data_json(ex.market_data(market, product, start, end))

        return await _respond(request, inj, "market_data", act)

    @app.post("/v1/auctions/run")
    async def run_auction(request: Request, body: AuctionIn, key: ApiKey = None) -> Response:
        def act() -> Payload:
            ex.account_for(key)
            return 200, auction_json(ex.run_auction(body.market, body.product, body.day))

        return await _respond(request, inj, "run_auction", act)

    @app.get("/v1/imbalance-prices")
    async def imbalance_prices(
        request: Request, market: str, day: date, key: ApiKey = None
    ) -> Response:
        def act() -> Payload:
            ex.account_for(key)
            return 200, imbalance_json(ex.imbalance_prices(market, day))

        return await _respond(request, inj, "imbalance_prices", act)

    @app.get("/v1/health")
    async def health(request: Request) -> Response:
        return await _respond(request, inj, "health", lambda: (200, ex.health()))

    def _faults_json() -> dict[str, Any]:
        return {"faults": [s.to_dict() for s in inj.specs()]}

    def _admin(key: str | None, then: Callable[[], None]) -> JSONResponse:
        try:
            ex.account_for(key)
            then()
        except DomainError as exc:
            status, payload = _error(exc)
            return JSONResponse(payload, status_code=status)
        except ValueError as exc:
            body = {"error": "validation_error", "message": str(exc), "field": "faults"}
            return JSONResponse(body, status_code=422)
        return JSONResponse(_faults_json())

    @app.get("/v1/admin/faults")
    async def list_faults(key: ApiKey = None) -> JSONResponse:
        return _admin(key, lambda: None)

    @app.post("/v1/admin/faults")
    async def set_faults(body: FaultsIn, key: ApiKey = None) -> JSONResponse:
        def apply() -> None:
            specs = [
                FaultSpec(**{**f.model_dump(), "endpoints": tuple(f.endpoints)})
                for f in body.faults
            ]
            inj.set(specs, replace_all=body.replace)

        return _admin(key, apply)

    @app.delete("/v1/admin/faults")
    async def clear_faults(key: ApiKey = None) -> JSONResponse:
        return _admin(key, inj.clear)

    return ExchangeASGI(app, exchange, inj)
