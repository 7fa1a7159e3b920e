"""An Inquiry written by a foreign producer, with NUL bytes and values at and past the
contract's limits, on the real broker and both stores: cleaned into a lead, or
dead-lettered; never raw in the store, and never a crash of the consumer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from crm_store.database import Database
from crm_store.models import Company, Contact, InquiryRecord, Lead, OutboundRecord
from ingest.contract import Topics, limits

from ..conftest import BrokerProcess
from .channel_helpers import read_topic
from .helpers import consumer_for, seed_team

pytestmark = pytest.mark.integration

CHAT_ID = "9" * limits.CHANNEL_ID_MAX  # an outbound recipient longer than the old 320


def _foreign(key: str, **overrides: Any) -> bytes:
    values: dict[str, Any] = {
        "idempotency_key": key,
        "channel": "web_form",
        "received_at": "2026-11-27T10:00:00Z",
        "sender": {"name": "Ivan", "email": "ivan@example.com"},
        "text": "Need 20 licenses",
        "routing": {"team": "Sales"},
    }
    values.update(overrides)
    return json.dumps(values).encode()


GOOD_FORM = _foreign(
    "foreign:form\u0000:1",
    sender={
        "name": "Iv\u0000an " + "P" * (limits.NAME_MAX - 10),
        "email": "ivan\u0000@acme.example",
        "company": "C\u0001" * (limits.COMPANY_MAX // 2),
    },
    subject="S\u0000" * limits.SUBJECT_MAX,
    text="Need\u0000 20 licenses\n" + "x" * 5_000,
    source={"referrer": "https://r.example/" + "r" * 5_000, "utm_source": "u\u0000" * 3_000},
    client={"ip": "garbage\u0000", "user_agent": "UA" * 3_000},
    fields={"city\u0000": "Mos\u0000cow"},
)
GOOD_TELEGRAM = _foreign(
    "foreign:tg:1",
    channel="telegram",
    sender={"name": "Anna", "messenger_ids": {"telegram": "1" * limits.MESSENGER_ID_MAX}},
    channel_ids={"chat_id": CHAT_ID, "update_id": "7"},
    routing={"team": "Sales", "connector": "b" * limits.ROUTING_NAME_MAX},
)
TOO_LONG_NAME = _foreign("foreign:bad:1", sender={"name": "n" * 501, "email": "a@b.ru"})
TOO_LONG_COMPANY = _foreign("foreign:bad:2", sender={"company": "c" * 301, "email": "a@b.ru"})


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def test_foreign_inquiries_are_cleaned_or_dead_lettered_never_stored_raw(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    await seed_team(db)
    await _produce(
        broker.bootstrap_servers,
        topics.inquiries,
        [TOO_LONG_NAME, GOOD_FORM, TOO_LONG_COMPANY, GOOD_TELEGRAM],
    )
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        handled = await consumer.run(until_idle=True)
    assert handled == 4

    async with db.sessions() as session:
        leads = (await session.scalars(select(Lead))).all()
        records = (await session.scalars(select(InquiryRecord))).all()
        contacts = (await session.scalars(select(Contact))).all()
        companies = (await session.scalars(select(Company))).all()
        outbound = (await session.scalars(select(OutboundRecord))).all()
    assert len(leads) == 2
    assert {r.idempotency_key for r in records} == {"foreign:form:1", "foreign:tg:1"}
    form = next(r for r in records if r.channel == "web_form")
    assert form.client_ip is None, "a client IP that is not an address is never stored"
    stored = json.dumps(form.payload)
    assert "\\u0000" not in stored and "\\u0001" not in stored
    assert form.payload["source"]["referrer"].__len__() == limits.URL_MAX
    assert form.payload["fields"] == {"city": "Moscow"}
    ivan = next(c for c in contacts if c.email)
    assert ivan.email == "ivan@acme.example"
    assert ivan.name is not None and ivan.name.startswith("Ivan P")
    assert [c.domain for c in companies] == ["acme.example"]
    assert companies[0].name == "C" * (limits.COMPANY_MAX // 2)
    assert CHAT_ID in {o.recipient for o in outbound}

    dead = await read_topic(broker.bootstrap_servers, topics.dlq, 2)
    assert sorted(value for value, _ in dead) == sorted([TOO_LONG_NAME, TOO_LONG_COMPANY])
    for _, headers in dead:
        assert b"at most" in headers["reason"]
