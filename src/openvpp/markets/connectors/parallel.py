"""Run one call per venue in parallel with a per-venue timeout; one venue's failure or
slowness never affects the others."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from openvpp.markets.connectors.protocol import MarketDataPoint, VenueConnector
from openvpp.markets.connectors.resilience import with_timeout

__all__ = ["VenueOutcome", "fetch_all_market_data", "gather_venues", "settled"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class VenueOutcome(Generic[T]):
    """The value of one venue's call, or the exception it ended with."""

    venue: str
    value: T | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def settled(calls: Iterable[Awaitable[T]]) -> list[T | Exception]:
    """Await ``calls`` concurrently: each one's value or the exception it raised, in the order
    given. A ``BaseException`` that is no ``Exception`` (cancellation, interpreter exit) is
    raised."""
    out: list[T | Exception] = []
    for result in await asyncio.gather(*calls, return_exceptions=True):
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result
        out.append(result)
    return out


async def gather_venues(
    calls: Mapping[str, Callable[[], Awaitable[T]]], *, timeout_s: float = 10.0
) -> dict[str, VenueOutcome[T]]:
    """Run ``calls`` (venue name -> zero-argument coroutine function) concurrently, each
    within ``timeout_s`` [s] (expiry: ``AmbiguousError``)."""

    async def one(name: str, fn: Callable[[], Awaitable[T]]) -> VenueOutcome[T]:
        try:
            return VenueOutcome(name, await with_timeout(fn(), timeout_s, venue=name))
        except Exception as exc:  # isolated per venue by design
            return VenueOutcome(name, None, exc)

    results = await asyncio.gather(*(one(name, fn) for name, fn in calls.items()))
    return {r.venue: r for r in results}


async def fetch_all_market_data(
    connectors: Mapping[str, VenueConnector],
    market: str,
    product: str,
    start: datetime,
    end: datetime,
    *,
    timeout_s: float = 10.0,
) -> dict[str, VenueOutcome[list[MarketDataPoint]]]:
    """Market data of ``market``/``product`` for ``[start, end)`` [UTC] from every venue."""

    def call(c: VenueConnector) -> Callable[[], Awaitable[list[MarketDataPoint]]]:
        return lambda: c.fetch_market_data(market, product, start, end)

    return await gather_venues(
        {name: call(c) for name, c in connectors.items()}, timeout_s=timeout_s
    )
