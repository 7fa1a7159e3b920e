"""The outbound dispatcher resuming after its group's assignment changed: at its own
committed offset when the log is the one it committed in, from the new log's
beginning when the broker restarted empty and holds that offset all the same (a
commit in flight at the broker's death, which aiokafka retried on the new broker:
the embedded-broker-kill fault trial lost 140 mails that way). Real Tansu processes
of our own, restarted empty on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.outbound import OutboundConfig, OutboundDispatcher
from ingest.contract import OutboundMessage, Topics
from leadflow.broker import create_topics

from ..conftest import BrokerProcess, start_tansu, stop_tansu
from .test_consumer_faults import produce, until

pytestmark = pytest.mark.integration


class _Outbox:
    """An SMTP server seen from the dispatcher: what it was handed, in order."""

    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def send(self, message: OutboundMessage) -> None:
        self.delivered.append(message.text or "")


def _mails(texts: list[str]) -> list[OutboundMessage]:
    return [
        OutboundMessage(
            id=uuid.uuid4(),
            channel="email",
            purpose="reply",
            to="customer@example.com",
            text=text,
            created_at=datetime.now(UTC),
        )
        for text in texts
    ]


def _config(broker: BrokerProcess, topics: Topics) -> OutboundConfig:
    return OutboundConfig(
        bootstrap_servers=broker.bootstrap_servers,
        topics=topics,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        broker_deadline_s=5.0,
    )


async def _send_all(dispatcher: OutboundDispatcher, outbox: _Outbox, texts: list[str]) -> None:
    """Run the dispatcher (entered again, as the supervisor does) until `texts` were
    all handed over or 20 s passed, then stop it (which commits)."""

    async def arrived() -> bool:
        return set(texts) <= set(outbox.delivered)

    stop = asyncio.Event()
    async with dispatcher:
        run = asyncio.create_task(dispatcher.run(stop))
        try:
            with contextlib.suppress(TimeoutError):  # the caller's assert says what is missing
                await until(arrived, within=20)
        finally:
            stop.set()
            await asyncio.wait_for(run, 30)


async def _commit_into(broker: BrokerProcess, group: str, tp: TopicPartition, end: int) -> None:
    """What the retried commit did: an offset of the lost log, in the new broker's group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: end})
    finally:
        await consumer.stop()


async def test_a_new_log_holding_our_old_offset_is_read_from_its_beginning(
    own_broker: BrokerProcess,
) -> None:
    topics = Topics(prefix=f"r{uuid.uuid4().hex[:6]}.")
    await create_topics(own_broker.bootstrap_servers, topics, partitions=1)
    before = [f"before {i}" for i in range(10)]
    await produce(own_broker.bootstrap_servers, topics.outbound, _mails(before))
    config = _config(own_broker, topics)
    outbox = _Outbox()
    dispatcher = OutboundDispatcher(config)
    dispatcher.register("email", outbox)
    await _send_all(dispatcher, outbox, before)

    stop_tansu(own_broker)
    restarted = start_tansu(own_broker.port)  # same port, nothing in it
    try:
        await create_topics(restarted.bootstrap_servers, topics, partitions=1)
        after = [f"after {i}" for i in range(15)]  # the new log grows past offset 10
        await produce(restarted.bootstrap_servers, topics.outbound, _mails(after))
        await _commit_into(restarted, config.group_id, TopicPartition(topics.outbound, 0), 10)

        await _send_all(dispatcher, outbox, after)
    finally:
        stop_tansu(restarted)
    assert outbox.delivered == before + after, "every mail of the new log, each once"


async def test_the_same_log_resumes_at_our_commit_and_sends_nothing_twice(
    own_broker: BrokerProcess,
) -> None:
    topics = Topics(prefix=f"s{uuid.uuid4().hex[:6]}.")
    await create_topics(own_broker.bootstrap_servers, topics, partitions=1)
    first = [f"first {i}" for i in range(10)]
    await produce(own_broker.bootstrap_servers, topics.outbound, _mails(first))
    outbox = _Outbox()
    dispatcher = OutboundDispatcher(_config(own_broker, topics))
    dispatcher.register("email", outbox)
    await _send_all(dispatcher, outbox, first)

    then = [f"then {i}" for i in range(5)]
    await produce(own_broker.bootstrap_servers, topics.outbound, _mails(then))
    await _send_all(dispatcher, outbox, then)
    assert outbox.delivered == first + then, "resumed where it stopped, nothing twice"
