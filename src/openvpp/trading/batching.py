"""Group commit of order submissions: concurrent submissions share their transactions.

Submissions join a queue that one writer thread per process drains. It takes every queued
submission and, for all of them at once,

1. in **one** writing unit of work (``batch_store.place_batch``), looks up which client order
   ids are taken (one query per organization: those submissions are idempotent replays, as is
   a repeat within the batch),
   risk-checks each order (:meth:`OrderService.place`; a refusal is stored, an invalid
   submission is not), inserts all orders and their event logs with one statement each,
   writes each audit row with its own request's actor (``record_for``), and commits: every
   order is stored before any is sent;
2. sends the accepted orders to their venues concurrently (on the writer's venue loop), those
   of one connection together: a venue that takes batches of orders gets one request per
   batch (``OrderService.ask_many``);
3. records all the answers in **one** second unit of work (``batch_store.record_batch``: one
   insert of their events, one versioned update);
4. finishes each submission (an idempotent replay, a cancellation requested meanwhile, fills
   reported with the answer) and hands it its result.

Under load a batch forms while the previous one is written, so the cost of a transaction (the
lock, ``BEGIN``, ``COMMIT``, the audit head) is paid once per batch instead of twice per order;
alone, a submission is a batch of one. Submissions queued by the time a batch is recorded are
the next batch, and its step 1 goes to the store with that recording
(``BatchStore.record_then_place``): the two transactions still run one after the other, but a
store process places the next batch while the writer does step 4 of this one, and the cycle
saves a round trip. Steps 1 and 3 run where the batcher's
:class:`~openvpp.trading.batch_store.BatchStore` runs them: in the writer thread, or in a
process of its own (``runtime_order_store``), which takes the orders' database work off the
interpreter that serves the requests. A request waits on its result without holding a thread
(:meth:`SubmitBatcher.submit_async`), and one thread writes instead of one per request, so the
requests do not contend for the database lock and the interpreter. Anything unexpected in a
step (a database error, a lost update) undoes that step's transaction and falls back to the
one-by-one path for the submissions concerned, so a batch never fails an order that would
have succeeded alone; an exception that ends a batch (a crash test's fault hook) reaches every
submission of it (and of the next batch, if that was taken with its recording: its orders stay
stored, ``risk_checked``, for the trading loop), and the writer goes on with the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from openvpp.core.errors import DomainError, ValidationFailed
from openvpp.identity.model import Principal
from openvpp.markets.connectors.protocol import NotSentError, VenueConnector
from openvpp.ports import UnitOfWork
from openvpp.trading.batch_store import BatchStore, Entry, InlineStore, PlaceOutcome
from openvpp.trading.orders import Order, State
from openvpp.trading.records import SubmitOrder
from openvpp.trading.service import (
    OrderService,
    Placed,
    Placement,
    Recording,
    VenueAnswer,
    not_sent,
)

__all__ = ["SubmitBatcher"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Item:
    """One submission and, once ``done``, what the writer made of it."""

    uow: UnitOfWork
    principal: Principal
    cmd: SubmitOrder
    notify: Callable[[_Item], object] | None = None  # wakes a waiting thread
    future: asyncio.Future[_Item] | None = None  # or an awaiting request (an event loop)
    done: bool = False
    error: BaseException | None = None
    duplicate: bool = False
    alone: bool = False  # the batch could not take it: the one-by-one path submits it
    placed: Placed | None = None
    answer: VenueAnswer | None = None
    order: Order | None = None  # as recorded after the venue's answer
    result: Placement | None = None


class SubmitBatcher:
    """Submissions are grouped (module doc); each gets the result :meth:`OrderService.submit`
    would give it."""

    def __init__(self, service: OrderService, store: BatchStore | None = None) -> None:
        self._service = service
        self._store: BatchStore = store or InlineStore(service)
        """Runs each batch's database steps (``trading/batch_store.py``)."""
        self._cv = threading.Condition()
        self._queue: list[_Item] = []
        self._writer: threading.Thread | None = None
        self._closed = False
        self.batches = 0
        """Batches written so far."""
        self.largest = 0
        """The most submissions one batch took."""
        self.on_batch: Callable[[int], object] | None = None
        """Told each batch's size (the composition root feeds a metric)."""

    # --- submitting ---------------------------------------------------------------------------
    def submit(self, uow: UnitOfWork, principal: Principal, cmd: SubmitOrder) -> Placement:
        """Submit and wait (a thread)."""
        return _outcome(self._wait([_Item(uow, principal, cmd, notify=_Waiter())])[0])

    async def submit_async(
        self, uow: UnitOfWork, principal: Principal, cmd: SubmitOrder
    ) -> Placement:
        """Submit and wait without holding a thread (an event loop)."""
        future: asyncio.Future[_Item] = asyncio.get_running_loop().create_future()
        self._enqueue([_Item(uow, principal, cmd, future=future)])
        return _outcome(await future)

    def submit_many(
        self, uow: UnitOfWork, principal: Principal, cmds: Sequence[SubmitOrder]
    ) -> list[Placement | DomainError]:
        """Submit ``cmds`` in one batch (they queue together): a placement or the error that
        refused it, in the order given (each as :meth:`OrderService.submit` gives it)."""
        items = self._wait([_Item(uow, principal, cmd, notify=_Waiter()) for cmd in cmds])
        out: list[Placement | DomainError] = []
        for item in items:
            try:
                out.append(_outcome(item))
            except DomainError as exc:
                out.append(exc)
        return out

    def start(self) -> None:
        """Get the store ready (a process store starts its process) before the first batch."""
        self._store.start()

    def close(self) -> None:
        """Stop the writer once the queue is empty, then its store (at shutdown)."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
            writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout=30)
        self._store.close()

    def _wait(self, items: list[_Item]) -> list[_Item]:
        if items:
            self._enqueue(items)
        for item in items:
            waiter = item.notify
            assert isinstance(waiter, _Waiter)
            waiter.wait()
        return items

    def _enqueue(self, items: list[_Item]) -> None:
        with self._cv:
            if self._closed:
                raise RuntimeError("order submission is shut down")
            self._queue.extend(items)
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write, name="openvpp-order-writer", daemon=True
                )
                self._writer.start()
            self._cv.notify()

    # --- the writer ---------------------------------------------------------------------------
    def _write(self) -> None:
        ahead: list[_Item] | None = None  # the next batch, placed with this one's recording
        while True:
            batch = ahead or self._take(wait=True)
            if batch is None:  # closed, and nothing queued: the writer is gone (``_take``)
                return
            ahead = self._cycle(batch, placed=ahead is not None)

    def _cycle(self, batch: list[_Item], *, placed: bool) -> list[_Item] | None:
        """One batch from its placing (unless ``placed`` already) to its results; the next
        batch if it was taken (and placed) meanwhile."""
        held = [batch]  # and the next batch, once taken: a failure reaches both
        try:
            if not placed:
                self._placed(batch, self._store.place(batch[0].uow, _entries(batch), self._now()))
            self._run(batch, held)
        except BaseException as exc:  # a fault hook or a bug: every submission hears of it
            log.exception("a batch of %d order submissions failed", len(batch))
            for taken in held:
                undone = [i for i in taken if not i.done]
                for item in undone:
                    item.error = exc
                _wake(undone)
            return None
        return held[1] if len(held) > 1 else None

    def _take(self, *, wait: bool) -> list[_Item] | None:
        """The queued submissions as a batch; ``None`` when none are queued (with ``wait``:
        none until the batcher closed; the writer then ends)."""
        with self._cv:
            while wait and not self._queue and not self._closed:
                self._cv.wait()
            if not self._queue:
                if wait:
                    self._writer = None  # under the lock: a submission now starts a writer
                return None
            batch, self._queue = self._queue, []
        self.batches += 1
        self.largest = max(self.largest, len(batch))
        if self.on_batch is not None:
            try:
                self.on_batch(len(batch))
            except Exception:  # a metric: never the writer's end, nor a batch's
                log.exception("the order batch callback failed")
        return batch

    def _now(self) -> datetime:
        return self._service.clock.now()

    def _placed(self, batch: list[_Item], outcomes: list[PlaceOutcome] | None) -> None:
        """Step 1's outcome for each submission of ``batch`` (``None``: each goes alone)."""
        if outcomes is None:  # the batch failed: each submission goes one by one
            for item in batch:
                item.alone = True
            return
        for item, out in zip(batch, outcomes, strict=True):
            item.placed, item.duplicate, item.error = out.placed, out.duplicate, out.error

    def _run(self, batch: list[_Item], held: list[list[_Item]]) -> None:
        """Steps 2 to 4 of a placed batch. When submissions queued meanwhile, they are the
        next batch (``held``): the store places it together with this batch's recording."""
        service = self._service
        sendable = [
            (i, i.placed)
            for i in batch
            if i.placed is not None and i.placed.order.state is State.RISK_CHECKED
        ]
        for _, placed in sendable:
            service.hook("after_commit_before_send", placed.order)
        self._ask_all(sendable)
        answered = [(i, p) for i, p in sendable if i.answer is not None]
        for _, placed in answered:
            service.hook("after_send_before_ack", placed.order)
        if not answered:
            self._done(batch)
            return
        recordings: list[Recording] = []
        for item, placed in answered:
            a = item.answer
            assert a is not None
            recordings.append((placed.order, a.events, a.action, a.detail, item.uow))
        uow = batch[0].uow  # any of the batch's units of work: not in use meanwhile
        following = self._take(wait=False)
        if following is None:
            self._recorded(batch, answered, self._store.record(uow, recordings, self._now()))
            return
        held.append(following)
        outcomes = self._store.record_then_place(
            uow,
            recordings,
            _entries(following),
            self._now(),
            lambda recorded: self._recorded(batch, answered, recorded),
        )
        self._placed(following, outcomes)

    def _ask_all(self, sendable: list[tuple[_Item, Placed]]) -> None:
        """Step 2: the venues' answers, asked all at once: the orders of one connection
        together (one request per batch where the venue takes batches)."""
        if not sendable:
            return
        service = self._service
        answers = service.venues.run_per_connection(
            [(p.connection, p.order) for _, p in sendable], lambda o: _askers(service, o)
        )
        for (item, _), answer in zip(sendable, answers, strict=True):
            if isinstance(answer, VenueAnswer):
                item.answer = answer
            elif isinstance(answer, NotSentError | ValidationFailed):  # no connector
                item.answer = not_sent(answer)
            else:  # a bug: this submission fails as it would alone; the order stays stored
                item.error = answer

    def _recorded(
        self,
        batch: list[_Item],
        answered: list[tuple[_Item, Placed]],
        recorded: list[Order] | None,
    ) -> None:
        """Step 3's outcome (``None``: it failed, and the answers are recorded one by one),
        then step 4 for every submission of ``batch``."""
        if recorded is not None:
            for (item, _), order in zip(answered, recorded, strict=True):
                item.order = order
        else:
            for item, placed in answered:
                a = item.answer
                assert a is not None
                try:
                    item.order = self._service.record(
                        item.uow, placed.order, a.events, a.action, a.detail
                    )
                except Exception as exc:
                    item.error = exc
        self._done(batch)

    def _done(self, batch: list[_Item]) -> None:
        """Step 4: each submission's result, handed to it."""
        for item in batch:
            self._finish(item)
        _wake(batch)

    # --- each submission, in its own thread -------------------------------------------------------
    def _finish(self, item: _Item) -> None:
        """Step 4: the submission's result, or the error that refused it."""
        try:
            item.result = self._result(item)
        except Exception as exc:
            item.error = exc

    def _result(self, item: _Item) -> Placement:
        service = self._service
        if item.error is not None:
            raise item.error
        if item.alone:
            return service.submit(item.uow, item.principal, item.cmd)
        if item.duplicate:
            return Placement(
                service.replay(item.uow, item.principal.organization_id, item.cmd), False
            )
        placed = item.placed
        assert placed is not None
        if item.order is None or item.answer is None:  # refused by the risk checks
            return Placement(placed.order, True)
        done = service.after_answer(item.uow, item.order, placed.connection, item.answer)
        return Placement(done, True)


