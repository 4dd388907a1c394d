"""The two database steps of a batch of order submissions (``trading/batching.py``), and where
they run.

:func:`place_batch` stores (or refuses) every order of a batch in one transaction, and
:func:`record_batch` records the venues' answers in another. A :class:`BatchStore` runs them:
:class:`InlineStore` in the calling thread, or ``runtime_order_store.ProcessStore`` in a process
of its own, so that the database work of the orders and the HTTP work of the requests use two
cores instead of sharing one interpreter. Both give the same results: the steps are these
functions either way, on the time the batch was given (``now``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from openvpp.core.errors import DomainError
from openvpp.identity.model import Principal
from openvpp.ports import UnitOfWork
from openvpp.trading.orders import Order
from openvpp.trading.records import StaleOrder, SubmitOrder
from openvpp.trading.service import OrderService, Placed, Recording
from openvpp.trading.submit_view import SubmitView

__all__ = [
    "BatchStore",
    "Entry",
    "InlineStore",
    "PlaceOutcome",
    "Recorded",
    "place_batch",
    "record_batch",
]

log = logging.getLogger(__name__)

Entry = tuple[Principal, SubmitOrder, UnitOfWork]
"""One submission of a batch: who submits, what, and the unit of work whose actor (request)
its audit row carries."""


@dataclass(frozen=True, slots=True)
class PlaceOutcome:
    """What the placing step made of one submission: stored (``placed``; refused by the risk
    checks is stored too), an idempotent replay (``duplicate``) or invalid (``error``,
    nothing written)."""

    placed: Placed | None = None
    duplicate: bool = False
    error: DomainError | None = None


Recorded = Callable[[list[Order] | None], object]
"""Told what a recording step gave (:meth:`BatchStore.record_then_place`)."""


class BatchStore(Protocol):
    """Runs a batch's database steps. ``None`` from any: the step failed and was undone
    (logged); the batcher then takes its submissions one by one."""

    def place(
        self, uow: UnitOfWork, entries: Sequence[Entry], now: datetime
    ) -> list[PlaceOutcome] | None:
        """:func:`place_batch`; ``uow``: one of the batch's units of work, not in use."""
        ...

    def record(
        self, uow: UnitOfWork, recordings: Sequence[Recording], now: datetime
    ) -> list[Order] | None:
        """:func:`record_batch`."""
        ...

    def record_then_place(
        self,
        uow: UnitOfWork,
        recordings: Sequence[Recording],
        entries: Sequence[Entry],
        now: datetime,
        recorded: Recorded,
    ) -> list[PlaceOutcome] | None:
        """One batch's recording, then the next batch's placing: :meth:`record` (on ``uow``),
        whose result ``recorded`` is told as soon as it is known, then :meth:`place` of
        ``entries`` (on the first entry's unit of work), whose result is returned. Two steps
        and two transactions, in this order, as the two calls would run them; a process store
        runs the second while the caller finishes the first batch (one round trip fewer)."""
        ...

    def start(self) -> None:
        """Get ready before the first batch (a process store starts its process)."""
        ...

    def close(self) -> None:
        """Release what the store holds (at shutdown)."""
        ...


def place_batch(
    service: OrderService, uow: UnitOfWork, entries: Sequence[Entry], now: datetime
) -> list[PlaceOutcome] | None:
    """Step 1 of a batch: in **one** transaction, the client order ids already taken are
    looked up (one query per organization; those submissions are replays, as is a repeat
    within the batch), each order is risk-checked (:meth:`OrderService.place`), all are
    inserted with their event logs, each audit row with its own request's actor; then commit.
    ``None`` when anything unexpected undid the transaction (a client order id taken
    meanwhile by another process, a database error)."""
    try:
        for principal, cmd, _ in entries:
            service.ensure_state_rows(uow, principal.organization_id, cmd.vpp_id)
        out: list[PlaceOutcome] = []
        with uow:
            view = SubmitView(uow)
            view.lock((p.organization_id, cmd.vpp_id) for p, cmd, _ in entries)
            taken = _taken(uow, entries)
            view.prefetch_exposure(
                (p.organization_id, c.vpp_id, c.market, c.product, c.delivery_start)
                for p, c, _ in entries
            )
            for principal, cmd, audit_as in entries:
                key = (principal.organization_id, cmd.client_order_id)
                if key in taken:  # stored before, or earlier in this batch
                    out.append(PlaceOutcome(duplicate=True))
                    continue
                try:
                    placed = service.place(uow, principal, cmd, now, view, store=False)
                except DomainError as exc:  # invalid: nothing written
                    out.append(PlaceOutcome(error=exc))
                    continue
                taken.add(key)
                uow.record_for(audit_as, placed.audit)
                out.append(PlaceOutcome(placed=placed))
            # a client order id taken meanwhile by another process: DuplicateOrder, and the
            # batch goes one by one
            service.store(uow, [o.placed for o in out if o.placed is not None])
            uow.commit()
    except Exception:
        log.exception("a batch of %d submissions failed; submitting one by one", len(entries))
        return None
    return out


def record_batch(
    service: OrderService, uow: UnitOfWork, recordings: Sequence[Recording], now: datetime
) -> list[Order] | None:
    """Step 3 of a batch: every answer recorded in **one** transaction, on the orders as the
    batch placed them (no second read: a change meanwhile fails the versioned update).
    ``None`` when that failed (undone; the answers are then recorded one by one)."""
    try:
        with uow:
            recorded = service.record_many(uow, recordings, now, as_stored=True)
            uow.commit()
    except StaleOrder as exc:  # e.g. a kill switch flagged an order meanwhile: expected
        log.info("recording %d venue answers at once: %s; one by one", len(recordings), exc)
        return None
    except Exception:
        log.exception("recording %d venue answers at once failed; one by one", len(recordings))
        return None
    return recorded


class InlineStore:
    """A batch's database steps in the calling thread (the batcher's writer)."""

    def __init__(self, service: OrderService) -> None:
        self._service = service

    def place(
        self, uow: UnitOfWork, entries: Sequence[Entry], now: datetime
    ) -> list[PlaceOutcome] | None:
        return place_batch(self._service, uow, entries, now)

    def record(
        self, uow: UnitOfWork, recordings: Sequence[Recording], now: datetime
    ) -> list[Order] | None:
        return record_batch(self._service, uow, recordings, now)

    def record_then_place(
        self,
        uow: UnitOfWork,
        recordings: Sequence[Recording],
        entries: Sequence[Entry],
        now: datetime,
        recorded: Recorded,
    ) -> list[PlaceOutcome] | None:
        recorded(self.record(uow, recordings, now))
        return self.place(entries[0][2], entries, now)

    def start(self) -> None:
        return None

    def close(self) -> None:
        return None


def _taken(uow: UnitOfWork, entries: Sequence[Entry]) -> set[tuple[str, str]]:
    """The (organization, client order id) pairs of ``entries`` already stored."""
    by_org: dict[str, set[str]] = {}
    for principal, cmd, _ in entries:
        by_org.setdefault(principal.organization_id, set()).add(cmd.client_order_id)
    return {
        (org, cid)
        for org, cids in by_org.items()
        for cid in uow.trading_orders.taken_client_ids(org, cids)
    }
