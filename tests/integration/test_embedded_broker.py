"""The embedded broker (Tansu, memory only) under `leadflow up`: what it holds of our
traffic, and that it is started again, empty and on its port, when it dies or holds
more than its bound (issue 11). Each test runs its own Tansu: memory is read per
process.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from connectors.publisher import Publisher
from ingest.contract import Inquiry, Sender, Topics
from leadflow.broker import (
    EMBEDDED_PARTITIONS,
    EmbeddedBroker,
    create_topics,
    resident_mib,
    topic_maker,
    with_embedded_partitions,
)
from leadflow.settings import Settings
from tests.factories import make_inquiry

from .channel_helpers import eventually

pytestmark = pytest.mark.integration


def _resident_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


async def _publish_all(publisher: Publisher, inquiries: list[Inquiry]) -> None:
    for start in range(0, len(inquiries), 500):
        await asyncio.gather(*(publisher.publish(i) for i in inquiries[start : start + 500]))


async def _topic_names(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    async with EmbeddedBroker() as embedded:
        yield embedded


async def test_the_broker_holds_published_inquiries_in_less_memory_than_their_json(
    broker: EmbeddedBroker,
) -> None:
    # Tansu keeps every batch as it was sent until it stops; uncompressed it took
    # 1.7 times the JSON (batch overhead included), LZ4 batches about half of it.
    topics = Topics()
    await create_topics(broker.bootstrap_servers, topics, partitions=1)
    inquiries = [
        make_inquiry(
            sender=Sender(name="Анна Петрова", email=f"client{i}@example{i % 97}.ru"),
            text=f"Здравствуйте! Сколько стоит доставка заказа {i} в Казань?",
        )
        for i in range(12_000)
    ]
    warm, measured = inquiries[:2_000], inquiries[2_000:]
    assert broker.pid is not None
    async with Publisher(broker.bootstrap_servers, topics, linger_ms=20) as publisher:
        await _publish_all(publisher, warm)
        before = _resident_kib(broker.pid)
        await _publish_all(publisher, measured)
        held = (_resident_kib(broker.pid) - before) * 1024
    json_bytes = sum(len(inquiry.to_kafka()[1]) for inquiry in measured)
    assert held < 0.9 * json_bytes, f"the broker took {held / json_bytes:.2f}x the JSON"


async def test_a_broker_that_died_is_started_again_on_its_port(broker: EmbeddedBroker) -> None:
    stop = asyncio.Event()
    watch = asyncio.create_task(broker.keep_running(stop, max_memory_mib=0, check_every_s=0.2))
    first = broker.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)

    await eventually(lambda: broker.starts == 2, 30, what="a new broker, ready")
    assert broker.pid not in (None, first)
    # The same address serves clients again: what they hold keeps working.
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait("after-the-crash", b"still here", partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        "after-the-crash", bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert record.value == b"still here"
    stop.set()
    await asyncio.wait_for(watch, 10)
    assert broker.running, "stopping the watch leaves the broker to its owner"


async def test_a_broker_started_again_has_our_topics_laid_out_as_tansu_lays_out_its_own(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """After a restart a client may name a topic before anyone created it: Tansu then
    makes it with partitions of its own choosing, takes records for partitions it
    does not list, and nobody reads those (notices were lost so in the fault trial).
    Our topics are made at once after the restart, and with as many partitions."""
    settings = with_embedded_partitions(
        Settings(data_dir=tmp_path, kafka={"topic_prefix": "restarted.", "partitions": 6})
    )
    topics = Topics("restarted.")
    stop = asyncio.Event()
    watch = asyncio.create_task(
        broker.keep_running(
            stop,
            max_memory_mib=0,
            check_every_s=0.2,
            create_topics=topic_maker(settings, broker.bootstrap_servers),
        )
    )
    first = broker.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await eventually(lambda: broker.starts == 2, 30, what="a new broker, ready")
    async with asyncio.timeout(30):  # made by `create_topics`, not by a client's request
        while not set(topics.all()) <= await _topic_names(broker.bootstrap_servers):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait("named-by-a-client-first", b"x")
        made_by_tansu = await producer.partitions_for("named-by-a-client-first")
        ours = {t: await producer.partitions_for(t) for t in topics.all()}
    finally:
        await producer.stop()
    assert len(made_by_tansu) == EMBEDDED_PARTITIONS
    assert {t: len(p) for t, p in ours.items()} == dict.fromkeys(topics.all(), len(made_by_tansu))
    stop.set()
    await asyncio.wait_for(watch, 10)


async def test_a_broker_past_its_memory_bound_is_started_again_empty(
    broker: EmbeddedBroker,
) -> None:
    topics = Topics()
    await create_topics(broker.bootstrap_servers, topics, partitions=1)
    first = broker.pid
    assert first is not None
    bound = (resident_mib(first) or 0) + 8
    async with Publisher(broker.bootstrap_servers, topics, linger_ms=20) as publisher:
        # Random bytes do not compress: 16 MiB held, past the bound.
        for _ in range(8):
            payloads = [os.urandom(8 * 1024) for _ in range(256)]
            await asyncio.gather(*(publisher.send(topics.dlq, None, p) for p in payloads))
    assert (resident_mib(first) or 0) > bound
    stop = asyncio.Event()
    watch = asyncio.create_task(broker.keep_running(stop, max_memory_mib=bound, check_every_s=0.2))

    await eventually(lambda: broker.starts == 2, 30, what="a new broker, ready")
    assert broker.pid not in (None, first)
    assert broker.pid is not None
    assert (resident_mib(broker.pid) or 0) < bound, "the new broker starts empty"
    assert topics.dlq not in await _topic_names(broker.bootstrap_servers)
    stop.set()
    await asyncio.wait_for(watch, 10)


async def test_a_broker_whose_fetches_list_many_batches_is_started_again_past_its_cpu_share(
    broker: EmbeddedBroker,
) -> None:
    """Tansu lists every batch of a partition on each fetch that asks for anything
    below its end: with many batches held, a reader keeps it busy, and the CPU bound
    starts it again, empty. Holding them unread, under the same bound, it is left alone."""
    topic = "many-batches"
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=0)
    await producer.start()
    try:
        for i in range(10_000):  # one record batch each: one produce request each
            batch = producer.create_batch()
            batch.append(key=None, value=str(i).encode(), timestamp=None)
            batch.close()
            await (await producer.send_batch(batch, topic, partition=0))
    finally:
        await producer.stop()
    first = broker.pid

    stop = asyncio.Event()
    watch = asyncio.create_task(
        broker.keep_running(
            stop, max_memory_mib=0, max_cpu_share=0.3, cpu_window_s=2.0, check_every_s=0.2
        )
    )
    await asyncio.sleep(3.0)  # a whole window and more, with nobody reading
    assert broker.cpu_restarts == 0 and broker.starts == 1, "restarted while nobody read"

    async def read_from_the_start_again_and_again() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=broker.bootstrap_servers, fetch_max_wait_ms=1, group_id=None
        )
        await consumer.start()
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        try:
            while broker.cpu_restarts == 0:
                consumer.seek(tp, 0)
                await consumer.getmany(tp, timeout_ms=500, max_records=1)
        except KafkaError:
            pass  # the broker went away under us: restarted
        finally:
            await consumer.stop()

    reader = asyncio.create_task(read_from_the_start_again_and_again())
    await eventually(lambda: broker.cpu_restarts == 1, 60, what="a restart for the CPU bound")
    await eventually(lambda: broker.starts == 2, 30, what="the new broker, ready")
    assert broker.pid not in (None, first)
    assert topic not in await _topic_names(broker.bootstrap_servers), "the new one is empty"
    stop.set()
    await asyncio.gather(reader, return_exceptions=True)
    await asyncio.wait_for(watch, 10)