def _wake(batch: list[_Item]) -> None:
    """Hand each submission its result: threads are woken, and the awaiting requests of each
    event loop resolved by one call on that loop (a wake-up of the loop each costs)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
    for item in batch:
        item.done = True
        if item.future is not None:
            by_loop.setdefault(item.future.get_loop(), []).append(item)
        elif item.notify is not None:
            item.notify(item)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop closed (shutdown)
            loop.call_soon_threadsafe(_resolve, items)


def _resolve(items: list[_Item]) -> None:
    for item in items:
        # The item lets go of its future first: future and item referring to each other would
        # be a cycle, which only the collector's passes free (refcounting frees the pair now).
        future, item.future = item.future, None
        if future is not None and not future.done():  # the request may have gone meanwhile
            future.set_result(item)


class _Waiter:
    """Wakes a waiting thread."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def __call__(self, _item: _Item) -> None:
        self._event.set()

    def wait(self) -> None:
        self._event.wait()


def _outcome(item: _Item) -> Placement:
    if item.error is not None:
        raise item.error
    assert item.result is not None
    return item.result


def _entries(batch: list[_Item]) -> list[Entry]:
    return [(i.principal, i.cmd, i.uow) for i in batch]


def _askers(
    service: OrderService, orders: list[Order]
) -> Callable[[VenueConnector], Awaitable[list[VenueAnswer | Exception]]]:
    return lambda connector: service.ask_many(connector, orders)
