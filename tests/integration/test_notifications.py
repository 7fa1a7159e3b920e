"""Managers' notifications on the real broker and both stores.

Lead events → the notifier → `outbound_record` rows and `leadflow.outbound` messages
(email always when wanted, Telegram when linked), once per event however often it
is replayed; the SLA watcher's reassignment tells the new manager; preferences turn
channels off; and the Telegram link: a code from the console, `/link CODE` sent to
the bot (through the fake Bot API, the connector, the consumer and the dispatcher),
the chat linked and answered, wrong or expired codes refused.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import select, update

from connectors.outbound import OutboundConfig, OutboundDispatcher
from connectors.publisher import Publisher
from connectors.telegram_bot import TelegramBots, TelegramSender
from crm_store.database import Database
from crm_store.models import AppUser, Lead, NotificationSetting, OutboundRecord
from ingest.contract import Channel, Inquiry, Routing, Sender, Topics
from ingest.replies import LINK_FAILED_TEXT, LINKED_TEXT
from ingest.watcher import SlaWatcher

from ..conftest import BrokerProcess
from ..factories import make_inquiry
from .channel_helpers import eventually
from .console_helpers import console_client, token_of
from .fake_telegram import FakeBotApi
from .helpers import consumer_for, notifier_for, seed_team
from .test_telegram_channel import bot_config, running

pytestmark = pytest.mark.integration

CHAT = "123456789"  # the chat of tests/fixtures/telegram/private_text.json


async def produce(broker: BrokerProcess, topic: str, inquiries: list[Inquiry]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        for inquiry in inquiries:
            # One key, one partition: the test's inquiries are consumed in order.
            await producer.send_and_wait(topic, inquiry.model_dump_json().encode(), key=b"k")
    finally:
        await producer.stop()


async def drain(broker: BrokerProcess, topic: str) -> list[dict[str, Any]]:
    """Every message on `topic` now, read from the start."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(10):
            while True:
                batch = await consumer.getmany(timeout_ms=200)
                out.extend(json.loads(r.value) for rs in batch.values() for r in rs)
                tps = consumer.assignment()
                highs = [consumer.highwater(tp) for tp in tps]
                if tps and all(h is not None for h in highs):
                    positions = [await consumer.position(tp) for tp in tps]
                    if all(p >= h for p, h in zip(positions, highs, strict=True)):
                        return out
    finally:
        await consumer.stop()


async def ingest(broker: BrokerProcess, topics: Topics, db: Database) -> None:
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        await consumer.run(until_idle=True)


async def notify(broker: BrokerProcess, topics: Topics, db: Database) -> int:
    """Run a notifier in a fresh group: it reads every lead event from the start."""
    async with notifier_for(
        broker.bootstrap_servers, topics, db, console_url="https://crm.example.test"
    ) as notifier:
        return await notifier.run(until_idle=True)


async def link(db: Database, user_id: int, chat_id: str = "555", bot: str = "sales") -> None:
    async with db.sessions() as session, session.begin():
        session.add(
            NotificationSetting(
                user_id=user_id,
                telegram_chat_id=chat_id,
                telegram_bot=bot,
                updated_at=datetime.now(UTC),
            )
        )


@pytest.mark.parametrize(
    ("setting", "default", "headline", "label"),
    [
        pytest.param("ru", "en", "Новый лид: ", "Канал: ", id="their-russian"),
        pytest.param(None, "ru", "Новый лид: ", "Канал: ", id="deployment-default"),
        pytest.param("en", "ru", "New lead: ", "Channel: ", id="their-english"),
    ],
)
async def test_a_notice_speaks_the_language_the_manager_reads_the_console_in(
    broker: BrokerProcess,
    topics: Topics,
    db: Database,
    setting: str | None,
    default: str,
    headline: str,
    label: str,
) -> None:
    members = await seed_team(db)
    await link(db, members[0])
    async with db.sessions() as session, session.begin():
        await session.execute(
            update(AppUser).where(AppUser.id == members[0]).values(language=setting)
        )
    await produce(broker, topics.inquiries, [make_inquiry(sender=Sender(email="c@example.com"))])
    await ingest(broker, topics, db)
    async with notifier_for(
        broker.bootstrap_servers, topics, db, default_language=default
    ) as notifier:
        await notifier.run(until_idle=True)
    email, telegram = await notices(db)
    language = setting or default
    assert email.payload["context"]["language"] == language
    assert telegram.payload["text"].startswith(headline)
    assert label in telegram.payload["text"]


