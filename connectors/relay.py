"""The relay: publishes the edge journal to Kafka and deletes what the store confirmed.

Two loops run side by side until `stop`:
- publish: the entries never published, in journal order and in batches, then those
  not confirmed within `republish_after_s`; each batch is marked published once the
  broker acked all of it (acks=all, idempotence off: Tansu has no InitProducerId;
  the consumer's idempotency keys drop the repeats). At start every unconfirmed
  entry is due again: nothing is known about what reached the broker before.
- confirm: a group-less consumer over every partition of `Topics.stored` reads the
  consumer's confirmations (`ingest.contract.confirm`) and deletes the named entries,
  saving its offsets in the journal in the same transaction.
Every broker call has a deadline (a frozen broker answers nothing), every broker
error drops the client and backs off, and the topics are recreated when the broker
lost them (restarted empty); neither loop ever exits on a broker error.
Imports only `ingest.contract` of ours.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ingest.contract.confirm import InvalidConfirmation, decode_confirmation
from ingest.contract.lost_broker import replaced_logs, started_again
from ingest.contract.record_batches import SEND_BATCH_BYTES, send_batched
from ingest.contract.topics import (
    METADATA_MAX_AGE_MS,
    PRODUCER_COMPRESSION,
    Topics,
    ensure_topics,
)

from .journal import EdgeJournal, Entry
from .kafka_deadlines import BROKER_ERRORS, close_within, stop_consumer, wait_or_stop
from .latency import LatencyBuckets
from .publisher import PublishFailed

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    bootstrap_servers: str
    topics: Topics
    batch: int = 500
    # After a round that was not full, wait this long so that the next round takes
    # what arrives meanwhile in the same produce request (see `_publish_loop`).
    linger_s: float = 0.005
    republish_after_s: float = 120.0
    timeout_s: float = 5.0  # the deadline of every broker call
    max_backoff_s: float = 5.0
    fetch_max_wait_ms: int = 20
    partition_check_s: float = 5.0  # how often the confirmation topic's layout is checked
    resync_s: float = 60.0  # how often the journal's depth is re-read (a full scan)
    partitions: int = 6  # for topics the relay has to recreate
    replication_factor: int = 1
    # Each round's entries in one partition (one record batch) rather than spread by
    # key, the partition moving on every `partition_slot_s`: the embedded broker's
    # fetch lists every batch a partition holds, and skips a partition read to its end.
    one_partition_per_round: bool = False
    # Short, so that the consumers of a group (`leadflow serve ingest` run twice) all
    # get work within seconds: a 10 s turn left one of two idle in a 5 s run.
    partition_slot_s: float = 1.0
    client_id: str = "leadflow-relay"


class Relay:
    """Runs beside an `EdgeJournal`: `await relay.run(stop)`."""

    def __init__(
        self,
        journal: EdgeJournal,
        config: RelayConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._journal = journal
        self._config = config
        self._clock = clock
        self._producer: AIOKafkaProducer | None = None
        self._topics_ok = False
        self._republish_all = False
        # The end of what the broker acknowledged, per partition of the inquiries topic.
        self._acked_end: dict[int, int] = {}
        self.connected = False  # the last broker call succeeded (for /readyz)
        self.errors = 0
        self.rounds = 0  # produce rounds that published entries (entries per round: batching)
        # Seconds from an append to the broker's ack of its first publication.
        self.acked = LatencyBuckets()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish and apply confirmations until `stop` is set."""
        await self._journal.unpublish_all()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._publish_loop(stop), name="relay-publish")
                tasks.create_task(self._confirm_loop(stop), name="relay-confirm")
        finally:
            await self._drop_producer()

    async def publish_due(self) -> int:
        """One round: publish the due entries (at most one batch); how many. Raises on error."""
        c = self._config
        if not self._topics_ok:
            await self._ensure_topics()  # before choosing: recreated topics republish all
        if self._republish_all:
            self._republish_all = False
            # The broker lost its state: the producer's metadata describes topics that
            # are gone (Tansu recreates one with 4 partitions and takes records for
            # partitions 4 and 5 all the same), so republish from fresh metadata.
            await self._drop_producer()
            again = await self._journal.unpublish_all()
            log.warning("relay: publishing %d unconfirmed entries again on a new producer", again)
        entries = await self._journal.due(
            c.batch, republish_before=self._clock() - c.republish_after_s
        )
        if entries:
            await self._send(entries)
            self.rounds += 1
            self.acked.observe_since(
                self._clock(), (e.appended_at for e in entries if e.publish_count == 0)
            )
            await self._journal.mark_published(entries)
        return len(entries)

    async def drain(self, *, within: float) -> None:
        """Publish every entry not yet published; `PublishFailed` if the broker will not.

        For one-shot callers (`leadflow import`); entries stay until confirmed.
        """
        failures = 0
        last: BaseException | None = None
        try:
            async with asyncio.timeout(within):
                while True:
                    entries = await self._journal.due(self._config.batch, republish_before=0.0)
                    if not entries:
                        return
                    try:
                        await self._send(entries)
                    except BROKER_ERRORS as exc:  # transient (a topic being created): retry
                        failures += 1
                        last = exc
                        await self._broker_failed("publishing the journal", exc, failures)
                        await asyncio.sleep(self._backoff(failures))
                        continue
                    await self._journal.mark_published(entries)
        except TimeoutError as exc:
            raise PublishFailed(f"the broker did not take the journal: {last!r}") from exc
        finally:
            await self._drop_producer()

    # ---- publishing ------------------------------------------------------------------

    async def _publish_loop(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            self._journal.appended.clear()
            try:
                sent = await self.publish_due()
            except BROKER_ERRORS as exc:
                failures += 1
                await self._broker_failed("publishing the journal", exc, failures)
                await wait_or_stop(stop, self._backoff(failures))
                continue
            except Exception:  # a bug must not stop the relay either; logged loudly
                failures += 1
                log.exception("relay: publishing the journal failed unexpectedly")
                await self._drop_producer()
                await wait_or_stop(stop, self._backoff(failures))
                continue
            failures = 0
            self.connected = True
            if sent >= self._config.batch:
                continue  # a backlog: the next batch is full already
            if not sent:
                # Wake on a new entry, else look again for entries due to be republished.
                idle = min(1.0, self._config.republish_after_s / 4)
                await wait_or_stop(stop, idle, self._journal.appended)
                if not self._journal.appended.is_set():
                    continue
            await self._linger()

    async def _linger(self) -> None:
        """Let a few ms of appends gather before the next round. Below capacity the
        edge takes inquiries one or two at a time, and a round for each costs a
        journal read, a produce request (the broker's CPU as much as ours) and a
        journal write: most of the edge's and the broker's CPU per inquiry at a
        steady 1,000/s. A round every few ms costs an entry that much latency, and a
        full round (a backlog) never waits."""
        if self._config.linger_s > 0:
            await asyncio.sleep(self._config.linger_s)

    async def _send(self, entries: list[Entry]) -> None:
        c = self._config
        producer = await self._ready_producer()
        topic = c.topics.inquiries
        async with asyncio.timeout(c.timeout_s):
            # One record batch per partition rather than one `send` per entry, which
            # costs several times the CPU; each key lands where `send` puts it, and
            # the journal's order holds within each partition.
            spans = await send_batched(
                producer,
                ((topic, e.value, e.kafka_key) for e in entries),
                one_partition=self._slot_partition if c.one_partition_per_round else None,
            )
        self._check_offsets_grew({p: span for (_, p), span in spans.items()})

    def _slot_partition(self, ids: list[int]) -> int:
        """The partition of the current time slot: all but one partition of the topic
        sit read to their end, which the embedded broker's fetch does not list."""
        return ids[int(time.monotonic() / self._config.partition_slot_s) % len(ids)]

    def _check_offsets_grew(self, spans: dict[int, tuple[int, int]]) -> None:
        """A partition's log only grows: an offset below one the broker already gave us
        means the log was replaced (a broker that came back empty, its topics recreated
        by another process before we asked). Then what the old log held is gone, the
        entries not confirmed yet with it: publish them all again. The other signs can
        miss this: no publish failed, and a confirmation reader that had read nothing
        yet stands at 0 in the new log too."""
        replaced = started_again(self._acked_end, spans)
        if replaced:
            log.warning(
                "relay: %s partitions %s start again below offsets already acknowledged; "
                "the broker lost its state",
                self._config.topics.inquiries,
                sorted(replaced),
            )
            self._republish_all = True

    async def _ready_producer(self) -> AIOKafkaProducer:
        c = self._config
        if not self._topics_ok:
            await self._ensure_topics()
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=c.bootstrap_servers,
                client_id=c.client_id,
                acks="all",
                enable_idempotence=False,
                linger_ms=0,
                max_batch_size=SEND_BATCH_BYTES,
                request_timeout_ms=int(c.timeout_s * 1000),
                metadata_max_age_ms=METADATA_MAX_AGE_MS,
                compression_type=PRODUCER_COMPRESSION,
            )
            try:
                await asyncio.wait_for(producer.start(), c.timeout_s)
            except BaseException:
                await close_within(producer.stop(), c.timeout_s)
                raise
            self._producer = producer
        return self._producer

    async def _ensure_topics(self) -> None:
        c = self._config
        created = await asyncio.wait_for(
            ensure_topics(
                c.bootstrap_servers,
                c.topics,
                partitions=c.partitions,
                replication_factor=c.replication_factor,
            ),
            c.timeout_s,
        )
        if created:
            log.warning("relay: the broker had lost topics %s; created them", ", ".join(created))
            self._republish_all = True  # what it had taken is gone with them
        self._topics_ok = True

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            # stop() flushes; a frozen broker would hold it forever.
            await close_within(producer.stop(), self._config.timeout_s)

    async def _broker_failed(self, what: str, exc: BaseException, failures: int) -> None:
        self.connected = False
        self.errors += 1
        self._topics_ok = False  # a broker restarted empty lost them: check again
        level = logging.WARNING if failures <= 3 or failures % 20 == 0 else logging.DEBUG
        log.log(level, "relay: %s failed (attempt %d): %r", what, failures, exc)
        if what.startswith("publishing"):
            # The broker may have lost what it took but nobody consumed yet: publish
            # every unconfirmed entry again (the idempotency keys drop the repeats).
            self._republish_all = True
            await self._drop_producer()

    def _backoff(self, failures: int) -> float:
        return float(min(0.1 * 2 ** min(failures - 1, 10), self._config.max_backoff_s))

    # ---- confirmations ---------------------------------------------------------------

    async def _confirm_loop(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            consumer: AIOKafkaConsumer | None = None
            try:
                consumer = await self._open_confirmations()
                failures = 0
                await self._read_confirmations(consumer, stop)
            except (*BROKER_ERRORS, _Relayout) as exc:
                failures += 1
                await self._broker_failed("reading confirmations", exc, failures)
                await wait_or_stop(stop, self._backoff(failures))
            except Exception:  # a bug must not stop the relay either; logged loudly
                failures += 1
                log.exception("relay: reading confirmations failed unexpectedly")
                await wait_or_stop(stop, self._backoff(failures))
            finally:
                if consumer is not None:
                    await stop_consumer(consumer, self._config.timeout_s)

    async def _open_confirmations(self) -> AIOKafkaConsumer:
        c = self._config
        consumer = AIOKafkaConsumer(
            bootstrap_servers=c.bootstrap_servers,
            client_id=f"{c.client_id}-confirm",
            group_id=None,
            enable_auto_commit=False,
            # A position past the end means the broker came back empty: start over.
            auto_offset_reset="earliest",
            fetch_max_wait_ms=c.fetch_max_wait_ms,
            request_timeout_ms=int(c.timeout_s * 1000),
        )
        try:
            await asyncio.wait_for(consumer.start(), c.timeout_s)
            partitions = await self._partitions(consumer)
            if not partitions:
                await self._ensure_topics()
                raise _Relayout(f"topic {c.topics.stored} has no partitions yet")
            tps = [TopicPartition(c.topics.stored, p) for p in sorted(partitions)]
            consumer.assign(tps)
            cursor = await self._journal.cursor(c.topics.stored)
            empty = self._journal.stats().entries == 0
            for tp in tps:
                if tp.partition in cursor:
                    consumer.seek(tp, cursor[tp.partition])
                elif empty:
                    # Nothing held: earlier confirmations cannot concern us.
                    await asyncio.wait_for(consumer.seek_to_end(tp), c.timeout_s)
                else:
                    await asyncio.wait_for(consumer.seek_to_beginning(tp), c.timeout_s)
        except BaseException:
            await stop_consumer(consumer, c.timeout_s)
            raise
        return consumer

    async def _partitions(self, consumer: AIOKafkaConsumer) -> set[int]:
        # Fresh metadata: `partitions_for_topic` answers from a cache refreshed only every
        # few minutes, so it would not see a topic recreated by a broker that came back.
        cluster = await asyncio.wait_for(
            consumer._client.fetch_all_metadata(), self._config.timeout_s
        )
        return set(cluster.partitions_for_topic(self._config.topics.stored) or ())

    async def _read_confirmations(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        c = self._config
        assigned = {tp.partition for tp in consumer.assignment()}
        # Where each partition's reading stands; it only moves forward unless the log
        # behind it was replaced (see `_check_log_kept`).
        expected = {
            tp.partition: await asyncio.wait_for(consumer.position(tp), c.timeout_s)
            for tp in consumer.assignment()
        }
        checked = resynced = time.monotonic()
        while not stop.is_set():
            batch = await asyncio.wait_for(
                consumer.getmany(timeout_ms=200, max_records=5000), c.timeout_s
            )
            first = {tp.partition: records[0].offset for tp, records in batch.items() if records}
            await self._check_log_kept(consumer, expected, first)
            keys: list[str] = []
            offsets: dict[int, int] = {}
            for tp, records in batch.items():
                for record in records:
                    offsets[tp.partition] = record.offset + 1
                    try:
                        keys.extend(decode_confirmation(record.value))
                    except InvalidConfirmation as exc:
                        log.warning("relay: skipped a message on %s: %s", tp.topic, exc)
            if offsets:
                await self._journal.confirm(keys, topic=c.topics.stored, offsets=offsets)
                expected.update(offsets)
            self.connected = True
            if time.monotonic() - checked > c.partition_check_s:
                checked = time.monotonic()
                if checked - resynced > c.resync_s:
                    # Another process may share the file (`leadflow import`).
                    resynced = checked
                    await self._journal.resync()
                now = await self._partitions(consumer)
                if now != assigned:
                    self._republish_all = True  # the topic was recreated: so was the log
                    if not now:
                        await self._ensure_topics()
                    raise _Relayout(f"partitions of {c.topics.stored}: {assigned} -> {now}")

    async def _check_log_kept(
        self, consumer: AIOKafkaConsumer, expected: dict[int, int], first: dict[int, int]
    ) -> None:
        """A confirmation log replaced by an empty one was lost with the broker's state:
        everything published since may be gone too, so publish it all again.

        Checked every round, before anything is confirmed: it costs nothing (the fetch
        answers carry the log's end), and once the new log has grown past our position
        the loss can no longer be seen, only waited out (`republish_after_s`).
        """
        c = self._config
        positions = {
            tp.partition: await asyncio.wait_for(consumer.position(tp), c.timeout_s)
            for tp in consumer.assignment()
        }
        highwaters = {tp.partition: consumer.highwater(tp) for tp in consumer.assignment()}
        lost = replaced_logs(expected, positions, highwaters, first)
        if lost:
            await self._journal.confirm([], topic=c.topics.stored, offsets=dict.fromkeys(lost, 0))
            self._republish_all = True
            raise _Relayout(f"the broker lost {c.topics.stored} (partitions {sorted(lost)})")


class _Relayout(Exception):
    """The confirmation topic changed (lost, recreated): reassign from scratch."""
