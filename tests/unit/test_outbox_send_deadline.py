"""The outbox's sends end within their deadline, even when the broker never answers.

A broker that froze or restarted empty can leave a produce future unresolved for
ever; the consumer waits for it inside the transaction that marks the rows, so an
unbounded wait stopped the whole pipeline without a word. `send_all` must give up
at its deadline (the caller then rolls back and the sweep publishes the rows later).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ingest.outbox_publisher import send_all

MESSAGES = [("leadflow.lead-events", b'{"n": 1}', b"k1"), ("leadflow.outbound", b"{}", b"k2")]


class Batch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []

    def append(self, *, key: bytes | None, value: bytes, timestamp: None) -> object:
        self.records.append((key, value))
        return object()

    def close(self) -> None:
        pass


class Producer:
    """Takes every record batch; acknowledges them only when `answers` is set."""

    def __init__(self, *, answers: bool) -> None:
        self.answers = answers
        self.sent: list[tuple[str, bytes, bytes | None]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(self, batch: Batch, topic: str, *, partition: int) -> Any:
        self.sent += [(topic, value, key) for key, value in batch.records]
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.answers:
            ack.set_result(None)
        return ack


async def test_every_message_is_sent_and_acknowledged() -> None:
    producer = Producer(answers=True)
    await send_all(producer, MESSAGES, deadline_s=5)
    assert producer.sent == MESSAGES


async def test_a_broker_that_never_acknowledges_fails_the_send_at_the_deadline() -> None:
    producer = Producer(answers=False)
    sending = asyncio.ensure_future(send_all(producer, MESSAGES, deadline_s=0.05))
    done, _ = await asyncio.wait({sending}, timeout=10)
    if not done:
        sending.cancel()
    assert done, "send_all kept waiting for acknowledgements past its deadline"
    assert isinstance(sending.exception(), TimeoutError)
    assert producer.sent == MESSAGES