async def notices(db: Database) -> list[OutboundRecord]:
    async with db.sessions() as session:
        return list(
            await session.scalars(
                select(OutboundRecord)
                .where(OutboundRecord.purpose == "manager_notification")
                .order_by(OutboundRecord.channel)
            )
        )


def link_inquiry(text: str, chat_id: str = "555") -> Inquiry:
    return make_inquiry(
        channel=Channel.TELEGRAM,
        text=text,
        sender=Sender(name="Anna", messenger_ids={"telegram": chat_id}),
        routing=Routing(team="Sales", connector="sales"),
        channel_ids={"bot_id": "sales", "chat_id": chat_id, "update_id": uuid.uuid4().hex},
    )


async def test_assignment_notifies_by_email_and_linked_telegram_once(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    members = await seed_team(db)
    await link(db, members[0])
    await produce(broker, topics.inquiries, [make_inquiry(sender=Sender(email="c@example.com"))])
    await ingest(broker, topics, db)
    assert await notices(db) == [], "ingest itself tells no manager"

    assert await notify(broker, topics, db) >= 2  # lead.created, lead.assigned
    email, telegram = await notices(db)
    async with db.sessions() as session:
        lead = await session.scalar(select(Lead))
    assert lead is not None
    assert (email.channel, email.recipient, email.lead_id) == ("email", "m0@sales.test", lead.id)
    assert email.payload["template"] == "manager_new_lead"
    assert email.payload["context"]["title"] == lead.title
    assert email.payload["context"]["email"] == "c@example.com"
    assert (telegram.channel, telegram.recipient) == ("telegram", "555")
    assert telegram.payload["connector"] == "sales"
    assert telegram.payload["text"].startswith(f"New lead: {lead.title}")
    assert f"https://crm.example.test/leads/{lead.id}" in telegram.payload["text"]
    assert email.published_at is not None and telegram.published_at is not None
    sent = [m for m in await drain(broker, topics.outbound) if m["purpose"] != "acknowledgement"]
    assert sorted(m["channel"] for m in sent) == ["email", "telegram"]

    # A replay of every lead event (a new group reads from the start) sends nothing more.
    await notify(broker, topics, db)
    assert len(await notices(db)) == 2
    again = [m for m in await drain(broker, topics.outbound) if m["purpose"] != "acknowledgement"]
    assert len(again) == 2


async def test_without_smtp_only_the_manager_with_a_linked_chat_hears_of_a_lead(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    members = await seed_team(db)
    await link(db, members[1])
    customers = [f"c{i}@example.com" for i in range(3)]
    await produce(
        broker,
        topics.inquiries,
        [
            make_inquiry(sender=Sender(email=c), text=f"Question {i}")
            for i, c in enumerate(customers)
        ],
    )
    await ingest(broker, topics, db)

    async with notifier_for(broker.bootstrap_servers, topics, db, email=False) as notifier:
        await notifier.run(until_idle=True)
    async with db.sessions() as session:
        lead = await session.scalar(select(Lead).where(Lead.assignee_id == members[1]))
    assert lead is not None
    (telegram,) = await notices(db)
    assert (telegram.channel, telegram.recipient, telegram.lead_id) == ("telegram", "555", lead.id)
    assert telegram.payload["text"].startswith(f"New lead: {lead.title}")
    question = lead.title.rsplit(": ", 1)[-1]
    assert question.startswith("Question ")
    assert telegram.payload["text"].endswith(f"\n\n{question}"), "the customer's text is quoted"


async def test_reassignment_by_the_watcher_tells_the_new_manager(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    members = await seed_team(db)
    await produce(broker, topics.inquiries, [make_inquiry(sender=Sender(email="w@example.com"))])
    await ingest(broker, topics, db)
    async with db.sessions() as session:
        lead = await session.scalar(select(Lead))
    assert lead is not None and lead.first_contact_due_at is not None
    watcher = SlaWatcher(db)
    await watcher.run_once(lead.first_contact_due_at + timedelta(minutes=1))
    moved = await watcher.run_once(lead.first_contact_due_at + timedelta(minutes=20))
    assert moved.reassigned == 1
    assert await notices(db) == [], "the watcher itself tells no manager"
    await ingest(broker, topics, db)  # its idle pass publishes the watcher's events

    await notify(broker, topics, db)
    by_template = {n.payload["template"]: n.recipient for n in await notices(db)}
    # The first manager's "new lead" is not sent: the lead had moved on by then.
    assert by_template == {"manager_lead_reassigned": "m1@sales.test"}
    async with db.sessions() as session:
        assert await session.scalar(select(Lead.assignee_id)) == members[1]


async def test_preferences_turn_email_off(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    members = await seed_team(db, members=1)
    async with console_client(db) as client:
        auth = await token_of(db, members[0])
        before = await (await client.get("/api/v1/me/notifications", headers=auth)).json()
        resp = await client.put(
            "/api/v1/me/notifications",
            json={"notify_email": False, "notify_telegram": True},
            headers=auth,
        )
        assert resp.status == 200
        after = await resp.json()
        bad = await client.put("/api/v1/me/notifications", json={"notify": 1}, headers=auth)
        assert bad.status == 422
    assert before["notify_email"] is True and before["telegram_linked"] is False
    assert before["email"] == "m0@sales.test"
    assert after["notify_email"] is False and after["notify_telegram"] is True
    await produce(broker, topics.inquiries, [make_inquiry()])
    await ingest(broker, topics, db)
    await notify(broker, topics, db)
    assert await notices(db) == []


async def test_link_telegram_with_a_one_time_code(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    members = await seed_team(db, members=2)
    async with console_client(db) as client:
        auth = await token_of(db, members[0])
        resp = await client.post("/api/v1/me/telegram-link", headers=auth)
        assert resp.status == 201
        started = await resp.json()
        code = started["code"]
        assert len(code) == 8 and started["command"] == f"/link {code}"
        pending = await (await client.get("/api/v1/me/notifications", headers=auth)).json()
        assert pending["link_code_expires_at"] is not None

        await produce(
            broker,
            topics.inquiries,
            [
                link_inquiry(f"/link {code.lower()}"),
                link_inquiry(f"/link {code}", chat_id="666"),  # used up by then
                link_inquiry("/link WRONG234", chat_id="777"),
            ],
        )
        await ingest(broker, topics, db)
        linked = await (await client.get("/api/v1/me/notifications", headers=auth)).json()
        assert linked["telegram_linked"] is True and linked["telegram_bot"] == "sales"
        assert linked["link_code_expires_at"] is None

        answers = {
            n.recipient: n.payload["text"]
            for n in await notices(db)
            if n.channel == "telegram" and n.lead_id is None
        }
        assert answers == {"555": LINKED_TEXT, "666": LINK_FAILED_TEXT, "777": LINK_FAILED_TEXT}
        async with db.sessions() as session:
            stored = await session.get(NotificationSetting, members[0])
            leads = await session.scalar(select(Lead.id))
        assert stored is not None and stored.telegram_chat_id == "555"
        assert stored.link_code_hash is None
        assert leads is None, "a /link message is not a lead"

        gone = await client.delete("/api/v1/me/telegram-link", headers=auth)
        assert gone.status == 204
        unlinked = await (await client.get("/api/v1/me/notifications", headers=auth)).json()
        assert unlinked["telegram_linked"] is False


async def test_an_expired_code_is_refused(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    members = await seed_team(db, members=1)
    async with console_client(db) as client:
        auth = await token_of(db, members[0])
        code = (await (await client.post("/api/v1/me/telegram-link", headers=auth)).json())["code"]
    async with db.sessions() as session, session.begin():
        await session.execute(
            update(NotificationSetting).values(
                link_code_expires_at=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    await produce(broker, topics.inquiries, [link_inquiry(f"/link {code}")])
    await ingest(broker, topics, db)
    async with db.sessions() as session:
        stored = await session.get(NotificationSetting, members[0])
    assert stored is not None and stored.telegram_chat_id is None
    (answer,) = await notices(db)
    assert answer.payload["text"] == LINK_FAILED_TEXT


async def test_telegram_link_and_notice_through_the_bot(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    """The whole way: the bot receives /link, the manager gets the answer and then a
    new lead's notice in that chat, sent by the same bot."""
    members = await seed_team(db, members=1)
    async with console_client(db) as client:
        auth = await token_of(db, members[0])
        code = (await (await client.post("/api/v1/me/telegram-link", headers=auth)).json())["code"]
    update_ = {
        "update_id": 900001,
        "message": {
            "message_id": 7,
            "from": {"id": int(CHAT), "is_bot": False, "first_name": "Anna"},
            "chat": {"id": int(CHAT), "first_name": "Anna", "type": "private"},
            "date": 1718870400,
            "text": f"/link {code}",
        },
    }
    fake = FakeBotApi([update_])
    config = OutboundConfig(
        broker.bootstrap_servers,
        topics,
        group_id=f"out-{uuid.uuid4().hex[:6]}",
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
    )
    async with fake.serve() as root, Publisher(broker.bootstrap_servers, topics) as publisher:
        bots = TelegramBots(publisher)
        bots.update({"sales": bot_config(root)})
        async with running(bots):
            await eventually(lambda: 900002 in fake.offsets)
            await ingest(broker, topics, db)
            await produce(broker, topics.inquiries, [make_inquiry()])
            await ingest(broker, topics, db)
            await notify(broker, topics, db)
            async with OutboundDispatcher(config) as dispatcher:
                dispatcher.register("telegram", TelegramSender(bots))
                await dispatcher.run(until_idle=True)
    texts = [m["text"] for m in fake.sent if str(m["chat_id"]) == CHAT]
    assert texts[0] == LINKED_TEXT
    assert len(texts) == 2 and texts[1].startswith("New lead: Ivan Petrov")


class _SilentProducer:
    """Takes record batches and never acknowledges them: a frozen broker."""

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> Any:
        class Batch:
            def append(self, *, key: bytes | None, value: bytes, timestamp: None) -> object:
                return object()

            def close(self) -> None:
                pass

        return Batch()

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any:
        return asyncio.get_running_loop().create_future()

    async def send(self, topic: str, value: bytes, *, key: bytes | None = None) -> Any:
        return asyncio.get_running_loop().create_future()


async def test_a_broker_that_never_acknowledges_does_not_hold_the_notifier(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    members = await seed_team(db)
    await link(db, members[0])
    await produce(broker, topics.inquiries, [make_inquiry(sender=Sender(email="c@example.com"))])
    await ingest(broker, topics, db)
    await notify(broker, topics, db)
    sent = await notices(db)
    async with db.sessions() as session, session.begin():
        await session.execute(update(OutboundRecord).values(published_at=None))

    async with notifier_for(
        broker.bootstrap_servers, topics, db, broker_deadline_s=0.2
    ) as notifier:
        consumer, _ = notifier._clients()
        notifier._clients = lambda: (consumer, _SilentProducer())  # type: ignore[method-assign]
        publishing = asyncio.ensure_future(notifier._publish([n.id for n in sent]))
        done, _ = await asyncio.wait({publishing}, timeout=20)
        if not done:
            publishing.cancel()
        assert done, "the notifier waited for a frozen broker past its deadline"
        assert isinstance(publishing.exception(), TimeoutError)
    assert all(n.published_at is None for n in await notices(db)), "rolled back: left for the sweep"
