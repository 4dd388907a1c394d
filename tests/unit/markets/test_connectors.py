"""Connector framework: breaker states on a fake clock, retries only for NotSentError,
reconciliation with a scripted venue, health tracking, HTTP outcome classification, registry,
fills de-duplication and parallel venue calls."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from openvpp.markets.connectors import (
    AmbiguousError,
    BreakerState,
    CircuitBreaker,
    Fill,
    FillDeduplicator,
    HealthStatus,
    HealthTracker,
    NotSentError,
    OrderKind,
    OrderRequest,
    OrderSide,
    OrderSnapshot,
    OrderState,
    ReconcilePolicy,
    ResilientConnector,
    RetryPolicy,
    StatusChange,
    VenueRejectedError,
    fetch_all_market_data,
    gather_venues,
    retry_not_sent,
    submit_with_reconciliation,
    with_timeout,
)
from openvpp.markets.connectors.http import HttpExchangeConnector
from openvpp.markets.connectors.registry import ConnectorRegistry
from openvpp.markets.connectors.simulated import SimulatedConnector
from openvpp.markets.connectors.wire import parse_order
from openvpp.markets.exchange import SimulatedExchange
from openvpp.markets.presets import load_presets

NOW = datetime(2026, 3, 27, 16, 0, tzinfo=UTC)
START = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.t = NOW

    def now(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


async def no_sleep(_: float) -> None:
    return None


def request(cid: str = "c1") -> OrderRequest:
    return OrderRequest(cid, "EU-SIDC", "H", START, OrderSide.SELL, Decimal("50"), Decimal("1"))


def snapshot(cid: str = "c1", vid: str = "V1") -> OrderSnapshot:
    return OrderSnapshot(
        vid,
        cid,
        "EU-SIDC",
        "H",
        START,
        OrderSide.SELL,
        OrderKind.LIMIT,
        Decimal("50"),
        Decimal("1"),
        Decimal("0"),
        OrderState.NEW,
        True,
    )


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


# ---------------------------------------------------------------------------- breaker


def test_breaker_closed_open_half_open_closed() -> None:
    clock = FakeClock()
    b = CircuitBreaker(failure_threshold=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        b.before_call()
        b.record_failure()
    assert b.state is BreakerState.CLOSED
    b.record_success()  # resets the consecutive count
    for _ in range(3):
        b.before_call()
        b.record_failure()
    assert b.state is BreakerState.OPEN
    with pytest.raises(NotSentError) as info:
        b.before_call()
    assert info.value.breaker_open
    clock.advance(9.9)
    assert b.state is BreakerState.OPEN
    clock.advance(0.1)
    assert b.state is BreakerState.HALF_OPEN
    b.before_call()  # the probe
    with pytest.raises(NotSentError):
        b.before_call()  # only one probe at a time
    b.record_failure()  # failed probe: open again for a full cool-down
    assert b.state is BreakerState.OPEN
    clock.advance(10)
    b.before_call()
    b.record_success()
    assert b.state is BreakerState.CLOSED


def test_breaker_call_counts_venue_failures_not_rejections() -> None:
    b = CircuitBreaker(failure_threshold=2, cooldown_s=5, clock=FakeClock())

    async def rejected() -> None:
        raise VenueRejectedError("no", status=422)

    async def ambiguous() -> None:
        raise AmbiguousError("timeout")

    for _ in range(3):
        with pytest.raises(VenueRejectedError):
            run(b.call(rejected))
    assert b.state is BreakerState.CLOSED
    for _ in range(2):
        with pytest.raises(AmbiguousError):
            run(b.call(ambiguous))
    assert b.state is BreakerState.OPEN


# ---------------------------------------------------------------------------- retries


def _script(*outcomes: BaseException | str) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    calls = [0]
    items = list(outcomes)

    async def fn() -> str:
        calls[0] += 1
        item = items.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    return fn, calls


def test_retry_only_not_sent() -> None:
    fn, calls = _script(NotSentError("refused"), NotSentError("429", retry_after=3), "ok")
    delays: list[float] = []

    async def sleep(d: float) -> None:
        delays.append(d)

    assert run(retry_not_sent(fn, RetryPolicy(attempts=5, initial_s=0.1, jitter_s=0), sleep=sleep))
    assert calls[0] == 3 and delays[0] == pytest.approx(0.1) and delays[1] == pytest.approx(3.0)

    for error in (
        AmbiguousError("reset"),
        VenueRejectedError("bad"),
        NotSentError("open", breaker_open=True),
    ):
        fn, calls = _script(error, "ok")
        with pytest.raises(type(error)):
            run(retry_not_sent(fn, RetryPolicy(attempts=5), sleep=no_sleep))
        assert calls[0] == 1

    fn, calls = _script(*(NotSentError("down") for _ in range(3)))
    with pytest.raises(NotSentError):
        run(retry_not_sent(fn, RetryPolicy(attempts=3), sleep=no_sleep))
    assert calls[0] == 3


def test_retry_leaves_no_reference_cycle_when_the_first_attempt_succeeds() -> None:
    """tenacity's per-call state is a reference cycle: made for every order sent, it kept the
    collector's full passes busy under load. A first attempt that succeeds must not make it."""

    async def ok() -> str:
        return "ok"

    async def main() -> int:
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                assert await retry_not_sent(ok) == "ok"
            return gc.collect()
        finally:
            gc.enable()

    assert asyncio.run(main()) == 0
    fn, calls = _script(NotSentError("down"), "ok")  # a retry still goes through the policy
    assert run(retry_not_sent(fn, RetryPolicy(attempts=2), sleep=no_sleep)) == "ok"
    assert calls[0] == 2
    fn, calls = _script(NotSentError("down"), "ok")
    with pytest.raises(NotSentError):
        run(retry_not_sent(fn, RetryPolicy(attempts=1), sleep=no_sleep))
    assert calls[0] == 1


