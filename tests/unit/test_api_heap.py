"""The server's collector policy (``api/heap.py``): survivors of full passes are frozen, and a
sweep unfreezes them so that a cycle that died while frozen is freed after all."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from openvpp.api.heap import HeapPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


@pytest.fixture
def policy() -> Iterator[tuple[HeapPolicy, Clock]]:
    clock = Clock()
    heap = HeapPolicy(sweep_s=100.0, clock=clock)
    heap.install()
    try:
        yield heap, clock
    finally:
        heap.uninstall()
    assert gc.get_freeze_count() == 0


def test_install_freezes_the_heap_and_uninstall_lets_go(
    policy: tuple[HeapPolicy, Clock],
) -> None:
    heap, _ = policy
    assert gc.get_freeze_count() > 0
    assert heap._on_collect in gc.callbacks
    heap.install()  # twice: still one hook
    assert gc.callbacks.count(heap._on_collect) == 1


def test_survivors_of_a_full_pass_are_frozen(policy: tuple[HeapPolicy, Clock]) -> None:
    heap, _ = policy
    before = gc.get_freeze_count()
    alive = [Node() for _ in range(1000)]
    gc.collect()
    assert heap.full_passes >= 1
    assert gc.get_freeze_count() >= before + len(alive)
    # a young collection freezes nothing
    frozen = gc.get_freeze_count()
    more = [Node() for _ in range(10)]
    gc.collect(0)
    assert gc.get_freeze_count() == frozen
    del alive, more


def test_a_cycle_that_died_frozen_is_freed_by_the_next_sweep(
    policy: tuple[HeapPolicy, Clock],
) -> None:
    heap, clock = policy
    node = Node()
    ref = weakref.ref(node)
    gc.collect()  # node survives the pass: frozen
    del node
    gc.collect()
    assert ref() is not None  # garbage, but frozen: left alone (the price of freezing)
    clock.now = 100.0  # the sweep is due: this pass unfreezes the heap afterwards
    gc.collect()
    assert heap.sweeps == 1
    assert gc.get_freeze_count() == 0
    gc.collect()  # sees everything
    assert ref() is None
    assert gc.get_freeze_count() > 0  # and freezing goes on
    clock.now = 150.0
    gc.collect()
    assert heap.sweeps == 1  # the next sweep is due at 200
