"""The server's periodic loop (``runtime_loops.every``): a failing round is logged and the next
one runs; results are reported; ``wait_first`` starts after an interval."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from openvpp.runtime_loops import every

log = logging.getLogger("tests.loops")


async def _rounds_until(
    n: int, *, fail_first: bool = False, wait_first: bool = False, report: bool = True
) -> int:
    """Run the loop (interval 1 ms) until its ``n``-th round; the number of rounds seen."""
    calls: list[int] = []
    lock = threading.Lock()
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def round_() -> list[str]:
        with lock:
            calls.append(1)
            k = len(calls)
        if k >= n:
            loop.call_soon_threadsafe(done.set)
        if fail_first and k == 1:
            raise RuntimeError("boom")
        return [f"round {k}"]

    task = asyncio.create_task(every(0.001, round_, "x", log, wait_first=wait_first, report=report))
    try:
        await asyncio.wait_for(done.wait(), timeout=30)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return len(calls)


def test_a_failing_round_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tests.loops")
    assert asyncio.run(_rounds_until(3, fail_first=True)) >= 3
    assert "x round failed" in caplog.text and "boom" in caplog.text
    assert "x: ['round 2']" in caplog.text


def test_without_report_results_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tests.loops")
    asyncio.run(_rounds_until(2, report=False))
    assert "round" not in caplog.text


def test_wait_first_runs_nothing_before_an_interval() -> None:
    calls: list[int] = []

    async def main() -> None:
        task = asyncio.create_task(every(3600, lambda: calls.append(1), "x", log, wait_first=True))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert calls == []
