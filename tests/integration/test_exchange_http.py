"""The HTTP simulated exchange served by uvicorn on loopback, driven through the HTTP connector:
normal flow, every fault mode and its classification, reconciliation without double
submissions, retries, circuit breaker, fills de-duplication, imbalance prices, and the real CLI
(RELIABILITY 6), also replaying a historical price file."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pandas as pd
import pytest
import uvicorn
from fastapi.testclient import TestClient

from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.connectors import (
    AmbiguousError,
    BreakerState,
    CircuitBreaker,
    FillDeduplicator,
    NotSentError,
    OrderKind,
    OrderRequest,
    OrderSide,
    OrderSnapshot,
    OrderState,
    ReconcilePolicy,
    ResilientConnector,
    RetryPolicy,
    SubmissionOutcome,
    VenueRejectedError,
    poll_fills,
    submit_many_with_reconciliation,
    submit_with_reconciliation,
)
from openvpp.markets.connectors.http import HttpExchangeConnector
from openvpp.markets.connectors.orders import cancel_many
from openvpp.markets.connectors.simulated import SimulatedConnector
from openvpp.markets.connectors.wire import order_request_json
from openvpp.markets.exchange import FaultInjector, FaultMode, FaultSpec, SimulatedExchange
from openvpp.markets.exchange.http_app import MAX_BATCH_ORDERS, ExchangeASGI, create_app
from openvpp.markets.presets import load_presets

DATA = Path(__file__).resolve().parents[1] / "data" / "markets"
NOW = datetime(2026, 3, 27, 16, 0, tzinfo=UTC)  # SIDC day-ahead hours open, SDAC 29 Mar open
SIDC_START = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)
DST_DAY = date(2026, 3, 29)
KEYS = {"key-a": "alice", "key-b": "bob"}
FAST = ReconcilePolicy(query_attempts=20, initial_s=0.01, max_s=0.1, not_found_confirmations=2)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.t = now

    def now(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadServer:
    """uvicorn serving an app in a background thread."""

    def __init__(self, app: ExchangeASGI) -> None:
        self.app = app
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="critical",
            access_log=False,
            ws="none",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Env:
    def __init__(self, app: ExchangeASGI, server: ThreadServer, clock: FakeClock) -> None:
        self.app, self.server, self.clock = app, server, clock
        self.exchange: SimulatedExchange = app.exchange
        self.faults: FaultInjector = app.faults

    def connector(self, key: str = "key-a", **kwargs: object) -> HttpExchangeConnector:
        options: dict[str, object] = {"timeout_s": 0.5, "connect_timeout_s": 0.5, **kwargs}
        return HttpExchangeConnector(self.server.url, key, **options)  # type: ignore[arg-type]

    def admin(self, faults: list[dict[str, object]]) -> None:
        r = httpx.post(
            f"{self.server.url}/v1/admin/faults",
            json={"faults": faults},
            headers={"X-API-Key": "key-a"},
        )
        assert r.status_code == 200, r.text

    def exchange_connector(self) -> SimulatedConnector:
        return SimulatedConnector(self.exchange, "key-a")

    def orders_for(self, client_order_id: str) -> int:
        return sum(1 for o in self.exchange.orders() if o.client_order_id == client_order_id)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    clock = FakeClock(NOW)
    exchange = SimulatedExchange(load_presets(), clock, api_keys=KEYS)
    app = create_app(exchange, FaultInjector(), tick_interval_s=None)
    with ThreadServer(app) as server:
        yield Env(app, server, clock)


@pytest.fixture(autouse=True)
def _no_faults(env: Env) -> Iterator[None]:
    env.faults.clear()
    yield
    env.faults.clear()


_ids = iter(range(1_000_000))


def req(
    side: OrderSide = OrderSide.SELL,
    price: str = "50.00",
    qty: str = "1.0",
    *,
    cid: str | None = None,
    start: datetime = SIDC_START,
    market: str = "EU-SIDC",
    product: str = "H",
) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid or f"c-{os.getpid()}-{next(_ids)}",
        market=market,
        product=product,
        delivery_start=start,
        side=side,
        price=Decimal(price),
        quantity_mw=Decimal(qty),
    )


# ---------------------------------------------------------------------------- normal flow


@pytest.mark.anyio
async def test_normal_flow_continuous_and_auction(env: Env) -> None:
    a, b = env.connector("key-a"), env.connector("key-b")
    start = SIDC_START + timedelta(hours=1)
    sell = await a.submit_order(req(OrderSide.SELL, "50.00", "2.0", start=start))
    assert sell.state is OrderState.NEW and sell.active
    assert (await a.get_order(venue_order_id=sell.venue_order_id)) == sell
    assert (await a.get_order(client_order_id=sell.client_order_id)) == sell
    assert await b.get_order(venue_order_id=sell.venue_order_id) is None  # other account

    buy = await b.submit_order(req(OrderSide.BUY, "51.00", "0.5", start=start))
    assert buy.state is OrderState.FILLED and buy.filled_mw == Decimal("0.5")
    modified = await a.modify_order(sell.venue_order_id, price=Decimal("49.50"))
    assert modified.price == Decimal("49.50") and modified.filled_mw == Decimal("0.5")
    cancelled = await a.cancel_order(sell.venue_order_id)
    assert cancelled.state is OrderState.PARTIALLY_FILLED or cancelled.state is OrderState.CANCELLED
    assert not cancelled.active
    with pytest.raises(VenueRejectedError) as info:
        await a.cancel_order(sell.venue_order_id)
    assert info.value.status == 409

    page = await a.fetch_fills(0)
    mine = [f for f in page.fills if f.venue_order_id == sell.venue_order_id]
    assert [f.quantity_mw for f in mine] == [Decimal("0.5")] and mine[0].price == Decimal("50.00")
    assert (await a.fetch_fills(page.next_after)).fills == ()

    qh = delivery_intervals(env.exchange.markets["EU-SDAC"].product("QH"), DST_DAY)
    assert len(qh) == 92
    s = await a.submit_order(
        req(OrderSide.SELL, "40.0", "2.0", start=qh[10].start_utc, market="EU-SDAC", product="QH")
    )
    d = await b.submit_order(
        req(OrderSide.BUY, "60.0", "1.5", start=qh[10].start_utc, market="EU-SDAC", product="QH")
    )
    assert (await a.fetch_results("EU-SDAC", "QH", DST_DAY)).cleared is False
    result = await a.run_auction("EU-SDAC", "QH", DST_DAY)
    assert result.cleared and len(result.periods) == 92
    assert result.periods[10].price == Decimal("40.0")
    assert result.periods[10].volume_mw == Decimal("1.5")
    assert (await a.fetch_results("EU-SDAC", "QH", DST_DAY)) == result
    got_s = await a.get_order(venue_order_id=s.venue_order_id)
    got_d = await b.get_order(venue_order_id=d.venue_order_id)
    assert got_s is not None and got_s.filled_mw == Decimal("1.5")
    assert got_d is not None and got_d.state is OrderState.FILLED
    points = await a.fetch_market_data("EU-SDAC", "QH", qh[0].start_utc, qh[-1].end_utc)
    assert len(points) == 92 and points[10].price == Decimal("40.0")
    health = await a.health()
    assert health.ok and health.venue_time == NOW
    await a.aclose()
    await b.aclose()


@pytest.mark.anyio
async def test_idempotent_resubmission_conflict_and_validation(env: Env) -> None:
    a = env.connector()
    r = req(price="12.34")
    first = await a.submit_order(r)
    again = await a.submit_order(r)
    assert again.venue_order_id == first.venue_order_id
    assert env.orders_for(r.client_order_id) == 1
    other = dataclasses.replace(r, price=Decimal("12.35"))
    with pytest.raises(VenueRejectedError) as info:
        await a.submit_order(other)
    assert info.value.status == 409 and info.value.field == "client_order_id"
    with pytest.raises(VenueRejectedError) as info:
        await a.submit_order(req(price="12.345"))
    assert info.value.status == 422 and info.value.field == "price"
    with pytest.raises(VenueRejectedError) as info:
        await a.submit_order(req(price="10000"))
    assert info.value.field == "price" and "limits" in info.value.message
    late = req(start=NOW)  # closed 5 min before delivery
    with pytest.raises(VenueRejectedError) as info:
        await a.submit_order(late)
    assert info.value.code == "gate_closed" and info.value.field == "delivery_start"
    bad = env.connector("wrong-key")
    with pytest.raises(VenueRejectedError) as info:
        await bad.submit_order(req())
    assert info.value.status == 401
    raw = httpx.post(
        f"{env.server.url}/v1/orders", json={"market": "EU-SIDC"}, headers={"X-API-Key": "key-a"}
    )
    assert raw.status_code == 422 and raw.json()["field"] == "client_order_id"
    await a.aclose()
    await bad.aclose()


# ---------------------------------------------------------------------------- fault modes

AFTER = [
    ("delay_after_accept", {"delay_s": 1.0}),
    ("error_5xx_after", {}),
    ("drop_ack", {}),
    ("malformed", {}),
    ("huge_response", {"size_bytes": 4_000_000}),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("mode", "extra"), AFTER, ids=[m for m, _ in AFTER])
async def test_after_processing_faults_are_ambiguous_then_reconciled(
    env: Env, mode: str, extra: dict[str, object]
) -> None:
    a = env.connector(max_response_bytes=256_000)
    env.admin([{"mode": mode, "endpoints": ["submit"], "count": 1, **extra}])
    r = req()
    with pytest.raises(AmbiguousError):
        await a.submit_order(r)
    assert env.orders_for(r.client_order_id) == 1  # processed although the answer was lost

    env.admin([{"mode": mode, "endpoints": ["submit"], "count": 1, **extra}])
    r2 = req()
    outcome = await submit_with_reconciliation(a, r2, policy=FAST)
    assert outcome.resolved and outcome.reconciled
    assert outcome.submits == 1, outcome.events  # never resent: the venue had it
    assert outcome.order is not None and outcome.order.client_order_id == r2.client_order_id
    assert outcome.state is OrderState.NEW
    assert env.orders_for(r2.client_order_id) == 1
    await a.aclose()


@pytest.mark.anyio
async def test_before_processing_faults_are_not_sent_and_retried(env: Env) -> None:
    a = env.connector()
    env.admin([{"mode": "error_5xx_before", "endpoints": ["submit"], "count": 1}])
    r = req()
    with pytest.raises(NotSentError):
        await a.submit_order(r)
    assert env.orders_for(r.client_order_id) == 0

    env.admin([{"mode": "rate_limit_429", "endpoints": ["submit"], "count": 1, "retry_after_s": 1}])
    with pytest.raises(NotSentError) as info:
        await a.submit_order(r)
    assert info.value.retry_after == 1.0
    assert env.orders_for(r.client_order_id) == 0

    env.admin(
        [
            {"mode": "rate_limit_429", "endpoints": ["submit"], "count": 1, "retry_after_s": 1},
            {"mode": "error_5xx_before", "endpoints": ["submit"], "count": 1, "status": 500},
        ]
    )
    guarded = ResilientConnector(a, retry=RetryPolicy(attempts=4, initial_s=0.01, max_s=0.05))
    started = time.monotonic()
    snap = await guarded.submit_order(r)
    assert time.monotonic() - started >= 1.0  # Retry-After honoured
    assert snap.client_order_id == r.client_order_id
    assert env.orders_for(r.client_order_id) == 1
    assert [
        s["hits"]
        for s in httpx.get(
            f"{env.server.url}/v1/admin/faults", headers={"X-API-Key": "key-a"}
        ).json()["faults"]
    ] == [1, 1]
    await a.aclose()


@pytest.mark.anyio
async def test_ambiguous_is_never_retried_by_the_resilient_connector(env: Env) -> None:
    a = ResilientConnector(env.connector(), retry=RetryPolicy(attempts=5, initial_s=0.01))
    env.admin([{"mode": "error_5xx_after", "endpoints": ["submit"], "count": 3}])
    r = req()
    with pytest.raises(AmbiguousError):
        await a.submit_order(r)
    assert env.faults.specs()[0].hits == 1  # exactly one request went out
    assert env.orders_for(r.client_order_id) == 1
    await a.aclose()


@pytest.mark.anyio
async def test_unreachable_venue_is_not_sent() -> None:
    c = HttpExchangeConnector(f"http://127.0.0.1:{free_port()}", "k", timeout_s=0.5)
    with pytest.raises(NotSentError):
        await c.submit_order(req())
    assert not (await c.health()).ok
    await c.aclose()


@pytest.mark.anyio
async def test_reconciliation_waits_out_an_unreachable_venue(env: Env) -> None:
    a = env.connector()
    env.admin(
        [
            {"mode": "drop_ack", "endpoints": ["submit"], "count": 1},
            {"mode": "error_5xx_before", "endpoints": ["find_order"], "count": 3},
            {"mode": "error_5xx_after", "endpoints": ["find_order"], "count": 2},
        ]
    )
    r = req()
    outcome = await submit_with_reconciliation(a, r, policy=FAST)
    assert outcome.resolved and outcome.submits == 1 and outcome.queries == 6
    assert env.orders_for(r.client_order_id) == 1
    await a.aclose()


@pytest.mark.anyio
async def test_not_found_after_ambiguous_resends_once_with_the_same_id(env: Env) -> None:
    # 5xx without the "not processed" header is ambiguous even though nothing was processed
    a = env.connector()
    env.admin([{"mode": "error_5xx_before", "endpoints": ["submit"], "count": 1}])
    env.faults.set([env.faults.specs()[0].__class__("error_5xx_before", ("submit",), count=1)])
    # strip the venue's "not processed" header: the client must then treat it as ambiguous
    transport = _StripHeader(httpx.AsyncHTTPTransport())
    c = HttpExchangeConnector(env.server.url, "key-a", timeout_s=0.5, transport=transport)
    r = req()
    outcome = await submit_with_reconciliation(c, r, policy=FAST)
    assert outcome.resolved and outcome.submits == 2 and outcome.queries == 2
    assert env.orders_for(r.client_order_id) == 1
    await a.aclose()
    await c.aclose()


class _StripHeader(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if "x-request-processed" in response.headers:
            del response.headers["x-request-processed"]
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.anyio
async def test_fifty_concurrent_submissions_under_faults_no_double_orders(env: Env) -> None:
    env.admin(
        [
            {"mode": "rate_limit_429", "endpoints": ["submit"], "count": 6, "retry_after_s": 0},
            {"mode": "error_5xx_before", "endpoints": ["submit", "find_order"], "count": 6},
            {"mode": "drop_ack", "endpoints": ["submit"], "count": 8},
            {"mode": "error_5xx_after", "endpoints": ["submit", "find_order"], "count": 8},
            {"mode": "delay_after_accept", "endpoints": ["submit"], "count": 5, "delay_s": 1.0},
            {"mode": "malformed", "endpoints": ["submit"], "count": 5},
        ]
    )
    raw = env.connector()
    guarded = ResilientConnector(
        raw,
        breaker=CircuitBreaker(failure_threshold=10_000),
        retry=RetryPolicy(attempts=10, initial_s=0.01, max_s=0.05),
    )
    requests = [req(price=f"{30 + i}.00") for i in range(25)]
    tasks = [submit_with_reconciliation(guarded, r, policy=FAST) for r in requests for _ in (0, 1)]
    outcomes = await asyncio.gather(*tasks)
    assert all(o.resolved for o in outcomes), [o.events for o in outcomes if not o.resolved]
    counts = Counter(o.client_order_id for o in env.exchange.orders())
    assert all(counts[r.client_order_id] == 1 for r in requests)
    for i, r in enumerate(requests):
        pair = outcomes[2 * i : 2 * i + 2]
        assert pair[0].order is not None and pair[1].order is not None
        assert pair[0].order.venue_order_id == pair[1].order.venue_order_id
        assert pair[0].order.client_order_id == r.client_order_id
    assert sum(s.hits for s in env.faults.specs()) >= 30
    await guarded.aclose()


# ---------------------------------------------------------------------------- batches of orders


@pytest.mark.anyio
async def test_a_batch_answers_each_order_as_a_single_submission_would(env: Env) -> None:
    a = env.connector()
    taken = req(price="12.34")
    first = await a.submit_order(taken)
    batch = [
        req(),
        req(price="12.345"),  # off the price grid: the exchange refuses it
        req(qty="-1"),  # refused by the request's own validation
        taken,  # an idempotent repeat
        dataclasses.replace(taken, price=Decimal("12.35")),  # its id with another body
        req(start=NOW),  # gate closed
        req(),
    ]
    ok, off_grid, negative, again, conflict, late, last = await a.submit_orders(batch)
    assert isinstance(ok, OrderSnapshot) and ok.client_order_id == batch[0].client_order_id
    assert isinstance(last, OrderSnapshot) and last.client_order_id == batch[-1].client_order_id
    assert isinstance(again, OrderSnapshot) and again.venue_order_id == first.venue_order_id
    for refused, status, field in (
        (off_grid, 422, "price"),
        (negative, 422, "quantity_mw"),
        (conflict, 409, "client_order_id"),
        (late, 422, "delivery_start"),
    ):
        assert isinstance(refused, VenueRejectedError), refused
        assert (refused.status, refused.field) == (status, field), refused.message
    assert [env.orders_for(r.client_order_id) for r in batch] == [1, 0, 0, 1, 1, 0, 1]
    with pytest.raises(VenueRejectedError) as info:  # the whole request refused
        await env.connector("wrong-key").submit_orders([req()])
    assert info.value.status == 401
    too_many = [order_request_json(req()) for _ in range(MAX_BATCH_ORDERS + 1)]
    raw = httpx.post(
        f"{env.server.url}/v1/orders/batch",
        json={"orders": too_many},
        headers={"X-API-Key": "key-a"},
    )
    assert raw.status_code == 422 and raw.json()["field"] == "orders"
    assert all(env.orders_for(o["client_order_id"]) == 0 for o in too_many)
    await a.aclose()


@pytest.mark.anyio
async def test_a_batch_the_venue_refuses_as_a_request_is_sent_order_by_order(env: Env) -> None:
    """More orders than the venue takes per batch: the request is refused (422, nothing
    entered) and every order is submitted on its own instead."""
    a = env.connector(max_batch_orders=MAX_BATCH_ORDERS + 1)
    requests = [req(price=f"{20 + i % 50}.00") for i in range(MAX_BATCH_ORDERS + 1)]
    outcomes = await submit_many_with_reconciliation(a, requests, policy=FAST)
    assert all(isinstance(o, SubmissionOutcome) and o.resolved for o in outcomes)
    assert all(env.orders_for(r.client_order_id) == 1 for r in requests)
    await a.aclose()


BATCH_FAULTS = [
    ("error_5xx_after", {}, True),
    ("drop_ack", {}, True),
    ("malformed", {}, True),
    ("delay_after_accept", {"delay_s": 1.0}, True),  # past the connector's 0.5 s
    ("huge_response", {"size_bytes": 4_000_000}, True),
    ("error_5xx_before", {}, False),
    ("rate_limit_429", {"retry_after_s": 0}, False),
]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("mode", "extra", "processed"), BATCH_FAULTS, ids=[m for m, _, _ in BATCH_FAULTS]
)
async def test_a_batch_under_each_fault_ends_known_without_double_orders(
    env: Env, mode: str, extra: dict[str, object], processed: bool
) -> None:
    """RELIABILITY 6 for batches: a batch whose answer is lost is reconciled order by order by
    client order id (never resent: the venue has every order); one provably not processed is
    sent again as a batch by the resilient connector."""
    guarded = ResilientConnector(
        env.connector(max_response_bytes=256_000),
        retry=RetryPolicy(attempts=4, initial_s=0.01, max_s=0.05),
    )
    env.admin([{"mode": mode, "endpoints": ["submit_batch"], "count": 1, **extra}])
    requests = [req(price=f"{40 + i}.00") for i in range(6)]
    outcomes = await submit_many_with_reconciliation(guarded, requests, policy=FAST)
    assert env.faults.specs()[0].hits == 1
    for r, o in zip(requests, outcomes, strict=True):
        assert isinstance(o, SubmissionOutcome) and o.resolved, o
        assert o.order is not None and o.order.client_order_id == r.client_order_id
        assert o.submits == 1 and o.reconciled is processed, o.events
        assert env.orders_for(r.client_order_id) == 1
    await guarded.aclose()


@pytest.mark.anyio
async def test_a_batch_cancellation_answers_each_order_as_a_single_cancellation_would(
    env: Env,
) -> None:
    a, b = env.connector("key-a"), env.connector("key-b")
    live = [await a.submit_order(req(price=f"{30 + i}.00")) for i in range(3)]
    done = await a.submit_order(req(price="33.00"))
    await a.cancel_order(done.venue_order_id)
    others = await b.submit_order(req(price="34.00"))  # another account's order
    ids = [
        live[0].venue_order_id,
        "no-such-order",
        done.venue_order_id,
        others.venue_order_id,
        live[1].venue_order_id,
    ]
    first, unknown, again, foreign, second = await a.cancel_orders(ids)
    for cancelled, order in ((first, live[0]), (second, live[1])):
        assert isinstance(cancelled, OrderSnapshot)
        assert cancelled.venue_order_id == order.venue_order_id
        assert cancelled.state is OrderState.CANCELLED and not cancelled.active
    for refused, alone in (
        (unknown, a.cancel_order("no-such-order")),
        (again, a.cancel_order(done.venue_order_id)),
        (foreign, a.cancel_order(others.venue_order_id)),
    ):
        with pytest.raises(VenueRejectedError) as single:
            await alone
        assert isinstance(refused, VenueRejectedError), refused
        assert (refused.status, refused.code) == (single.value.status, single.value.code)
    assert (await b.get_order(venue_order_id=others.venue_order_id)).active  # untouched
    assert (await a.get_order(venue_order_id=live[2].venue_order_id)).active  # not asked
    with pytest.raises(VenueRejectedError) as info:  # the whole request refused
        await env.connector("wrong-key").cancel_orders([live[2].venue_order_id])
    assert info.value.status == 401
    for bad in ([], [live[2].venue_order_id] * (MAX_BATCH_ORDERS + 1), [""]):
        raw = httpx.post(
            f"{env.server.url}/v1/orders/cancel",
            json={"venue_order_ids": bad},
            headers={"X-API-Key": "key-a"},
        )
        assert raw.status_code == 422 and raw.json()["field"].startswith("venue_order_ids")
    assert (await a.get_order(venue_order_id=live[2].venue_order_id)).active
    await a.aclose()
    await b.aclose()


CANCEL_FAULTS = [m for m, _, _ in BATCH_FAULTS]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", CANCEL_FAULTS)
async def test_a_batch_cancellation_under_each_fault_ends_known(env: Env, mode: str) -> None:
    """RELIABILITY 6 for batch cancellations: a request not processed is sent again by the
    resilient connector; a lost answer leaves each order's outcome unknown (an error per
    order, never a made-up snapshot) after one round, and a second round (cancellations are
    idempotent) finds every order cancelled."""
    extra = {m: x for m, x, _ in BATCH_FAULTS}[mode]
    processed = {m: p for m, _, p in BATCH_FAULTS}[mode]
    guarded = ResilientConnector(
        env.connector(max_response_bytes=256_000),
        retry=RetryPolicy(attempts=4, initial_s=0.01, max_s=0.05),
    )
    for attempts in (1, 2):
        orders = [await guarded.submit_order(req(price=f"{50 + i}.00")) for i in range(4)]
        keys = [(o.venue_order_id, o.client_order_id) for o in orders]
        env.admin([{"mode": mode, "endpoints": ["cancel_batch"], "count": 1, **extra}])
        answers = await cancel_many(guarded, keys, concurrency=4, attempts=attempts)
        assert env.faults.specs()[0].hits == 1
        for order, answer in zip(orders, answers, strict=True):
            if processed and attempts == 1:
                assert isinstance(answer, AmbiguousError), answer
            else:
                assert isinstance(answer, OrderSnapshot), answer
                assert answer.venue_order_id == order.venue_order_id
                assert answer.state is OrderState.CANCELLED
            now = await guarded.get_order(venue_order_id=order.venue_order_id)
            assert now is not None and now.state is OrderState.CANCELLED
    await guarded.aclose()


@pytest.mark.anyio
async def test_a_batch_lost_before_the_venue_processed_it_is_resent_order_by_order(
    env: Env,
) -> None:
    """A 5xx without the "not processed" header is ambiguous although nothing was entered: the
    venue confirms it has none of the orders, and each is resent alone under its own id."""
    env.faults.set([FaultSpec(FaultMode.ERROR_5XX_BEFORE, ("submit_batch",), count=1)])
    c = HttpExchangeConnector(
        env.server.url, "key-a", timeout_s=0.5, transport=_StripHeader(httpx.AsyncHTTPTransport())
    )
    requests = [req(price=f"{60 + i}.00") for i in range(4)]
    outcomes = await submit_many_with_reconciliation(c, requests, policy=FAST)
    for r, o in zip(requests, outcomes, strict=True):
        assert isinstance(o, SubmissionOutcome) and o.resolved and o.submits == 2, o
        assert o.events[0].startswith("batch submit ambiguous")
        assert env.orders_for(r.client_order_id) == 1
    await c.aclose()


@pytest.mark.anyio
async def test_circuit_breaker_opens_under_failures_and_closes_after_recovery(env: Env) -> None:
    clock = FakeClock(NOW)
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=30, clock=clock)
    c = ResilientConnector(
        env.connector(), breaker=breaker, retry=RetryPolicy(attempts=1), clock=clock
    )
    env.admin([{"mode": "error_5xx_before", "endpoints": ["get_order"]}])
    for _ in range(3):
        with pytest.raises(NotSentError) as info:
            await c.get_order(venue_order_id="V1")
        assert not info.value.breaker_open
    assert breaker.state is BreakerState.OPEN
    hits = env.faults.specs()[0].hits
    with pytest.raises(NotSentError) as info:
        await c.get_order(venue_order_id="V1")
    assert info.value.breaker_open and env.faults.specs()[0].hits == hits  # nothing sent
    assert c.health_tracker.status.value == "down"

    env.faults.clear()  # venue recovers
    clock.advance(31)
    assert breaker.state is BreakerState.HALF_OPEN
    assert await c.get_order(venue_order_id="V-none") is None  # the probe succeeds
    assert breaker.state is BreakerState.CLOSED
    assert c.health_tracker.status.value == "up"
    assert [h.new.value for h in c.health_tracker.history] == ["degraded", "down", "up"]
    await c.aclose()


@pytest.mark.anyio
async def test_duplicate_and_out_of_order_fills_are_deduplicated(env: Env) -> None:
    a, b = env.connector("key-a"), env.connector("key-b")
    start = SIDC_START + timedelta(hours=5)
    dedup = FillDeduplicator()
    await poll_fills(a, dedup)  # skip earlier fills
    for i in range(3):
        await a.submit_order(req(OrderSide.SELL, f"4{i}.00", "0.3", start=start))
    await b.submit_order(req(OrderSide.BUY, "99.00", "0.9", start=start))
    env.admin([{"mode": "duplicate_fills"}, {"mode": "out_of_order_fills"}])
    page = await a.fetch_fills(dedup.cursor)
    assert len(page.fills) == 6 and page.fills[0].seq > page.fills[-1].seq
    new = await poll_fills(a, dedup)
    assert [f.price for f in new] == [Decimal("40.00"), Decimal("41.00"), Decimal("42.00")]
    assert len({f.trade_id for f in new}) == 3 and dedup.duplicates == 3
    assert await poll_fills(a, dedup) == []
    await a.aclose()
    await b.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["huge_response", "malformed"])
async def test_huge_and_malformed_responses_on_reads(env: Env, mode: str) -> None:
    a = env.connector(max_response_bytes=100_000)
    env.admin([{"mode": mode, "endpoints": ["fills", "results"], "size_bytes": 20_000_000}])
    with pytest.raises(AmbiguousError, match=r"limit|malformed"):
        await a.fetch_fills(0)
    with pytest.raises(AmbiguousError):
        await a.fetch_results("EU-SDAC", "QH", DST_DAY)
    await a.aclose()


def test_admin_refuses_bad_fault_rules(env: Env) -> None:
    headers = {"X-API-Key": "key-a"}
    r = httpx.post(
        f"{env.server.url}/v1/admin/faults", json={"faults": [{"mode": "boom"}]}, headers=headers
    )
    assert r.status_code == 422 and r.json()["field"] == "faults.0.mode"
    r = httpx.post(
        f"{env.server.url}/v1/admin/faults",
        json={"faults": [{"mode": "drop_ack", "endpoints": ["nope"]}]},
        headers=headers,
    )
    assert r.status_code == 422 and "endpoints" in r.json()["message"]
    assert httpx.get(f"{env.server.url}/v1/admin/faults").status_code == 401


# ---------------------------------------------------------------------------- imbalance prices


@pytest.mark.anyio
async def test_imbalance_prices_and_replay_over_http(env: Env) -> None:
    day = date(2026, 3, 30)
    hh = delivery_intervals(env.exchange.markets["EU-SDAC"].product("HH"), day)
    series = pd.Series(
        [30.0 + k for k in range(len(hh))], index=pd.DatetimeIndex([iv.start_utc for iv in hh])
    )
    env.exchange.set_replay("EU-SDAC", "HH", series)
    a = env.connector()
    try:
        synthetic = await a.fetch_imbalance_prices("EU-SDAC", day)
        assert (synthetic.market, synthetic.day, synthetic.period_min) == ("EU-SDAC", day, 15)
        assert synthetic.source == "synthetic" and len(synthetic.periods) == 96
        assert synthetic.periods[2].day_ahead_price == Decimal("31.0")  # 00:30-00:45 local
        assert synthetic == await a.fetch_imbalance_prices("EU-SDAC", day)  # deterministic
        in_process = await env.exchange_connector().fetch_imbalance_prices("EU-SDAC", day)
        assert synthetic == in_process  # the HTTP wire loses nothing

        s = await a.submit_order(
            req(OrderSide.SELL, "0", "1.0", start=hh[7].start_utc, market="EU-SDAC", product="HH")
        )
        results = await a.run_auction("EU-SDAC", "HH", day)
        assert results.periods[7].price == Decimal("37.0") and len(results.periods) == 48
        got = await a.get_order(venue_order_id=s.venue_order_id)
        assert got is not None and got.state is OrderState.FILLED
        raw = httpx.get(
            f"{env.server.url}/v1/results",
            params={"market": "EU-SDAC", "product": "HH", "day": day.isoformat()},
            headers={"X-API-Key": "key-a"},
        ).json()
        assert raw["periods"][7]["historical_price"] == "37.0"
        assert raw["periods"][7]["price_impact"] == "0.0"

        with pytest.raises(VenueRejectedError) as info:
            await a.fetch_imbalance_prices("EU-SDAC", date(2026, 4, 2))
        assert info.value.status == 422 and info.value.field == "day"
        env.admin([{"mode": "error_5xx_before", "endpoints": ["imbalance_prices"], "count": 1}])
        with pytest.raises(NotSentError):
            await a.fetch_imbalance_prices("EU-SDAC", day)
    finally:
        env.exchange.clear_replay("EU-SDAC", "HH")
        await a.aclose()


# ---------------------------------------------------------------------------- real CLI


def _exchange_cli() -> list[str]:
    """``openvpp exchange`` of the installed entry point."""
    return [str(Path(sys.executable).with_name("openvpp")), "exchange"]


def test_cli_serve_freezes_its_heap_while_it_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulated venue keeps every order it was sent: without freezing the survivors (as
    the API server does, ``api/heap.py``) each full pass of its collector scans that whole
    book, pauses that grew to 200 ms after a few minutes of a load test. Frozen while it
    serves, unfrozen and the collector's callback gone once it has stopped."""
    import gc

    from typer.testing import CliRunner

    from openvpp.cli.main import app as cli

    assert gc.get_freeze_count() == 0
    callbacks = list(gc.callbacks)
    seen: dict[str, int] = {}

    def run(app: object, **options: object) -> None:  # the server's lifetime
        seen["frozen"] = gc.get_freeze_count()
        seen["callbacks"] = len(gc.callbacks)

    monkeypatch.setattr(uvicorn, "run", run)
    result = CliRunner().invoke(cli, ["exchange", "serve", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert seen["frozen"] > 100_000  # the libraries, presets and the exchange, at least
    assert seen["callbacks"] == len(callbacks) + 1
    assert gc.get_freeze_count() == 0 and gc.callbacks == callbacks


@contextlib.asynccontextmanager
async def exchange_process(*args: str) -> AsyncIterator[tuple[str, list[str]]]:
    """``openvpp exchange serve --port N ARGS`` in a subprocess, up and answering; yields its
    URL and a list that holds the process output once it has stopped (SIGTERM)."""
    port = free_port()
    proc = subprocess.Popen(
        [*_exchange_cli(), "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    output: list[str] = []
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{url}/v1/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "exchange serve did not come up"
            await asyncio.sleep(0.1)
        yield url, output
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            output.append(proc.communicate(timeout=10)[0].decode())
        except subprocess.TimeoutExpired:
            proc.kill()
            output.append(proc.communicate()[0].decode())


@pytest.mark.anyio
async def test_cli_serve_subprocess() -> None:
    async with exchange_process(
        "--api-key",
        "cli-key=desk",
        "--fault",
        "rate_limit_429,endpoints=submit,count=1,retry_after_s=0",
        "--fault",
        "drop_ack,endpoints=submit,count=1",
    ) as (url, output):
        tz = ZoneInfo("Europe/Brussels")
        day = datetime.now(tz).date() + timedelta(days=2)  # gate open: closes at 12:00 D-1
        product = load_presets()["EU-SDAC"].product("H")
        start = delivery_intervals(product, day)[12].start_utc
        c = ResilientConnector(
            HttpExchangeConnector(url, "cli-key", timeout_s=2.0),
            retry=RetryPolicy(attempts=3, initial_s=0.01),
        )
        r = req(start=start, market="EU-SDAC", product="H", price="45.5")
        outcome = await submit_with_reconciliation(c, r, policy=FAST)
        assert outcome.resolved and outcome.submits == 1 and outcome.reconciled
        assert outcome.order is not None and outcome.order.order_type is OrderKind.LIMIT
        results = await c.inner.run_auction("EU-SDAC", "H", day)  # type: ignore[attr-defined]
        assert results.cleared and len(results.periods) in (23, 24, 25)
        faults = httpx.get(f"{url}/v1/admin/faults", headers={"X-API-Key": "cli-key"}).json()
        assert [f["hits"] for f in faults["faults"]] == [1, 1]
        await c.aclose()
    assert f"{url}/v1" in output[0]


def _historical_price(when: str) -> Decimal:
    """The NP excerpt's price at ``when`` (UTC-labelled hour), on the 0.1 EUR/MWh tick."""
    with (DATA / "epftoolbox_NP_excerpt.csv").open() as f:
        for row in csv.reader(f):
            if row[0] == when:
                return Decimal(row[1]).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    raise AssertionError(when)


@pytest.mark.anyio
async def test_cli_serve_replay_subprocess() -> None:
    async with exchange_process(
        "--replay",
        str(DATA / "epftoolbox_NP_excerpt.csv"),
        "--replay-format",
        "epftoolbox",
        "--replay-market",
        "EU-SDAC",
        "--replay-area",
        "NP",
        "--replay-product",
        "H",
        "--imbalance-seed",
        "3",
    ) as (url, output):
        health = httpx.get(f"{url}/v1/health").json()
        assert health["time"].startswith("2018-03-2")  # the venue clock runs in the past
        day = date(2018, 3, 25)  # spring-forward day: 23 hours
        ivs = delivery_intervals(load_presets()["EU-SDAC"].product("H"), day)
        assert ivs[5].start_utc == datetime(2018, 3, 25, 4, tzinfo=UTC)
        c = HttpExchangeConnector(url, "test-key", timeout_s=5.0)
        order = await c.submit_order(
            req(OrderSide.SELL, "-10", "2.5", start=ivs[5].start_utc, market="EU-SDAC", product="H")
        )
        results = await c.run_auction("EU-SDAC", "H", day)
        price = _historical_price("2018-03-25 04:00:00")
        assert results.cleared and len(results.periods) == 23
        assert results.periods[5].price == price == Decimal("37.7")
        page = await c.fetch_fills(0)
        assert [(f.venue_order_id, f.price, f.quantity_mw) for f in page.fills] == [
            (order.venue_order_id, price, Decimal("2.5"))
        ]
        imbalance = await c.fetch_imbalance_prices("EU-SDAC", day)
        assert len(imbalance.periods) == 92 and imbalance.source == "synthetic"
        assert imbalance.periods[20].day_ahead_price == price  # 04:00-04:15 UTC
        with pytest.raises(VenueRejectedError) as info:
            await c.run_auction("EU-SDAC", "H", date(2018, 3, 24))  # 23:00 UTC of 03-23 missing
        assert "2018-03-24" in info.value.message and "EU-SDAC/H" in info.value.message
        await c.aclose()
    assert "replay EU-SDAC/H" in output[0] and "72 values" in output[0], output
    assert "venue clock starts at 2018-03-22T23:00:00+00:00" in output[0], output


# ---------------------------------------------------------------------------- input limits


def _client(now: datetime = NOW) -> tuple[TestClient, ExchangeASGI]:
    exchange = SimulatedExchange(load_presets(), FakeClock(now), api_keys=KEYS)
    app = create_app(exchange, FaultInjector(), tick_interval_s=None)
    return TestClient(app.fastapi, raise_server_exceptions=False), app


H_A = {"X-API-Key": "key-a"}
H_B = {"X-API-Key": "key-b"}
SDAC_BODY = {
    "client_order_id": "o1",
    "market": "EU-SDAC",
    "product": "H",
    "delivery_start": "2026-03-28T09:00:00Z",
    "side": "buy",
    "price": "50",
    "quantity_mw": "1",
}
SIDC_BODY = {**SDAC_BODY, "market": "EU-SIDC"}
EARLY = datetime(2026, 3, 27, 8, 0, tzinfo=UTC)  # SDAC gate for 28 Mar open


@pytest.mark.parametrize("qty", ["300000000", "1E+30", "100000.1"])
def test_http_oversized_auction_order_is_422_and_clearing_still_works(qty: str) -> None:
    client, app = _client(EARLY)
    r = client.post("/v1/orders", json={**SDAC_BODY, "quantity_mw": qty}, headers=H_A)
    assert r.status_code == 422 and r.json()["field"] == "quantity_mw", r.text
    body = {**SDAC_BODY, "client_order_id": "s", "side": "sell", "price": "40"}
    assert client.post("/v1/orders", json=body, headers=H_B).status_code == 201
    assert client.post("/v1/orders", json=SDAC_BODY, headers=H_A).status_code == 201
    run = {"market": "EU-SDAC", "product": "H", "day": "2026-03-28"}
    r = client.post("/v1/auctions/run", json=run, headers=H_A)
    assert r.status_code == 200 and r.json()["cleared"], r.text
    assert app.exchange.find_order("alice", "o1").filled_mw == Decimal("1")


def test_http_run_auction_that_cannot_clear_is_422() -> None:
    client, app = _client(EARLY)
    order = client.post("/v1/orders", json=SDAC_BODY, headers=H_A).json()
    ex = app.exchange
    unit = ex._auction_units[order["venue_order_id"]]
    ex._auction_units[order["venue_order_id"]] = dataclasses.replace(unit, lots=3_000_000_000)
    run = {"market": "EU-SDAC", "product": "H", "day": "2026-03-28"}
    r = client.post("/v1/auctions/run", json=run, headers=H_A)
    assert r.status_code == 422 and r.json()["field"] == "day", r.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity_mw", "1.00000000000000000000000000001"),
        ("price", "50.0000000000000000000000000001"),
        ("price", "9E+999999"),
        ("quantity_mw", "9E+999999"),
        ("price", "1E-999999"),
        ("quantity_mw", "1e-50000000"),
        ("price", "1" + "0" * 30),
    ],
)
def test_http_off_grid_and_overflowing_decimals_are_422(field: str, value: str) -> None:
    client, app = _client()
    r = client.post("/v1/orders", json={**SIDC_BODY, field: value}, headers=H_A)
    assert r.status_code == 422 and r.json()["field"] == field, r.text
    assert app.exchange.orders() == []


def test_http_iceberg_clip_overflow_is_422() -> None:
    client, _ = _client()
    body = {**SIDC_BODY, "order_type": "iceberg", "quantity_mw": "2", "clip_mw": "9E+999999"}
    r = client.post("/v1/orders", json=body, headers=H_A)
    assert r.status_code == 422 and r.json()["field"] == "clip_mw", r.text
    body["clip_mw"] = "0.50000000000000000000000000001"
    r = client.post("/v1/orders", json=body, headers=H_A)
    assert r.status_code == 422 and r.json()["field"] == "clip_mw", r.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", "9E+999999"),
        ("price", "50.0000000000000000000000000001"),
        ("quantity_mw", "9E+999999"),
        ("quantity_mw", "1.00000000000000000000000000001"),
        ("quantity_mw", "300000000"),
    ],
)
def test_http_modify_with_bad_decimals_is_422(field: str, value: str) -> None:
    client, _ = _client()
    vid = client.post("/v1/orders", json=SIDC_BODY, headers=H_A).json()["venue_order_id"]
    r = client.patch(f"/v1/orders/{vid}", json={field: value}, headers=H_A)
    assert r.status_code == 422 and r.json()["field"] == field, r.text
    assert client.get(f"/v1/orders/{vid}", headers=H_A).json()["price"] == "50"


