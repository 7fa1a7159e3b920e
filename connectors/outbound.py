"""Sends what others asked to send: the consumer of topic `leadflow.outbound`.

`OutboundDispatcher` reads `OutboundMessage`s in its own consumer group and hands
each to the sender registered for its `channel` (`dispatcher.register("telegram",
sender)`; a sender is anything with `async def send(message)`). A failed send is
retried with exponential backoff; a `PermanentSendError`, a channel nobody sends on,
an undecodable message or a send still failing after the last attempt goes to the
dead-letter topic with its reason, and its offset is committed, so one bad message
never blocks the rest. Up to `send_lanes` messages are sent at once, each recipient's
in order (a lane per key). A partition's offset is committed once every earlier
message of it was handled, every `COMMIT_EVERY_S` while lanes send, when they are
done, and at a stop; when a commit fails (the broker froze or restarted), each lane
finishes the message it is sending and the loop starts again on new clients. A
message whose id it sent lately is not sent again (a publisher that saw the broker
lose its logs publishes its recent outbox once more). After the group's assignment
changed, a partition resumes at the dispatcher's own commit only once the record
before it shows the log is the one committed (`ingest.contract.resume_check`; the
sent-id memory skips what a new log brings again). Every outcome is counted. Imports
only `ingest.contract` of ours, besides `connectors.outbound_poll`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from connectors.outbound_poll import Poll
from ingest.contract import (
    METADATA_MAX_AGE_MS,
    PRODUCER_COMPRESSION,
    OutboundMessage,
    Topics,
)
from ingest.contract.resume_check import ResumeCheck

log = logging.getLogger(__name__)

CountOutcome = Callable[[str, str], None]

# How many sent ids the dispatcher remembers (about 10 MB): more than a minute of
# outbound messages at thousands of inquiries a second, the span a publisher sends
# again after a lost broker (`ingest.outbox_publisher.LOST_LOG_WINDOW`).
REMEMBERED_SENDS = 100_000
# Messages sent at once unless `OutboundConfig.send_lanes` says more (the SMTP
# server's `smtp.max_connections`, when it is higher). Over a network each mail
# waits for three or four round trips to the SMTP server (tens of milliseconds each
# to a hosted one), so one at a time capped a burst's acknowledgements at some
# dozens a second; each recipient's messages still go one after another, in order
# (a lane per key, which is the recipient).
SEND_LANES = 4
# Offsets are committed this often while a poll's messages are sent (and when they
# are all sent): a commit per message was a broker round trip per mail,
# about half the broker's CPU while the dispatcher drained. A crash repeats what was
# sent since the last commit, about this long's worth of mails.
COMMIT_EVERY_S = 0.05


class OutboundSender(Protocol):
    """Sends one message on one channel; raises to ask for a retry."""

    async def send(self, message: OutboundMessage) -> None: ...


class PermanentSendError(Exception):
    """Retrying cannot help (unknown bot, blocked by the user, bad address): dead-letter it."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    first_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.first_delay_s * 2 ** (attempt - 1), self.max_delay_s))


@dataclass(frozen=True, slots=True)
class OutboundConfig:
    bootstrap_servers: str
    topics: Topics
    group_id: str = "leadflow-outbound"
    fetch_max_wait_ms: int = 20
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    retry: RetryPolicy = RetryPolicy()
    send_lanes: int = SEND_LANES
    # A dead letter or a commit that outlasts this raises, and the supervisor starts
    # the loop again: aiokafka can leave a send unanswered for ever after the broker
    # froze or restarted empty (aio-libs/aiokafka#1101), which would stop the
    # outbound messages without a word.
    broker_deadline_s: float = 30.0


class _Stopping(Exception):
    """The process is stopping in the middle of a retry: leave the offset uncommitted."""


