"""A consumer's batch commits its outbox rows as published under a ticket and sends
them from memory: once sent, nothing is left to send again; a failed send, or a
consumer that stopped between its commit and its send, puts them back for the sweep,
and every lead event still reaches the topic exactly once. Real Tansu; SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import func, select

from crm_store.database import Database
from crm_store.models import LeadEvent, OutboundRecord, OutboxTicket
from ingest import outbox_publisher
from ingest.batch_store import BatchStore, StoreOptions
from ingest.contract import Topics
from ingest.decisions import Policy
from leadflow.broker import create_topics

from ..conftest import BrokerProcess
from .helpers import consumer_for, seed_team
from .test_consumer_faults import FAST, customers, produce

pytestmark = pytest.mark.integration


async def _tickets(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxTicket)) or 0)


async def _stored_events(db: Database) -> list[uuid.UUID]:
    async with db.sessions() as session:
        return list(
            await session.scalars(select(LeadEvent.id).where(LeadEvent.published_at.isnot(None)))
        )


async def _events_on_topic(bootstrap: str, topic: str) -> list[uuid.UUID]:
    """Every lead event id on the topic, in the order read."""
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await reader.start()
    try:
        found: list[uuid.UUID] = []
        batch = await reader.getmany(timeout_ms=2000)
        while batch:
            found += [
                uuid.UUID(json.loads(r.value)["event_id"]) for rs in batch.values() for r in rs
            ]
            batch = await reader.getmany(timeout_ms=500)
        return found
    finally:
        await reader.stop()


async def _topics(bootstrap: str) -> Topics:
    topics = Topics(prefix=f"t{uuid.uuid4().hex[:6]}.")
    await create_topics(bootstrap, topics, partitions=2)
    return topics


async def _consume(
    bootstrap: str, topics: Topics, db: Database, *, grace: timedelta | None = None
) -> None:
    consumer = consumer_for(bootstrap, topics, db, partitions=2, **FAST)
    if grace is not None:
        consumer._outbox.ticket_grace = grace
    async with consumer:
        await consumer.run(until_idle=True)


async def test_a_sent_batch_leaves_no_ticket_and_each_event_once(
    broker: BrokerProcess, db: Database
) -> None:
    await seed_team(db)
    topics = await _topics(broker.bootstrap_servers)
    await produce(broker.bootstrap_servers, topics.inquiries, customers(30, "sent"))
    await _consume(broker.bootstrap_servers, topics, db)
    stored = await _stored_events(db)
    on_topic = await _events_on_topic(broker.bootstrap_servers, topics.lead_events)
    assert len(stored) >= 30  # a created and an assigned event per lead, at least
    assert sorted(on_topic) == sorted(stored), "each event sent once"
    assert await _tickets(db) == 0


async def test_a_failed_send_puts_the_rows_back_for_the_sweep(
    broker: BrokerProcess, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first send from memory fails (the broker away for it alone): its rows are
    marked unpublished again, the sweep sends them, and none goes twice."""
    await seed_team(db)
    topics = await _topics(broker.bootstrap_servers)
    real_send_all = outbox_publisher.send_all
    failed: list[int] = []

    async def send_all(
        producer: AIOKafkaProducer, messages: Sequence[Any], deadline_s: float
    ) -> Any:
        if not failed and messages:  # the batch's own send, not an empty sweep
            failed.append(len(messages))
            raise TimeoutError("the broker did not answer")
        return await real_send_all(producer, messages, deadline_s)

    monkeypatch.setattr(outbox_publisher, "send_all", send_all)
    await produce(broker.bootstrap_servers, topics.inquiries, customers(20, "failed"))
    await _consume(broker.bootstrap_servers, topics, db)
    stored = await _stored_events(db)
    on_topic = await _events_on_topic(broker.bootstrap_servers, topics.lead_events)
    assert failed and failed[0] > 0
    assert len(stored) >= 20
    assert sorted(on_topic) == sorted(stored), "each event sent once, after the failure"
    assert await _tickets(db) == 0


async def test_a_ticket_a_stopped_consumer_left_goes_out_after_the_grace(
    broker: BrokerProcess, db: Database
) -> None:
    """A batch committed by a consumer that then stopped (its rows published under a
    ticket, never sent): a young ticket is left alone, as its sender may still be
    at it; once older than the grace, the next consumer's sweep sends its rows."""
    await seed_team(db)
    topics = await _topics(broker.bootstrap_servers)
    stopped = BatchStore(db, Policy(), StoreOptions(default_team="Sales"))
    written = await stopped.write(customers(5, "stranded"), datetime.now(UTC))
    assert written.ticket is not None and written.events
    await _consume(broker.bootstrap_servers, topics, db)
    assert await _events_on_topic(broker.bootstrap_servers, topics.lead_events) == []
    assert await _tickets(db) == 1
    await _consume(broker.bootstrap_servers, topics, db, grace=timedelta(0))
    on_topic = await _events_on_topic(broker.bootstrap_servers, topics.lead_events)
    assert sorted(on_topic) == sorted(e.id for e in written.events)
    assert await _tickets(db) == 0


async def test_a_consumer_that_stops_right_after_a_batch_closes_its_ticket(
    broker: BrokerProcess, db: Database
) -> None:
    """Stopping with no idle pass and no sweep after the last batch (here: its last
    message, the sweep ran moments before) must not leave the sent batch's ticket for
    a sweep to send again after the grace."""
    await seed_team(db)
    topics = await _topics(broker.bootstrap_servers)
    bootstrap = broker.bootstrap_servers
    await produce(bootstrap, topics.inquiries, customers(12, "first"))
    # No channel to acknowledge on: lead events alone, whose ticket waits for the next
    # transaction (with mail it is deleted at once, see the next test).
    consumer = consumer_for(
        bootstrap, topics, db, partitions=2, outbound_channels=frozenset(), **FAST
    )
    async with consumer:
        assert await consumer.run(max_messages=12) == 12  # the start's sweep ran here
        await produce(bootstrap, topics.inquiries, customers(3, "last"))
        assert await consumer.run(max_messages=3) == 3
        assert await _tickets(db) == 0
    stored = await _stored_events(db)
    assert sorted(await _events_on_topic(bootstrap, topics.lead_events)) == sorted(stored)


async def test_a_batch_with_mail_closes_its_ticket_before_its_offsets(
    broker: BrokerProcess, db: Database
) -> None:
    """A batch that asked for acknowledgements deletes its ticket as soon as they are
    sent: a kill -9 after that never has a sweep send them a second time."""
    await seed_team(db)
    topics = await _topics(broker.bootstrap_servers)
    bootstrap = broker.bootstrap_servers
    open_at_commit: list[int] = []

    async def before_offsets(records: Sequence[Any]) -> None:
        open_at_commit.append(await _tickets(db))

    await produce(bootstrap, topics.inquiries, customers(20, "mail"))
    consumer = consumer_for(
        bootstrap, topics, db, partitions=2, before_offset_commit=before_offsets, **FAST
    )
    async with consumer:
        assert await consumer.run(max_messages=20) == 20  # the start's sweep ran here
        open_at_commit.clear()
        # The next batches come within the sweep's 2 s: only the send closes them.
        await produce(bootstrap, topics.inquiries, customers(5, "later"))
        assert await consumer.run(max_messages=5) == 5
    async with db.sessions() as session:
        mails = await session.scalar(select(func.count()).select_from(OutboundRecord))
    assert mails == 25
    assert open_at_commit and set(open_at_commit) == {0}
