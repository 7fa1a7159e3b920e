"""The notifier: tells managers about their leads, driven by `leadflow.lead-events`.

Reads the lead events in its own consumer group (`leadflow-notifier`), so a notice
never holds up, nor is held up by, the ingest transaction. Per batch: decode (what
is not a lead event goes to the dead-letter topic with the reason), read the leads'
facts and the assignees' chosen channels, plan the notices (`ingest.notices`, pure)
and insert the ones not stored yet into the `outbound_record` outbox in one
transaction, publish this batch's unpublished notices to `leadflow.outbound` (the
connectors role sends them) and mark them published, and only then commit the
offsets. A replayed event plans the same ids, so it writes and sends nothing twice.
Like the ingest consumer it survives faults: transient ones are retried until they
pass or the stop event is set, an event that fails otherwise is isolated by
splitting the batch and dead-lettered, and a broker that lost its topics is healed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from crm_store import notifications, outbox
from crm_store.database import Database
from crm_store.notifications import Recipient
from ingest.contract import Topics
from ingest.contract.i18n import Catalogs
from ingest.errors import Interrupted, Poison
from ingest.health import LoopHealth
from ingest.kafka_pair import KafkaPair, PairConfig, Record
from ingest.notices import LeadEventView, notices_for, reachable, read_event
from ingest.outbox import outbound_message, payload_text
from ingest.outbox_publisher import send_all
from ingest.resilience import Backoff, describe, is_transient, isolate, retry_transient

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    bootstrap_servers: str
    topics: Topics
    group_id: str = "leadflow-notifier"
    max_batch: int = 200
    fetch_max_wait_ms: int = 20
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    backoff: Backoff = field(default_factory=Backoff)
    broker_deadline_s: float = 10.0
    heal_interval_s: float = 5.0
    partitions: int = 6
    replication_factor: int = 1
    console_url: str | None = None
    email: bool = True  # False without SMTP settings: no email notice to queue
    # The notices' language for a manager who chose none in the console (the runtime
    # passes `ingest.default_language`).
    default_language: str = "en"


class LeadNotifier:
    """An async context manager: `async with notifier: await notifier.run(stop)`."""

    def __init__(
        self, config: NotifierConfig, db: Database, *, clock: Clock = lambda: datetime.now(UTC)
    ) -> None:
        self._config = config
        self._db = db
        self._clock = clock
        self._catalogs = Catalogs.load(default=config.default_language)
        self.health = LoopHealth("lead notifier")
        self._stop: asyncio.Event | None = None
        self._healed_at = 0.0
        self._kafka = KafkaPair(
            PairConfig(
                bootstrap_servers=config.bootstrap_servers,
                topic=config.topics.lead_events,
                group_id=config.group_id,
                client_id="leadflow-notifier",
                fetch_max_wait_ms=config.fetch_max_wait_ms,
                session_timeout_ms=config.session_timeout_ms,
                heartbeat_interval_ms=config.heartbeat_interval_ms,
                deadline_s=config.broker_deadline_s,
            ),
            "LeadNotifier",
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
        """Notify until `stop` is set, the topic is drained (`until_idle`), or
        `max_messages` events were handled. Returns how many events were handled."""
        self._stop = stop
        handled = 0
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
                    await self.process(records)
                    handled += len(records)
                    continue
                if await self._caught_up() and until_idle:
                    break
            except Interrupted:
                log.info("notifier stopping with a batch in hand; it will replay")
                break
        return handled

    async def _caught_up(self) -> bool:
        try:
            lag = await self._kafka.lag()
        except Exception as exc:
            if not is_transient(exc):
                raise
            lag = None
        assigned = self._kafka.is_open and bool(self._clients()[0].assignment())
        done = lag is not None and assigned and not lag.behind and not lag.unknown
        if done:
            self.health.progressed(caught_up=True)
        elif lag is not None:
            self.health.waiting(lag.behind)
        now = asyncio.get_running_loop().time()
        if now - self._healed_at >= self._config.heal_interval_s:
            self._healed_at = now
            await self._heal()
        return done

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
            log.warning("notifier cannot check the broker's topics now (%s)", exc)

    async def _broker_fault(self, exc: BaseException) -> None:
        self.health.failing(f"broker: {type(exc).__name__}: {exc}")
        await self._heal()

    def _store_fault(self, exc: BaseException) -> None:
        self.health.failing(f"store: {type(exc).__name__}: {exc}")

    async def process(self, records: Sequence[Record]) -> None:
        """Handle one batch end to end and commit its offsets (`Interrupted` when
        stopped while a fault is retried: nothing is committed, the batch replays)."""
        events: list[tuple[Record, LeadEventView]] = []
        for record in records:
            try:
                event = read_event(record.value or b"")
            except ValueError as exc:
                await self._dead_letter(record, str(exc))
                continue
            if event is not None:
                events.append((record, event))
        ids: list[uuid.UUID] = []

        async def store(batch: Sequence[tuple[Record, LeadEventView]]) -> None:
            ids.extend(await self._store_or_poison([e for _, e in batch]))

        for (record, _), failure in await isolate(events, store):
            await self._dead_letter(record, describe(failure))
        if ids:
            try:
                await self._publish(ids)
            except Exception as exc:  # the rows stay unpublished; the ingest outbox sweeps them
                log.warning("notifier could not publish its notices now (%s)", exc)
        await self._kafka.commit(records)
        self.health.progressed()

    async def _store_or_poison(self, events: list[LeadEventView]) -> list[uuid.UUID]:
        try:
            return await retry_transient(
                lambda: self._store(events),
                what="storing notices",
                stop=self._stop,
                backoff=self._config.backoff,
                on_retry=self._store_fault,
            )
        except Interrupted:
            raise
        except Exception as exc:
            log.warning("notifier: %d event(s) failed (%s)", len(events), describe(exc, 300))
            raise Poison(exc) from exc

    async def _store(self, events: list[LeadEventView]) -> list[uuid.UUID]:
        now = self._clock()
        async with self._db.sessions() as session, session.begin():
            people = await notifications.recipients(
                session, {e.assignee_id for e in events if e.assignee_id is not None}
            )
            # Without SMTP and linked chats nobody can be told anything: the lead and
            # the inquiry's payload (its JSON parsed) are read only for those who can.
            events = [e for e in events if _reaches(e, people, email=self._config.email)]
            if not events:
                return []
            leads = await notifications.lead_facts(session, {e.lead_id for e in events})
            inquiries = await notifications.inquiry_texts(
                session, {e.inquiry_id for e in events if e.inquiry_id is not None}
            )
            rows: list[dict[str, Any]] = []
            for event in events:
                for message in notices_for(
                    event,
                    leads.get(event.lead_id),
                    people.get(event.assignee_id) if event.assignee_id is not None else None,
                    now,
                    inquiry=inquiries.get(event.inquiry_id) if event.inquiry_id else None,
                    console_url=self._config.console_url,
                    email=self._config.email,
                    catalogs=self._catalogs,
                ):
                    rows.append(
                        {
                            "id": message.id,
                            "channel": message.channel,
                            "purpose": message.purpose,
                            "recipient": message.to,
                            "lead_id": message.lead_id,
                            "payload": message.model_dump(mode="json"),
                            "created_at": now,
                            "published_at": None,
                        }
                    )
            fresh = await notifications.insert_outbound_once(session, rows)
        if fresh:
            log.info("notifier: %d notice(s) for %d event(s)", fresh, len(events))
        return [r["id"] for r in rows]

    async def _publish(self, ids: list[uuid.UUID]) -> None:
        """Publish this batch's notices that nobody published yet, then mark them."""
        if not ids:
            return
        _, producer = self._clients()
        async with self._db.sessions() as session, session.begin():
            pending = await notifications.unpublished_among(session, ids)
            # Bounded like the consumer's outbox: a frozen broker must not hold this
            # transaction (and the notifier) for ever; the rows stay for the sweep.
            await send_all(
                producer,
                [
                    (self._config.topics.outbound, m.value, m.key)
                    for m in (outbound_message(i, p, payload_text(p)) for i, p in pending)
                ],
                self._config.broker_deadline_s,
            )
            await outbox.mark_outbound_published(session, [i for i, _ in pending], self._clock())

    async def _dead_letter(self, record: Record, reason: str) -> None:
        log.warning(
            "dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
        )
        headers = [
            ("reason", reason[:1000].encode()),
            ("source_topic", record.topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
        ]
        await retry_transient(
            lambda: self._kafka.send(
                self._config.topics.dlq, record.value or b"", key=record.key, headers=headers
            ),
            what="dead-lettering",
            stop=self._stop,
            backoff=self._config.backoff,
            on_retry=self._broker_fault,
        )


def _reaches(event: LeadEventView, people: Mapping[int, Recipient], *, email: bool) -> bool:
    person = people.get(event.assignee_id) if event.assignee_id is not None else None
    return person is not None and reachable(person, email=email)