def test_timeout_is_ambiguous() -> None:
    async def slow() -> None:
        await asyncio.sleep(1)

    with pytest.raises(AmbiguousError, match="within"):
        run(with_timeout(slow(), 0.01))


# ---------------------------------------------------------------------------- reconciliation


class ScriptedVenue:
    """A fake connector: submit and lookup outcomes are scripted; ``orders`` is the venue."""

    name = "scripted"

    def __init__(self, submits: list[str], lookups: list[str]) -> None:
        self.submits, self.lookups = submits, lookups
        self.orders: dict[str, OrderSnapshot] = {}
        self.submit_calls = 0
        self.lookup_calls = 0

    async def submit_order(self, r: OrderRequest) -> OrderSnapshot:
        self.submit_calls += 1
        step = self.submits.pop(0)
        if step == "not_sent":
            raise NotSentError("refused")
        if step == "lost":  # never arrived
            raise AmbiguousError("timeout")
        snap = self.orders.setdefault(r.client_order_id, snapshot(r.client_order_id))
        if step == "ambiguous":  # processed, answer lost
            raise AmbiguousError("reset after send")
        if step == "rejected":
            raise VenueRejectedError("bad price", field="price")
        return snap

    async def get_order(
        self, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot | None:
        self.lookup_calls += 1
        step = self.lookups.pop(0) if self.lookups else "answer"
        if step == "down":
            raise NotSentError("refused")
        if step == "reset":
            raise AmbiguousError("reset")
        if step == "unauthorized":  # e.g. 401 after a key rotation, 403 from a proxy
            raise VenueRejectedError("unauthorized", status=401, code="authentication_failed")
        return self.orders.get(str(client_order_id))


POLICY = ReconcilePolicy(query_attempts=6, initial_s=0.0, not_found_confirmations=2)


def test_ambiguous_submit_resolved_by_query_never_resent() -> None:
    venue = ScriptedVenue(["ambiguous"], ["down", "reset", "answer"])
    out = run(submit_with_reconciliation(venue, request(), policy=POLICY, sleep=no_sleep))  # type: ignore[arg-type]
    assert out.resolved and out.reconciled and out.state is OrderState.NEW
    assert venue.submit_calls == 1 and out.queries == 3
    assert len(venue.orders) == 1


def test_not_found_twice_then_resend_with_same_id() -> None:
    venue = ScriptedVenue(["lost", "ok"], [])
    out = run(submit_with_reconciliation(venue, request(), policy=POLICY, sleep=no_sleep))  # type: ignore[arg-type]
    assert out.resolved and out.submits == 2 and out.queries == 2
    assert any("resending" in e for e in out.events)


def test_unreachable_venue_leaves_the_order_unknown() -> None:
    venue = ScriptedVenue(["ambiguous"], ["down"] * 10)
    out = run(submit_with_reconciliation(venue, request(), policy=POLICY, sleep=no_sleep))  # type: ignore[arg-type]
    assert out.state is OrderState.UNKNOWN and not out.resolved and out.order is None
    assert venue.submit_calls == 1 and out.queries == POLICY.query_attempts


def test_refused_lookup_is_no_answer_and_leaves_the_order_unknown() -> None:
    venue = ScriptedVenue(["ambiguous"], ["unauthorized"] * 10)
    out = run(submit_with_reconciliation(venue, request(), policy=POLICY, sleep=no_sleep))  # type: ignore[arg-type]
    assert out.state is OrderState.UNKNOWN and not out.resolved and out.order is None
    assert venue.submit_calls == 1 and out.queries == POLICY.query_attempts
    assert any("lookup refused (401" in e for e in out.events), out.events
    assert "no answer from the venue: order stays UNKNOWN" in out.events


def test_refused_lookups_do_not_count_as_not_found() -> None:
    # not-found, refused, not-found: the refusal breaks the run of confirmations
    venue = ScriptedVenue(["lost", "ok"], ["answer", "unauthorized", "answer", "answer"])
    out = run(submit_with_reconciliation(venue, request(), policy=POLICY, sleep=no_sleep))  # type: ignore[arg-type]
    assert out.resolved and out.submits == 2 and out.queries == 4
    venue = ScriptedVenue(["ambiguous"], ["unauthorized", "unauthorized", "answer"])
    out = run(submit_with_reconciliation(venue, request(), policy=POLICY, sleep=no_sleep))  # type: ignore[arg-type]
    assert out.resolved and out.state is OrderState.NEW and venue.submit_calls == 1


def test_resends_are_bounded_and_first_not_sent_and_rejections_raise() -> None:
    venue = ScriptedVenue(["lost", "lost", "lost"], [])
    out = run(submit_with_reconciliation(venue, request(), policy=POLICY, sleep=no_sleep))  # type: ignore[arg-type]
    assert out.state is OrderState.UNKNOWN and out.submits == 3
    with pytest.raises(NotSentError):
        run(
            submit_with_reconciliation(
                ScriptedVenue(["not_sent"], []),
                request(),  # type: ignore[arg-type]
                sleep=no_sleep,
            )
        )
    with pytest.raises(VenueRejectedError):
        run(
            submit_with_reconciliation(
                ScriptedVenue(["rejected"], []),
                request(),  # type: ignore[arg-type]
                sleep=no_sleep,
            )
        )


# ---------------------------------------------------------------------------- health


def test_health_tracker_status_history_and_alerts() -> None:
    alerts: list[tuple[str, StatusChange]] = []
    h = HealthTracker("v", clock=FakeClock(), down_after=2, slow_s=1.0, history_size=3)
    h.on_change(lambda name, change: alerts.append((name, change)))
    h.on_change(lambda name, change: 1 / 0)  # a broken sink does not break the tracker
    h.record_success(0.1)
    assert h.status is HealthStatus.UP and alerts == []
    h.record_success(1.5)
    assert h.status is HealthStatus.DEGRADED
    h.record_failure(AmbiguousError("reset"))
    h.record_failure("refused")
    assert h.status is HealthStatus.DOWN and h.last_error == "refused"
    h.record_success(0.2)
    assert h.status is HealthStatus.UP and h.latency_s == 0.2
    assert [(c.old.value, c.new.value) for c in h.history] == [
        ("up", "degraded"),
        ("degraded", "down"),
        ("down", "up"),
    ]
    assert [c.new for _, c in alerts] == [HealthStatus.DEGRADED, HealthStatus.DOWN, HealthStatus.UP]
    assert len(h.history) == 3 and all(name == "v" for name, _ in alerts)


# ---------------------------------------------------------------------------- HTTP mapping


def _http(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> HttpExchangeConnector:
    return HttpExchangeConnector(
        "http://venue.test", "k", transport=httpx.MockTransport(handler), **kw
    )


def _order_body(req: httpx.Request) -> dict[str, Any]:
    return venue_order_json(json.loads(req.content))


def venue_order_json(body: dict[str, Any]) -> dict[str, Any]:
    """The venue's JSON of an order posted as ``body``."""
    return {
        **body,
        "venue_order_id": "V1",
        "delivery_end": START.isoformat(),
        "filled_mw": "0",
        "status": "new",
        "active": True,
        "created_at": NOW.isoformat(),
        "updated_at": NOW.isoformat(),
    }


def _raise(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(req: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        (_raise(httpx.ConnectError("refused")), NotSentError),
        (_raise(httpx.ConnectTimeout("slow connect")), NotSentError),
        (_raise(httpx.ReadTimeout("slow answer")), AmbiguousError),
        (_raise(httpx.RemoteProtocolError("closed")), AmbiguousError),
        (_raise(httpx.ReadError("reset")), AmbiguousError),
        (lambda r: httpx.Response(429, headers={"Retry-After": "2"}), NotSentError),
        (lambda r: httpx.Response(503, headers={"X-Request-Processed": "false"}), NotSentError),
        (lambda r: httpx.Response(503), AmbiguousError),
        (lambda r: httpx.Response(500, json={}), AmbiguousError),
        (lambda r: httpx.Response(307, headers={"Location": "http://evil.test/"}), AmbiguousError),
        (lambda r: httpx.Response(201, content=b'{"venue_order_id": '), AmbiguousError),
        (lambda r: httpx.Response(201, json={"venue_order_id": "V1"}), AmbiguousError),
        (lambda r: httpx.Response(201, content=b"x" * 5000), AmbiguousError),
        (
            lambda r: httpx.Response(
                422, json={"error": "validation_error", "message": "price", "field": "price"}
            ),
            VenueRejectedError,
        ),
        (lambda r: httpx.Response(409, content=b"conflict"), VenueRejectedError),
    ],
)
def test_http_outcomes_map_to_error_classes(
    handler: Callable[[httpx.Request], httpx.Response], error: type[Exception]
) -> None:
    async def go() -> None:
        c = _http(handler, max_response_bytes=1000)
        try:
            with pytest.raises(error):
                await c.submit_order(request())
        finally:
            await c.aclose()

    asyncio.run(go())


def test_http_success_lookup_not_found_and_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        if req.method == "POST":
            return httpx.Response(201, json=_order_body(req))
        return httpx.Response(404, json={"error": "not_found", "message": "no", "field": None})

    async def go() -> None:
        c = _http(handler)
        try:
            snap = await c.submit_order(request())
            assert snap.venue_order_id == "V1" and snap.price == Decimal("50")
            assert await c.get_order(client_order_id="c1") is None
            with pytest.raises(ValueError):
                await c.get_order()
        finally:
            await c.aclose()

    asyncio.run(go())
    assert seen[0].headers["X-API-Key"] == "k"
    assert json.loads(seen[0].content)["price"] == "50"
    assert seen[1].url.params["client_order_id"] == "c1"


@pytest.mark.parametrize(
    ("time_value", "detail"),
    [
        ("yesterday", "time"),
        ("2026-03-27T16:00:00", "time"),  # naive: not a UTC instant
        ("2026-13-45T99:00:00Z", "time"),
    ],
)
def test_http_health_reports_a_malformed_time_instead_of_raising(
    time_value: str, detail: str
) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "ok", "time": time_value})

    async def go() -> None:
        c = _http(handler)
        guarded = ResilientConnector(_http(handler))
        try:
            h = await c.health()
            assert not h.ok and h.reachable and h.venue_time is None
            assert detail in h.detail
            r = await guarded.health()
            assert not r.ok and r.reachable
        finally:
            await c.aclose()
            await guarded.aclose()

    asyncio.run(go())


