"""A connector wrapper that applies the resilience policy to every call of any venue:
per-call timeout, circuit breaker, retries of provably-unsent requests and health tracking."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar

from openvpp.core.clock import Clock
from openvpp.markets.connectors.protocol import (
    AmbiguousError,
    AuctionResults,
    BatchCanceller,
    BatchSubmitter,
    ConnectorError,
    FillPage,
    ImbalanceResult,
    MarketDataPoint,
    NotSentError,
    OrderRequest,
    OrderSnapshot,
    VenueConnector,
    VenueHealth,
    VenueRejectedError,
)
from openvpp.markets.connectors.resilience import (
    CircuitBreaker,
    HealthTracker,
    RetryPolicy,
    retry_not_sent,
    with_timeout,
)

__all__ = ["ResilientConnector"]

T = TypeVar("T")


class ResilientConnector:
    """``inner`` behind a timeout of ``timeout_s`` [s] per attempt, a circuit breaker, retries
    of ``NotSentError`` (``retry``) and a :class:`HealthTracker`. Ambiguous outcomes are never
    retried here: they go back to the caller (see :mod:`openvpp.markets.connectors.orders`)."""

    def __init__(
        self,
        inner: VenueConnector,
        *,
        breaker: CircuitBreaker | None = None,
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        health: HealthTracker | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.breaker = breaker or CircuitBreaker(clock=clock, name=inner.name)
        self.retry = retry or RetryPolicy()
        self.timeout_s = timeout_s
        self.health_tracker = health or HealthTracker(inner.name, clock=clock)
        self._sleep = sleep
        self.max_batch_orders = inner.max_batch_orders if isinstance(inner, BatchSubmitter) else 0
        """The inner connector's batch size (0: it takes one order per request)."""
        self.max_batch_cancels = inner.max_batch_cancels if isinstance(inner, BatchCanceller) else 0
        """The inner connector's cancellations per request (0: one per request)."""

    async def _guard(self, fn: Callable[[], Awaitable[T]]) -> T:
        tracker = self.health_tracker

        async def attempt() -> T:
            started = time.perf_counter()
            try:
                result = await self.breaker.call(
                    lambda: with_timeout(fn(), self.timeout_s, venue=self.name)
                )
            except NotSentError as exc:
                if not exc.breaker_open:
                    tracker.record_failure(exc, time.perf_counter() - started)
                raise
            except AmbiguousError as exc:
                tracker.record_failure(exc, time.perf_counter() - started)
                raise
            except VenueRejectedError:
                tracker.record_success(time.perf_counter() - started)
                raise
            tracker.record_success(time.perf_counter() - started)
            return result

        return await retry_not_sent(attempt, self.retry, sleep=self._sleep)

    async def submit_order(self, request: OrderRequest) -> OrderSnapshot:
        return await self._guard(lambda: self.inner.submit_order(request))

    async def submit_orders(
        self, requests: Sequence[OrderRequest]
    ) -> list[OrderSnapshot | ConnectorError]:
        """One batch request, guarded as a whole (only when ``max_batch_orders`` > 1)."""
        inner = self.inner
        if not isinstance(inner, BatchSubmitter):
            raise TypeError(f"connector {self.name!r} takes no batches of orders")
        return await self._guard(lambda: inner.submit_orders(requests))

    async def cancel_order(self, venue_order_id: str) -> OrderSnapshot:
        return await self._guard(lambda: self.inner.cancel_order(venue_order_id))

    async def cancel_orders(
        self, venue_order_ids: Sequence[str]
    ) -> list[OrderSnapshot | ConnectorError]:
        """One batch cancellation, guarded as a whole (only when ``max_batch_cancels`` > 1)."""
        inner = self.inner
        if not isinstance(inner, BatchCanceller):
            raise TypeError(f"connector {self.name!r} cancels no batches of orders")
        return await self._guard(lambda: inner.cancel_orders(venue_order_ids))

    async def modify_order(
        self,
        venue_order_id: str,
        *,
        price: Decimal | None = None,
        quantity_mw: Decimal | None = None,
    ) -> OrderSnapshot:
        return await self._guard(
            lambda: self.inner.modify_order(venue_order_id, price=price, quantity_mw=quantity_mw)
        )

    async def get_order(
        self, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot | None:
        return await self._guard(
            lambda: self.inner.get_order(
                venue_order_id=venue_order_id, client_order_id=client_order_id
            )
        )

    async def fetch_fills(self, after: int = 0) -> FillPage:
        return await self._guard(lambda: self.inner.fetch_fills(after))

    async def fetch_results(self, market: str, product: str, day: date) -> AuctionResults:
        return await self._guard(lambda: self.inner.fetch_results(market, product, day))

    async def fetch_market_data(
        self, market: str, product: str, start: datetime, end: datetime
    ) -> list[MarketDataPoint]:
        return await self._guard(lambda: self.inner.fetch_market_data(market, product, start, end))

    async def fetch_imbalance_prices(self, market: str, day: date) -> ImbalanceResult:
        return await self._guard(lambda: self.inner.fetch_imbalance_prices(market, day))

    async def health(self) -> VenueHealth:
        """The inner health check (not retried, no breaker), also fed to the tracker."""
        try:
            result = await with_timeout(self.inner.health(), self.timeout_s, venue=self.name)
        except AmbiguousError as exc:
            self.health_tracker.record_failure(exc)
            return VenueHealth(False, None, None, exc.message, reachable=False)
        if result.ok:
            self.health_tracker.record_success(result.latency_s or 0.0)
        else:
            self.health_tracker.record_failure(result.detail or "unhealthy", result.latency_s)
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()