class OutboundDispatcher:
    """An async context manager: `async with dispatcher: await dispatcher.run(stop)`."""

    def __init__(self, config: OutboundConfig, *, on_outcome: CountOutcome | None = None) -> None:
        self._config = config
        self._count = on_outcome or (lambda _channel, _outcome: None)
        self._senders: dict[str, OutboundSender] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        # Kept across re-entries: a loop started again after a fault still knows them.
        self._sent: OrderedDict[uuid.UUID, None] = OrderedDict()
        self._resume = ResumeCheck("outbound")
        # Skipped in the current poll: logged once per poll, since a lost broker
        # brings back a minute of messages at once (thousands of lines otherwise).
        self._skipped = 0

    def register(self, channel: str, sender: OutboundSender) -> None:
        """Send every message whose `channel` is `channel` through `sender`."""
        self._senders[channel] = sender

    async def __aenter__(self) -> Self:
        # Entered again (with new clients) once closed: the supervisor re-runs the
        # channels after any fault, and a dispatcher that refused would stop every
        # outbound message until the process restarted.
        if self._consumer is not None:
            raise RuntimeError("an OutboundDispatcher is already open")
        cfg = self._config
        self._producer = AIOKafkaProducer(
            bootstrap_servers=cfg.bootstrap_servers,
            client_id="leadflow-outbound",
            acks="all",
            enable_idempotence=False,
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            compression_type=PRODUCER_COMPRESSION,
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=cfg.bootstrap_servers,
            group_id=cfg.group_id,
            client_id="leadflow-outbound",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=cfg.fetch_max_wait_ms,
            session_timeout_ms=cfg.session_timeout_ms,
            heartbeat_interval_ms=cfg.heartbeat_interval_ms,
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
        )
        self._consumer.subscribe([cfg.topics.outbound], listener=self._resume)
        try:
            await self._producer.start()
            await self._consumer.start()
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        producer, self._producer = self._producer, None
        if consumer is not None:
            await consumer.stop()
        if producer is not None:
            await producer.stop()

    def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaProducer]:
        if self._consumer is None or self._producer is None:
            raise RuntimeError("use the OutboundDispatcher inside 'async with'")
        return self._consumer, self._producer

    async def run(self, stop: asyncio.Event | None = None, *, until_idle: bool = False) -> int:
        """Send until `stop` is set (or the topic is drained, `until_idle`); return the count."""
        consumer, _ = self._clients()
        stop = stop or asyncio.Event()
        handled = 0
        while not stop.is_set():
            fetched = await consumer.getmany(timeout_ms=200, max_records=100)
            if not fetched:
                if until_idle and await _idle(consumer):
                    break
                continue
            batches = await self._resume.checked(consumer, fetched)
            if not batches:
                continue
            poll = Poll(batches)
            try:
                await self._handle_poll(consumer, poll, stop)
            except _Stopping:
                return handled + poll.handled
            finally:
                self._log_skipped()
            handled += poll.handled
        return handled

    async def _handle_poll(
        self, consumer: AIOKafkaConsumer, poll: Poll, stop: asyncio.Event
    ) -> None:
        """Handle a poll's records in lanes at once, committing as they go; raises
        `_Stopping` when asked to stop in a retry (the lanes still sending are
        cancelled, their offsets left)."""
        try:
            async with asyncio.TaskGroup() as group:
                lanes = [
                    group.create_task(self._run_lane(poll, records, stop))
                    for records in poll.lanes(max(1, self._config.send_lanes))
                ]
                group.create_task(self._commit_until_done(consumer, poll, lanes))
        except BaseExceptionGroup as raised:
            _, rest = raised.split(_Stopping)
            if rest is None:
                # What the other lanes sent before the stop is not sent again.
                await self._commit_if_possible(consumer, poll)
                raise _Stopping from None
            # What the loop raised before lanes: the supervisor logs and restarts it.
            raise rest.exceptions[0] from None

    async def _run_lane(self, poll: Poll, records: list[Any], stop: asyncio.Event) -> None:
        for record in records:
            if poll.halted:
                return
            await self._handle(record, stop)
            poll.handled += 1
            poll.done(TopicPartition(record.topic, record.partition), record.offset)

    async def _commit_until_done(
        self, consumer: AIOKafkaConsumer, poll: Poll, lanes: list[asyncio.Task[None]]
    ) -> None:
        """Every `COMMIT_EVERY_S` while lanes send, and once they are done: what one
        lane sent is committed while another waits out its retries."""
        pending: set[asyncio.Task[None]] = set(lanes)
        while pending:
            _, pending = await asyncio.wait(pending, timeout=COMMIT_EVERY_S)
            try:
                await self._commit(consumer, poll)
            except (TimeoutError, KafkaError) as exc:
                # The broker froze or restarted, or the group moved on: the loop starts
                # again on new clients, but only once each lane has finished the
                # message in its hands. Cancelled there, a mail the SMTP server had
                # taken would not be remembered as sent, and its replay would send it
                # twice. The lanes take no further message.
                poll.halted = True
                log.warning(
                    "outbound offsets not committed (%r); starting again once %d lane(s) "
                    "finish the message they are sending",
                    exc,
                    len(pending),
                )
                if pending:
                    await asyncio.wait(pending)
                raise

    async def _commit(self, consumer: AIOKafkaConsumer, poll: Poll) -> None:
        ends = poll.ends_to_commit()
        if ends:
            async with asyncio.timeout(self._config.broker_deadline_s):
                await consumer.commit(ends)
            poll.committed(ends)
            for tp, end in ends.items():
                self._resume.committed(tp, end, poll.record_at(tp, end - 1))

    async def _commit_if_possible(self, consumer: AIOKafkaConsumer, poll: Poll) -> None:
        try:
            await self._commit(consumer, poll)
        except (TimeoutError, KafkaError) as exc:
            log.warning("outbound offsets not committed at the stop (%r); sent again next run", exc)

    def _log_skipped(self) -> None:
        if self._skipped:
            log.info("%d outbound messages were sent already; not sent again", self._skipped)
            self._skipped = 0

    async def _handle(self, record: Any, stop: asyncio.Event) -> None:
        try:
            message = OutboundMessage.from_kafka(record.value)
        except (ValidationError, ValueError) as exc:
            await self._dead_letter(record, "unknown", f"not a valid OutboundMessage: {exc}")
            return
        if message.id in self._sent:
            log.debug(
                "outbound %s %s was sent already; not sent again", message.channel, message.id
            )
            self._skipped += 1
            self._count(message.channel, "already_sent")
            return
        sender = self._senders.get(message.channel)
        if sender is None:
            reason = f"no sender is registered for channel {message.channel!r}"
            await self._dead_letter(record, message.channel, reason)
            return
        await self._send_with_retry(sender, message, record, stop)

    async def _send_with_retry(
        self, sender: OutboundSender, message: OutboundMessage, record: Any, stop: asyncio.Event
    ) -> None:
        policy = self._config.retry
        for attempt in range(1, policy.attempts + 1):
            try:
                await sender.send(message)
            except PermanentSendError as exc:
                await self._dead_letter(record, message.channel, str(exc))
                return
            except Exception as exc:  # any other failure may be transient: retry
                log.warning(
                    "outbound %s %s: attempt %d/%d failed: %r",
                    message.channel, message.id, attempt, policy.attempts, exc,
                )  # fmt: skip
                self._count(message.channel, "retried")
                if attempt == policy.attempts:
                    await self._dead_letter(record, message.channel, f"gave up: {exc!r}")
                    return
                await _sleep_unless_stopped(policy.delay(attempt), stop)
            else:
                self._count(message.channel, "sent")
                self._remember(message.id)
                return

    def _remember(self, sent: uuid.UUID) -> None:
        self._sent[sent] = None
        if len(self._sent) > REMEMBERED_SENDS:
            self._sent.popitem(last=False)

    async def _dead_letter(self, record: Any, channel: str, reason: str) -> None:
        _, producer = self._clients()
        log.error(
            "outbound message at %s[%s]@%s dead-lettered: %s",
            record.topic, record.partition, record.offset, reason,
        )  # fmt: skip
        headers = [
            ("reason", reason[:1000].encode()),
            ("source_topic", record.topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
        ]
        async with asyncio.timeout(self._config.broker_deadline_s):
            await producer.send_and_wait(
                self._config.topics.dlq, record.value, key=record.key, headers=headers
            )
        self._count(channel, "dead_lettered")


async def _sleep_unless_stopped(seconds: float, stop: asyncio.Event) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return
    raise _Stopping


async def _idle(consumer: AIOKafkaConsumer) -> bool:
    assignment: set[TopicPartition] = consumer.assignment()
    if not assignment:
        return False
    for tp in assignment:
        high = consumer.highwater(tp)
        if high is None or await consumer.position(tp) < high:
            return False
    return True
