"""Orders cancelled in batches (``cancel_many``) against a scripted venue: the orders with a
venue order id go in requests of the venue's size, at most ``concurrency`` in flight; each
order's outcome is its own answer (a refused one looked up, as alone); the others go alone,
looked up by client order id first; the batch answer is parsed strictly."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import httpx

from openvpp.markets.connectors import (
    AmbiguousError,
    NotSentError,
    OrderSnapshot,
    OrderState,
    ResilientConnector,
    VenueRejectedError,
)
from openvpp.markets.connectors.orders import CancelAnswer, CancelKey, cancel_many
from openvpp.markets.connectors.protocol import ConnectorError, cancel_limit
from openvpp.markets.connectors.wire import order_request_json, parse_cancel_results
from tests.unit.markets.test_connectors import (
    _http,
    request,
    run,
    snapshot,
    venue_order_json,
)


class SingleVenue:
    """A venue holding ``n`` active orders ``V-i`` (client ids ``c-i``), cancelling one order
    per request; each request takes ``delay_s``, and the most requests at once are counted."""

    name = "scripted"

    def __init__(self, n: int, *, delay_s: float = 0.0) -> None:
        self.orders = {f"V-{i}": snapshot(f"c-{i}", f"V-{i}") for i in range(n)}
        self.delay_s = delay_s
        self.singles: list[str] = []
        self.lookups: list[tuple[str | None, str | None]] = []
        self.now = self.most = 0

    async def _request(self) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(self.delay_s)
        self.now -= 1

    def _cancel(self, venue_id: str) -> OrderSnapshot:
        order = self.orders.get(venue_id)
        if order is None:
            raise VenueRejectedError("no such order", status=404, code="not_found")
        if not order.active:
            raise VenueRejectedError("not active", status=409, code="conflict")
        self.orders[venue_id] = dataclasses.replace(order, state=OrderState.CANCELLED, active=False)
        return self.orders[venue_id]

    async def cancel_order(self, venue_order_id: str) -> OrderSnapshot:
        self.singles.append(venue_order_id)
        await self._request()
        return self._cancel(venue_order_id)

    async def get_order(
        self, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot | None:
        self.lookups.append((venue_order_id, client_order_id))
        await self._request()
        if venue_order_id is not None:
            return self.orders.get(venue_order_id)
        return next((o for o in self.orders.values() if o.client_order_id == client_order_id), None)


class BatchVenue(SingleVenue):
    """A :class:`SingleVenue` that also cancels batches of up to ``limit``; ``fail`` scripts
    whole requests to raise before anything is cancelled, ``lost`` after every cancellation
    was done (by request number)."""

    def __init__(self, n: int, *, limit: int, delay_s: float = 0.0) -> None:
        super().__init__(n, delay_s=delay_s)
        self.max_batch_cancels = limit
        self.batches: list[list[str]] = []
        self.fail: dict[int, Exception] = {}
        self.lost: set[int] = set()

    async def cancel_orders(
        self, venue_order_ids: Sequence[str]
    ) -> list[OrderSnapshot | ConnectorError]:
        assert 0 < len(venue_order_ids) <= self.max_batch_cancels
        self.batches.append(list(venue_order_ids))
        await self._request()
        failure = self.fail.get(len(self.batches) - 1)
        if failure is not None:
            raise failure
        out: list[OrderSnapshot | ConnectorError] = []
        for venue_id in venue_order_ids:
            try:
                out.append(self._cancel(venue_id))
            except VenueRejectedError as exc:
                out.append(exc)
        if len(self.batches) - 1 in self.lost:
            raise AmbiguousError("the answer was lost")
        return out


def _keys(n: int) -> list[CancelKey]:
    return [(f"V-{i}", f"c-{i}") for i in range(n)]


def _cancel(
    venue: Any, keys: list[CancelKey], concurrency: int = 32, attempts: int = 2
) -> list[CancelAnswer]:
    return run(cancel_many(venue, keys, concurrency=concurrency, attempts=attempts))


def _cancelled(answer: CancelAnswer, venue_id: str) -> bool:
    return (
        isinstance(answer, OrderSnapshot)
        and answer.venue_order_id == venue_id
        and answer.state is OrderState.CANCELLED
    )


def test_orders_go_in_batches_of_the_venues_size_each_answered() -> None:
    venue = BatchVenue(23, limit=10)
    answers = _cancel(venue, _keys(23))
    assert [len(b) for b in venue.batches] == [10, 10, 3] and venue.singles == []
    assert all(_cancelled(a, f"V-{i}") for i, a in enumerate(answers))
    assert sum(b.count(f"V-{i}") for b in venue.batches for i in range(23)) == 23  # each once


def test_a_venue_without_batches_gets_one_request_per_order() -> None:
    venue = SingleVenue(7)
    assert cancel_limit(venue) == 1
    answers = _cancel(venue, _keys(7))
    assert sorted(venue.singles) == sorted(f"V-{i}" for i in range(7))
    assert all(_cancelled(a, f"V-{i}") for i, a in enumerate(answers))


def test_an_order_without_a_venue_id_is_looked_up_and_cancelled_alone() -> None:
    venue = BatchVenue(3, limit=10)
    keys: list[CancelKey] = [("V-0", "c-0"), (None, "c-1"), (None, "c-9"), ("V-2", "c-2")]
    first, found, unknown, last = _cancel(venue, keys)
    assert venue.batches == [["V-0", "V-2"]]
    assert venue.lookups == [(None, "c-1"), (None, "c-9")] and venue.singles == ["V-1"]
    assert _cancelled(first, "V-0") and _cancelled(found, "V-1") and _cancelled(last, "V-2")
    assert unknown is None  # the venue does not have it: the order stays flagged


def test_a_refused_cancellation_is_answered_by_what_the_order_is_now() -> None:
    venue = BatchVenue(3, limit=10)
    filled = dataclasses.replace(venue.orders["V-1"], state=OrderState.FILLED, active=False)
    venue.orders["V-1"] = filled
    first, now, last = _cancel(venue, _keys(3))
    assert venue.lookups == [("V-1", None)]
    assert now == filled and _cancelled(first, "V-0") and _cancelled(last, "V-2")


def test_a_failed_request_is_each_of_its_orders_outcome_and_no_other() -> None:
    venue = BatchVenue(6, limit=3)
    venue.fail[0] = AmbiguousError("answer lost")
    answers = _cancel(venue, _keys(6), concurrency=1, attempts=1)  # one request at a time
    assert all(isinstance(a, AmbiguousError) for a in answers[:3])
    assert all(_cancelled(a, f"V-{i}") for i, a in enumerate(answers) if i >= 3)
    assert venue.orders["V-0"].active  # the venue never got it
    not_sent = BatchVenue(2, limit=3)
    not_sent.fail[0] = NotSentError("down")
    assert all(isinstance(a, NotSentError) for a in _cancel(not_sent, _keys(2)))


def test_an_ambiguous_cancellation_is_asked_again_once() -> None:
    """Lost before the venue acted: the second request cancels; lost after: the second is
    refused (no longer active) and the lookup finds the order cancelled. Ambiguous both
    times: the order's answer stays ambiguous (it stays flagged for the reconciler)."""
    before = BatchVenue(6, limit=3)
    before.fail[0] = AmbiguousError("timeout")
    answers = _cancel(before, _keys(6), concurrency=1)
    assert before.batches == [["V-0", "V-1", "V-2"], ["V-3", "V-4", "V-5"], ["V-0", "V-1", "V-2"]]
    assert all(_cancelled(a, f"V-{i}") for i, a in enumerate(answers))
    after = BatchVenue(3, limit=3)
    after.lost.add(0)
    answers = _cancel(after, _keys(3))
    assert len(after.batches) == 2 and len(after.lookups) == 3
    assert all(_cancelled(a, f"V-{i}") for i, a in enumerate(answers))
    twice = BatchVenue(3, limit=3)
    twice.fail.update({0: AmbiguousError("timeout"), 1: AmbiguousError("timeout")})
    assert all(isinstance(a, AmbiguousError) for a in _cancel(twice, _keys(3)))
    assert len(twice.batches) == 2  # two rounds in all, not more