def test_http_health_reads_a_valid_time() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "ok", "time": "2026-03-27T17:00:00+01:00"})

    async def go() -> None:
        c = _http(handler)
        try:
            h = await c.health()
            assert h.ok and h.venue_time == NOW and h.venue_time.tzinfo is not None
        finally:
            await c.aclose()

    asyncio.run(go())


@pytest.mark.parametrize("active", ["false", "true", 0, 1, None, "missing"])
def test_parse_order_needs_a_json_boolean_active(active: object) -> None:
    body = {
        "venue_order_id": "V1",
        "client_order_id": "c1",
        "market": "EU-SIDC",
        "product": "H",
        "delivery_start": START.isoformat(),
        "delivery_end": START.isoformat(),
        "side": "sell",
        "order_type": "limit",
        "price": "50",
        "quantity_mw": "1",
        "clip_mw": None,
        "filled_mw": "0",
        "status": "new",
        "active": active,
        "created_at": NOW.isoformat(),
        "updated_at": NOW.isoformat(),
    }
    if active == "missing":
        del body["active"]
    with pytest.raises(ValueError, match="active"):
        parse_order(body)
    assert parse_order({**body, "active": False}).active is False
    assert parse_order({**body, "active": True}).active is True


# ---------------------------------------------------------------------------- simulated, registry


