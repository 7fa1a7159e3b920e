"""A group consumer and a producer that start and stop together, and heal together.

The ingest consumer and the notifier both read one topic in a consumer group with
manual offset commits from the earliest offset, and produce to others; this is
that setup once, with what both need to survive the broker: an offset commit with
a deadline (a frozen broker must not hang the loop), and `heal`, which recreates
the topics of a broker that came back empty, rejoins the group when our topic had
vanished, and rewinds a partition whose position is past its end. A batch fetched
before a rebalance or a restart of the clients is never committed: a broker that
came back empty makes the group rejoin, and committing the old log's offsets into
the new one would skip its first messages; a commit already in flight then can land
there all the same, so a partition resumed at our own commit is checked first
(`ingest.contract.resume_check`). Idempotence
stays off: Tansu does not support it, and the idempotency keys in the store make
replays harmless anyway. Imports only the contract and `ingest.errors` of ours.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from ingest.contract.record_batches import SEND_BATCH_BYTES
from ingest.contract.resume_check import ResumeCheck
from ingest.contract.topics import (
    METADATA_MAX_AGE_MS,
    PRODUCER_COMPRESSION,
    Topics,
    ensure_topics,
)
from ingest.errors import ConsumerStopped, Interrupted
from ingest.resilience import is_transient, pause

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]


@dataclass(frozen=True, slots=True)
class PairConfig:
    bootstrap_servers: str
    topic: str
    group_id: str
    client_id: str
    fetch_max_wait_ms: int
    session_timeout_ms: int
    heartbeat_interval_ms: int
    max_partition_fetch_bytes: int = 1_048_576
    # A send to a topic the broker lost waits this long for metadata before failing.
    request_timeout_ms: int = 10_000
    # How long a commit, a topic check or a restart may take before we give up on it.
    deadline_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Lag:
    """The consumer's view of its partitions: `behind` when a known end is ahead of
    the position; `unknown` when the broker has not told us (yet)."""

    behind: bool
    unknown: bool


class _Assignments(ResumeCheck):
    """Counts the group's assignments: a change means positions were re-read from
    the committed offsets, so a batch fetched before it is from another assignment
    (after a broker restarted empty, from another log)."""

    def __init__(self, owner: str) -> None:
        super().__init__(owner)
        self.epoch = 0

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.epoch += 1
        await super().on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.epoch += 1
        await super().on_partitions_assigned(assigned)
        # Logged because a member left without partitions reads nothing and says
        # nothing else: this line is how a stalled group shows in the log.
        log.info("%s: assigned %s", self._owner, _describe_partitions(assigned))


def _describe_partitions(partitions: Iterable[TopicPartition]) -> str:
    """`leadflow.inquiries [0, 1, 2]`, or `no partitions`."""
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    if not by_topic:
        return "no partitions"
    return "; ".join(f"{topic} {sorted(ids)}" for topic, ids in sorted(by_topic.items()))


class KafkaPair:
    def __init__(self, config: PairConfig, owner: str) -> None:
        self._config = config
        self._owner = owner
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._closed = False
        # Outlives the clients: a restart counts as a change of assignment too.
        self._assignments = _Assignments(owner)
        self._fetched_epoch = 0

    async def start(self) -> None:
        if self._closed or self._consumer is not None:
            raise ConsumerStopped(f"a {self._owner} is entered once; make a new one")
        await self._open()

    async def _open(self) -> None:
        c = self._config
        self._producer = AIOKafkaProducer(
            bootstrap_servers=c.bootstrap_servers,
            client_id=c.client_id,
            acks="all",
            enable_idempotence=False,
            # The outbox goes out in record batches (`send_batched`): a batch's lead
            # events fit in one per partition instead of a dozen 16 KiB ones.
            max_batch_size=SEND_BATCH_BYTES,
            request_timeout_ms=c.request_timeout_ms,
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            compression_type=PRODUCER_COMPRESSION,
        )
        self._assignments.epoch += 1
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=c.bootstrap_servers,
            group_id=c.group_id,
            client_id=c.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=c.fetch_max_wait_ms,
            max_partition_fetch_bytes=c.max_partition_fetch_bytes,
            session_timeout_ms=c.session_timeout_ms,
            heartbeat_interval_ms=c.heartbeat_interval_ms,
            request_timeout_ms=max(c.request_timeout_ms, c.session_timeout_ms + 5000),
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
        )
        self._consumer.subscribe([c.topic], listener=self._assignments)
        try:
            await self._producer.start()
            await self._consumer.start()
        except BaseException:
            await self._close_clients()
            raise

    async def stop(self) -> None:
        """Stop both clients; harmless when already stopped. Offsets are not committed."""
        self._closed = True
        await self._close_clients()

    async def _close_clients(self) -> None:
        consumer, self._consumer = self._consumer, None
        producer, self._producer = self._producer, None
        for client in (consumer, producer):
            if client is None:
                continue
            try:
                await asyncio.wait_for(client.stop(), self._config.deadline_s)
            except (TimeoutError, KafkaError, OSError) as exc:
                log.warning("%s: a Kafka client did not stop cleanly: %s", self._owner, exc)
            except asyncio.CancelledError:
                # aiokafka's fetcher re-raises the cancellation of its own fetch task
                # when the broker is already gone; only ours may end the shutdown,
                # or the producer is left unstopped and the process exits on a traceback.
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                log.warning("%s: a Kafka client's stop was cancelled inside aiokafka", self._owner)

    async def restart(self) -> None:
        """Close both clients and open new ones: a fresh group join, fresh metadata.

        Raises a `KafkaError` (or `TimeoutError`) when the broker cannot be reached;
        the caller retries. Offsets are not committed: what was in hand replays.
        """
        if self._closed:
            raise ConsumerStopped(f"the {self._owner} is closed")
        await self._close_clients()
        await asyncio.wait_for(self._open(), self._config.deadline_s * 3)
        log.warning("%s: rejoined the consumer group on %s", self._owner, self._config.topic)

    @property
    def is_open(self) -> bool:
        return self._consumer is not None and self._producer is not None

    async def reopen_if_needed(self) -> None:
        """Open new clients when a failed `restart` left none (broker was away)."""
        if not self.is_open and not self._closed:
            await self.restart()

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Send and wait for the acknowledgement, on the producer of the moment (a
        `restart` replaces it), reopening the clients if a restart left none.

        Raises `TimeoutError` after the deadline and closes both clients, so that
        the next call starts from fresh ones: aiokafka can leave a send's future
        unresolved for ever after the broker froze or restarted empty
        (aio-libs/aiokafka#1101), and the caller retrying on the same producer
        would then stop its whole loop without a word.
        """
        await self.reopen_if_needed()
        _, producer = self.clients()
        try:
            async with asyncio.timeout(self._config.deadline_s):
                await producer.send_and_wait(topic, value, key=key, headers=headers)
        except TimeoutError:
            log.warning(
                "%s: a send to %s had no answer within %.0f s; opening new Kafka clients",
                self._owner,
                topic,
                self._config.deadline_s,
            )
            await self._close_clients()
            raise

    async def fetch(
        self,
        limit: int,
        *,
        on_fault: Callable[[BaseException], Awaitable[None]],
        wait_s: float,
        stop: asyncio.Event | None,
        timeout_ms: int = 200,
        more: bool = False,
    ) -> list[Record]:
        """One poll of at most `limit` records, waiting up to `timeout_ms` for the
        first. A transient broker fault is reported to `on_fault` and answered with no
        records after `wait_s`; `Interrupted` when `stop` is set meanwhile. Anything
        else is raised.

        `more` adds to the batch of the previous fetch: the batch keeps that fetch's
        assignment, so if the group's assignment changed in between, `commit` skips
        the whole batch (it is stored all the same; later commits cover it)."""
        try:
            await self.reopen_if_needed()
            consumer, _ = self.clients()
            fetched = await consumer.getmany(timeout_ms=timeout_ms, max_records=limit)
            if not more:
                self._fetched_epoch = self._assignments.epoch
            batches = await self._assignments.checked(consumer, fetched)
        except Exception as exc:
            if not is_transient(exc):
                raise
            await on_fault(exc)
            if await pause(wait_s, stop):
                raise Interrupted("stopped while fetching") from exc
            return []
        return [r for part in batches.values() for r in part]

    def clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaProducer]:
        if self._consumer is None or self._producer is None:
            raise ConsumerStopped(f"use the {self._owner} inside 'async with'")
        return self._consumer, self._producer

    async def commit(self, records: Sequence[Record]) -> bool:
        """Commit the offsets after `records`, within the deadline; whether it worked.

        A failed or late commit is only logged: the batch replays after a rebalance
        or a restart, and the idempotency keys make that harmless. Records fetched
        before the group's assignment last changed are not committed at all: the
        new assignment starts from the committed offsets, and after a broker that
        restarted empty those offsets (and these records) belong to a lost log.
        """
        consumer, _ = self.clients()
        if self._fetched_epoch != self._assignments.epoch:
            log.warning(
                "%s: the group's assignment changed since this batch was fetched; "
                "its offsets are not committed (a broker restart or a rebalance; the "
                "partitions are read again from their committed offsets)",
                self._owner,
            )
            return False
        offsets = next_offsets(records)
        try:
            await asyncio.wait_for(consumer.commit(offsets), self._config.deadline_s)
        except (TimeoutError, KafkaError) as exc:
            log.warning(
                "%s: offset commit failed (%s: %s); the batch may replay",
                self._owner,
                type(exc).__name__,
                exc,
            )
            return False
        for tp, last in _last_of(records).items():
            self._assignments.committed(tp, last.offset + 1, last)
        return True

    async def lag(self) -> Lag:
        """Whether assigned partitions have messages beyond our position.

        Rewinds a partition whose position is past its end (to its committed
        offset when that is inside the log, else to the beginning): the broker came
        back without its data, and waiting for the end to catch up would skip that
        many new messages.
        """
        consumer, _ = self.clients()
        behind = unknown = False
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                unknown = True
                continue
            try:
                position = await asyncio.wait_for(consumer.position(tp), self._config.deadline_s)
            except (TimeoutError, KafkaError):
                unknown = True
                continue
            if position > high:
                await self._rewind(consumer, tp, position, high)
                behind = True
            elif position < high:
                behind = True
        return Lag(behind=behind, unknown=unknown)

    async def _rewind(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, position: int, high: int
    ) -> None:
        try:
            committed = await asyncio.wait_for(consumer.committed(tp), self._config.deadline_s)
        except (TimeoutError, KafkaError):
            committed = None
        inside = committed is not None and committed <= high
        log.warning(
            "%s: position %d of %s is past its end %d (the broker lost data?); "
            "reading it again from %s",
            self._owner,
            position,
            tp,
            high,
            f"the committed offset {committed}" if inside else "the beginning",
        )
        if inside:
            assert committed is not None
            consumer.seek(tp, committed)
        else:
            await consumer.seek_to_beginning(tp)

    async def heal(self, topics: Topics, *, partitions: int, replication_factor: int) -> bool:
        """Recreate the topics a broker lost, then open new clients: the old ones
        hold the lost broker's metadata (partition counts, a group generation).

        Returns whether anything was repaired. Raises `KafkaError` or `TimeoutError`
        when the broker cannot be reached (the caller retries later).
        """
        created = await asyncio.wait_for(
            ensure_topics(
                self._config.bootstrap_servers,
                topics,
                partitions=partitions,
                replication_factor=replication_factor,
            ),
            self._config.deadline_s,
        )
        if not created:
            return False
        log.warning("%s: the broker had lost topics %s; recreated them", self._owner, created)
        # Not only when our own topic was among them: another process (the relay) may
        # have recreated it first, and our producer writes to the others too.
        await self.restart()
        return True


def _last_of(records: Sequence[Record]) -> dict[TopicPartition, Record]:
    """Each partition's record of the highest offset in `records`."""
    last: dict[TopicPartition, Record] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        if tp not in last or r.offset > last[tp].offset:
            last[tp] = r
    return last


def next_offsets(records: Sequence[Record]) -> dict[TopicPartition, OffsetAndMetadata]:
    offsets: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        offsets[tp] = max(offsets.get(tp, -1), r.offset + 1)
    return {tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()}
