"""The per-caller request limit (GCRA): the burst, then the rate; refusals say how long to wait
and mark the first of each episode; callers are independent."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.api.ratelimit import Refusal, RequestRateLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_burst_then_rate_with_retry_after_and_one_first_refusal_per_episode() -> None:
    clock = Clock()
    limiter = RequestRateLimiter(2.0, 3, now=clock)
    assert [limiter.check("a") for _ in range(3)] == [None, None, None]
    assert limiter.check("a") == Refusal(1, True)  # 0.5 s to wait, rounded up
    assert limiter.check("a") == Refusal(1, False)
    assert limiter.check("b") is None  # another caller has its own bucket
    clock.t += 0.5
    assert limiter.check("a") is None  # one more token ...
    assert limiter.check("a") == Refusal(1, False)  # ... but the bucket was not full again
    clock.t += 10  # full again: the episode is over
    assert [limiter.check("a") for _ in range(4)] == [None, None, None, Refusal(1, True)]


def test_a_runaway_caller_is_marked_once_a_minute_not_once_per_token() -> None:
    """A caller far over its rate gets a token now and then; only the first refusal of each
    minute is marked ``first`` (audited), not the first after every allowed request."""
    clock = Clock()
    limiter = RequestRateLimiter(10.0, 5, now=clock)
    marked = 0
    for _ in range(150 * 100):  # 150 s at 100 requests/s
        refusal = limiter.check("a")
        marked += refusal is not None and refusal.first
        clock.t += 0.01
    assert marked == 3  # at 0 s (after the burst), 60 s and 120 s


def test_retry_after_counts_whole_seconds_of_a_slow_rate() -> None:
    clock = Clock()
    limiter = RequestRateLimiter(0.01, 1, now=clock)
    assert limiter.check("a") is None
    refusal = limiter.check("a")
    assert refusal is not None and refusal.retry_after_s == 100
    clock.t += 99.5
    assert limiter.check("a") == Refusal(1, True)  # another minute of the episode
    clock.t += 0.5
    assert limiter.check("a") is None


def test_rate_zero_turns_the_limit_off_and_bad_settings_are_refused() -> None:
    limiter = RequestRateLimiter(0, 1)
    assert not limiter.enabled
    assert all(limiter.check("a") is None for _ in range(10_000))
    with pytest.raises(ValueError, match="burst"):
        RequestRateLimiter(1.0, 0)


def test_idle_callers_are_forgotten_when_the_table_is_full() -> None:
    clock = Clock()
    limiter = RequestRateLimiter(1.0, 1, now=clock, max_callers=2)
    assert limiter.check("a") is None and limiter.check("b") is None
    clock.t += 5  # both buckets are full again
    assert limiter.check("c") is None
    assert set(limiter._next) == {"c"}  # a and b were forgotten to make room
    assert limiter.check("a") is None
    assert limiter.check("c") == Refusal(1, True)  # c is still remembered


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([0.5, 1.0, 3.0, 10.0]),
    burst=st.integers(1, 6),
    gaps=st.lists(st.floats(0, 2, allow_nan=False), min_size=1, max_size=80),
)
def test_no_window_admits_more_than_burst_plus_rate_times_its_length(
    rate: float, burst: int, gaps: list[float]
) -> None:
    """The GCRA bound: in any interval [s, e], at most burst + rate * (e - s) requests are
    allowed; and a refused caller that waits its Retry-After is allowed."""
    clock = Clock()
    limiter = RequestRateLimiter(rate, burst, now=clock)
    allowed: list[float] = []
    for gap in gaps:
        clock.t += gap
        refusal = limiter.check("k")
        if refusal is None:
            allowed.append(clock.t)
        else:
            assert refusal.retry_after_s >= 1
            assert refusal.retry_after_s < 1 / rate + 1  # one interval, rounded up
    for i, start in enumerate(allowed):
        for j in range(i, len(allowed)):
            assert j - i + 1 <= burst + math.floor(rate * (allowed[j] - start) + 1e-6)
    probe = RequestRateLimiter(rate, burst, now=clock)
    while (refusal := probe.check("k")) is None:
        pass
    clock.t += refusal.retry_after_s
    assert probe.check("k") is None