@pytest.fixture
def exchange() -> SimulatedExchange:
    clock = FakeClock()
    return SimulatedExchange(load_presets(), clock, api_keys={"ka": "a", "kb": "b"})


def test_simulated_connector_through_registry(exchange: SimulatedExchange) -> None:
    registry = ConnectorRegistry(exchange=exchange)
    a = registry.build("simulated", credentials={"api_key": "ka"})
    b = registry.build("simulated", credentials={"api_key": "kb"}, options={"name": "sim-b"})
    assert b.name == "sim-b"

    async def go() -> None:
        s = await a.submit_order(request("s"))
        buy = OrderRequest("b", "EU-SIDC", "H", START, OrderSide.BUY, Decimal("51"), Decimal("1"))
        assert (await b.submit_order(buy)).state is OrderState.FILLED
        assert (await a.get_order(venue_order_id=s.venue_order_id)).state is OrderState.FILLED  # type: ignore[union-attr]
        assert await a.get_order(client_order_id="nope") is None
        page = await a.fetch_fills(0)
        assert len(page.fills) == 1 and page.fills[0].price == Decimal("50.00")
        with pytest.raises(VenueRejectedError) as info:
            await a.cancel_order(s.venue_order_id)
        assert info.value.status == 409
        with pytest.raises(VenueRejectedError) as info:
            await a.submit_order(
                OrderRequest(
                    "x", "EU-SIDC", "H", START, OrderSide.BUY, Decimal("5.001"), Decimal("1")
                )
            )
        assert info.value.field == "price"
        assert (await a.health()).ok
        points = await a.fetch_market_data("EU-SIDC", "H", START, START + timedelta(hours=1))
        assert points[0].price == Decimal("50.00")
        assert not (await a.fetch_results("EU-SDAC", "QH", date(2026, 3, 29))).cleared
        await a.aclose()

    asyncio.run(go())


