"""Stopping the Kafka pair when aiokafka re-raises the cancellation of its own task.

With the broker already gone, `AIOKafkaConsumer.stop()` can raise `CancelledError`
from its fetcher although nobody cancelled us: the producer must still be stopped
(else the process exits on a traceback), while a real cancellation of our task
still ends the shutdown.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ingest.kafka_pair import KafkaPair, PairConfig

CONFIG = PairConfig("127.0.0.1:1", "t", "g", "c", 100, 10_000, 3_000, deadline_s=1.0)


class _Client:
    def __init__(self, raises: BaseException | None = None) -> None:
        self.raises = raises
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True
        if self.raises is not None:
            raise self.raises


def _pair(consumer: _Client, producer: _Client) -> KafkaPair:
    pair = KafkaPair(CONFIG, "test")
    fake: Any = pair
    fake._consumer, fake._producer = consumer, producer
    return pair


async def test_a_cancellation_raised_inside_aiokafka_still_stops_the_producer() -> None:
    consumer, producer = _Client(asyncio.CancelledError()), _Client()
    await _pair(consumer, producer).stop()
    assert consumer.stopped and producer.stopped


async def test_our_own_cancellation_still_ends_the_shutdown() -> None:
    started = asyncio.Event()

    class _Slow(_Client):
        async def stop(self) -> None:
            started.set()
            await asyncio.sleep(10)

    pair = _pair(_Slow(), _Client())
    task = asyncio.create_task(pair.stop())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
