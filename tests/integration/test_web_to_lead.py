"""End to end on the real broker and both stores: a web form becomes an assigned lead."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import select

from crm_store.accounts import Principal
from crm_store.database import Database
from crm_store.leads import list_leads
from crm_store.models import Activity, InquiryRecord, Lead, LeadEvent
from ingest.contract import Sender, Topics

from ..conftest import BrokerProcess
from ..factories import make_inquiry
from .helpers import consumer_for, form_client, lead_count, notifier_for, seed_team

pytestmark = pytest.mark.integration

ADMIN = Principal(user_id=0, name="admin", role="admin")
FORM = {
    "name": "Ivan Petrov",
    "email": "ivan@example.com",
    "phone": "8 (912) 345-67-89",
    "message": "Need 20 licenses",
}


async def test_form_post_becomes_assigned_lead_with_deadline(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    members = await seed_team(db)
    async with form_client(broker.bootstrap_servers, topics) as client:
        resp = await client.post("/forms/contact", data=FORM)
        assert resp.status == 202
        body = await resp.json()
        inquiry_id = uuid.UUID(body["inquiry_id"])
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        await consumer.run(until_idle=True)
    async with db.sessions() as session:
        page = await list_leads(session, ADMIN)
        record = await session.scalar(select(InquiryRecord).where(InquiryRecord.id == inquiry_id))
        events = list(await session.scalars(select(LeadEvent.type).order_by(LeadEvent.type)))
        unpublished = await session.scalar(
            select(LeadEvent.id).where(LeadEvent.published_at.is_(None))
        )
    assert page.total == 1
    lead = page.items[0]
    assert lead.status == "new"
    assert lead.contact.name == "Ivan Petrov"
    assert lead.contact.email == "ivan@example.com"
    assert lead.contact.phone == "+79123456789"
    assert lead.assignee is not None and lead.assignee.id == members[0]
    assert lead.first_contact_due_at is not None
    assert [(a.kind, a.status, a.due_at) for a in lead.activities] == [
        ("call", "planned", lead.first_contact_due_at)
    ]
    assert record is not None and record.lead_id == lead.id
    assert events == ["lead.assigned", "lead.created"]
    assert unpublished is None, "the outbox was published"


async def test_lead_events_reach_the_topic(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    await seed_team(db)
    async with form_client(broker.bootstrap_servers, topics) as client:
        assert (await client.post("/forms/contact", data=FORM)).status == 202
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        await consumer.run(until_idle=True)
    types = [e["type"] for e in await _read_all(broker, topics.lead_events, 2)]
    assert sorted(types) == ["lead.assigned", "lead.created"]


async def test_same_submission_twice_gives_one_lead(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    await seed_team(db)
    async with form_client(broker.bootstrap_servers, topics) as client:
        for _ in range(2):
            assert (await client.post("/forms/contact", data=FORM)).status == 202
        headers = {"Idempotency-Key": "order-77"}
        other = {"name": "Olga", "email": "olga@example.org", "message": "second, with a key"}
        for _ in range(2):
            assert (await client.post("/forms/contact", data=other, headers=headers)).status == 202
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        handled = await consumer.run(until_idle=True)
    assert handled == 4
    assert await lead_count(db) == 2


async def test_same_key_in_a_later_batch_is_a_no_op(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    await seed_team(db)
    inquiry = make_inquiry()
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        await _produce(broker, topics.inquiries, [inquiry.model_dump_json().encode()])
        await consumer.run(until_idle=True)
        replay = inquiry.model_copy(update={"id": uuid.uuid4()})
        await _produce(broker, topics.inquiries, [replay.model_dump_json().encode()])
        await consumer.run(until_idle=True)
    assert await lead_count(db) == 1


class Killed(Exception):
    """Stands for the process dying between the store commit and the offset commit."""


async def test_crash_before_offset_commit_replays_without_duplicates(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    await seed_team(db)
    payloads = [
        make_inquiry(
            idempotency_key=f"k{i}",
            sender=Sender(email=f"c{i}@example.com"),
        )
        .model_dump_json()
        .encode()
        for i in range(20)
    ]
    await _produce(broker, topics.inquiries, payloads)
    group = f"g-{uuid.uuid4().hex[:8]}"

    async def die(_records: Sequence[object]) -> None:
        raise Killed

    with pytest.raises(Killed):
        async with consumer_for(
            broker.bootstrap_servers, topics, db, group=group, before_offset_commit=die
        ) as consumer:
            await consumer.run(until_idle=True)
    assert await lead_count(db) == 20, "the batch was written before the crash"

    async with consumer_for(broker.bootstrap_servers, topics, db, group=group) as consumer:
        replayed = await consumer.run(until_idle=True)
    assert replayed == 20, "offsets were not committed, so everything is redelivered"
    assert await lead_count(db) == 20
    async with db.sessions() as session:
        activities = list(await session.scalars(select(Activity.lead_id)))
    assert len(activities) == len(set(activities)) == 20


async def test_poison_message_goes_to_dlq_and_next_is_processed(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    await seed_team(db)
    good = make_inquiry().model_dump_json().encode()
    unknown_field = json.dumps(
        {**json.loads(good), "idempotency_key": "x2", "surprise": 1}
    ).encode()
    await _produce(broker, topics.inquiries, [b"{not json", unknown_field, good])
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        handled = await consumer.run(until_idle=True)
    assert handled == 3
    assert await lead_count(db) == 1
    dead = await _read_all(broker, topics.dlq, 2, raw=True)
    reasons = sorted(r for r, _ in dead)
    assert reasons[0].startswith("not a valid Inquiry")
    assert "surprise" in reasons[1] or "surprise" in reasons[0]
    assert {v for _, v in dead} == {b"{not json", unknown_field}


async def test_raw_identities_from_other_producers_are_normalized(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    await seed_team(db)
    raw = {
        "idempotency_key": "pbx:1",
        "channel": "phone",
        "received_at": "2026-11-27T10:00:00Z",
        "sender": {"email": "Ivan@Example.COM", "phone": "8 (912) 345-67-89"},
    }
    bad_phone = {**raw, "idempotency_key": "pbx:2", "sender": {"phone": "12345"}}
    await _produce(
        broker, topics.inquiries, [json.dumps(raw).encode(), json.dumps(bad_phone).encode()]
    )
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        await consumer.run(until_idle=True)
    async with db.sessions() as session:
        page = await list_leads(session, ADMIN)
        payloads = [r.payload for r in await session.scalars(select(InquiryRecord))]
    assert page.total == 2, "an invalid phone never loses the inquiry"
    emails = {lead.contact.email for lead in page.items}
    assert "ivan@example.com" in emails
    assert any(p["fields"].get("_invalid_phone") == "12345" for p in payloads)


async def test_round_robin_across_batches(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    members = await seed_team(db)
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        for i in range(6):
            inquiry = make_inquiry(sender=Sender(email=f"r{i}@example.com"))
            await _produce(broker, topics.inquiries, [inquiry.model_dump_json().encode()])
            await consumer.run(until_idle=True)
    async with db.sessions() as session:
        assignees = list(await session.scalars(select(Lead.assignee_id).order_by(Lead.created_at)))
    assert None not in assignees
    assert sorted(a for a in assignees if a is not None) == sorted(members * 2)


async def _produce(broker: BrokerProcess, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def _read_all(broker: BrokerProcess, topic: str, n: int, *, raw: bool = False) -> list:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    out: list = []  # type: ignore[type-arg]
    try:
        async with asyncio.timeout(10):
            while len(out) < n:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for r in records:
                        if raw:
                            reason = dict(r.headers)["reason"].decode()
                            out.append((reason, r.value))
                        else:
                            out.append(json.loads(r.value))
    finally:
        await consumer.stop()
    return out


async def test_repeat_inquiry_joins_the_open_lead_and_messages_go_out(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    await seed_team(db)
    first = make_inquiry(
        channel="email", subject="Quote", channel_ids={"message_id": "<q1@client.example>"}
    )
    again = make_inquiry(
        channel="email",
        subject="Re: Quote",
        text="any news?",
        channel_ids={"message_id": "<q2@client.example>", "in_reply_to": "<q1@client.example>"},
    )
    auto = make_inquiry(channel="email", not_a_lead="auto_reply: Auto-Submitted: auto-replied")
    await _produce(
        broker, topics.inquiries, [i.model_dump_json().encode() for i in (first, again, auto)]
    )
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        await consumer.run(until_idle=True)
    # Ingest sends only the customer's acknowledgement; the managers' notices come
    # from the lead events, through the notifier.
    (only,) = await _read_all(broker, topics.outbound, 1)
    assert only["purpose"] == "acknowledgement"
    async with notifier_for(broker.bootstrap_servers, topics, db) as notifier:
        await notifier.run(until_idle=True)
    async with db.sessions() as session:
        page = await list_leads(session, ADMIN)
        rows = await session.execute(select(InquiryRecord.idempotency_key, InquiryRecord.outcome))
        outcomes = {key: outcome for key, outcome in rows}  # noqa: C416
    assert page.total == 1
    kinds = sorted((a.kind, a.status) for a in page.items[0].activities)
    assert kinds == [("email", "done"), ("email", "done"), ("email", "planned")]
    assert outcomes == {
        first.idempotency_key: "new_lead",
        again.idempotency_key: "appended",
        auto.idempotency_key: "recorded",
    }
    sent = await _read_all(broker, topics.outbound, 3)
    purposes = sorted((m["purpose"], m.get("template")) for m in sent)
    assert purposes == [
        ("acknowledgement", "ack"),
        ("manager_notification", "manager_lead_updated"),
        ("manager_notification", "manager_new_lead"),
    ]
    ack = next(m for m in sent if m["purpose"] == "acknowledgement")
    assert ack["headers"]["In-Reply-To"] == "<q1@client.example>"
    assert ack["headers"]["Auto-Submitted"] == "auto-replied"
