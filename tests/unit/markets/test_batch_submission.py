"""Orders sent in batches (``submit_many_with_reconciliation``) against a scripted venue: each
order of a batch follows the single-order procedure from its own answer, a whole batch that is
ambiguous is reconciled order by order without a blind resend, and the batch answer is parsed
strictly (``parse_batch_results``)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.markets.connectors import (
    AmbiguousError,
    NotSentError,
    OrderRequest,
    OrderSide,
    OrderSnapshot,
    OrderState,
    ResilientConnector,
    RetryPolicy,
    SubmissionOutcome,
    VenueRejectedError,
    submit_many_with_reconciliation,
    submit_with_reconciliation,
)
from openvpp.markets.connectors.orders import same_order
from openvpp.markets.connectors.protocol import ConnectorError, batch_limit
from openvpp.markets.connectors.wire import order_request_json, parse_batch_results
from tests.unit.markets.test_connectors import (
    POLICY,
    ScriptedVenue,
    _http,
    no_sleep,
    request,
    snapshot,
    venue_order_json,
)


class BatchVenue(ScriptedVenue):
    """A scripted venue that also takes batches. ``batches`` scripts each batch request:
    ``ok`` (every order entered and answered), ``not_sent``, ``lost`` (nothing entered, the
    answer ambiguous), ``ambiguous`` (all entered, the answer lost), ``refused`` (the request
    refused) or a list with one step per order (``ok``, ``rejected``, ``ambiguous``: entered
    but its answer unreadable, ``other``: answered with another order's snapshot)."""

    def __init__(self, batches: list[Any], *, limit: int = 10, submits: list[str] | None = None):
        super().__init__(submits or [], [])
        self.batches = batches
        self.max_batch_orders = limit
        self.batch_sizes: list[int] = []

    def steps(self, n: int) -> tuple[str, list[str]]:
        """The next batch's step as a whole, and each of its ``n`` orders' steps."""
        step = self.batches.pop(0)
        if isinstance(step, str):
            return step, [step] * n
        return "each", step

    def enter(self, r: OrderRequest) -> OrderSnapshot:
        return self.orders.setdefault(
            r.client_order_id, snapshot(r.client_order_id, f"V-{r.client_order_id}")
        )

    async def submit_orders(
        self, requests: Sequence[OrderRequest]
    ) -> list[OrderSnapshot | ConnectorError]:
        self.batch_sizes.append(len(requests))
        whole, steps = self.steps(len(requests))
        if whole == "not_sent":
            raise NotSentError("venue down, not processed")
        if whole == "lost":
            raise AmbiguousError("timeout")
        if whole == "refused":
            raise VenueRejectedError("no such endpoint", status=404, code="not_found")
        out: list[OrderSnapshot | ConnectorError] = []
        for r, s in zip(requests, steps, strict=True):
            if s == "rejected":
                out.append(VenueRejectedError("bad price", status=422, field="price"))
                continue
            snap = self.enter(r)
            if s == "ok":
                out.append(snap)
            elif s == "other":
                out.append(snapshot("someone-else", "V-x"))
            else:  # "ambiguous" for this order, or the whole answer lost
                out.append(AmbiguousError("unreadable answer"))
        if whole == "ambiguous":
            raise AmbiguousError("reset after send")
        return out


def _submit(venue: Any, n: int) -> list[SubmissionOutcome | Exception]:
    requests = [request(f"c{i}") for i in range(n)]
    return asyncio.run(
        submit_many_with_reconciliation(venue, requests, policy=POLICY, sleep=no_sleep)
    )


def _outcome(result: SubmissionOutcome | Exception) -> SubmissionOutcome:
    assert isinstance(result, SubmissionOutcome), result
    return result


def test_orders_go_in_batches_of_the_venues_size_each_answered() -> None:
    venue = BatchVenue(["ok", "ok"], limit=3, submits=["ok"])
    out = [_outcome(o) for o in _submit(venue, 7)]
    assert venue.batch_sizes == [3, 3] and venue.submit_calls == 1  # the last alone
    assert [o.order.client_order_id for o in out if o.order] == [f"c{i}" for i in range(7)]
    assert all(o.resolved and not o.reconciled and o.submits == 1 for o in out)
    assert out[0].events == ("batch submit acknowledged",)


def test_a_venue_without_batches_gets_one_request_per_order() -> None:
    venue = ScriptedVenue(["ok"] * 4, [])
    assert batch_limit(venue) == 1
    out = [_outcome(o) for o in _submit(venue, 4)]
    assert venue.submit_calls == 4 and all(o.state is OrderState.NEW for o in out)


def test_each_order_of_a_batch_has_its_own_answer() -> None:
    venue = BatchVenue([["ok", "rejected", "ambiguous", "other"]])
    ok, rejected, ambiguous, other = _submit(venue, 4)
    assert _outcome(ok).events == ("batch submit acknowledged",)
    assert isinstance(rejected, VenueRejectedError) and rejected.field == "price"
    # entered, its answer unreadable: found by its client order id, not resent
    found = _outcome(ambiguous)
    assert found.reconciled and found.submits == 1 and found.order is not None
    assert found.events[0] == "batch submit ambiguous: unreadable answer"
    # answered with another order's snapshot: looked up as well (the venue has it)
    assert _outcome(other).order == venue.orders["c3"]
    assert venue.submit_calls == 0 and "c1" not in venue.orders


def test_a_lost_batch_answer_is_reconciled_order_by_order_never_resent() -> None:
    venue = BatchVenue(["ambiguous"])
    out = [_outcome(o) for o in _submit(venue, 5)]
    assert all(o.resolved and o.reconciled and o.submits == 1 for o in out)
    assert venue.submit_calls == 0 and len(venue.orders) == 5


def test_a_batch_that_never_arrived_is_resent_one_order_at_a_time() -> None:
    """Ambiguous, but the venue confirms it has none of the orders: each is resent alone with
    its own client order id (the venue's idempotency key)."""
    venue = BatchVenue(["lost"], submits=["ok"] * 3)
    out = [_outcome(o) for o in _submit(venue, 3)]
    assert all(o.resolved and o.submits == 2 and o.queries == 2 for o in out)
    assert venue.submit_calls == 3 and len(venue.orders) == 3
    assert out[0].events[0] == "batch submit ambiguous: timeout"


def test_a_batch_not_sent_is_not_sent_for_each_order() -> None:
    venue = BatchVenue(["not_sent"])
    out = _submit(venue, 3)
    assert all(isinstance(o, NotSentError) for o in out)
    assert venue.submit_calls == 0 and venue.lookup_calls == 0 and not venue.orders


def test_a_refused_batch_request_falls_back_to_single_orders() -> None:
    venue = BatchVenue(["refused"], submits=["ok", "rejected", "ok"])
    first, second, third = _submit(venue, 3)
    assert _outcome(first).events == ("submit acknowledged",)
    assert isinstance(second, VenueRejectedError)
    assert _outcome(third).resolved and venue.submit_calls == 3


def test_the_resilient_connector_retries_a_batch_not_sent_and_keeps_the_size() -> None:
    venue = BatchVenue(["not_sent", "ok"], limit=4)
    guarded = ResilientConnector(venue, retry=RetryPolicy(attempts=3, initial_s=0.0))  # type: ignore[arg-type]
    assert guarded.max_batch_orders == 4 and batch_limit(guarded) == 4
    out = [_outcome(o) for o in _submit(guarded, 4)]
    assert venue.batch_sizes == [4, 4] and all(o.resolved for o in out)
    plain = ResilientConnector(ScriptedVenue([], []))  # type: ignore[arg-type]
    assert plain.max_batch_orders == 0 and batch_limit(plain) == 1
    with pytest.raises(TypeError):
        asyncio.run(plain.submit_orders([request()]))


# ---------------------------------------------------------------------------- the answer


def _answer(cid: str, status: int = 201) -> dict[str, Any]:
    return {"status": status, "order": venue_order_json(order_request_json(request(cid)))}


def test_parse_batch_results_pairs_each_answer_with_its_order() -> None:
    body = {
        "results": [
            _answer("a"),
            _answer("b", 200),
            {"status": 422, "error": "validation_error", "message": "bad", "field": "price"},
            {"status": 409, "message": "taken"},
            {"status": 503},
            {"status": 201, "order": {"venue_order_id": "V9"}},
            {"status": "201"},
            "junk",
        ]
    }
    a, b, bad, taken, unavailable, partial, text, junk = parse_batch_results(body, 8, "v")
    assert isinstance(a, OrderSnapshot) and a.client_order_id == "a"
    assert isinstance(b, OrderSnapshot) and b.client_order_id == "b"
    assert isinstance(bad, VenueRejectedError) and (bad.status, bad.field) == (422, "price")
    assert isinstance(taken, VenueRejectedError) and taken.code == "rejected"
    for unknown in (unavailable, partial, text, junk):
        assert isinstance(unknown, AmbiguousError) and unknown.venue == "v"
    with pytest.raises(ValueError, match="list of 3"):
        parse_batch_results(body, 3)
    with pytest.raises(ValueError):
        parse_batch_results([], 0)


def test_http_batch_posts_every_order_and_reads_each_answer() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        orders = json.loads(req.content)["orders"]
        return httpx.Response(
            200, json={"results": [_answer(o["client_order_id"]) for o in orders]}
        )

    def short(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"results": []})

    async def go() -> None:
        c = _http(handler, max_batch_orders=3)
        bad = _http(short)
        try:
            answers = await c.submit_orders([request("a"), request("b")])
            assert [a.client_order_id for a in answers if isinstance(a, OrderSnapshot)] == [
                "a",
                "b",
            ]
            with pytest.raises(ValueError, match="1 to 3"):
                await c.submit_orders([request(str(i)) for i in range(4)])
            with pytest.raises(AmbiguousError, match="list of 1"):  # cannot be paired
                await bad.submit_orders([request("a")])
        finally:
            await c.aclose()
            await bad.aclose()

    asyncio.run(go())
    assert [r.url.path for r in seen] == ["/v1/orders/batch"]
    assert [o["client_order_id"] for o in json.loads(seen[0].content)["orders"]] == ["a", "b"]


