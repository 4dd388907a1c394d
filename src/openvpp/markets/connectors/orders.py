"""Safe order submission: an ambiguous outcome is reconciled by querying, never resent blind.

Procedure of :func:`submit_with_reconciliation` (RELIABILITY item 6; the caller has already
stored the order with its ``client_order_id`` before calling, so a crash leaves a record to
reconcile on start-up):

1. Submit. A snapshot is the answer. ``VenueRejectedError`` is final (raised).
   ``NotSentError`` on the first submit means the venue provably has not got it: raised for
   the caller to retry (a :class:`~openvpp.markets.connectors.guarded.ResilientConnector`
   already retries it). On a resend it leaves the order UNKNOWN.
2. ``AmbiguousError``: the order is **UNKNOWN**. Query the venue by ``client_order_id``,
   with exponential backoff while the venue gives no answer (``NotSentError`` /
   ``AmbiguousError`` on the query, or ``VenueRejectedError``: a refused *lookup*, e.g. 401
   after a key rotation or 403 from a proxy, says nothing about the order), up to
   ``query_attempts``.
3. Found: that is the order (reconciled), if it is the order requested (:func:`same_order`). Not
   resent. An order with another body under the id is someone else's: the venue refused (or
   will refuse) ours as a conflict (``VenueRejectedError``, 409).
4. The venue answers "not found" ``not_found_confirmations`` times in a row: it provably has
   not got the order, so the same request is submitted again (at most ``max_resends``
   times). This is safe even if the first request arrives late: the venue treats the
   ``client_order_id`` as an idempotency key and returns the existing order.
5. No answer after all queries (or resends spent): the outcome stays UNKNOWN
   (``resolved`` False); it is never made final without venue evidence. Only a refusal of
   the *submit* itself is final.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from openvpp.markets.connectors.parallel import settled
from openvpp.markets.connectors.protocol import (
    AmbiguousError,
    BatchCanceller,
    BatchSubmitter,
    ConnectorError,
    NotSentError,
    OrderRequest,
    OrderSnapshot,
    OrderState,
    VenueConnector,
    VenueRejectedError,
    batch_limit,
    cancel_limit,
)

__all__ = [
    "CancelAnswer",
    "CancelKey",
    "ReconcilePolicy",
    "SubmissionOutcome",
    "cancel_many",
    "cancel_one",
    "find_order",
    "same_order",
    "submit_many_with_reconciliation",
    "submit_with_reconciliation",
    "taken",
]

Sleep = Callable[[float], Awaitable[None]]
CancelKey = tuple[str | None, str]
"""An order to cancel: its venue order id (``None``: not known yet) and client order id."""
CancelAnswer = OrderSnapshot | Exception | None
"""A cancellation's outcome: the order afterwards, the error it ended with, or ``None`` (the
venue does not have the order)."""


@dataclass(frozen=True, slots=True)
class ReconcilePolicy:
    """Query ``query_attempts`` times with delays [s] from ``initial_s`` doubling up to
    ``max_s``; resend at most ``max_resends`` times after confirmed not-found answers."""

    query_attempts: int = 8
    initial_s: float = 0.05
    max_s: float = 2.0
    not_found_confirmations: int = 2
    max_resends: int = 2


@dataclass(frozen=True, slots=True)
class SubmissionOutcome:
    """``state`` UNKNOWN means unresolved (keep reconciling); ``submits`` counts submit
    requests sent, ``queries`` the lookups, ``events`` what happened in order."""

    state: OrderState
    order: OrderSnapshot | None
    submits: int
    queries: int
    reconciled: bool
    events: tuple[str, ...]

    @property
    def resolved(self) -> bool:
        return self.state is not OrderState.UNKNOWN


def same_order(found: OrderSnapshot, request: OrderRequest) -> bool:
    """Whether the venue's ``found`` order is the one ``request`` entered: the venue keeps the
    first body sent under a client order id and refuses another (409)."""

    def key(o: OrderSnapshot | OrderRequest) -> tuple[object, ...]:
        return (
            o.client_order_id,
            o.market,
            o.product,
            o.delivery_start,
            o.side,
            o.order_type,
            o.price,
            o.quantity_mw,
        )

    return key(found) == key(request)


def taken(found: OrderSnapshot, venue: str) -> VenueRejectedError:
    """The refusal an order meets when the venue holds another order (``found``) under its
    client order id."""
    return VenueRejectedError(
        f"the venue holds another order ({found.venue_order_id}) under client_order_id "
        f"{found.client_order_id!r}",
        venue=venue,
        status=409,
        code="client_order_id_taken",
        field="client_order_id",
    )


async def find_order(
    connector: VenueConnector,
    client_order_id: str,
    policy: ReconcilePolicy,
    sleep: Sleep = asyncio.sleep,
    events: list[str] | None = None,
) -> tuple[OrderSnapshot | None, bool, int]:
    """Look the order up by ``client_order_id``: ``(order, venue_answered, queries)``.

    ``order`` None with ``venue_answered`` True: the venue confirmed
    ``not_found_confirmations`` times in a row that it does not know the id. A refused lookup
    (``VenueRejectedError``) counts as no answer, like an unreachable venue, and is appended
    to ``events`` when given.
    """
    queries = 0
    not_found = 0
    delay = policy.initial_s
    for _ in range(policy.query_attempts):
        queries += 1
        try:
            found = await connector.get_order(client_order_id=client_order_id)
        except (NotSentError, AmbiguousError):
            not_found = 0
        except VenueRejectedError as exc:
            not_found = 0
            if events is not None:
                events.append(f"lookup refused ({exc.status} {exc.code}): {exc.message}")
        else:
            if found is not None:
                return found, True, queries
            not_found += 1
            if not_found >= policy.not_found_confirmations:
                return None, True, queries
        await sleep(delay)
        delay = min(delay * 2, policy.max_s)
    return None, False, queries


async def submit_with_reconciliation(
    connector: VenueConnector,
    request: OrderRequest,
    *,
    policy: ReconcilePolicy | None = None,
    sleep: Sleep = asyncio.sleep,
) -> SubmissionOutcome:
    """Submit ``request`` and resolve an ambiguous outcome by querying (module docstring)."""
    try:
        order = await connector.submit_order(request)
    except AmbiguousError as exc:
        first = f"submit ambiguous: {exc.message}"
        return await _reconcile(connector, request, policy or ReconcilePolicy(), sleep, first)
    return SubmissionOutcome(order.state, order, 1, 0, False, ("submit acknowledged",))


async def submit_many_with_reconciliation(
    connector: VenueConnector,
    requests: Sequence[OrderRequest],
    *,
    policy: ReconcilePolicy | None = None,
    sleep: Sleep = asyncio.sleep,
) -> list[SubmissionOutcome | Exception]:
    """:func:`submit_with_reconciliation` for several orders: each one's outcome, or the error
    it raised, in the order given.

    A venue that takes batches (:class:`~.protocol.BatchSubmitter`) gets them in requests of
    up to its ``max_batch_orders``, sent concurrently; any other venue one request per order,
    also concurrently. Each order of a batch then follows the single procedure from its first
    answer: acknowledged, refused, or ambiguous, when it is looked up by ``client_order_id``
    and resent alone only once the venue confirms it has not got it. A whole batch that is
    ambiguous makes each of its orders ambiguous; one not sent is not sent for each of them
    (``NotSentError``); one refused as a request (none processed: a venue without the batch
    endpoint, say) is sent again one order per request.
    """
    p = policy or ReconcilePolicy()
    limit = batch_limit(connector)
    if limit < 2 or len(requests) < 2:
        chunks = [[r] for r in requests]
    else:
        chunks = [list(requests[i : i + limit]) for i in range(0, len(requests), limit)]

    async def one(request: OrderRequest) -> SubmissionOutcome:
        return await submit_with_reconciliation(connector, request, policy=p, sleep=sleep)

    async def chunk_of(chunk: list[OrderRequest]) -> list[SubmissionOutcome | Exception]:
        if len(chunk) == 1:
            return await settled([one(chunk[0])])
        assert isinstance(connector, BatchSubmitter)
        try:
            answers = await connector.submit_orders(chunk)
        except NotSentError as exc:
            return [exc for _ in chunk]
        except VenueRejectedError:  # the request refused, no order processed
            return await settled([one(r) for r in chunk])
        except AmbiguousError as exc:
            answers = [exc for _ in chunk]
        return await settled(
            [_answered(connector, r, a, p, sleep) for r, a in zip(chunk, answers, strict=True)]
        )

    done = await asyncio.gather(*(chunk_of(c) for c in chunks))
    return [outcome for chunk in done for outcome in chunk]


async def _answered(
    connector: VenueConnector,
    request: OrderRequest,
    answer: OrderSnapshot | ConnectorError,
    policy: ReconcilePolicy,
    sleep: Sleep,
) -> SubmissionOutcome:
    """One order of a batch from its own answer in the batch."""
    if isinstance(answer, OrderSnapshot):
        if answer.client_order_id == request.client_order_id:
            events = ("batch submit acknowledged",)
            return SubmissionOutcome(answer.state, answer, 1, 0, False, events)
        first = f"batch answer for another order ({answer.client_order_id!r})"
        return await _reconcile(connector, request, policy, sleep, first)
    if isinstance(answer, AmbiguousError):
        first = f"batch submit ambiguous: {answer.message}"
        return await _reconcile(connector, request, policy, sleep, first)
    raise answer  # refused (VenueRejectedError), as a single submission's refusal


async def _reconcile(
    connector: VenueConnector,
    request: OrderRequest,
    policy: ReconcilePolicy,
    sleep: Sleep,
    first: str,
) -> SubmissionOutcome:
    """Steps 2-5 after a first submit whose outcome is unknown (``first`` says why)."""
    events: list[str] = [first]
    submits, queries, resends = 1, 0, 0
    while True:
        found, answered, n = await find_order(
            connector, request.client_order_id, policy, sleep, events
        )
        queries += n
        if found is not None:
            if not same_order(found, request):
                raise taken(found, connector.name)
            events.append(f"found by client_order_id as {found.venue_order_id}")
            return SubmissionOutcome(found.state, found, submits, queries, True, tuple(events))
        if not answered:
            events.append("no answer from the venue: order stays UNKNOWN")
            break
        if resends >= policy.max_resends:
            events.append("not found and resends spent: order stays UNKNOWN")
            break
        resends += 1
        events.append("venue confirms it has no such order: resending (idempotent id)")
        submits += 1
        try:
            order = await connector.submit_order(request)
        except AmbiguousError as exc:
            events.append(f"submit ambiguous: {exc.message}")
        except NotSentError as exc:
            events.append(f"resend not sent ({exc.message}): order stays UNKNOWN")
            break
        else:
            events.append("submit acknowledged")
            return SubmissionOutcome(order.state, order, submits, queries, True, tuple(events))
    return SubmissionOutcome(OrderState.UNKNOWN, None, submits, queries, True, tuple(events))


async def cancel_one(
    connector: VenueConnector, venue_order_id: str | None, client_order_id: str
) -> OrderSnapshot | None:
    """Cancel one order: its snapshot afterwards, ``None`` if the venue does not have it.
    Without a venue order id it is looked up by client order id first; a refused cancellation
    (filled or expired meanwhile) is answered by what the order is now."""
    if venue_order_id is None:
        found = await connector.get_order(client_order_id=client_order_id)
        if found is None or not found.active:
            return found
        venue_order_id = found.venue_order_id
    try:
        return await connector.cancel_order(venue_order_id)
    except VenueRejectedError:  # e.g. filled or expired meanwhile: what is it now?
        return await connector.get_order(venue_order_id=venue_order_id)


async def cancel_many(
    connector: VenueConnector,
    orders: Sequence[CancelKey],
    *,
    concurrency: int | asyncio.Semaphore,
    attempts: int = 2,
) -> list[CancelAnswer]:
    """Cancel ``orders`` (:func:`cancel_one` each): each one's snapshot afterwards, ``None``
    (not at the venue) or the exception its cancellation ended with, in the order given. A
    venue that cancels batches (:class:`BatchCanceller`) gets the orders with a venue order id
    in requests of up to its ``max_batch_cancels``, each answered order by order (a refused
    one is looked up, as alone; a whole request's failure is each of its orders'). At most
    ``concurrency`` requests in flight (a semaphore: shared with other calls, e.g. to other
    venues). A cancellation is idempotent, so the orders whose
    outcome is ambiguous are asked again, up to ``attempts`` rounds in all (one lost answer
    must not leave a whole batch working at the venue)."""
    out: list[CancelAnswer] = [None] * len(orders)
    gate = asyncio.Semaphore(concurrency) if isinstance(concurrency, int) else concurrency
    limit = cancel_limit(connector)

    async def guarded(call: Callable[[], Awaitable[OrderSnapshot | None]]) -> CancelAnswer:
        async with gate:
            try:
                return await call()
            except Exception as exc:  # the order's own outcome
                return exc

    async def batch(indices: list[int]) -> None:
        assert isinstance(connector, BatchCanceller)
        ids = [str(orders[i][0]) for i in indices]
        answers: Sequence[OrderSnapshot | Exception]
        async with gate:
            try:
                answers = await connector.cancel_orders(ids)
            except Exception as exc:  # the request's: each order's
                answers = [exc] * len(indices)
        for i, venue_id, answer in zip(indices, ids, answers, strict=True):
            out[i] = answer
            if isinstance(answer, VenueRejectedError):  # filled or expired meanwhile?
                out[i] = await guarded(
                    functools.partial(connector.get_order, venue_order_id=venue_id)
                )

    async def one(i: int) -> None:
        out[i] = await guarded(lambda: cancel_one(connector, *orders[i]))

    todo = list(range(len(orders)))
    for _ in range(attempts):
        batched = [i for i in todo if orders[i][0] is not None and limit > 1]
        alone = [i for i in todo if orders[i][0] is None or limit == 1]
        await settled(
            [batch(batched[k : k + limit]) for k in range(0, len(batched), limit)]
            + [one(i) for i in alone]
        )
        todo = [i for i in todo if isinstance(out[i], AmbiguousError)]
        if not todo:
            break
    return out
