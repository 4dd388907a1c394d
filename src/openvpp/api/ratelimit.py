"""Request rate limits per caller: a generic cell rate algorithm (GCRA), i.e. a token bucket
kept as one number per caller — the theoretical arrival time of its next request.

A caller may send ``burst`` requests at once and then ``rate_per_s`` per second; beyond that
the request is refused with how long to wait. Kept in this process's memory (each server
process limits on its own) on the monotonic clock, so wall-clock steps change nothing."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Refusal", "RequestRateLimiter"]

AUDIT_EVERY_S = 60.0
"""A refusal is marked ``first`` again this long after the last one so marked."""


@dataclass(frozen=True, slots=True)
class Refusal:
    retry_after_s: int
    """Whole seconds until a request of this caller is allowed again (at least 1)."""
    first: bool
    """The first refusal of an episode, or the first of another minute of a long one (the
    ones audited). An episode ends when the caller's bucket is full again."""


class RequestRateLimiter:
    """``check(key)`` once per request: None when allowed, else a :class:`Refusal`.
    ``rate_per_s`` 0 turns the limit off."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        now: Callable[[], float] = time.monotonic,
        max_callers: int = 100_000,
    ) -> None:
        if rate_per_s < 0 or burst < 1:
            raise ValueError(f"rate_per_s must be >= 0 and burst >= 1, got {rate_per_s}, {burst}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._now = now
        self._max_callers = max_callers
        self._interval = 0.0 if rate_per_s == 0 else 1.0 / rate_per_s
        self._tolerance = burst * self._interval
        self._next: dict[str, float] = {}  # theoretical arrival time per caller
        self._refused: dict[str, float] = {}  # callers in an episode: when ``first`` was last
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0

    def check(self, key: str) -> Refusal | None:
        if not self.enabled:
            return None
        now = self._now()
        with self._lock:
            theoretical = self._next.get(key, now)
            due = max(theoretical, now) + self._interval
            excess = due - now - self._tolerance
            if excess > 1e-9:
                marked = self._refused.get(key)
                first = marked is None or now - marked >= AUDIT_EVERY_S
                if first:
                    self._refused[key] = now
                return Refusal(max(1, math.ceil(excess)), first)
            if len(self._next) >= self._max_callers and key not in self._next:
                self._forget_idle(now)
            self._next[key] = due
            if theoretical <= now:  # the bucket was full: any episode is over
                self._refused.pop(key, None)
            return None

    def _forget_idle(self, now: float) -> None:
        """Drop callers whose bucket is full again (they would start afresh anyway)."""
        idle = [k for k, t in self._next.items() if t <= now]
        for k in idle:
            del self._next[k]
            self._refused.pop(k, None)
