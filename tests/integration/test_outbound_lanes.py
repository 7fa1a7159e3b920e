"""The outbound dispatcher sends to several recipients at once, each recipient's
messages one after another and in order, and commits a partition's offset only past
messages handled: a message waiting for its retry when the process stops is sent by
the next one. Real Tansu."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.outbound import OutboundConfig, OutboundDispatcher, RetryPolicy
from ingest.contract import OutboundMessage, Topics
from leadflow.broker import create_topics

from ..conftest import BrokerProcess
from .test_consumer_faults import produce

pytestmark = pytest.mark.integration


def _message(to: str, text: str) -> OutboundMessage:
    return OutboundMessage(
        id=uuid.uuid4(),
        channel="email",
        purpose="reply",
        to=to,
        text=text,
        created_at=datetime.now(UTC),
    )


def _config(broker: BrokerProcess, topics: Topics, group: str, **extra: object) -> OutboundConfig:
    return OutboundConfig(
        bootstrap_servers=broker.bootstrap_servers,
        topics=topics,
        group_id=group,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        **extra,  # type: ignore[arg-type]
    )


async def _one_partition(broker: BrokerProcess) -> Topics:
    """Fresh topics with one partition: one fetch holds every message (a retry holds
    up the dispatcher's next poll, so a message fetched later would wait it out)."""
    topics = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    await create_topics(broker.bootstrap_servers, topics, partitions=1)
    return topics


class _Slow:
    """A sender that takes a moment per message and watches who is in flight."""

    def __init__(self) -> None:
        self.in_flight: set[str] = set()
        self.most_at_once = 0
        self.overlapping_recipient: list[str] = []
        self.sent: list[tuple[str, str]] = []

    async def send(self, message: OutboundMessage) -> None:
        if message.to in self.in_flight:
            self.overlapping_recipient.append(message.to)
        self.in_flight.add(message.to)
        self.most_at_once = max(self.most_at_once, len(self.in_flight))
        await asyncio.sleep(0.02)
        self.in_flight.discard(message.to)
        self.sent.append((message.to, message.text or ""))


async def test_recipients_are_sent_to_at_once_each_in_order(
    broker: BrokerProcess, topics: Topics
) -> None:
    recipients = [f"client{n}@example.com" for n in range(12)]
    messages = [_message(to, f"{to} #{i}") for i in range(3) for to in recipients]
    await produce(broker.bootstrap_servers, topics.outbound, messages)
    sender = _Slow()
    group = f"g-{uuid.uuid4().hex[:8]}"
    dispatcher = OutboundDispatcher(_config(broker, topics, group))
    dispatcher.register("email", sender)
    async with dispatcher:
        assert await asyncio.wait_for(dispatcher.run(until_idle=True), 60) == len(messages)
    assert sender.most_at_once > 1, "several recipients at once"
    assert sender.overlapping_recipient == [], "one message at a time per recipient"
    for to in recipients:
        assert [text for who, text in sender.sent if who == to] == [f"{to} #{i}" for i in range(3)]
    again = OutboundDispatcher(_config(broker, topics, group))
    again.register("email", sender)
    async with again:
        assert await asyncio.wait_for(again.run(until_idle=True), 60) == 0, "all committed"


class _FailsFor:
    """Fails every message to `failing` until `healed`."""

    def __init__(self, failing: str) -> None:
        self.failing = failing
        self.healed = False
        self.attempts: list[str] = []
        self.sent: list[str] = []
        self.one_failed_one_sent = asyncio.Event()

    async def send(self, message: OutboundMessage) -> None:
        self.attempts.append(message.to)
        if message.to == self.failing and not self.healed:
            self._check()
            raise ConnectionError("the mail server is down")
        self.sent.append(message.text or "")
        self._check()

    def _check(self) -> None:
        if self.failing in self.attempts and self.sent:
            self.one_failed_one_sent.set()


async def test_a_message_waiting_for_its_retry_at_a_stop_is_sent_by_the_next_run(
    broker: BrokerProcess,
) -> None:
    topics = await _one_partition(broker)
    first, later = _message("slow@example.com", "waits"), _message("fast@example.com", "goes")
    await produce(broker.bootstrap_servers, topics.outbound, [first, later])
    group = f"g-{uuid.uuid4().hex[:8]}"
    sender = _FailsFor("slow@example.com")
    # A long retry wait: the process is asked to stop during it.
    slow_retry = RetryPolicy(attempts=5, first_delay_s=30.0)
    dispatcher = OutboundDispatcher(_config(broker, topics, group, retry=slow_retry))
    dispatcher.register("email", sender)
    stop = asyncio.Event()
    async with dispatcher:
        run = asyncio.create_task(dispatcher.run(stop))
        await asyncio.wait_for(sender.one_failed_one_sent.wait(), 30)
        assert sender.sent == ["goes"], "the other recipient did not wait for the retry"
        stop.set()
        await asyncio.wait_for(run, 30)
    assert "waits" not in sender.sent
    await _run_again_healed(broker, topics, group, sender)  # a new process
    assert sender.sent.count("waits") == 1, "not lost: sent once, by the next run"


async def test_what_was_sent_before_a_stop_is_not_sent_again_by_the_next_run(
    broker: BrokerProcess,
) -> None:
    topics, group, sender, dispatcher = await _three_to_send_then_one_to_retry(broker)
    stop = asyncio.Event()
    async with dispatcher:
        run = asyncio.create_task(dispatcher.run(stop))
        async with asyncio.timeout(30):
            while len(sender.sent) < 3 or "slow@example.com" not in sender.attempts:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        stop.set()  # within the poll, before any commit was due
        await asyncio.wait_for(run, 30)
    await _run_again_healed(broker, topics, group, sender)
    assert sorted(sender.sent) == ["goes 0", "goes 1", "goes 2", "waits"], "each once"


async def test_more_lanes_send_more_at_once(broker: BrokerProcess) -> None:
    """`send_lanes` (an SMTP server's `max_connections` above four) is honoured."""
    topics = await _one_partition(broker)
    messages = [_message(f"client{n}@example.com", f"#{n}") for n in range(16)]
    await produce(broker.bootstrap_servers, topics.outbound, messages)
    sender = _Slow()
    dispatcher = OutboundDispatcher(
        _config(broker, topics, f"g-{uuid.uuid4().hex[:8]}", send_lanes=8)
    )
    dispatcher.register("email", sender)
    async with dispatcher:
        assert await asyncio.wait_for(dispatcher.run(until_idle=True), 60) == len(messages)
    assert sender.most_at_once > 4


async def test_what_was_sent_is_committed_while_another_recipient_waits_for_a_retry(
    broker: BrokerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash (here a cancel, nothing runs after it) during a long retry does not
    send again what the other lanes finished."""
    committed = _watch_commits(monkeypatch)
    topics, group, sender, dispatcher = await _three_to_send_then_one_to_retry(broker)
    async with dispatcher:
        run = asyncio.create_task(dispatcher.run(asyncio.Event()))
        async with asyncio.timeout(30):
            while committed.get(TopicPartition(topics.outbound, 0), 0) < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert sorted(sender.sent) == ["goes 0", "goes 1", "goes 2"]
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
    await _run_again_healed(broker, topics, group, sender)
    assert sorted(sender.sent) == ["goes 0", "goes 1", "goes 2", "waits"], "each once"


async def _three_to_send_then_one_to_retry(
    broker: BrokerProcess,
) -> tuple[Topics, str, _FailsFor, OutboundDispatcher]:
    """Three recipients whose mails go, then one whose mail fails and waits 30 s for
    its retry, on one partition; the dispatcher not yet entered."""
    topics = await _one_partition(broker)
    sent_first = [_message(f"fast{n}@example.com", f"goes {n}") for n in range(3)]
    waiting = _message("slow@example.com", "waits")
    await produce(broker.bootstrap_servers, topics.outbound, [*sent_first, waiting])
    group = f"g-{uuid.uuid4().hex[:8]}"
    sender = _FailsFor("slow@example.com")
    dispatcher = OutboundDispatcher(
        _config(broker, topics, group, retry=RetryPolicy(attempts=5, first_delay_s=30.0))
    )
    dispatcher.register("email", sender)
    return topics, group, sender, dispatcher


async def _run_again_healed(
    broker: BrokerProcess, topics: Topics, group: str, sender: _FailsFor
) -> None:
    """The mail server is back; a new dispatcher of the same group sends what is left."""
    sender.healed = True
    restarted = OutboundDispatcher(_config(broker, topics, group))
    restarted.register("email", sender)
    async with restarted:
        await asyncio.wait_for(restarted.run(until_idle=True), 60)


def _watch_commits(monkeypatch: pytest.MonkeyPatch) -> dict[TopicPartition, int]:
    """The offsets the broker has acknowledged as committed (the real commit, watched)."""
    acknowledged: dict[TopicPartition, int] = {}
    commit = AIOKafkaConsumer.commit

    async def watched(self: AIOKafkaConsumer, offsets: Any = None) -> None:
        await commit(self, offsets)
        acknowledged.update(offsets or {})

    monkeypatch.setattr(AIOKafkaConsumer, "commit", watched)
    return acknowledged
