"""The notifier: tells managers about their leads, driven by `leadflow.lead-events`.

Reads the lead events in its own consumer group (`leadflow-notifier`), so a notice
never holds up, nor is held up by, the ingest transaction. Per batch: decode (what
is not a lead event goes to the dead-letter topic with the reason), read the leads'
facts and the assignees' chosen channels, plan the notices (`ingest.notices`, pure)
and insert the ones not stored yet into the `outbound_record` outbox in one
transaction, publish this batch's unpublished notices to `leadflow.outbound` (the
connectors role sends them) and mark them published, and only then commit the
offsets. A replayed event plans the same ids, so it writes and sends nothing twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from sqlalchemy.exc import DBAPIError, OperationalError

from crm_store import intake, notifications
from crm_store.database import Database
from ingest.contract import Topics
from ingest.errors import StoreUnavailable
from ingest.kafka_pair import KafkaPair, PairConfig
from ingest.notices import LeadEventView, notices_for, read_event

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]
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
    store_attempts: int = 6
    console_url: str | None = None
    email: bool = True  # False without SMTP settings: no email notice to queue


class LeadNotifier:
    """An async context manager: `async with notifier: await notifier.run(stop)`."""

    def __init__(
        self, config: NotifierConfig, db: Database, *, clock: Clock = lambda: datetime.now(UTC)
    ) -> None:
        self._config = config
        self._db = db
        self._clock = clock
        self._kafka = KafkaPair(
            PairConfig(
                bootstrap_servers=config.bootstrap_servers,
                topic=config.topics.lead_events,
                group_id=config.group_id,
                client_id="leadflow-notifier",
                fetch_max_wait_ms=config.fetch_max_wait_ms,
                session_timeout_ms=config.session_timeout_ms,
                heartbeat_interval_ms=config.heartbeat_interval_ms,
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
        consumer, _ = self._clients()
        handled = 0
        while stop is None or not stop.is_set():
            limit = self._config.max_batch
            if max_messages is not None:
                limit = min(limit, max_messages - handled)
                if limit <= 0:
                    break
            batches = await consumer.getmany(timeout_ms=200, max_records=limit)
            records = [r for part in batches.values() for r in part]
            if records:
                await self.process(records)
                handled += len(records)
                continue
            if until_idle and await _idle(consumer):
                break
        return handled

    async def process(self, records: Sequence[Record]) -> None:
        """Handle one batch end to end and commit its offsets."""
        consumer, _ = self._clients()
        events: list[LeadEventView] = []
        for record in records:
            try:
                event = read_event(record.value or b"")
            except ValueError as exc:
                await self._dead_letter(record, str(exc))
                continue
            if event is not None:
                events.append(event)
        if events:
            ids = await self._store_with_retry(events)
            await self._publish(ids)
        await consumer.commit(_next_offsets(records))

    async def _store_with_retry(self, events: list[LeadEventView]) -> list[uuid.UUID]:
        delay = 0.2
        for attempt in range(1, self._config.store_attempts + 1):
            try:
                return await self._store(events)
            except (OperationalError, DBAPIError) as exc:
                if attempt == self._config.store_attempts:
                    raise StoreUnavailable(f"store failed {attempt} times: {exc}") from exc
                log.warning("notifier store error (attempt %d): %s", attempt, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise StoreUnavailable("unreachable")

    async def _store(self, events: list[LeadEventView]) -> list[uuid.UUID]:
        now = self._clock()
        async with self._db.sessions() as session, session.begin():
            leads = await notifications.lead_facts(session, {e.lead_id for e in events})
            people = await notifications.recipients(
                session, {e.assignee_id for e in events if e.assignee_id is not None}
            )
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
            futures = [
                await producer.send(
                    self._config.topics.outbound,
                    json.dumps(payload, ensure_ascii=False).encode(),
                    key=str(payload.get("to", "")).encode(),
                )
                for _, payload in pending
            ]
            await asyncio.gather(*futures)
            await intake.mark_outbound_published(session, [i for i, _ in pending], self._clock())

    async def _dead_letter(self, record: Record, reason: str) -> None:
        _, producer = self._clients()
        log.warning(
            "dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
        )
        headers = [
            ("reason", reason[:1000].encode()),
            ("source_topic", record.topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
        ]
        await producer.send_and_wait(
            self._config.topics.dlq, record.value or b"", key=record.key, headers=headers
        )


async def _idle(consumer: AIOKafkaConsumer) -> bool:
    assignment = consumer.assignment()
    if not assignment:
        return False
    for tp in assignment:
        high = consumer.highwater(tp)
        if high is None or await consumer.position(tp) < high:
            return False
    return True


def _next_offsets(records: Sequence[Record]) -> dict[TopicPartition, OffsetAndMetadata]:
    offsets: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        offsets[tp] = max(offsets.get(tp, -1), r.offset + 1)
    return {tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()}
