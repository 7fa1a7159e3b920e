"""`leadflow.collector`: the garbage collector set for batch work, and restorable."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from leadflow import collector


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


@pytest.mark.usefixtures("restored")
def test_young_collections_come_after_a_whole_batch_of_allocations() -> None:
    collector.tune()
    young, middle, old = gc.get_threshold()
    assert young >= 10_000  # a batch of 500 inquiries makes thousands of objects
    assert middle > 1 and old > 1


@pytest.mark.usefixtures("restored")
def test_what_lives_at_start_is_set_aside_and_garbage_is_freed_first() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

    kept = Node()
    dropped = weakref.ref(Node())
    collector.settle()
    assert dropped() is None  # startup's garbage was collected, not frozen
    assert gc.get_freeze_count() > 0
    assert not any(o is kept for o in gc.get_objects())  # out of the collector's walks