def test_at_most_concurrency_requests_are_in_flight() -> None:
    venue = BatchVenue(100, limit=5, delay_s=0.01)
    answers = _cancel(venue, _keys(100), concurrency=4)
    assert len(venue.batches) == 20 and 2 <= venue.most <= 4, venue.most
    assert all(_cancelled(a, f"V-{i}") for i, a in enumerate(answers))
    single = SingleVenue(20, delay_s=0.01)
    _cancel(single, _keys(20), concurrency=4)
    assert 2 <= single.most <= 4, single.most


def test_one_semaphore_caps_the_requests_to_several_venues_together() -> None:
    """The kill switch cancels each connection's orders in its own call, all at once: a
    shared semaphore keeps their requests in flight together within the limit."""
    venues = [SingleVenue(12, delay_s=0.01) for _ in range(3)]
    flight = {"now": 0, "most": 0}

    def counted(venue: SingleVenue) -> None:
        inner = venue._request

        async def request() -> None:
            flight["now"] += 1
            flight["most"] = max(flight["most"], flight["now"])
            try:
                await inner()
            finally:
                flight["now"] -= 1

        venue._request = request  # type: ignore[method-assign]

    for venue in venues:
        counted(venue)

    async def main() -> list[list[CancelAnswer]]:
        gate = asyncio.Semaphore(4)
        return await asyncio.gather(
            *(cancel_many(v, _keys(12), concurrency=gate) for v in venues)  # type: ignore[arg-type]
        )

    results = run(main())
    assert 2 <= flight["most"] <= 4, flight
    assert all(_cancelled(a, f"V-{i}") for answers in results for i, a in enumerate(answers))


