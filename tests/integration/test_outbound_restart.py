"""The outbound dispatcher after its loop failed: the supervisor runs the channels
again, which enters the same dispatcher again. It used to refuse ("entered once"),
so one broker fault (a commit refused during a rebalance) stopped every outbound
reply and notification until the process restarted. Real Tansu."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from connectors.outbound import OutboundConfig, OutboundDispatcher
from ingest.contract import OutboundMessage, Topics

from ..conftest import BrokerProcess

pytestmark = pytest.mark.integration


class _Collect:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: OutboundMessage) -> None:
        self.sent.append(message.text or "")


async def _post(broker: BrokerProcess, topic: str, text: str) -> None:
    message = OutboundMessage(
        id=uuid.uuid4(),
        channel="email",
        purpose="reply",
        to="customer@example.com",
        text=text,
        created_at=datetime.now(UTC),
    )
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        key, value = message.to_kafka()
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def test_the_dispatcher_runs_again_after_its_loop_ended(
    broker: BrokerProcess, topics: Topics
) -> None:
    config = OutboundConfig(
        bootstrap_servers=broker.bootstrap_servers,
        topics=topics,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    sender = _Collect()
    dispatcher = OutboundDispatcher(config)
    dispatcher.register("email", sender)
    await _post(broker, topics.outbound, "first")
    async with dispatcher:
        assert await asyncio.wait_for(dispatcher.run(until_idle=True), 60) == 1
    await _post(broker, topics.outbound, "second")
    async with dispatcher:  # what the supervisor does after a failure
        assert await asyncio.wait_for(dispatcher.run(until_idle=True), 60) == 1
    assert sender.sent == ["first", "second"]
