"""Poison never stops the consumer: real broker, both stores.

A batch with one inquiry that cannot be stored is split until that inquiry is
alone; it goes to the dead-letter topic with the exception as its reason, every
other inquiry becomes a lead, and the consumer confirms every handled key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry
from sqlalchemy import select, update

from crm_store.database import Database
from crm_store.models import AppUser, Contact, Lead
from ingest.contract import Inquiry, Sender, Topics
from ingest.contract.confirm import decode_confirmation
from ingest.metrics import IngestMetrics

from ..conftest import BrokerProcess
from ..factories import make_inquiry
from .channel_helpers import read_topic
from .helpers import consumer_for, lead_count, seed_team

pytestmark = pytest.mark.integration


def customers(n: int, prefix: str = "c") -> list[Inquiry]:
    return [
        make_inquiry(
            idempotency_key=f"{prefix}:{i}",
            sender=Sender(name=f"Customer {i}", email=f"{prefix}{i}@example.com"),
        )
        for i in range(n)
    ]


async def produce_raw(bootstrap: str, topic: str, values: Sequence[bytes]) -> None:
    """Like any foreign producer: JSON bytes on the topic, one key so order holds."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"one-partition")
    finally:
        await producer.stop()


async def confirmed_keys(bootstrap: str, topics: Topics, at_least: int) -> set[str]:
    keys: set[str] = set()
    messages = 1
    while True:
        records = await read_topic(bootstrap, topics.stored, messages)
        keys = {k for value, _ in records for k in decode_confirmation(value)}
        if len(keys) >= at_least:
            return keys
        messages += 1


async def test_one_poison_among_good_ones_is_dead_lettered_and_the_rest_become_leads(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    await seed_team(db)
    batch = customers(12)
    poison_key = batch[7].idempotency_key

    def pipeline_bug(fresh: Sequence[Inquiry]) -> None:
        if any(i.idempotency_key == poison_key for i in fresh):
            raise RuntimeError(f"a bug meets {poison_key}")

    await produce_raw(broker.bootstrap_servers, topics.inquiries, [i.to_kafka()[1] for i in batch])
    registry = CollectorRegistry()
    async with consumer_for(
        broker.bootstrap_servers,
        topics,
        db,
        before_store=pipeline_bug,
        metrics=IngestMetrics(registry),
    ) as consumer:
        handled = await consumer.run(until_idle=True)

    assert handled == 12
    [(value, headers)] = await read_topic(broker.bootstrap_servers, topics.dlq, 1)
    assert Inquiry.from_kafka(value).idempotency_key == poison_key
    assert headers["reason"].decode() == f"RuntimeError: a bug meets {poison_key}"
    assert headers["source_topic"].decode() == topics.inquiries
    assert registry.get_sample_value("leadflow_ingest_messages_total", {"outcome": "poison"}) == 1
    async with db.sessions() as session:
        stored = set(await session.scalars(select(Lead.id)))
    assert len(stored) == await lead_count(db) == 11
    # Every handled key is confirmed, the dead-lettered one included.
    keys = await confirmed_keys(broker.bootstrap_servers, topics, 12)
    assert keys == {i.idempotency_key for i in batch}


async def test_a_replayed_batch_confirms_its_duplicates(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    await seed_team(db)
    batch = customers(3)
    await produce_raw(broker.bootstrap_servers, topics.inquiries, [i.to_kafka()[1] for i in batch])
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        await consumer.run(until_idle=True)
    # A second group reads the same inquiries: all duplicates, all confirmed again.
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        await consumer.run(until_idle=True)
    assert await lead_count(db) == 3
    records = await read_topic(broker.bootstrap_servers, topics.stored, 2)
    for value, _ in records:
        assert set(decode_confirmation(value)) <= {i.idempotency_key for i in batch}
    assert {k for v, _ in records for k in decode_confirmation(v)} == {
        i.idempotency_key for i in batch
    }


async def test_a_nul_byte_from_a_foreign_producer_never_stops_ingestion(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    """PostgreSQL refuses NUL in text: the contract strips it when the consumer decodes
    any producer's JSON, so the inquiry becomes a lead like the others on both stores."""
    await seed_team(db)
    good = customers(6)
    poison = json.loads(customers(1, prefix="nul")[0].model_dump_json())
    poison["sender"]["name"] = "a\u0000b"
    values = [i.to_kafka()[1] for i in good[:3]]
    values.append(json.dumps(poison).encode())
    values += [i.to_kafka()[1] for i in good[3:]]
    await produce_raw(broker.bootstrap_servers, topics.inquiries, values)

    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        assert await consumer.run(until_idle=True) == 7

    assert await lead_count(db) == 7
    async with db.sessions() as session:
        names = set((await session.execute(select(Contact.name))).scalars())
    assert "ab" in names
    keys = await confirmed_keys(broker.bootstrap_servers, topics, 7)
    assert "nul:0" in keys


async def test_an_unusable_member_setting_is_explained_not_fatal(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    first, second = await seed_team(db, members=2)
    async with db.sessions() as session, session.begin():
        await session.execute(
            update(AppUser).where(AppUser.id == first).values(timezone="Europe/Moskow")
        )
        await session.execute(
            update(AppUser)
            .where(AppUser.id == second)
            .values(working_hours={"mon": [["09:00", "25:00"]]})
        )
    batch = customers(2)
    await produce_raw(broker.bootstrap_servers, topics.inquiries, [i.to_kafka()[1] for i in batch])
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        assert await consumer.run(until_idle=True) == 2
    async with db.sessions() as session:
        leads = list(await session.scalars(select(Lead)))
    assert len(leads) == 2
    for lead in leads:
        assert lead.assignee_id is None
        reason = lead.assignment_reason or ""
        assert reason.startswith("queued: no eligible member"), reason
        assert "unknown time zone 'Europe/Moskow'" in reason
        assert "'25:00' is not a time of day between 00:00 and 24:00" in reason
