"""Circuit breaker, retries, timeouts and health tracking for venue connections.

* :class:`CircuitBreaker`: CLOSED until ``failure_threshold`` consecutive failures, then OPEN
  (calls fail at once with ``NotSentError(breaker_open=True)``); after ``cooldown_s`` [s] on the
  injected clock it is HALF_OPEN and lets one probe through: success closes it, failure opens
  it again. Failures are ``NotSentError`` and ``AmbiguousError`` from the venue; a
  ``VenueRejectedError`` proves the venue is answering and counts as success.
* :func:`retry_not_sent`: exponential backoff with jitter (tenacity) **only** for
  ``NotSentError`` (never for ambiguous outcomes), honouring the venue's ``Retry-After``.
* :func:`with_timeout`: an overall deadline per call; when it expires the outcome is unknown
  (``AmbiguousError``).
* :class:`HealthTracker`: up / degraded / down per connection with latency, last error, a
  bounded history of changes and alert callbacks.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential, wait_random

from openvpp.core.clock import Clock, SystemClock
from openvpp.markets.connectors.protocol import AmbiguousError, ConnectorError, NotSentError

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "HealthStatus",
    "HealthTracker",
    "RetryPolicy",
    "StatusChange",
    "retry_not_sent",
    "with_timeout",
]

T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Consecutive-failure circuit breaker; ``cooldown_s`` [s] measured on ``clock``."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Clock | None = None,
        name: str = "",
    ) -> None:
        if failure_threshold < 1 or cooldown_s < 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown_s >= 0")
        self.failure_threshold = failure_threshold
        self.cooldown = timedelta(seconds=cooldown_s)
        self.clock = clock or SystemClock()
        self.name = name
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: datetime | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self.clock.now() - self._opened_at >= self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def before_call(self) -> None:
        """Admit a call or raise ``NotSentError(breaker_open=True)``; in HALF_OPEN only one
        probe is admitted at a time."""
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                return
            if state is BreakerState.HALF_OPEN and not self._probing:
                self._probing = True
                return
            raise NotSentError(
                f"circuit breaker {self.name or ''} is open".replace("  ", " "),
                venue=self.name,
                breaker_open=True,
            )

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self.failure_threshold:
                self._opened_at = self.clock.now()
            self._probing = False

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` through the breaker."""
        self.before_call()
        try:
            result = await fn()
        except (NotSentError, AmbiguousError):
            self.record_failure()
            raise
        except ConnectorError:
            self.record_success()  # a definitive answer: the venue is reachable
            raise
        except BaseException:
            with self._lock:
                self._probing = False
            raise
        self.record_success()
        return result


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` in total; delays [s] grow from ``initial_s`` by ``2**n`` up to ``max_s``
    with up to ``jitter_s`` of random jitter; a venue's ``Retry-After`` is a lower bound
    (capped at ``max_retry_after_s``)."""

    attempts: int = 4
    initial_s: float = 0.05
    max_s: float = 2.0
    jitter_s: float = 0.05
    max_retry_after_s: float = 10.0


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, NotSentError) and not exc.breaker_open


async def retry_not_sent(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy | None = None,
    *,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> T:
    """Call ``fn``, retrying only ``NotSentError`` (not from an open breaker).

    The first attempt runs directly: tenacity's per-call state is a reference cycle, which
    only the collector's passes free, and almost every call succeeds at once. A retryable
    failure then enters the policy as its first attempt (``fn`` is not called again for it),
    so attempts and waits are those of the policy."""
    try:
        return await fn()
    except NotSentError as exc:
        if not _retryable(exc):
            raise
        first: NotSentError | None = exc

    async def attempt_fn() -> T:
        nonlocal first
        if first is not None:
            failed, first = first, None
            raise failed
        return await fn()

    return await _retry(attempt_fn, policy or RetryPolicy(), sleep)


async def _retry(
    fn: Callable[[], Awaitable[T]],
    p: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] | None,
) -> T:
    backoff = wait_exponential(multiplier=p.initial_s, max=p.max_s) + wait_random(0, p.jitter_s)

    def wait(state: RetryCallState) -> float:
        delay = float(backoff(state))
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, NotSentError) and exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, p.max_retry_after_s))
        return delay

    retrying = AsyncRetrying(
        retry=retry_if_exception(_retryable),
        stop=stop_after_attempt(p.attempts),
        wait=wait,
        reraise=True,
        sleep=sleep or asyncio.sleep,
    )
    async for attempt in retrying:
        with attempt:
            return await fn()
    raise AssertionError("unreachable")  # pragma: no cover


async def with_timeout(awaitable: Awaitable[T], timeout_s: float, *, venue: str = "") -> T:
    """``awaitable`` within ``timeout_s`` [s]; on expiry ``AmbiguousError`` (it may have been
    sent and processed)."""
    try:
        # a deadline on the running task: no second task per call, as ``wait_for`` makes
        async with asyncio.timeout(timeout_s):
            return await awaitable
    except TimeoutError:
        raise AmbiguousError(f"no answer within {timeout_s} s", venue=venue) from None


class HealthStatus(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A change of a connection's status at ``at`` [UTC]."""

    at: datetime
    old: HealthStatus
    new: HealthStatus
    reason: str


class HealthTracker:
    """Status of one connection from the outcomes of its calls.

    UP after a success faster than ``slow_s`` [s]; DEGRADED after a slow success or from the
    first failure; DOWN after ``down_after`` consecutive failures. ``history`` keeps the last
    ``history_size`` changes; each change calls every registered alert callback (exceptions
    of callbacks are swallowed so that alerting cannot break trading).
    """

    def __init__(
        self,
        name: str,
        *,
        clock: Clock | None = None,
        down_after: int = 3,
        slow_s: float = 2.0,
        history_size: int = 100,
    ) -> None:
        self.name = name
        self.clock = clock or SystemClock()
        self.down_after = down_after
        self.slow_s = slow_s
        self.status = HealthStatus.UP
        self.latency_s: float | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.consecutive_failures = 0
        self.history: deque[StatusChange] = deque(maxlen=history_size)
        self._alerts: list[Callable[[str, StatusChange], None]] = []
        self._lock = threading.Lock()

    def on_change(self, callback: Callable[[str, StatusChange], None]) -> None:
        """Register ``callback(name, change)``."""
        self._alerts.append(callback)

    def record_success(self, latency_s: float) -> None:
        with self._lock:
            self.latency_s = latency_s
            self.consecutive_failures = 0
            slow = latency_s > self.slow_s
            new = HealthStatus.DEGRADED if slow else HealthStatus.UP
            change = self._set(new, f"slow answer {latency_s:.3f} s" if slow else "answer ok")
        self._notify(change)

    def record_failure(self, error: BaseException | str, latency_s: float | None = None) -> None:
        with self._lock:
            if latency_s is not None:
                self.latency_s = latency_s
            self.consecutive_failures += 1
            self.last_error = (
                error if isinstance(error, str) else f"{type(error).__name__}: {error}"
            )
            self.last_error_at = self.clock.now()
            down = self.consecutive_failures >= self.down_after
            new = HealthStatus.DOWN if down else HealthStatus.DEGRADED
            change = self._set(new, self.last_error)
        self._notify(change)

    def _set(self, new: HealthStatus, reason: str) -> StatusChange | None:
        if new is self.status:
            return None
        change = StatusChange(self.clock.now(), self.status, new, reason)
        self.status = new
        self.history.append(change)
        return change

    def _notify(self, change: StatusChange | None) -> None:
        if change is None:
            return
        for callback in list(self._alerts):
            try:
                callback(self.name, change)
            except Exception:  # noqa: S112  (an alert sink must not break the caller)
                continue
