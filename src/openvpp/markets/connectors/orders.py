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
3. Found: that is the order (reconciled). Not resent.
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from openvpp.markets.connectors.protocol import (
    AmbiguousError,
    NotSentError,
    OrderRequest,
    OrderSnapshot,
    OrderState,
    VenueConnector,
    VenueRejectedError,
)

__all__ = ["ReconcilePolicy", "SubmissionOutcome", "find_order", "submit_with_reconciliation"]

Sleep = Callable[[float], Awaitable[None]]


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
    p = policy or ReconcilePolicy()
    events: list[str] = []
    submits = queries = resends = 0
    reconciled = False
    while True:
        submits += 1
        try:
            order = await connector.submit_order(request)
        except AmbiguousError as exc:
            events.append(f"submit ambiguous: {exc.message}")
        except NotSentError as exc:
            if submits == 1:
                raise
            events.append(f"resend not sent ({exc.message}): order stays UNKNOWN")
            break
        else:
            events.append("submit acknowledged")
            return SubmissionOutcome(
                order.state, order, submits, queries, reconciled, tuple(events)
            )
        reconciled = True
        found, answered, n = await find_order(connector, request.client_order_id, p, sleep, events)
        queries += n
        if found is not None:
            events.append(f"found by client_order_id as {found.venue_order_id}")
            return SubmissionOutcome(found.state, found, submits, queries, True, tuple(events))
        if not answered:
            events.append("no answer from the venue: order stays UNKNOWN")
            break
        if resends >= p.max_resends:
            events.append("not found and resends spent: order stays UNKNOWN")
            break
        resends += 1
        events.append("venue confirms it has no such order: resending (idempotent id)")
    return SubmissionOutcome(OrderState.UNKNOWN, None, submits, queries, True, tuple(events))
