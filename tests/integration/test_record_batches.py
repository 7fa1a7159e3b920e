"""Record batches against the real Tansu broker: every key where `send` puts it, in order.

The relay and the consumer's outbox (`send_all`) hand their messages to the producer
as record batches they build themselves (`send_batched`), so the partition of each
key is theirs to choose: it must be the one the producer's own `send` chooses (else
one lead's events, or one sender's inquiries, would be split across partitions and
lose their order), the messages of a key must stay in order, and a full batch must
be sent and the next one begun, with every message's bytes and key unchanged.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ingest.contract import Topics
from ingest.contract.record_batches import send_batched
from ingest.outbox_publisher import send_all

from ..conftest import BrokerProcess

pytestmark = pytest.mark.integration

# Lead ids as the outbox keys them, and the empty key of an outbound without "to".
KEYS = [f"lead-{i:04d}-{i * 7919 % 1000}".encode() for i in range(150)] + [b""]
ROUNDS = 8
PROBE = b"probe"


async def read_all(bootstrap: str, topic: str, n: int) -> list[Any]:
    """The first `n` records of every partition of `topic`, each partition in offset order."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    out: list[Any] = []
    try:
        async with asyncio.timeout(10):
            while len(out) < n:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    out.extend(records)
    finally:
        await consumer.stop()
    return out


async def test_batched_messages_land_where_send_puts_them_in_order_per_key(
    broker: BrokerProcess, topics: Topics
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        max_batch_size=1024,  # a few dozen of these messages: batches fill up and split
    )
    await producer.start()
    batches = 0
    send_batch = producer.send_batch

    async def counting_send_batch(batch: Any, topic: str, *, partition: int) -> Any:
        nonlocal batches
        batches += 1
        return await send_batch(batch, topic, partition=partition)

    producer.send_batch = counting_send_batch
    try:
        # Where the producer's own `send` puts each key, on the topics themselves.
        where: dict[tuple[str, bytes], int] = {}
        for topic in (topics.lead_events, topics.outbound):
            acks = [await producer.send(topic, PROBE, key=key) for key in KEYS]
            for key, ack in zip(KEYS, acks, strict=True):
                where[topic, key] = (await ack).partition
        assert len(set(where.values())) == 3, "the keys should cover every partition"

        messages = [
            (topic, key + b"#" + str(n).encode(), key)
            for n in range(ROUNDS)
            for key in KEYS
            for topic in (topics.lead_events, topics.outbound)
        ]
        await send_all(producer, messages, deadline_s=30)
    finally:
        await producer.stop()

    assert batches > 6, "full batches should have been sent and new ones begun"
    for topic in (topics.lead_events, topics.outbound):
        records = await read_all(broker.bootstrap_servers, topic, len(KEYS) * (ROUNDS + 1))
        got: dict[bytes, list[bytes]] = defaultdict(list)
        for r in records:
            if r.value == PROBE:
                continue
            assert r.partition == where[topic, r.key], f"key {r.key!r} left its partition"
            got[r.key].append(r.value)
        sent: dict[bytes, list[bytes]] = defaultdict(list)
        for t, value, key in messages:
            if t == topic:
                sent[key].append(value)
        assert got == sent, "each key's messages, in order, byte for byte"


async def test_one_partition_puts_a_calls_messages_in_one_batch_wherever_their_keys_point(
    broker: BrokerProcess, topics: Topics
) -> None:
    """The relay's rounds on the embedded broker (`kafka.relay_partitioning = round`):
    each call's messages in the partition it is given, as one record batch, in order."""
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, acks="all", enable_idempotence=False
    )
    await producer.start()
    batches: list[int] = []
    send_batch = producer.send_batch

    async def counting_send_batch(batch: Any, topic: str, *, partition: int) -> Any:
        batches.append(partition)
        return await send_batch(batch, topic, partition=partition)

    producer.send_batch = counting_send_batch
    rounds = [[(topics.inquiries, f"{r}:{key!r}".encode(), key) for key in KEYS] for r in (0, 1)]
    try:
        ids = sorted(await producer.partitions_for(topics.inquiries))
        assert len(ids) > 1
        spans = [
            await send_batched(producer, rounds[0], one_partition=lambda ids: ids[-1]),
            await send_batched(producer, rounds[1], one_partition=lambda ids: ids[0]),
        ]
    finally:
        await producer.stop()

    assert len(batches) == 2, "one record batch per call, though the keys spread out"
    assert [list(s) for s in spans] == [[(topics.inquiries, ids[-1])], [(topics.inquiries, ids[0])]]
    records = await read_all(broker.bootstrap_servers, topics.inquiries, 2 * len(KEYS))
    by_partition: dict[int, list[bytes]] = defaultdict(list)
    for r in records:
        by_partition[r.partition].append(r.value)
    assert by_partition == {
        ids[-1]: [value for _, value, _ in rounds[0]],
        ids[0]: [value for _, value, _ in rounds[1]],
    }
