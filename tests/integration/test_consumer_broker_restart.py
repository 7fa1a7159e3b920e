"""A broker restarted empty on the same port while the consumer holds a position in
the old log: the consumer must read the new log from its start, not from where it
was. The relay recreates the topics and republishes its journal at once, so the
new log can grow past the old position before the consumer notices anything; a
consumer that kept its position (or committed it into the new broker) would skip
the first new messages until the journal republishes them minutes later. And what
the lost broker held for the notifier and the outbound dispatcher, which has no
journal: the consumer's outbox publishes it again once it sees the new log.
Real Tansu processes of our own; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from connectors.outbound import OutboundConfig, OutboundDispatcher
from crm_store.database import Database
from crm_store.models import Contact, Lead, LeadEvent, OutboxTicket
from ingest.contract import OutboundMessage, Topics
from ingest.metrics import IngestMetrics
from leadflow.broker import create_topics

from ..conftest import BrokerProcess, start_tansu, stop_tansu
from .helpers import consumer_for, notifier_for, seed_team
from .test_consumer_faults import FAST, _has_topics, customers, produce, until

pytestmark = pytest.mark.integration


async def _leads_of(db: Database, prefix: str) -> int:
    async with db.sessions() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Lead)
                .join(Contact, Contact.id == Lead.contact_id)
                .where(Contact.email.like(f"{prefix}%"))
            )
            or 0
        )


def _restart_empty(broker: BrokerProcess) -> None:
    stop_tansu(broker)
    broker.process = start_tansu(broker.port).process


async def test_a_batch_in_hand_across_an_empty_restart_does_not_skip_the_new_log(
    own_broker: BrokerProcess, db: Database
) -> None:
    """The broker restarts empty while a batch is being stored; the relay refills the
    new log past the old position and the group rejoins before that batch is done.
    Its old offsets must not be committed into the new log: the next consumer of
    the group (a restarted process) would start past the first new messages."""
    await seed_team(db)
    bootstrap = own_broker.bootstrap_servers
    topics = Topics(prefix=f"e{uuid.uuid4().hex[:6]}.")
    await create_topics(bootstrap, topics, partitions=1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    hold = asyncio.Event()
    held = asyncio.Event()
    resume = asyncio.Event()
    stop = asyncio.Event()

    async def before_commit(records: Sequence[Any]) -> None:
        if hold.is_set() and any(b"second" in (r.value or b"") for r in records):
            held.set()
            await resume.wait()
            stop.set()  # this process ends after this batch, as on a redeploy

    consumer = consumer_for(
        bootstrap,
        topics,
        db,
        group=group,
        partitions=1,
        before_offset_commit=before_commit,
        **FAST,
    )
    async with consumer:
        task = asyncio.create_task(consumer.run(stop), name="consumer")
        try:
            await produce(bootstrap, topics.inquiries, customers(6, "first"))
            await until(lambda: _leads_of_at_least(db, "first", 6))
            hold.set()
            await produce(bootstrap, topics.inquiries, customers(6, "second"))
            await asyncio.wait_for(held.wait(), 30)

            _restart_empty(own_broker)
            # What the relay does on an empty broker: topics back, the journal republished.
            await create_topics(bootstrap, topics, partitions=1)
            await produce(bootstrap, topics.inquiries, customers(60, "after"))
            # The batch in hand outlasts the group's rejoin on the new broker (a slow
            # store, a retried confirmation), so the broker would accept its commit.
            await until(lambda: _has_members(bootstrap, group), within=30)
            resume.set()
            await asyncio.wait_for(task, 30)
        finally:
            resume.set()
            stop.set()
            await asyncio.wait_for(task, 30)

    again = asyncio.Event()
    async with consumer_for(bootstrap, topics, db, group=group, partitions=1, **FAST) as second:
        task = asyncio.create_task(second.run(again), name="consumer again")
        try:
            # Generous: the journal's own republish would take 120 s.
            await until(lambda: _leads_of_at_least(db, "after", 60), within=60)
        finally:
            again.set()
            await asyncio.wait_for(task, 30)


async def test_an_idle_consumer_reads_a_refilled_empty_broker_from_its_start(
    own_broker: BrokerProcess, db: Database
) -> None:
    """Idle at the end of the old log when the broker restarts empty and the relay
    refills it past the old position at once: nothing of the new log is skipped."""
    await seed_team(db)
    bootstrap = own_broker.bootstrap_servers
    topics = Topics(prefix=f"i{uuid.uuid4().hex[:6]}.")
    await create_topics(bootstrap, topics, partitions=1)
    stop = asyncio.Event()
    consumer = consumer_for(bootstrap, topics, db, partitions=1, **FAST)
    async with consumer:
        task = asyncio.create_task(consumer.run(stop), name="consumer")
        try:
            await produce(bootstrap, topics.inquiries, customers(12, "old"))
            await until(lambda: _leads_of_at_least(db, "old", 12))
            _restart_empty(own_broker)
            await create_topics(bootstrap, topics, partitions=1)
            await produce(bootstrap, topics.inquiries, customers(20, "new"))
            await until(lambda: _leads_of_at_least(db, "new", 20), within=60)
            assert not task.done(), "the consumer never exits"
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def _has_members(bootstrap: str, group: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        described = await admin.describe_consumer_groups([group])
    except Exception:  # the broker is still starting
        return False
    finally:
        await admin.close()
    groups = [g for response in described for g in response.to_object()["groups"]]
    return any(g["state"] == "Stable" and g["members"] for g in groups)


async def _leads_of_at_least(db: Database, prefix: str, n: int) -> bool:
    return await _leads_of(db, prefix) >= n


async def test_a_consumer_that_joined_before_its_topic_existed_reads_it_once_created(
    own_broker: BrokerProcess, db: Database
) -> None:
    """`leadflow up` after a broker restarted empty: the consumer joins its group
    while its topic is missing, and the relay recreates the topics before the
    consumer's own check, so the consumer has nothing to repair and no reason to
    rejoin. It must still be given the new partitions soon, not after the Kafka
    client's default five minutes of cached metadata."""
    await seed_team(db)
    bootstrap = own_broker.bootstrap_servers
    topics = Topics(prefix=f"j{uuid.uuid4().hex[:6]}.")
    stop = asyncio.Event()
    options = {**FAST, "heal_interval_s": 3600.0}  # only its first check, at start
    consumer = consumer_for(bootstrap, topics, db, partitions=2, **options)
    async with consumer:  # joined: the topic does not exist yet
        await create_topics(bootstrap, topics, partitions=2)  # the relay, first
        task = asyncio.create_task(consumer.run(stop), name="consumer")
        try:
            await produce(bootstrap, topics.inquiries, customers(8, "late"))
            await until(lambda: _leads_of_at_least(db, "late", 8), within=60)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


