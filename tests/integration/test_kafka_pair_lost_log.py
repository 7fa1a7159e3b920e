"""The inquiry consumer's and the notifier's Kafka pair resuming after new clients:
at its own committed offset when the log is the one it committed in, from the new
log's beginning when the broker restarted empty and holds that offset all the same
(a commit in flight at the broker's death, retried by aiokafka on the new broker).
Real Tansu processes of our own, restarted empty on the same port."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from ingest.contract import Topics
from ingest.kafka_pair import KafkaPair, PairConfig, Record
from leadflow.broker import create_topics

from ..conftest import BrokerProcess, start_tansu, stop_tansu
from .test_consumer_faults import until

pytestmark = pytest.mark.integration


async def _produce(broker: BrokerProcess, topic: str, values: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value.encode(), partition=0)
    finally:
        await producer.stop()


async def _read(pair: KafkaPair, count: int) -> list[Record]:
    """Fetch (and commit) until `count` records came, or 20 s passed."""
    got: list[Record] = []

    async def enough() -> bool:
        records = await pair.fetch(100, on_fault=_ignore, wait_s=0.1, stop=None)
        if records:
            got.extend(records)
            assert await pair.commit(records)
        return len(got) >= count

    with contextlib.suppress(TimeoutError):  # the caller's assert says what is missing
        await until(enough, within=20)
    return got


async def _ignore(_exc: BaseException) -> None:
    return None


async def _commit_into_new_group(pair: KafkaPair, tp: TopicPartition, end: int) -> None:
    """What the retried commit did: an offset of the lost log, committed by the pair's
    consumer once it has rejoined its group on the new broker."""
    consumer, _ = pair.clients()

    async def landed() -> bool:
        try:
            await consumer.commit({tp: end})
        except KafkaError:  # not rejoined yet
            return False
        return True

    await until(landed)


def _pair(broker: BrokerProcess, topic: str, group: str) -> KafkaPair:
    config = PairConfig(
        bootstrap_servers=broker.bootstrap_servers,
        topic=topic,
        group_id=group,
        client_id="test",
        fetch_max_wait_ms=20,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        deadline_s=5.0,
    )
    return KafkaPair(config, "TestPair")


def _values(records: list[Record]) -> list[str]:
    return [(r.value or b"").decode() for r in records]


async def test_a_new_log_holding_our_old_offset_is_read_from_its_beginning(
    own_broker: BrokerProcess,
) -> None:
    topics = Topics(prefix=f"k{uuid.uuid4().hex[:6]}.")
    await create_topics(own_broker.bootstrap_servers, topics, partitions=1)
    before = [f"before {i}" for i in range(10)]
    await _produce(own_broker, topics.inquiries, before)
    pair = _pair(own_broker, topics.inquiries, f"g-{uuid.uuid4().hex[:8]}")
    await pair.start()
    try:
        assert _values(await _read(pair, 10)) == before

        stop_tansu(own_broker)
        restarted = start_tansu(own_broker.port)  # same port, nothing in it
        try:
            await create_topics(restarted.bootstrap_servers, topics, partitions=1)
            after = [f"after {i}" for i in range(15)]  # the new log grows past offset 10
            await _produce(restarted, topics.inquiries, after)
            tp = TopicPartition(topics.inquiries, 0)
            await _commit_into_new_group(pair, tp, 10)
            await pair.restart()  # new clients, as `heal` opens them
            assert _values(await _read(pair, 15)) == after, "the new log from its start"
        finally:
            stop_tansu(restarted)
    finally:
        await pair.stop()


async def test_the_same_log_resumes_at_our_commit_with_nothing_read_twice(
    own_broker: BrokerProcess,
) -> None:
    topics = Topics(prefix=f"m{uuid.uuid4().hex[:6]}.")
    await create_topics(own_broker.bootstrap_servers, topics, partitions=1)
    first = [f"first {i}" for i in range(10)]
    await _produce(own_broker, topics.inquiries, first)
    pair = _pair(own_broker, topics.inquiries, f"g-{uuid.uuid4().hex[:8]}")
    await pair.start()
    try:
        assert _values(await _read(pair, 10)) == first
        then = [f"then {i}" for i in range(5)]
        await _produce(own_broker, topics.inquiries, then)
        await pair.restart()
        assert _values(await _read(pair, 5)) == then, "resumed where it stopped"
    finally:
        await pair.stop()
