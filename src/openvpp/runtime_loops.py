"""The API server's periodic loops (trading, dispatch, automatic bidding, settlement, the demo
feed): each runs its blocking round in a worker thread, forever, and survives its failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

__all__ = ["every"]


async def every(
    interval_s: float,
    round_: Callable[[], object],
    what: str,
    log: logging.Logger,
    *,
    wait_first: bool = False,
    report: bool = True,
) -> None:
    """Run ``round_`` in a worker thread every ``interval_s`` [s] until cancelled
    (``wait_first``: the first one after an interval). A failing round is logged and the next
    one retries; with ``report`` a round's non-empty result is logged at info."""
    if wait_first:
        await asyncio.sleep(interval_s)
    while True:
        try:
            result = await asyncio.to_thread(round_)
            if report and result:
                log.info("%s: %s", what, result)
        except Exception:  # the loop goes on; the next round retries
            log.exception("%s round failed", what)
        await asyncio.sleep(interval_s)