def test_the_resilient_connector_cancels_batches_of_its_inner_size() -> None:
    assert cancel_limit(ResilientConnector(BatchVenue(1, limit=7))) == 7  # type: ignore[arg-type]
    assert cancel_limit(ResilientConnector(SingleVenue(1))) == 1  # type: ignore[arg-type]
    venue = BatchVenue(9, limit=4)
    answers = run(
        cancel_many(ResilientConnector(venue), _keys(9), concurrency=2)  # type: ignore[arg-type]
    )
    assert [len(b) for b in venue.batches] == [4, 4, 1]
    assert all(_cancelled(a, f"V-{i}") for i, a in enumerate(answers))


def _result(venue_id: str, status: int = 200) -> dict[str, Any]:
    order = venue_order_json(order_request_json(request()))
    return {"status": status, "order": {**order, "venue_order_id": venue_id}}


def test_parse_cancel_results_pairs_each_answer_with_its_order() -> None:
    body = {
        "results": [
            _result("V-1"),
            {"status": 409, "error": "conflict", "message": "not active", "field": "state"},
            _result("V-9"),  # about another order than the one asked about
            {"status": 503},
        ]
    }
    ok, refused, other, failed = parse_cancel_results(body, ["V-1", "V-2", "V-3", "V-4"], "v")
    assert isinstance(ok, OrderSnapshot) and ok.venue_order_id == "V-1"
    assert isinstance(refused, VenueRejectedError) and refused.status == 409
    assert isinstance(other, AmbiguousError) and "V-9" in other.message
    assert isinstance(failed, AmbiguousError)


def test_http_batch_cancellation_posts_the_ids_and_reads_each_answer() -> None:
    seen: list[Any] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append((req.method, req.url.path, json.loads(req.content)))
        return httpx.Response(200, json={"results": [_result("V-1"), _result("V-2")]})

    c = _http(handler, max_batch_orders=2)
    assert cancel_limit(c) == 2
    answers = run(c.cancel_orders(["V-1", "V-2"]))
    assert seen == [("POST", "/v1/orders/cancel", {"venue_order_ids": ["V-1", "V-2"]})]
    assert [a.venue_order_id for a in answers if isinstance(a, OrderSnapshot)] == ["V-1", "V-2"]
