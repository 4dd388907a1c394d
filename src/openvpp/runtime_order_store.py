"""The order store process: the group commit's database steps (``trading/batch_store.py``) in
a child process of the API server.

Why: an order submitted through the API costs about 2 ms of interpreter time, two thirds of it
in the writer's database work (the risk check's reads, the inserts, the audit chain, the
recording) and the rest in HTTP. In one process both share one interpreter, so 500 orders/s
keep one core fully busy while the second idles. With the database steps here, the requests
and the venue calls run in the server and the orders' database work runs in this process, on
the other core; the two talk over a pipe, one round trip per step of a batch, or one for a
batch's recording and the next batch's placing, sent together: the process places the next
batch while the server finishes the first (:meth:`ProcessStore.record_then_place`).

What crosses the pipe: the batch's submissions (principal, command, and the audit context of
each request) with the server's time for the step, and back the outcomes
(:class:`~openvpp.trading.batch_store.PlaceOutcome`, the recorded orders), all pickled. The
steps run the same functions as the inline store, on a clock that reads the server's time of
the step, so what is stored does not depend on where it ran.

Failure: if the process dies or does not answer within :data:`REPLY_TIMEOUT_S`, the step
counts as failed (the batch's submissions go one by one in the server, as after any failed
step; a placing sent behind a failed recording is done by the server instead), the process is
killed, and the server's writer thread runs the steps itself (the inline store) for
:data:`RESTART_PAUSE_S` before a new process is tried; a process found dead between steps is
replaced at once. A process killed after its commit and before its reply leaves those orders
``risk_checked`` (the one-by-one path finds them stored and replays them) until the trading
loop sends them a minute later (``runtime_trading.UNSENT_AFTER``). The process ends when the
server closes the pipe, and at once when the server dies, however it dies (:func:`serve`'s
lifeline).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from sqlalchemy.engine import Engine

from openvpp.api.heap import HeapPolicy
from openvpp.api.logs import configure_logging
from openvpp.audit.chain import AuditContext
from openvpp.config import Settings
from openvpp.core.keys import derive_key
from openvpp.markets.presets import add_market_files
from openvpp.ports import UnitOfWork
from openvpp.runtime_markets import build_connections
from openvpp.store.db import create_engine, in_memory, sqlite_write_lock
from openvpp.store.uow import SqlUnitOfWork
from openvpp.trading.batch_store import (
    BatchStore,
    Entry,
    PlaceOutcome,
    Recorded,
    place_batch,
    record_batch,
)
from openvpp.trading.orders import Order
from openvpp.trading.service import OrderService, Recording

__all__ = ["REPLY_TIMEOUT_S", "ProcessStore", "runs_in_process"]

log = logging.getLogger(__name__)

REPLY_TIMEOUT_S = 120.0
"""How long a step may take before the process is taken for hung [s] (a step waits for the
database's write lock and writes one batch: milliseconds, seconds under contention)."""
RESTART_PAUSE_S = (1.0, 60.0)
"""After a failure the server writes the orders itself for this long before it tries a new
process [s]: the first pause, and the longest while failures go on (doubling until a step
goes through again)."""
STOP_TIMEOUT_S = 10.0
"""How long the process may take to end once told to [s]."""
_CONTEXT = multiprocessing.get_context("spawn")  # no fork of a threaded server
_Step = tuple[str, datetime, list[Any]]
"""One step down the pipe: its kind, the server's time of the step, its payload."""
_FAILED = object()
"""What :meth:`ProcessStore._send` gives when the process failed the step."""


def runs_in_process(settings: Settings, engine: Engine) -> bool:
    """Whether the settings put the order store in its own process: ``order_store =
    process`` and a database another process can open (not an in-memory SQLite one)."""
    return settings.order_store == "process" and not in_memory(engine)


class ProcessStore:
    """A :class:`~openvpp.trading.batch_store.BatchStore` whose steps run in a child process
    (module doc). Used by the batcher's writer thread; thread-safe."""

    def __init__(self, settings: Settings, fallback: BatchStore) -> None:
        """``fallback``: runs the steps while the process is down (the server's writer
        thread: an :class:`~openvpp.trading.batch_store.InlineStore`)."""
        self._settings = settings
        self._fallback = fallback
        self._down_until = 0.0  # time.monotonic() until which the fallback runs the steps
        self._pause = RESTART_PAUSE_S[0]
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._lifeline: Connection | None = None
        self._ready = False
        self.starts = 0
        """Processes started so far (a restart after a failure counts)."""

    @property
    def pid(self) -> int | None:
        """The running process's id, if any."""
        process = self._process
        return None if process is None else process.pid

    def start(self) -> None:
        """Start the process now and wait until it is ready (it has imported the code and
        opened the database), instead of at the first batch."""
        with self._lock:
            try:
                self._ensure()
            except (EOFError, OSError) as exc:
                self._failed("start", exc)

    def place(
        self, uow: UnitOfWork, entries: Sequence[Entry], now: datetime
    ) -> list[PlaceOutcome] | None:
        if self._down():
            return self._fallback.place(uow, entries, now)
        return _audited(entries, self._call(("place", now, _place_payload(entries))))

    def record(
        self, uow: UnitOfWork, recordings: Sequence[Recording], now: datetime
    ) -> list[Order] | None:
        if self._down():
            return self._fallback.record(uow, recordings, now)
        reply: list[Order] | None = self._call(("record", now, _record_payload(recordings)))
        return reply

    def record_then_place(
        self,
        uow: UnitOfWork,
        recordings: Sequence[Recording],
        entries: Sequence[Entry],
        now: datetime,
        recorded: Recorded,
    ) -> list[PlaceOutcome] | None:
        """Both steps go down the pipe at once: the process places the next batch while the
        caller takes in the recording (:meth:`BatchStore.record_then_place`)."""
        if self._down():
            return self._fallback.record_then_place(uow, recordings, entries, now, recorded)
        record = ("record", now, _record_payload(recordings))
        first = self._send([record, ("place", now, _place_payload(entries))])
        if first is _FAILED:  # the process is gone: nothing was placed there
            recorded(None)
            return self.place(entries[0][2], entries, now)
        try:
            recorded(first)
        finally:  # the pipe is read up to date whatever ``recorded`` does
            second = self._next_reply("place")
        return _audited(entries, second)

    def close(self) -> None:
        with self._lock:
            self._stop()

    # --- the pipe -------------------------------------------------------------------------------
    def _call(self, step: _Step) -> Any:
        """Send one step and wait for its reply; ``None`` if the process failed it."""
        reply = self._send([step])
        return None if reply is _FAILED else reply

    def _send(self, steps: list[_Step]) -> Any:
        """Send the steps and wait for the first one's reply (:data:`_FAILED` if the process
        failed it); the others' replies follow on the pipe (:meth:`_next_reply`)."""
        with self._lock:
            try:
                conn = self._ensure()
                for step in steps:
                    conn.send(step)
            except (EOFError, OSError) as exc:  # died (a dead pipe refuses the send)
                self._failed(steps[0][0], exc)
                return _FAILED
        return self._next_reply(steps[0][0], _FAILED)

    def _next_reply(self, step: str, failed: Any = None) -> Any:
        """The reply of the next step sent; ``failed`` if the process failed it."""
        with self._lock:
            try:
                if self._conn is None:  # stopped meanwhile (shutdown)
                    raise EOFError("the order store process was stopped")
                reply = _reply(self._conn)
            except (EOFError, OSError) as exc:  # died, or hung (TimeoutError is an OSError)
                self._failed(step, exc)
                return failed
            self._pause = RESTART_PAUSE_S[0]  # a step went through: failures start over
            return reply

    def _down(self) -> bool:
        return time.monotonic() < self._down_until

    def _failed(self, step: str, exc: BaseException) -> None:
        """The process failed ``step``: it is killed, and the writer thread runs the steps
        until a new one is tried, :data:`RESTART_PAUSE_S` later (doubling while it fails)."""
        log.error(
            "order store process %s failed at %s (%s); the server writes the orders itself "
            "and tries a new process in %.0f s",
            self.pid,
            step,
            exc or type(exc).__name__,
            self._pause,
        )
        self._stop(kill=True)
        self._down_until = time.monotonic() + self._pause
        self._pause = min(2 * self._pause, RESTART_PAUSE_S[1])

    def _ensure(self) -> Connection:
        """The pipe to a ready process, started (and awaited) if there is none. Between steps
        nothing is due on the pipe: anything to read there is its end (the process died;
        ``is_alive`` cannot tell once another waiter has reaped it)."""
        conn = self._conn
        if conn is not None and self._ready and not conn.poll(0) and self._is_alive():
            return conn
        self._stop(kill=True)
        ours, theirs = _CONTEXT.Pipe(duplex=True)
        lifeline, held = _CONTEXT.Pipe(duplex=False)
        process = _CONTEXT.Process(
            target=serve, args=(self._settings, theirs, lifeline), name="openvpp-order-store"
        )
        process.daemon = True  # ended by multiprocessing at a normal exit of the server
        process.start()
        theirs.close()  # the process alone holds its ends: it reads EOF when we go
        lifeline.close()
        self._process, self._conn, self._lifeline = process, ours, held
        self.starts += 1
        if _reply(ours) != "ready":
            raise EOFError("the order store process did not start")
        self._ready = True
        log.info("order store process %s ready", process.pid)
        return ours

    def _is_alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def _stop(self, *, kill: bool = False) -> None:
        conn, lifeline, process = self._conn, self._lifeline, self._process
        self._conn = self._lifeline = self._process = None
        self._ready = False
        for end in (conn, lifeline):
            if end is not None:
                end.close()  # the process reads EOF and ends
        if process is not None:
            if kill:
                process.kill()
            process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join(STOP_TIMEOUT_S)


def _place_payload(entries: Sequence[Entry]) -> list[Any]:
    return [(p, cmd, u.context) for p, cmd, u in entries]


def _record_payload(recordings: Sequence[Recording]) -> list[Any]:
    return [
        (order, events, action, detail, None if u is None else u.context)
        for order, events, action, detail, u in recordings
    ]


def _audited(entries: Sequence[Entry], reply: Any) -> list[PlaceOutcome] | None:
    """The placing step's outcomes; each request whose order was stored is told it was
    audited there (with its own actor)."""
    if reply is None:
        return None
    outcomes: list[PlaceOutcome] = reply
    for (_, _, u), outcome in zip(entries, outcomes, strict=True):
        if outcome.placed is not None:
            u.audited()
    return outcomes


def _reply(conn: Connection) -> Any:
    if not conn.poll(REPLY_TIMEOUT_S):
        raise TimeoutError(f"no reply within {REPLY_TIMEOUT_S:.0f} s")
    return conn.recv()


# --- the process --------------------------------------------------------------------------------
class StepClock:
    """The process's clock: the server's time of the step being run (each step carries it),
    so timestamps written here equal those the server would have written."""

    def __init__(self) -> None:
        self._now: datetime | None = None

    def set(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        if self._now is None:
            raise RuntimeError("no step is being run")
        return self._now


def serve(settings: Settings, conn: Connection, lifeline: Connection) -> None:
    """The process's main: run each step the server sends until it closes the pipe. The
    process ends at once when the server dies, mid-step included (``lifeline``): what the
    server's death interrupts must not go on without it (a commit after the server's end
    would race its restart's reconciliation)."""
    threading.Thread(target=_end_with_server, args=(lifeline,), daemon=True).start()
    configure_logging(settings.log_level, json=settings.log_json)
    add_market_files(settings.market_files)
    engine = create_engine(settings.effective_database_url, pool_size=1)
    write_lock = sqlite_write_lock(engine)
    clock = StepClock()
    audit_key = derive_key(settings.master_key, "audit")
    # no venue is called here: the connections are only read from the database
    service = OrderService(clock, build_connections(settings, clock, None))

    def uow(context: AuditContext | None) -> UnitOfWork:
        return SqlUnitOfWork(
            engine, clock=clock, audit_key=audit_key, context=context, write_lock=write_lock
        )

    batch_uow = uow(AuditContext(actor_type="system", actor_id="order-store"))
    # as in the server: the collector's full passes scan only what is new (api/heap.py)
    heap = HeapPolicy(settings.gc_sweep_s)
    heap.install()
    conn.send("ready")
    try:
        while True:
            try:
                kind, now, payload = conn.recv()
            except EOFError:  # the server closed the pipe or died
                return
            clock.set(now)
            reply: Any
            if kind == "place":
                entries = [(p, cmd, uow(ctx)) for p, cmd, ctx in payload]
                reply = place_batch(service, batch_uow, entries, now)
            elif kind == "record":
                recordings = [
                    (order, events, action, detail, None if ctx is None else uow(ctx))
                    for order, events, action, detail, ctx in payload
                ]
                reply = record_batch(service, batch_uow, recordings, now)
            else:
                log.error("order store: unknown step %r", kind)
                reply = None
            try:
                conn.send(reply)
            except OSError:  # the server went while the step ran
                return
    finally:
        heap.uninstall()
        engine.dispose()
        if write_lock is not None:
            write_lock.close()


def _end_with_server(lifeline: Connection) -> None:
    """Wait on the server's end of ``lifeline`` (it never writes); the read ends when the
    server's process does, however it died; then end this process without cleaning up (an
    open transaction is rolled back by the database)."""
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv_bytes()
    os._exit(1)