def test_registry_errors_name_the_field(exchange: SimulatedExchange) -> None:
    registry = ConnectorRegistry(exchange=exchange)
    with pytest.raises(ValueError, match="kind 'nope'"):
        registry.build("nope")
    with pytest.raises(ValueError, match=r"credentials\.api_key"):
        registry.build("simulated")
    with pytest.raises(ValueError, match=r"credentials\.api_key"):
        registry.build("simulated", credentials={"api_key": "unknown"})
    with pytest.raises(ValueError, match="exchange"):
        ConnectorRegistry().build("simulated", credentials={"api_key": "ka"})
    with pytest.raises(ValueError, match="base_url"):
        registry.build("openvpp-exchange", credentials={"api_key": "k"})
    with pytest.raises(ValueError, match=r"options\.timeout_s"):
        registry.build(
            "openvpp-exchange",
            base_url="http://x",
            credentials={"api_key": "k"},
            options={"timeout_s": "soon"},
        )
    with pytest.raises(ValueError, match=r"options\.colour"):
        registry.build(
            "openvpp-exchange",
            base_url="http://x",
            credentials={"api_key": "k"},
            options={"colour": 1},
        )
    for batch in (0, 101):  # the exchange takes 1 to 100 orders per batch
        with pytest.raises(ValueError, match=r"options\.max_batch_orders"):
            registry.build(
                "openvpp-exchange",
                base_url="http://x",
                credentials={"api_key": "k"},
                options={"max_batch_orders": batch},
            )
    http = registry.build(
        "openvpp-exchange",
        base_url="http://x",
        credentials={"api_key": "k"},
        options={"timeout_s": 3, "max_response_bytes": 1000, "max_batch_orders": 100},
    )
    assert isinstance(http, HttpExchangeConnector) and http.max_response_bytes == 1000
    assert http.max_batch_orders == 100
    asyncio.run(http.aclose())
    registry.register("custom", lambda url, cred, opt: SimulatedConnector(exchange, "ka"))
    assert "custom" in registry.kinds()
    with pytest.raises(ValueError):
        registry.register("custom", lambda url, cred, opt: SimulatedConnector(exchange, "ka"))


