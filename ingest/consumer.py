"""The ingest consumer: Kafka batches in, one store transaction per batch, offsets after.

Per batch: decode (undecodable or invalid → dead-letter topic with the reason), drop
idempotency keys already stored, read a snapshot, `plan_batch`, write every row in
one transaction. A transient fault (database or broker away, serialization failure,
SQLite busy) is retried with backoff for as long as it lasts; any other failure
splits the batch (`ingest.resilience.isolate`) until the failing inquiry is alone,
which goes to the dead-letter topic with the exception as its reason
(`ingest.dead_letters`) while the rest are stored. Once the store has committed, the
consumer publishes the outbox rows the batch wrote (`ingest.outbox_publisher`: never
failing the batch; the rows were committed as published under a ticket, which the
next batch's transaction deletes) and, at the same time, confirms every handled idempotency key on
`Topics.stored` (the edge journals drop their copies); only then does it commit the
offsets, with a deadline. A crash anywhere replays the batch and the idempotency keys
make the replay a no-op; outbox rows left unpublished go with the next sweep.
Settings: `ingest.consumer_config`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.exc import IntegrityError

from crm_store.database import Database
from ingest.batch_store import BatchStore, StoreHook, StoreOptions
from ingest.consumer_config import ConsumerConfig, linger_s
from ingest.contract import Inquiry
from ingest.contract.confirm import encode_confirmation
from ingest.dead_letters import Headers, dead_letter
from ingest.decisions import Policy
from ingest.decoding import DeadLetter, Decoded, decode
from ingest.errors import Interrupted, Poison
from ingest.health import LoopHealth
from ingest.kafka_pair import KafkaPair, PairConfig, Record
from ingest.metrics import IngestMetrics
from ingest.outbox_publisher import OutboxPublisher
from ingest.resilience import describe, is_transient, isolate, pause, retry_transient

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
BatchHook = Callable[[Sequence[Record]], Awaitable[None]]


async def all_of(*steps: Awaitable[None]) -> None:
    """Run `steps` at once; the first that raises cancels the others, and its
    exception is raised as it is (not in a group: callers catch `Interrupted`)."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


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
        self._outbox = OutboxPublisher(
            db,
            config.topics,
            lambda: self._clients()[1],
            clock=clock,
            deadline_s=config.broker_deadline_s,
            on_lost_logs=metrics.lost_logs.inc if metrics else lambda: None,
        )

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
                await self._outbox.close_sent_tickets()
                await self._outbox.flush_others()
                if await self._caught_up() and until_idle:
                    break
            except Interrupted:
                log.info("stopping with a batch in hand; it will replay")
                break
        # Left open, a sent batch's ticket would be reopened after its grace and its
        # rows sent a second time (a restart's dispatcher remembers no mail it sent).
        await self._outbox.close_sent_tickets()
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

    async def process(self, records: Sequence[Record]) -> None:
        """Handle one batch end to end and commit its offsets.

        Raises `Interrupted` when the stop event is set while a fault is retried;
        nothing is committed then and the batch replays.
        """
        fetched = time.time()
        self._outbox.forget_written()
        good, dead = decode(records, self._config.default_region)
        for letter in dead:
            await self._dead_letter(letter)
        for decoded, failure in await isolate(good, self._store_or_poison):
            self._count("poison")
            await self._dead_letter(DeadLetter(decoded.record, describe(failure)))
        committed = time.time()
        published = committed

        async def publish() -> None:
            nonlocal published
            await self._outbox.publish_written_safely()
            await self._outbox.flush_others(pending_now=True)
            published = time.time()

        # The outbox and the confirmation go to the broker at once, not one after the
        # other: both only need the store's commit. A batch's waits for the broker
        # were a third of its time at 1,000 inquiries/s, and every lead behind it
        # waited too. The offsets still come last: a crash before them replays the
        # batch, a no-op.
        await all_of(publish(), self._confirm([d.inquiry.idempotency_key for d in good]))
        if self._before_commit is not None:
            await self._before_commit(records)
        await self._kafka.commit(records)
        self._observe_latency(records, fetched, committed, published)
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
        self._count(await dead_letter(letter, self._send_dead_letter))

    async def _send_dead_letter(self, value: bytes, key: bytes | None, headers: Headers) -> None:
        await retry_transient(
            lambda: self._kafka.send(self._config.topics.dlq, value, key=key, headers=headers),
            what="dead-lettering",
            stop=self._stop,
            backoff=self._config.backoff,
            on_retry=self._broker_fault,
        )

    async def _store(self, inquiries: list[Inquiry]) -> None:
        sent = self._outbox.sent_tickets()
        written = await self._batches.write(inquiries, self._clock(), closing=sent)
        # Kept and counted once committed: a failed attempt is retried or split.
        self._outbox.tickets_closed(sent)
        self._outbox.keep_written(written.events, written.outbound, written.ticket)
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

    def outbox_changed(self) -> None:
        self._outbox.changed()

    async def publish_outbox(self) -> None:
        """Publish every unpublished outbox row now if any may be waiting; others that
        write to the outbox (the SLA watcher) call this after their commit."""
        await self._outbox.publish_outbox()

    def _count(self, outcome: str, n: int = 1) -> None:
        if self._metrics and n:
            self._metrics.messages.labels(outcome).inc(n)
