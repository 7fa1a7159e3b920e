"""The ingest consumer: Kafka batches in, one store transaction per batch, offsets after.

Per batch: decode (undecodable or invalid → dead-letter topic with the reason), drop
idempotency keys already stored, read a snapshot, `plan_batch`, write every row in
one transaction, then publish the lead events and only then commit the offsets. A
crash anywhere replays the batch and the idempotency keys make the replay a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import intake, notifications
from crm_store.database import Database
from ingest.contract import Inquiry, InvalidIdentity, Topics, normalize_email, normalize_phone
from ingest.errors import StoreUnavailable
from ingest.judgement import JudgementCache, team_view
from ingest.kafka_pair import KafkaPair, PairConfig
from ingest.matching import company_from_email
from ingest.metrics import IngestMetrics
from ingest.pipeline import (
    AppendToLead,
    Decision,
    LeadRef,
    LinkTelegram,
    LogActivity,
    Policy,
    RecordOnly,
    Snapshot,
    identities_of,
    plan_batch,
    thread_ids_of,
)
from ingest.records import rows_for
from ingest.replies import ack_recipient

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
OUTBOX_POLL = timedelta(seconds=2)
Record: TypeAlias = ConsumerRecord[bytes, bytes]
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
    store_attempts: int = 6
    max_message_bytes: int = 1_048_576
    ack_window: timedelta = timedelta(hours=24)
    # Where messages can be delivered; without SMTP settings there is no email to queue.
    outbound_channels: frozenset[str] = frozenset({"email", "telegram"})


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Record
    reason: str


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
    ) -> None:
        self._config = config
        self._db = db
        self._policy = policy or Policy()
        self._metrics = metrics
        self._clock = clock
        self._before_commit = before_offset_commit
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
            ),
            "InquiryConsumer",
        )
        self._events_pending = True
        self._judgement = JudgementCache()
        self._outbox_checked_at: datetime | None = None

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
        `max_messages` were handled. Returns how many messages were handled."""
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
            await self._flush_others_outbox()
            if until_idle and await self._idle(consumer):
                break
        return handled

    async def _flush_others_outbox(self) -> None:
        """While idle, publish what other processes left in the outbox (a manager's
        reply written by the console, a watcher's notice) every few seconds."""
        now = self._clock()
        if self._outbox_checked_at and now - self._outbox_checked_at < OUTBOX_POLL:
            return
        self._outbox_checked_at = now
        self._events_pending = True
        try:
            await self.publish_outbox()
        except (KafkaError, OperationalError, DBAPIError) as exc:
            log.warning("could not publish the outbox now (%s); will retry", exc)

    async def _idle(self, consumer: AIOKafkaConsumer) -> bool:
        assignment = consumer.assignment()
        if not assignment:
            return False
        for tp in assignment:
            high = consumer.highwater(tp)
            if high is None or await consumer.position(tp) < high:
                return False
        return True

    async def process(self, records: Sequence[Record]) -> None:
        """Handle one batch end to end and commit its offsets."""
        consumer, _ = self._clients()
        good, dead = self._decode(records)
        for letter in dead:
            await self._dead_letter(letter)
        await self._store_with_retry(good)
        await self.publish_outbox()
        if self._before_commit is not None:
            await self._before_commit(records)
        await consumer.commit(_next_offsets(records))

    def _decode(self, records: Sequence[Record]) -> tuple[list[Inquiry], list[DeadLetter]]:
        good: list[Inquiry] = []
        dead: list[DeadLetter] = []
        for record in records:
            if record.value is None:
                dead.append(DeadLetter(record, "empty message (tombstone)"))
                continue
            try:
                inquiry = Inquiry.from_kafka(record.value)
            except ValidationError as exc:
                dead.append(DeadLetter(record, _validation_reason(exc)))
                continue
            good.append(self._renormalized(inquiry))
        return good, dead

    def _renormalized(self, inquiry: Inquiry) -> Inquiry:
        """Producers in other languages may send raw addresses; normalize them here.

        An identity that does not normalize is kept aside in `fields` rather than
        rejecting the inquiry: the customer still asked something.
        """
        sender = inquiry.sender
        updates: dict[str, Any] = {}
        fields = dict(inquiry.fields)
        if sender.email:
            try:
                updates["email"] = normalize_email(sender.email)
            except InvalidIdentity:
                updates["email"] = None
                fields["_invalid_email"] = sender.email
        if sender.phone:
            try:
                updates["phone"] = normalize_phone(sender.phone, self._config.default_region)
            except InvalidIdentity:
                updates["phone"] = None
                fields["_invalid_phone"] = sender.phone
        if updates == {"email": sender.email, "phone": sender.phone} or not updates:
            return inquiry
        return inquiry.model_copy(
            update={"sender": sender.model_copy(update=updates), "fields": fields}
        )

    async def _dead_letter(self, letter: DeadLetter) -> None:
        _, producer = self._clients()
        r = letter.record
        log.warning("dead-lettering %s[%d]@%d: %s", r.topic, r.partition, r.offset, letter.reason)
        headers = [
            ("reason", letter.reason.encode()),
            ("source_topic", r.topic.encode()),
            ("source_partition", str(r.partition).encode()),
            ("source_offset", str(r.offset).encode()),
        ]
        await producer.send_and_wait(
            self._config.topics.dlq, r.value or b"", key=r.key, headers=headers
        )
        self._count("dead_letter")

    async def _store_with_retry(self, inquiries: list[Inquiry]) -> None:
        if not inquiries:
            return
        delay = 0.2
        for attempt in range(1, self._config.store_attempts + 1):
            try:
                await self._store(inquiries)
                return
            except IntegrityError as exc:
                # Another consumer created the same contact meanwhile: re-read and retry.
                log.info("batch conflicted (%s); retrying with a fresh snapshot", exc.orig)
            except (OperationalError, DBAPIError) as exc:
                if attempt == self._config.store_attempts:
                    raise StoreUnavailable(f"store failed {attempt} times: {exc}") from exc
                log.warning("store error (attempt %d): %s", attempt, exc)
            if self._metrics:
                self._metrics.retries.inc()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise StoreUnavailable("batch kept conflicting")

    async def _store(self, inquiries: list[Inquiry]) -> None:
        unique: dict[str, Inquiry] = {}
        for inquiry in inquiries:
            unique.setdefault(inquiry.idempotency_key, inquiry)
        now = self._clock()
        async with self._db.sessions() as session, session.begin():
            known = await intake.known_idempotency_keys(session, list(unique))
            fresh = [i for k, i in unique.items() if k not in known]
            duplicates = len(inquiries) - len(fresh)
            if fresh:
                snapshot, teams = await self._snapshot(session, fresh, now)
                policy = (await self._judgement.get(session, now)).policy(self._policy)
                plan = plan_batch(fresh, snapshot, now, policy)
                linked = await self._redeem_links(session, plan.decisions, now)
                targets = [t for i in fresh if (t := ack_recipient(i)) is not None]
                recently: set[tuple[str, str]] = set()
                for channel in {c for c, _ in targets}:
                    found = await intake.recent_recipients(
                        session,
                        channel,
                        "acknowledgement",
                        [a for c, a in targets if c == channel],
                        now - self._config.ack_window,
                    )
                    recently.update((channel, address) for address in found)
                rows = rows_for(
                    plan,
                    {t.id: t.name for t in teams.values()},
                    now,
                    recently_acknowledged=recently,
                    linked=linked,
                    channels=self._config.outbound_channels,
                )
                await intake.write_intake(session, rows)
                self._events_pending = True
                for decision in plan.decisions:
                    self._count(_outcome(decision))
        self._count("duplicate", duplicates)

    @staticmethod
    async def _redeem_links(
        session: AsyncSession, decisions: Sequence[Decision], now: datetime
    ) -> set[uuid.UUID]:
        """Link the chats whose `/link CODE` names a pending code; the inquiry ids."""
        linked: set[uuid.UUID] = set()
        for d in decisions:
            if isinstance(d, LinkTelegram):
                user_id = await notifications.redeem_telegram_code(
                    session,
                    notifications.hash_link_code(d.code),
                    chat_id=d.chat_id,
                    bot=d.bot,
                    now=now,
                )
                if user_id is not None:
                    log.info("user %d linked a Telegram chat through bot %s", user_id, d.bot)
                    linked.add(d.inquiry.id)
        return linked

    async def _snapshot(
        self, session: AsyncSession, fresh: list[Inquiry], now: datetime
    ) -> tuple[Snapshot, dict[str, intake.TeamRow]]:
        contacts = await intake.find_contacts(
            session, (key for i in fresh for key in identities_of(i))
        )
        leads = await intake.leads_for_contacts(session, set(contacts.values()))
        not_duplicates = await intake.not_duplicate_pairs(session, set(contacts.values()))
        companies = await intake.find_companies(
            session, {d for i in fresh if (d := company_from_email(i.sender.email))}
        )
        threads = await intake.leads_for_messages(
            session, (m for i in fresh for m in thread_ids_of(i))
        )
        recent = await intake.recent_inquiry_counts(
            session, {i.key for i in fresh}, now - self._policy.sender_window
        )
        ips = await intake.recent_ip_counts(
            session, {i.client.ip for i in fresh if i.client.ip}, now - self._policy.rate_window
        )
        judgement = await self._judgement.get(session, now)
        teams = await intake.load_teams(session, lock=self._db.dialect == "postgresql", now=now)
        snapshot = Snapshot(
            contacts=contacts,
            teams={name: team_view(t) for name, t in teams.items()},
            recent_from_ip=ips,
            rules=judgement.rules,
            blocklist=judgement.blocklist,
            classifier=judgement.classifier,
            default_team=self._config.default_team or next(iter(teams), None),
            leads_by_contact={
                contact_id: tuple(
                    LeadRef(r.id, r.status, r.assignee_id, r.team_id, r.created_at) for r in rows
                )
                for contact_id, rows in leads.items()
            },
            threads=threads,
            companies=companies,
            not_duplicates=frozenset(not_duplicates),
            recent_from_sender=recent,
        )
        return snapshot, teams

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
            futures = [
                await producer.send(
                    topics.lead_events,
                    _json({"event_id": str(event_id), **payload}),
                    key=str(payload.get("lead_id", "")).encode(),
                )
                for event_id, _, payload in events
            ]
            futures += [
                await producer.send(
                    topics.outbound, _json(payload), key=str(payload.get("to", "")).encode()
                )
                for _, payload in outbound
            ]
            await asyncio.gather(*futures)
            now = self._clock()
            await intake.mark_published(session, [event_id for event_id, _, _ in events], now)
            await intake.mark_outbound_published(session, [i for i, _ in outbound], now)
        self._events_pending = len(events) >= 1000 or len(outbound) >= 1000

    def _count(self, outcome: str, n: int = 1) -> None:
        if self._metrics and n:
            self._metrics.messages.labels(outcome).inc(n)


def _outcome(decision: Decision) -> str:
    if isinstance(decision, RecordOnly):
        return "recorded_only"
    if isinstance(decision, AppendToLead):
        return "appended"
    if isinstance(decision, LogActivity):
        return "logged"
    if isinstance(decision, LinkTelegram):
        return "telegram_link"
    return "junk_lead" if decision.status == "junk" else "new_lead"


def _next_offsets(records: Sequence[Record]) -> dict[TopicPartition, OffsetAndMetadata]:
    offsets: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        offsets[tp] = max(offsets.get(tp, -1), r.offset + 1)
    return {tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()}


def _validation_reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{where}: {err['msg']}")
    return "not a valid Inquiry: " + "; ".join(parts)


def _json(payload: dict[str, Any]) -> bytes:
    import json

    return json.dumps(payload, ensure_ascii=False, default=str).encode()
