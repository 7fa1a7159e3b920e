"""Waiting and closing Kafka clients with deadlines: a frozen broker answers nothing,
and a client's `stop()` then waits for it for good. Imports nothing of ours."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

T = TypeVar("T")

# What a broker that is down, frozen, restarted or lost its topics raises at us.
BROKER_ERRORS = (KafkaError, TimeoutError, OSError, ConnectionError)


async def wait_or_stop(
    stop: asyncio.Event, seconds: float, also: asyncio.Event | None = None
) -> None:
    """Sleep `seconds`, ending early on `stop` (or on `also`)."""
    waits = [asyncio.ensure_future(stop.wait())]
    if also is not None:
        waits.append(asyncio.ensure_future(also.wait()))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def stop_consumer(consumer: AIOKafkaConsumer, timeout_s: float) -> None:
    await close_within(consumer.stop(), timeout_s)
    # aiokafka's fetcher can re-raise its tasks' cancellation from stop() before the
    # client's connections are closed; close them (closing twice is harmless).
    await close_within(consumer._client.close(), timeout_s)


async def close_within(closing: Awaitable[T], timeout_s: float) -> None:
    """Close a Kafka client, giving up after `timeout_s` (a frozen broker never answers)."""
    try:
        await asyncio.wait_for(closing, timeout_s)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        # Not ours: aiokafka's fetcher re-raises the cancellation of its own tasks on stop.
    except BROKER_ERRORS:
        pass
