"""``dispatch.mqtt.cancel_all``: tasks end even when a cancellation is lost, as Python 3.11's
``asyncio.wait_for`` (under aiomqtt's publish) loses one that arrives as its inner future
completes; the agents' and the gateway's ``aclose`` hung on such a task."""

from __future__ import annotations

import asyncio

import pytest

from openvpp.dispatch.mqtt import cancel_all


async def _stubborn(lost: list[int]) -> None:
    """A publishing loop whose first cancellation is lost, as under the wait_for bug."""
    while True:
        try:
            await asyncio.sleep(0.005)
        except asyncio.CancelledError:
            if lost:
                raise
            lost.append(1)


async def _failing() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("the loop's own failure")


def test_a_lost_cancellation_is_repeated() -> None:
    async def scenario() -> list[int]:
        lost: list[int] = []
        task = asyncio.create_task(_stubborn(lost))
        await asyncio.sleep(0.02)
        await asyncio.wait_for(cancel_all([task], recancel_s=0.05), 5)
        assert task.cancelled()
        return lost

    assert asyncio.run(scenario()) == [1]


def test_a_single_cancel_is_not_enough_for_such_a_task() -> None:
    """What ``aclose`` did before: cancel once and await: it never ends."""

    async def scenario() -> None:
        task = asyncio.create_task(_stubborn([]))
        await asyncio.sleep(0.02)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=0.3)
        assert not done
        await cancel_all([task], recancel_s=0.05)

    asyncio.run(scenario())


def test_a_tasks_own_failure_is_raised_after_all_ended() -> None:
    async def scenario() -> None:
        quiet = asyncio.create_task(asyncio.sleep(10))
        failing = asyncio.create_task(_failing())
        await asyncio.sleep(0.01)
        with pytest.raises(RuntimeError, match="own failure"):
            await cancel_all([quiet, failing])
        assert quiet.cancelled()

    asyncio.run(scenario())
