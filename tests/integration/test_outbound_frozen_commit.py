"""The outbound dispatcher when its offsets cannot be committed (the broker froze or
restarted in the middle of a poll): the loop starts again on new clients, but not
before each lane has finished the message it was sending. Cancelled there, a mail
the SMTP server had already taken was not remembered as sent, and the replay sent it
a second time (seen in the fault trials' embedded-broker-kill). Real Tansu, frozen
with SIGSTOP."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import uuid
from datetime import UTC, datetime

import pytest

from connectors.outbound import OutboundConfig, OutboundDispatcher
from ingest.contract import OutboundMessage, Topics
from leadflow.broker import create_topics

from ..conftest import BrokerProcess
from .test_consumer_faults import _is_stopped, produce, until

pytestmark = pytest.mark.integration


class _Server:
    """An SMTP server seen from the dispatcher: it has the message (`delivered`) before
    it answers, and the second message's answer waits until the test lets it go."""

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.second_in_hand = asyncio.Event()
        self.answer_second = asyncio.Event()

    async def send(self, message: OutboundMessage) -> None:
        self.delivered.append(message.text or "")
        if message.text == "second":
            self.second_in_hand.set()
            await self.answer_second.wait()


async def test_a_failed_commit_lets_the_mail_in_hand_finish_and_sends_nothing_twice(
    own_broker: BrokerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="connectors.outbound")
    topics = Topics(prefix=f"o{uuid.uuid4().hex[:6]}.")
    await create_topics(own_broker.bootstrap_servers, topics, partitions=1)
    texts = ["first", "second", "third"]
    await produce(
        own_broker.bootstrap_servers,
        topics.outbound,
        [
            OutboundMessage(
                id=uuid.uuid4(),
                channel="email",
                purpose="reply",
                to="customer@example.com",  # one recipient: one lane, in order
                text=text,
                created_at=datetime.now(UTC),
            )
            for text in texts
        ],
    )
    config = OutboundConfig(
        bootstrap_servers=own_broker.bootstrap_servers,
        topics=topics,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        broker_deadline_s=1.0,
    )
    server = _Server()
    dispatcher = OutboundDispatcher(config)
    dispatcher.register("email", server)
    pid = own_broker.process.pid
    stop = asyncio.Event()
    try:
        async with dispatcher:
            run = asyncio.create_task(dispatcher.run(stop))
            await asyncio.wait_for(server.second_in_hand.wait(), 30)
            # The first mail's offset is due for its commit; the broker stops answering.
            os.kill(pid, signal.SIGSTOP)
            await until(lambda: _is_stopped(pid))

            async def gave_up() -> bool:
                return run.done() or "offsets not committed" in caplog.text

            await until(gave_up)
            assert not run.done(), "the loop ended with a mail still in hand"
            server.answer_second.set()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(run, 30)
            os.kill(pid, signal.SIGCONT)
        assert server.delivered == ["first", "second"], "no new mail after the failed commit"

        # The supervisor enters the same dispatcher again; the broker answers again.
        async with dispatcher:
            again = asyncio.create_task(dispatcher.run(stop))
            await until(lambda: _has(server, "third"))
            stop.set()
            await asyncio.wait_for(again, 30)
    finally:
        os.kill(pid, signal.SIGCONT)
        server.answer_second.set()
    assert server.delivered == texts, "each mail reached the server exactly once"


async def _has(server: _Server, text: str) -> bool:
    return text in server.delivered
