"""The cyclic garbage collector's policy in a server process: survivors are frozen.

CPython's collector scans the whole oldest generation in each of its full passes. A server's
heap is mostly long-lived: the libraries and presets at start-up (about 300,000 objects), then
what accumulates under load and stays alive (the in-process exchange's resting orders, the
statement caches). Under 500 orders/s such a pass ran every 2 s and took 20-40 ms, during
which no request progressed: most of the p99 latency (docs/benchmarks.md).

Objects frozen with :func:`gc.freeze` are left out of every pass; they are still freed by
reference counting as usual. So the server freezes the start-up heap, and then, after each
full pass, everything that survived it: the next pass only scans what was allocated and
promoted since, a few milliseconds' worth.

The price: an object frozen while alive that later dies *in a reference cycle* is not freed
until the heap is unfrozen. The order path creates no such cycles (``trading/batching.py``);
measured, about 70 objects in 25 s at 500 orders/s. To bound even that, every ``sweep_s``
seconds the heap is unfrozen: the next full pass then scans (and frees) everything, one pause
of the old length, after which freezing resumes.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

__all__ = ["HeapPolicy"]


class HeapPolicy:
    """Freeze the start-up heap and each full pass's survivors; sweep every ``sweep_s``."""

    def __init__(self, sweep_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._sweep_s = sweep_s
        self._clock = clock
        self._next_sweep = 0.0
        self._installed = False
        self.full_passes = 0
        """Full passes seen since :meth:`install`."""
        self.sweeps = 0
        """Times the heap was unfrozen for a full sweep."""

    def install(self) -> None:
        """Collect once, freeze what survived and start freezing after each full pass."""
        if self._installed:
            return
        gc.collect()
        gc.freeze()
        self._next_sweep = self._clock() + self._sweep_s
        gc.callbacks.append(self._on_collect)
        self._installed = True

    def uninstall(self) -> None:
        """Stop freezing and unfreeze the heap (at shutdown)."""
        if not self._installed:
            return
        gc.callbacks.remove(self._on_collect)
        gc.unfreeze()
        self._installed = False

    def _on_collect(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info["generation"] != 2:
            return
        self.full_passes += 1
        now = self._clock()
        if now >= self._next_sweep:
            # this pass saw only what was not frozen: the next one sees (and frees) everything
            gc.unfreeze()
            self._next_sweep = now + self._sweep_s
            self.sweeps += 1
        else:
            gc.freeze()