@pytest.mark.parametrize(
    "start", ["9999-12-31T12:00:00Z", "0001-01-01T12:00:00Z", "2101-01-01T12:00:00Z"]
)
def test_http_far_delivery_start_is_422(start: str) -> None:
    client, _ = _client()
    r = client.post("/v1/orders", json={**SIDC_BODY, "delivery_start": start}, headers=H_A)
    assert r.status_code == 422 and r.json()["field"] == "delivery_start", r.text


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1989-12-31"])
def test_http_run_auction_far_day_is_422(day: str) -> None:
    client, _ = _client()
    run = {"market": "EU-SDAC", "product": "H", "day": day}
    r = client.post("/v1/auctions/run", json=run, headers=H_A)
    assert r.status_code == 422 and r.json()["field"] == "day", r.text


# ---------------------------------------------------------------------------- feed faults


def test_feed_faults_are_only_used_up_when_they_can_act() -> None:
    client, app = _client()
    app.faults.set(
        [
            FaultSpec(FaultMode.DUPLICATE_FILLS, count=1),
            FaultSpec(FaultMode.OUT_OF_ORDER_FILLS, count=1),
        ]
    )
    assert client.get("/v1/fills", headers=H_A).json()["fills"] == []  # nothing to act on
    assert [s.hits for s in app.faults.specs()] == [0, 0]
    sell = {**SIDC_BODY, "side": "sell", "price": "40"}
    client.post("/v1/orders", json={**sell, "client_order_id": "s1"}, headers=H_A)
    client.post(
        "/v1/orders", json={**SIDC_BODY, "price": "99", "client_order_id": "b1"}, headers=H_B
    )
    fills = client.get("/v1/fills", headers=H_A).json()["fills"]  # one fill: duplicated only
    assert len(fills) == 2 and fills[0] == fills[1]
    assert [s.hits for s in app.faults.specs()] == [1, 0]
    client.post("/v1/orders", json={**sell, "client_order_id": "s2", "price": "41"}, headers=H_A)
    client.post(
        "/v1/orders", json={**SIDC_BODY, "price": "99", "client_order_id": "b2"}, headers=H_B
    )
    fills = client.get("/v1/fills", headers=H_A).json()["fills"]
    assert [f["seq"] for f in fills] == sorted((f["seq"] for f in fills), reverse=True)
    assert len(fills) == 2 and [s.hits for s in app.faults.specs()] == [1, 1]
