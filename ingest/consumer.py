"""The ingest consumer: Kafka batches in, one store transaction per batch, offsets after.

Per batch: decode (undecodable or invalid → dead-letter topic with the reason), drop
idempotency keys already stored, read a snapshot, `plan_batch`, write every row in
one transaction. A transient fault (database or broker away, serialization failure,
SQLite busy) is retried with backoff for as long as it lasts; any other failure
splits the batch (`ingest.resilience.isolate`) until the failing inquiry is alone,
which goes to the dead-letter topic with the exception as its reason while the rest
are stored. Then the consumer publishes the outbox rows the batch wrote, from
memory (never failing the batch; the lead events come first because they are what
people wait for; a sweep of every unpublished row runs every few seconds and after a
failure), confirms every handled idempotency key on `Topics.stored` (the edge
journals drop their copies), and only then commits the offsets, with a deadline. A crash
anywhere replays the batch and the idempotency keys make the replay a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.exc import IntegrityError

from crm_store import intake
from crm_store.database import Database
from ingest.batch_store import BatchStore, StoreHook, StoreOptions
from ingest.contract import Inquiry, Topics
from ingest.contract.confirm import encode_confirmation
from ingest.contract.record_batches import send_batched
from ingest.decoding import DeadLetter, Decoded, decode
from ingest.errors import Interrupted, Poison
from ingest.health import LoopHealth
from ingest.kafka_pair import KafkaPair, PairConfig, Record
from ingest.metrics import IngestMetrics
from ingest.outbox import OutboxMessage, event_message, outbound_message, payload_text
from ingest.pipeline import Policy
from ingest.resilience import Backoff, describe, is_transient, isolate, pause, retry_transient

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
OUTBOX_POLL = timedelta(seconds=2)
BatchHook = Callable[[Sequence[Record]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    bootstrap_servers: str
    topics: Topics
    group_id: str = "leadflow-ingest"
    max_batch: int = 500
    fetch_max_wait_ms: int = 20
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    default_region: str = "RU"
    default_team: str | None = None
    max_message_bytes: int = 1_048_576
    # A batch that keeps conflicting with concurrent writers after this many fresh
    # snapshots is split like poison; alone, the inquiry is dead-lettered.
    conflict_attempts: int = 4
    backoff: Backoff = field(default_factory=Backoff)
    # Deadline of an offset commit, a topic check, a client restart (seconds).
    broker_deadline_s: float = 10.0
    # While idle, check this often that the broker still has our topics.
    heal_interval_s: float = 5.0
    partitions: int = 6
    replication_factor: int = 1
    ack_window: timedelta = timedelta(hours=24)
    # Where messages can be delivered; without SMTP settings there is no email to queue.
    outbound_channels: frozenset[str] = frozenset({"email", "telegram"})
    # Under load, gather a small batch for at most this long (see `linger_s`); 0: never.
    linger_max_ms: int = 25


def linger_s(fetched: int, limit: int, last_batch: int, last_batch_s: float, cap_s: float) -> float:
    """How long to keep gathering records before handling the `fetched` in hand.

    Every batch pays fixed costs (a transaction with a dozen reads and writes, a
    confirmation, an outbox claim, an offset commit), so under load a stream of small
    back-to-back batches costs several times the CPU per inquiry of larger ones.
    Two or more records in this fetch or the last batch mean records queue while a
    batch runs (a fetch can bring only what the client had prefetched, one record
    while more wait on the broker): wait up to as long as the last batch took
    (capped), so the next one is about twice as large. One record after one record
    (a low rate) or a batch already half full goes at once, so a quiet system gains
    no latency.
    """
    if cap_s <= 0 or max(fetched, last_batch) < 2 or fetched * 2 >= limit:
        return 0.0
    return min(last_batch_s, cap_s)


class InquiryConsumer:
    """Reads `leadflow.inquiries` in a consumer group and writes leads to the store."""

    def __init__(
        self,
        config: ConsumerConfig,
        db: Database,
        *,
        policy: Policy | None = None,
        metrics: IngestMetrics | None = None,
        clock: Clock = lambda: datetime.now(UTC),
        before_offset_commit: BatchHook | None = None,
        before_store: StoreHook | None = None,
        health: LoopHealth | None = None,
    ) -> None:
        self._config = config
        self._db = db
        self._policy = policy or Policy()
        self._metrics = metrics
        self._clock = clock
        self._before_commit = before_offset_commit
        self._batches = BatchStore(
            db,
            self._policy,
            StoreOptions(
                default_team=config.default_team,
                ack_window=config.ack_window,
                outbound_channels=config.outbound_channels,
            ),
            before_store=before_store,
        )
        self.health = health or LoopHealth("ingest consumer")
        self._stop: asyncio.Event | None = None
        self._healed_at = 0.0
        self._kafka = KafkaPair(
            PairConfig(
                bootstrap_servers=config.bootstrap_servers,
                topic=config.topics.inquiries,
                group_id=config.group_id,
                client_id="leadflow-ingest",
                fetch_max_wait_ms=config.fetch_max_wait_ms,
                session_timeout_ms=config.session_timeout_ms,
                heartbeat_interval_ms=config.heartbeat_interval_ms,
                max_partition_fetch_bytes=config.max_message_bytes,
                deadline_s=config.broker_deadline_s,
            ),
            "InquiryConsumer",
        )
        # Whether the outbox may hold rows that only a sweep (a read of every
        # unpublished row) will publish: at the start, after a failed publish, and when
        # another writer says so (`outbox_changed`).
        self._events_pending = True
        self._outbox_checked_at: datetime | None = None
        # The outbox rows this batch committed, published from memory after it.
        self._written_events: list[OutboxMessage] = []
        self._written_outbound: list[OutboxMessage] = []

    async def __aenter__(self) -> Self:
        await self._kafka.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._kafka.stop()

    def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaProducer]:
        return self._kafka.clients()

    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        until_idle: bool = False,
        max_messages: int | None = None,
    ) -> int:
        """Consume until `stop` is set, the topic is drained (`until_idle`), or
        `max_messages` were handled. Returns how many messages were handled.

        Faults of the database or the broker never end the loop: they are retried
        until they pass or `stop` is set (then the batch in hand is not committed).
        """
        self._stop = stop
        handled = 0
        loop = asyncio.get_running_loop()
        last_batch, last_batch_s = 0, 0.0
        while stop is None or not stop.is_set():
            limit = self._config.max_batch
            if max_messages is not None:
                limit = min(limit, max_messages - handled)
                if limit <= 0:
                    break
            try:
                records = await self._kafka.fetch(
                    limit,
                    on_fault=self._broker_fault,
                    wait_s=self._config.backoff.first,
                    stop=self._stop,
                )
                if records:
                    records = await self._gather(records, limit, last_batch, last_batch_s)
                    started = loop.time()
                    await self.process(records)
                    last_batch, last_batch_s = len(records), loop.time() - started
                    if self._metrics:
                        self._metrics.batch_seconds.observe(last_batch_s)
                        self._metrics.batch_size.observe(len(records))
                    handled += len(records)
                    continue
                await self._flush_others_outbox()
                if await self._caught_up() and until_idle:
                    break
            except Interrupted:
                log.info("stopping with a batch in hand; it will replay")
                break
        return handled

    async def _gather(
        self, records: list[Record], limit: int, last_batch: int, last_batch_s: float
    ) -> list[Record]:
        """Add what arrives within `linger_s` to a small batch fetched under load."""
        loop = asyncio.get_running_loop()
        cap_s = self._config.linger_max_ms / 1000
        wait = linger_s(len(records), limit, last_batch, last_batch_s, cap_s)
        deadline = loop.time() + wait
        while len(records) < limit and (left := deadline - loop.time()) > 0.001:
            more = await self._kafka.fetch(
                limit - len(records),
                on_fault=self._broker_fault,
                wait_s=self._config.backoff.first,
                stop=self._stop,
                timeout_ms=max(1, int(left * 1000)),
                more=True,
            )
            if not more:
                break
            records.extend(more)
        return records

    async def _caught_up(self) -> bool:
        """Whether every assigned partition is read to its end; keeps `health` and
        the broker's topics in order meanwhile."""
        try:
            lag = await self._kafka.lag()
        except Exception as exc:
            if not is_transient(exc):
                raise
            lag = None
        done = lag is not None and self._assigned() and not lag.behind and not lag.unknown
        if done:
            self.health.progressed(caught_up=True)
        elif lag is not None:
            self.health.waiting(lag.behind)
        await self._heal_now_and_then()
        return done

    def _assigned(self) -> bool:
        return self._kafka.is_open and bool(self._clients()[0].assignment())

    async def _heal_now_and_then(self) -> None:
        """While idle, check every few seconds that the broker still has our topics
        (a broker restarted empty has none, and our group would wait forever)."""
        now = asyncio.get_running_loop().time()
        if now - self._healed_at < self._config.heal_interval_s:
            return
        self._healed_at = now
        await self._heal()

    async def _heal(self) -> None:
        try:
            await self._kafka.heal(
                self._config.topics,
                partitions=self._config.partitions,
                replication_factor=self._config.replication_factor,
            )
        except Exception as exc:
            if not is_transient(exc):
                raise
            self.health.failing(f"broker: {type(exc).__name__}: {exc}")
            log.warning("cannot check the broker's topics now (%s: %s)", type(exc).__name__, exc)

    async def _broker_fault(self, exc: BaseException) -> None:
        self.health.failing(f"broker: {type(exc).__name__}: {exc}")
        await self._heal()

    def _store_fault(self, exc: BaseException) -> None:
        self.health.failing(f"store: {type(exc).__name__}: {exc}")
        if self._metrics:
            self._metrics.retries.inc()

    async def _flush_others_outbox(self, *, pending_now: bool = False) -> None:
        """Every few seconds, busy or idle, publish what other processes left in the
        outbox (a manager's reply written by the console, a watcher's notice) and
        what a failed publish left behind; with `pending_now`, at once when rows are
        known to be waiting."""
        now = self._clock()
        due = self._outbox_checked_at is None or now - self._outbox_checked_at >= OUTBOX_POLL
        if not due and not (pending_now and self._events_pending):
            return
        self._outbox_checked_at = now
        self._events_pending = True
        await self._publish_outbox_safely()

    async def _publish_outbox_safely(self) -> None:
        """Publish the outbox; a failure leaves the rows for the next try and never
        fails the batch (the store already has them)."""
        try:
            await self.publish_outbox()
        except Exception as exc:
            self._events_pending = True
            log.warning(
                "could not publish the outbox now (%s: %s); will retry", type(exc).__name__, exc
            )

    async def process(self, records: Sequence[Record]) -> None:
        """Handle one batch end to end and commit its offsets.

        Raises `Interrupted` when the stop event is set while a fault is retried;
        nothing is committed then and the batch replays.
        """
        fetched = time.time()
        self._written_events.clear()
        self._written_outbound.clear()
        good, dead = decode(records, self._config.default_region)
        for letter in dead:
            await self._dead_letter(letter)
        for decoded, failure in await isolate(good, self._store_or_poison):
            self._count("poison")
            await self._dead_letter(DeadLetter(decoded.record, describe(failure)))
        committed = time.time()
        # The lead events first: they are what a manager waits for; the confirmation
        # only lets the edge journals drop their copies, and a late one costs nothing.
        await self._publish_written_safely()
        await self._flush_others_outbox(pending_now=True)
        published = time.time()
        await self._confirm([d.inquiry.idempotency_key for d in good])
        self._observe_latency(records, fetched, committed, published)
        if self._before_commit is not None:
            await self._before_commit(records)
        await self._kafka.commit(records)
        self.health.progressed()

    def _observe_latency(
        self, records: Sequence[Record], fetched: float, committed: float, published: float
    ) -> None:
        """Each record's age at each stage, from its timestamp (when the relay sent it)."""
        if self._metrics is None:
            return
        m = self._metrics
        for r in records:
            if r.timestamp <= 0:  # no timestamp: a client that set none
                continue
            sent = r.timestamp / 1000
            m.fetched.observe(fetched - sent)
            m.committed.observe(committed - sent)
            m.published.observe(published - sent)

    async def _confirm(self, keys: list[str]) -> None:
        """Tell the edge journals which idempotency keys the store now holds."""
        if not keys:
            return
        body = encode_confirmation(keys)
        await retry_transient(
            lambda: self._kafka.send(self._config.topics.stored, body),
            what="publishing a store confirmation",
            stop=self._stop,
            backoff=self._config.backoff,
            on_retry=self._broker_fault,
        )

    async def _dead_letter(self, letter: DeadLetter) -> None:
        r = letter.record
        log.warning("dead-lettering %s[%d]@%d: %s", r.topic, r.partition, r.offset, letter.reason)
        headers = [
            ("reason", letter.reason[:1000].encode()),
            ("source_topic", r.topic.encode()),
            ("source_partition", str(r.partition).encode()),
            ("source_offset", str(r.offset).encode()),
        ]
        try:
            await self._send_dead_letter(r.value or b"", r.key, headers)
        except Interrupted:
            raise
        except Exception as exc:
            # The broker will never take it (e.g. too large): send the reason and
            # where it came from, so the message can still be found in its topic.
            log.error("cannot dead-letter offset %d whole: %s", r.offset, describe(exc))
            headers.append(("dead_letter_error", describe(exc).encode()))
            try:
                await self._send_dead_letter(b"", r.key, headers)
            except Interrupted:
                raise
            except Exception:
                log.exception("cannot dead-letter offset %d at all; skipping it", r.offset)
                self._count("dead_letter_failed")
                return
        self._count("dead_letter")

    async def _send_dead_letter(
        self, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        await retry_transient(
            lambda: self._kafka.send(self._config.topics.dlq, value, key=key, headers=headers),
            what="dead-lettering",
            stop=self._stop,
            backoff=self._config.backoff,
            on_retry=self._broker_fault,
        )

    async def _store(self, inquiries: list[Inquiry]) -> None:
        written = await self._batches.write(inquiries, self._clock())
        # Kept and counted once committed: a failed attempt is retried or split.
        self._written_events.extend(written.events)
        self._written_outbound.extend(written.outbound)
        for outcome in written.outcomes:
            self._count(outcome)
        self._count("duplicate", written.duplicates)

    async def _store_or_poison(self, batch: Sequence[Decoded]) -> None:
        """Store `batch`, retrying transient faults for as long as they last.

        A conflict with a concurrent writer is retried with a fresh snapshot a few
        times; anything else (bad data the database refuses, a bug) raises `Poison`
        so that `isolate` splits the batch.
        """
        inquiries = [d.inquiry for d in batch]
        conflicts = 0
        delay: float | None = None
        while True:
            try:
                await retry_transient(
                    lambda: self._store(inquiries),
                    what="storing a batch",
                    stop=self._stop,
                    backoff=self._config.backoff,
                    on_retry=self._store_fault,
                )
                return
            except Interrupted:
                raise
            except IntegrityError as exc:
                conflicts += 1
                if conflicts >= self._config.conflict_attempts:
                    raise Poison(exc) from exc
                # Another consumer created the same contact meanwhile: re-read and retry.
                log.info("batch conflicted (%s); retrying with a fresh snapshot", exc.orig)
            except Exception as exc:
                if len(batch) == 1:
                    log.exception("inquiry %s cannot be stored", inquiries[0].idempotency_key)
                else:
                    log.warning(
                        "a batch of %d failed (%s); splitting it", len(batch), describe(exc, 300)
                    )
                raise Poison(exc) from exc
            if self._metrics:
                self._metrics.retries.inc()
            delay = self._config.backoff.after(delay)
            if await pause(delay, self._stop):
                raise Interrupted("stopped while retrying a conflicting batch")

    async def _publish_written_safely(self) -> None:
        """Publish the outbox rows this batch committed, from memory; a failure leaves
        them unpublished for the next sweep and never fails the batch."""
        try:
            await self.publish_written(self._written_events, self._written_outbound)
        except Exception as exc:
            self._events_pending = True
            log.warning(
                "could not publish the batch's outbox now (%s: %s); will retry",
                type(exc).__name__,
                exc,
            )

    async def publish_written(
        self, events: Sequence[OutboxMessage], outbound: Sequence[OutboxMessage]
    ) -> None:
        """Publish outbox rows just committed, as they were written, without reading
        them back: one transaction claims and marks them (`intake.claim_own_outbox`;
        rows another flusher already published are skipped), every message is handed
        to the producer, all acknowledgements are awaited, and only then does the
        transaction commit. A failure rolls the marks back: the rows stay until sent
        (at least once, like the sweep)."""
        if not events and not outbound:
            return
        _, producer = self._clients()
        topics = self._config.topics
        async with self._db.sessions() as session, session.begin():
            claimed_events, claimed_outbound = await intake.claim_own_outbox(
                session, [e.id for e in events], [o.id for o in outbound], self._clock()
            )
            messages = [
                (topics.lead_events, e.value, e.key) for e in events if e.id in claimed_events
            ]
            messages += [
                (topics.outbound, o.value, o.key) for o in outbound if o.id in claimed_outbound
            ]
            await send_all(producer, messages, self._config.broker_deadline_s)

    def outbox_changed(self) -> None:
        self._events_pending = True

    async def publish_outbox(self) -> None:
        """Publish the outboxes (lead events, outbound messages) after the commit.

        A failure leaves the rows unpublished; the next batch tries again. Others
        that write to the outbox (the SLA watcher) call this after their commit.
        """
        if not self._events_pending:
            return
        _, producer = self._clients()
        topics = self._config.topics
        async with self._db.sessions() as session, session.begin():
            events = await intake.unpublished_events(session)
            outbound = await intake.unpublished_outbound(session)
            messages = [
                _event_message(topics, event_id, payload) for event_id, _, payload in events
            ]
            messages += [_outbound_message(topics, i, payload) for i, payload in outbound]
            await send_all(producer, messages, self._config.broker_deadline_s)
            now = self._clock()
            await intake.mark_published(session, [event_id for event_id, _, _ in events], now)
            await intake.mark_outbound_published(session, [i for i, _ in outbound], now)
        self._events_pending = len(events) >= 1000 or len(outbound) >= 1000

    def _count(self, outcome: str, n: int = 1) -> None:
        if self._metrics and n:
            self._metrics.messages.labels(outcome).inc(n)


# topic, value, key
Message = tuple[str, bytes, bytes]


def _event_message(topics: Topics, event_id: uuid.UUID, payload: dict[str, Any]) -> Message:
    # The message `publish_written` sends for a row it wrote (`ingest.outbox`): same
    # key, same bytes.
    m = event_message(event_id, payload, payload_text(payload))
    return topics.lead_events, m.value, m.key


def _outbound_message(topics: Topics, record_id: uuid.UUID, payload: dict[str, Any]) -> Message:
    m = outbound_message(record_id, payload, payload_text(payload))
    return topics.outbound, m.value, m.key


async def send_all(
    producer: AIOKafkaProducer, messages: Sequence[Message], deadline_s: float
) -> None:
    """Hand every message to the producer, in record batches (one per topic and
    partition, each key where `send` would put it), and wait for every
    acknowledgement, within `deadline_s` in all, or raise `TimeoutError`.

    The outbox's callers hold a transaction that marks the rows (on SQLite, the write
    lock) while they wait, and a broker that froze or restarted empty can leave a
    send's future unresolved for ever: without a deadline the consumer would stop
    there, silently. On a timeout the caller rolls back and the rows stay for the
    next sweep (at least once).
    """
    async with asyncio.timeout(deadline_s):
        await send_batched(producer, messages)
