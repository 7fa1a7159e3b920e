"""`all_of`: the consumer's steps after a commit run at once, and a failure is raised as
it is (the consumer's loop catches `Interrupted` by its type)."""

from __future__ import annotations

import asyncio

import pytest

from ingest.consumer import all_of
from ingest.errors import Interrupted


async def test_the_steps_run_at_once() -> None:
    # Each step waits for the other: one after the other, neither would finish.
    first, second = asyncio.Event(), asyncio.Event()

    async def one() -> None:
        first.set()
        await second.wait()

    async def two() -> None:
        await first.wait()
        second.set()

    await asyncio.wait_for(all_of(one(), two()), 5)
    assert first.is_set() and second.is_set()


async def test_a_failing_step_is_raised_as_it_is_and_stops_the_others() -> None:
    never = asyncio.Event()
    cancelled = asyncio.Event()

    async def waits() -> None:
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def fails() -> None:
        await asyncio.sleep(0)
        raise Interrupted("stopped while retrying")

    with pytest.raises(Interrupted, match="stopped while retrying"):
        await asyncio.wait_for(all_of(waits(), fails()), 5)
    assert cancelled.is_set(), "the other step was left running"