def test_resilient_connector_retries_not_sent_and_tracks_health(
    exchange: SimulatedExchange,
) -> None:
    inner = SimulatedConnector(exchange, "ka")
    failures = [NotSentError("refused"), NotSentError("refused")]
    original = inner.submit_order

    async def flaky(r: OrderRequest) -> OrderSnapshot:
        if failures:
            raise failures.pop(0)
        return await original(r)

    inner.submit_order = flaky  # type: ignore[method-assign]
    c = ResilientConnector(inner, retry=RetryPolicy(attempts=3), sleep=no_sleep)
    snap = asyncio.run(c.submit_order(request("r")))
    assert snap.client_order_id == "r" and len(exchange.orders()) == 1
    assert c.health_tracker.status is HealthStatus.UP
    assert [h.new for h in c.health_tracker.history] == [HealthStatus.DEGRADED, HealthStatus.UP]


# ---------------------------------------------------------------------------- fills, parallel


def _fill(seq: int, trade: str) -> Fill:
    return Fill(
        seq,
        trade,
        "V1",
        "c1",
        "EU-SIDC",
        "H",
        START,
        OrderSide.BUY,
        Decimal("1"),
        Decimal("1"),
        NOW,
    )


def test_fill_deduplicator_orders_and_drops_repeats() -> None:
    d = FillDeduplicator(max_remembered=10)
    assert [f.seq for f in d.accept([_fill(3, "T3"), _fill(1, "T1"), _fill(3, "T3")])] == [1, 3]
    assert d.accept([_fill(1, "T1"), _fill(2, "T2")]) == [_fill(2, "T2")]
    assert d.cursor == 3 and d.duplicates == 2


def test_gather_venues_isolates_errors_and_timeouts(exchange: SimulatedExchange) -> None:
    async def ok() -> int:
        return 1

    async def boom() -> int:
        raise NotSentError("down")

    async def slow() -> int:
        await asyncio.sleep(5)
        return 3

    async def go() -> None:
        out = await gather_venues({"a": ok, "b": boom, "c": slow}, timeout_s=0.05)
        assert out["a"].value == 1 and out["a"].ok
        assert isinstance(out["b"].error, NotSentError)
        assert isinstance(out["c"].error, AmbiguousError)
        sim = SimulatedConnector(exchange, "ka")
        data = await fetch_all_market_data(
            {"sim": sim}, "EU-SIDC", "H", START, START + timedelta(hours=1), timeout_s=1
        )
        assert data["sim"].ok and data["sim"].value == []

    asyncio.run(go())


def test_order_request_needs_utc_and_valid_id() -> None:
    with pytest.raises(ValueError, match="delivery_start"):
        OrderRequest(
            "c", "M", "P", START.replace(tzinfo=None), OrderSide.BUY, Decimal(1), Decimal(1)
        )
    with pytest.raises(ValueError, match="client_order_id"):
        OrderRequest("", "M", "P", START, OrderSide.BUY, Decimal(1), Decimal(1))