def test_a_lookup_that_finds_another_body_under_the_id_is_a_conflict() -> None:
    """The venue keeps the first body sent under a client order id: another one found there
    is someone else's order, which the submission must not adopt."""
    venue = ScriptedVenue(["lost"], [])
    venue.orders["c1"] = dataclasses.replace(snapshot("c1"), side=OrderSide.BUY)
    with pytest.raises(VenueRejectedError) as info:
        asyncio.run(submit_with_reconciliation(venue, request(), policy=POLICY, sleep=no_sleep))  # type: ignore[arg-type]
    assert (info.value.status, info.value.field) == (409, "client_order_id")
    assert venue.submit_calls == 1  # not resent either
    same = dataclasses.replace(snapshot("c1"), price=Decimal("50.00"), filled_mw=Decimal(1))
    assert same_order(same, request())
    for change in ({"price": Decimal("50.01")}, {"quantity_mw": Decimal(2)}, {"product": "QH"}):
        assert not same_order(dataclasses.replace(snapshot("c1"), **change), request())


# ---------------------------------------------------------------------------- property


class RandomVenue(BatchVenue):
    """A venue whose every answer is drawn: batches (as a whole: answered order by order, not
    sent, lost, its answer lost after entering some, refused; each order: ok, refused,
    unreadable), single submissions (ok, lost, answer lost, not sent, refused) and lookups (a
    true answer or none). It records each resend of an order it already had (a blind
    resend) and the size of each batch."""

    name = "random"

    def __init__(self, data: st.DataObject, limit: int) -> None:
        super().__init__([], limit=limit)
        self.data = data
        self.tried: set[str] = set()
        self.blind: list[str] = []

    def _sent(self, cids: Sequence[str]) -> None:
        self.blind += [cid for cid in cids if cid in self.tried and cid in self.orders]
        self.tried.update(cids)

    def steps(self, n: int) -> tuple[str, list[str]]:
        wholes = st.sampled_from(["each", "not_sent", "lost", "ambiguous", "refused"])
        each = st.sampled_from(["ok", "rejected", "ambiguous"])
        return self.data.draw(wholes), [self.data.draw(each) for _ in range(n)]

    async def submit_order(self, r: OrderRequest) -> OrderSnapshot:
        self._sent([r.client_order_id])
        step = self.data.draw(st.sampled_from(["ok", "lost", "ambiguous", "not_sent", "rejected"]))
        if step == "not_sent":
            raise NotSentError("down")
        if step == "lost":
            raise AmbiguousError("timeout before the venue")
        if step == "rejected":
            raise VenueRejectedError("bad price", field="price")
        snap = self.enter(r)
        if step == "ambiguous":
            raise AmbiguousError("reset after send")
        return snap

    async def submit_orders(
        self, requests: Sequence[OrderRequest]
    ) -> list[OrderSnapshot | ConnectorError]:
        self._sent([r.client_order_id for r in requests])
        return await super().submit_orders(requests)

    async def get_order(
        self, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot | None:
        if self.data.draw(st.booleans()):
            raise NotSentError("lookup: down")
        return self.orders.get(str(client_order_id))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=st.integers(1, 12), limit=st.integers(1, 5))
def test_whatever_the_venue_answers_no_order_is_resent_blind_or_misreported(
    data: st.DataObject, n: int, limit: int
) -> None:
    """Every order ends acknowledged as the venue has it, refused or not sent without being
    at the venue, or unknown; none is sent again once the venue has it; batches keep the
    venue's size."""
    venue = RandomVenue(data, limit)
    requests = [request(f"c{i}") for i in range(n)]
    out = asyncio.run(
        submit_many_with_reconciliation(venue, requests, policy=POLICY, sleep=no_sleep)  # type: ignore[arg-type]
    )
    assert len(out) == n
    assert venue.blind == []
    assert all(2 <= size <= limit for size in venue.batch_sizes)
    for r, o in zip(requests, out, strict=True):
        cid = r.client_order_id
        if isinstance(o, SubmissionOutcome):
            if o.resolved:
                assert o.order is not None and o.order == venue.orders[cid]
            else:
                assert o.order is None and o.reconciled
        else:
            assert isinstance(o, NotSentError | VenueRejectedError), o
            assert cid not in venue.orders