class _Recorder:
    """The outbound channel: every message it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> None:
        self.sent.append(message)


async def _sent_about(db: Database, recorder: _Recorder, prefix: str) -> int:
    """Notices (not the customers' acknowledgements) sent about the leads of customers
    whose address starts with `prefix`."""
    async with db.sessions() as session:
        leads = set(
            await session.scalars(
                select(Lead.id)
                .join(Contact, Contact.id == Lead.contact_id)
                .where(Contact.email.like(f"{prefix}%"))
            )
        )
    return sum(m.lead_id in leads and m.purpose != "acknowledgement" for m in recorder.sent)


async def _events_all_published(db: Database) -> bool:
    """Every lead event sent: none unpublished, and no batch's ticket still open (its
    rows are committed as published before they are sent)."""
    async with db.sessions() as session:
        waiting = await session.scalar(
            select(func.count()).select_from(LeadEvent).where(LeadEvent.published_at.is_(None))
        )
        tickets = await session.scalar(select(func.count()).select_from(OutboxTicket))
    return waiting == 0 and tickets == 0


async def test_what_the_lost_broker_held_unread_is_published_again_and_sent_once(
    own_broker: BrokerProcess, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Before the restart the dispatcher sent the notices of three leads, and four
    more leads' events waited for a notifier that was not running. After it the
    four are notified and every message (notices, the customers' acknowledgements)
    is sent exactly once: the consumer's outbox
    sees its lead events start again at offset 0 and publishes the last minute's
    rows again, the notifier plans nothing twice, the dispatcher skips what it sent
    and logs one line per poll for them, not one per message."""
    caplog.set_level(logging.INFO, logger="connectors.outbound")
    await seed_team(db)
    bootstrap = own_broker.bootstrap_servers
    topics = Topics(prefix=f"o{uuid.uuid4().hex[:6]}.")
    # One partition: the first new event lands where the old ones were acknowledged.
    await create_topics(bootstrap, topics, partitions=1)
    outcomes: dict[str, int] = {}
    recorder = _Recorder()
    dispatcher = OutboundDispatcher(
        OutboundConfig(bootstrap, topics, group_id=f"d-{uuid.uuid4().hex[:6]}"),
        on_outcome=lambda _channel, o: outcomes.__setitem__(o, outcomes.get(o, 0) + 1),
    )
    dispatcher.register("email", recorder)

    async def sent(prefix: str, n: int) -> bool:
        return await _sent_about(db, recorder, prefix) == n

    async def skipped_three() -> bool:
        return outcomes.get("already_sent", 0) >= 3

    group = f"n-{uuid.uuid4().hex[:6]}"
    stop = asyncio.Event()
    registry = CollectorRegistry()
    consumer = consumer_for(
        bootstrap, topics, db, partitions=1, metrics=IngestMetrics(registry), **FAST
    )
    async with consumer:
        task = asyncio.create_task(consumer.run(stop), name="consumer")
        try:
            async with _notifying(bootstrap, topics, db, group, dispatcher):
                await produce(bootstrap, topics.inquiries, customers(3, "early"))
                await until(lambda: sent("early", 3))
            await produce(bootstrap, topics.inquiries, customers(4, "unread"))
            await until(lambda: _leads_of_at_least(db, "unread", 4))
            await until(lambda: _events_all_published(db))
            _restart_empty(own_broker)
            await until(lambda: _has_topics(bootstrap, topics))
            async with _notifying(bootstrap, topics, db, group, dispatcher):
                await produce(bootstrap, topics.inquiries, customers(1, "after"))
                await until(lambda: sent("unread", 4), within=60)
                await until(lambda: sent("after", 1))
                await until(skipped_three)
            ids = [m.id for m in recorder.sent]
            assert len(ids) == len(set(ids)), "nothing sent twice"
            notices = [m for m in recorder.sent if m.purpose != "acknowledgement"]
            assert (len(notices), len(ids) - len(notices)) == (8, 8)
            lost = registry.get_sample_value("leadflow_ingest_broker_lost_logs_total")
            assert lost == 1, "the loss is counted, once"
            assert _skips_logged(caplog.records) == outcomes["already_sent"]
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


def _skips_logged(records: Sequence[logging.LogRecord]) -> int:
    """The skipped messages the dispatcher's INFO lines count; no INFO line may be
    about one message."""
    total = 0
    for r in records:
        if r.name != "connectors.outbound" or r.levelno < logging.INFO:
            continue
        message = r.getMessage()
        assert "was sent already" not in message, message
        found = re.fullmatch(r"(\d+) outbound messages were sent already; not sent again", message)
        total += int(found.group(1)) if found else 0
    return total


@asynccontextmanager
async def _notifying(
    bootstrap: str, topics: Topics, db: Database, group: str, dispatcher: OutboundDispatcher
) -> AsyncIterator[None]:
    """The notifier and the dispatcher running; the dispatcher object is the same
    across entries, as under the supervisor."""
    stop = asyncio.Event()
    notifier = notifier_for(bootstrap, topics, db, group=group, partitions=1, **FAST)
    async with notifier, dispatcher:
        tasks = [
            asyncio.create_task(notifier.run(stop), name="notifier"),
            asyncio.create_task(dispatcher.run(stop), name="dispatcher"),
        ]
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
