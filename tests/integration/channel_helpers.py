"""Shared bits of the channel tests: fixtures on disk, reading topics, waiting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from ingest.contract import Inquiry

FIXTURES = Path(__file__).parent.parent / "fixtures"
DEAD_BROKER = "127.0.0.1:1"


def fixture(kind: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / kind / f"{name}.json").read_text())
    return data


def fixture_bytes(kind: str, name: str) -> bytes:
    return (FIXTURES / kind / f"{name}.json").read_bytes()


async def read_topic(
    bootstrap: str, topic: str, n: int, *, within: float = 10.0
) -> list[tuple[bytes, dict[str, bytes]]]:
    """The first `n` records of `topic`: (value, headers)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    out: list[tuple[bytes, dict[str, bytes]]] = []
    try:
        async with asyncio.timeout(within):
            while len(out) < n:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    out.extend((r.value, dict(r.headers)) for r in records)
    finally:
        await consumer.stop()
    return out


async def read_inquiries(bootstrap: str, topic: str, n: int) -> list[Inquiry]:
    return [Inquiry.from_kafka(v) for v, _ in await read_topic(bootstrap, topic, n)]


async def eventually(
    predicate: Callable[[], bool], within: float = 10.0, *, what: str | None = None
) -> None:
    """Wait until `predicate()` holds; past `within` seconds fail, saying `what` did not
    happen (else a bare TimeoutError)."""
    try:
        async with asyncio.timeout(within):
            while not predicate():  # noqa: ASYNC110 (polling a fake's state is the point)
                await asyncio.sleep(0.02)
    except TimeoutError:
        if what is None:
            raise
        raise AssertionError(f"{what}: not within {within:g} s") from None


async def cancel_and_wait(task: asyncio.Task[Any], within: float = 30.0) -> None:
    """Cancel `task` and wait, bounded, until it ends; fail if it does not."""
    task.cancel()
    await asyncio.wait({task}, timeout=within)
    if not task.done():
        task.cancel()  # once more, so that a failing test does not leave it running
        raise AssertionError(f"task {task.get_name()} did not end within {within:g} s of a cancel")
    assert task.cancelled(), f"task {task.get_name()} ended but was not cancelled"
