"""Access to venues for the order manager: every call on an event loop of the calling thread,
with the connectors cached per connection and thread behind a per-call timeout, retries of
provably unsent requests and a circuit breaker per connection (shared by all threads)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any, TypeVar

from openvpp.core.clock import Clock
from openvpp.core.errors import ValidationFailed
from openvpp.markets.connections import ConnectionService
from openvpp.markets.connectors.guarded import ResilientConnector
from openvpp.markets.connectors.parallel import settled
from openvpp.markets.connectors.protocol import (
    AmbiguousError,
    NotSentError,
    VenueConnector,
    VenueRejectedError,
)
from openvpp.markets.connectors.resilience import CircuitBreaker
from openvpp.markets.records import MarketConnection

__all__ = ["VENUE_ERRORS", "Venues"]

log = logging.getLogger(__name__)
T = TypeVar("T")
X = TypeVar("X")
VENUE_ERRORS = (NotSentError, AmbiguousError, VenueRejectedError, ValidationFailed)
"""What a venue call may raise besides bugs: no answer, a refusal, an unusable connection."""


class _VenueLoop:
    """An event loop and the connectors used on it, one per thread that calls venues: no
    thread hand-off per call (each costs a GIL switch), and connectors keep their HTTP
    connections between calls of that thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.connectors: dict[str, tuple[datetime, VenueConnector]] = {}

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        connectors = [c for _, c in self.connectors.values()]
        self.connectors.clear()

        async def close_all() -> None:
            for connector in connectors:
                await connector.aclose()

        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.run_until_complete(close_all())
            self.loop.close()


class Venues:
    def __init__(
        self, clock: Clock, connections: ConnectionService, *, venue_timeout_s: float = 10.0
    ) -> None:
        self._clock = clock
        self._connections = connections
        self.venue_timeout_s = venue_timeout_s
        self._breakers: dict[str, CircuitBreaker] = {}
        self._local = threading.local()
        self._loops: list[_VenueLoop] = []
        self._breakers_lock = threading.Lock()

    def breaker(self, connection_id: str) -> CircuitBreaker | None:
        """The connection's circuit breaker, once a call was made."""
        with self._breakers_lock:
            return self._breakers.get(connection_id)

    def run(
        self, connection: MarketConnection, call: Callable[[VenueConnector], Awaitable[T]]
    ) -> T:
        """Run ``call`` with the connection's connector on this thread's venue event loop (the
        service runs in request threads and jobs, never on an event loop)."""
        venue_loop = self._loop()

        async def run() -> T:
            return await call(await self._guarded(venue_loop, connection))

        return venue_loop.run(run())

    def run_many(
        self,
        calls: Sequence[tuple[MarketConnection, Callable[[VenueConnector], Awaitable[T]]]],
    ) -> list[T | Exception]:
        """:meth:`run` for several calls at once, concurrently on this thread's venue loop;
        each call's result or the exception it raised, in the order given."""
        venue_loop = self._loop()

        async def one(
            connection: MarketConnection, call: Callable[[VenueConnector], Awaitable[T]]
        ) -> T:
            return await call(await self._guarded(venue_loop, connection))

        return venue_loop.run(settled(one(c, f) for c, f in calls))

    def run_per_connection(
        self,
        items: Sequence[tuple[MarketConnection, X]],
        call: Callable[[list[X]], Callable[[VenueConnector], Awaitable[list[T]]]],
    ) -> list[T | Exception]:
        """The items of each connection in one call (``call(items)``, answering each item in
        order), all connections concurrently (:meth:`run_many`): each item's answer in the
        order given; a call that raised is each of its items' exception."""
        groups: dict[str, list[int]] = {}
        for i, (connection, _) in enumerate(items):
            groups.setdefault(connection.id, []).append(i)
        results = self.run_many(
            [(items[ix[0]][0], call([items[i][1] for i in ix])) for ix in groups.values()]
        )
        answers: dict[int, T | Exception] = {}
        for ix, result in zip(groups.values(), results, strict=True):
            each = result if isinstance(result, list) else [result] * len(ix)
            answers.update(zip(ix, each, strict=True))
        return [answers[i] for i in range(len(items))]

    def _loop(self) -> _VenueLoop:
        found: _VenueLoop | None = getattr(self._local, "venue", None)
        if found is None or found.loop.is_closed():
            found = _VenueLoop()
            self._local.venue = found
            with self._breakers_lock:
                self._loops.append(found)
        return found

    async def _guarded(
        self, venue_loop: _VenueLoop, connection: MarketConnection
    ) -> VenueConnector:
        """The connection's connector (built again when the connection changed) behind a
        per-call timeout, retries of provably unsent requests and a circuit breaker shared by
        every call to that connection, from any thread."""
        cached = venue_loop.connectors.get(connection.id)
        if cached is not None and cached[0] == connection.updated_at:
            return cached[1]
        with self._breakers_lock:
            breaker = self._breakers.setdefault(
                connection.id, CircuitBreaker(clock=self._clock, name=connection.name)
            )
        guarded = ResilientConnector(
            self._connections.connector(connection),
            breaker=breaker,
            timeout_s=self.venue_timeout_s,
            clock=self._clock,
        )
        venue_loop.connectors[connection.id] = (connection.updated_at, guarded)
        if cached is not None:
            await cached[1].aclose()
        return guarded

    def close(self) -> None:
        """Close the cached connectors and the venue loops (at shutdown)."""
        with self._breakers_lock:
            loops, self._loops = self._loops, []
        for venue_loop in loops:
            try:
                venue_loop.close()
            except RuntimeError:  # in use by its thread right now: it ends with the process
                log.warning("a venue loop was busy at shutdown")
