"""Email end to end: Dovecot → IMAP connector → Tansu → consumer → store → SMTP → aiosmtpd.

On both stores: a customer's mail becomes a lead with name, email and phone and gets
an acknowledgement with the threading headers; the customer's reply to that
acknowledgement is an activity on the same lead; a restarted connector imports
nothing again; a vacation auto-reply makes no lead and no mail.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from connectors.outbound import OutboundConfig, OutboundDispatcher
from connectors.publisher import Publisher
from crm_store.accounts import Principal
from crm_store.database import Database
from crm_store.leads import list_leads
from crm_store.models import Activity, InquiryRecord
from ingest.contract import Topics
from leadflow.mailboxes import MailChannel
from leadflow.settings import Settings

from ..conftest import BrokerProcess
from ..servers import PASSWORD, Dovecot, ImapClient, MailSink
from .helpers import consumer_for, lead_count, notifier_for, seed_team
from .mail_helpers import corpus, simple_mail, topic_size

pytestmark = pytest.mark.integration

ADMIN = Principal(user_id=0, name="admin", role="admin")
KEY = Fernet.generate_key().decode()
ORIGINAL_ID = "CAF8zQyW2pX0Jk=u1e+0vYb9hZ7R3aQ@mail.gmail.com"
SUBJECT = "Запрос цены на кирпич М150"  # noqa: RUF001 (Cyrillic, as the customer wrote it)


def make_settings(tmp: Path, dovecot: Dovecot, user: str, sink: MailSink) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp,
        "secret_key": KEY,
        "http": {"public_url": "https://crm.example.test"},
        "smtp": {
            "host": "127.0.0.1",
            "port": sink.port,
            "security": "plain",
            "from_address": "Example Sales <robot@example.test>",
            "retry_backoff_s": 0.05,
        },
        "mailboxes": [
            {
                "name": "sales",
                "host": "127.0.0.1",
                "port": dovecot.port,
                "security": "plain",
                "username": user,
                "password": PASSWORD,
                "address": user,
                "team": "Sales",
                "poll_interval_s": 1,
                "ack_subject": "Re: {{ subject }}",
                "ack_body": "Здравствуйте, {{ name }}!\n\nМы получили ваше письмо.",  # noqa: RUF001
            }
        ],
    }
    return Settings(**values)


@asynccontextmanager
async def running_mail(
    settings: Settings, db: Database, publisher: Publisher
) -> AsyncIterator[MailChannel]:
    stop = asyncio.Event()
    async with MailChannel(settings, db, publisher, CollectorRegistry(), reload_s=0.5) as mail:
        task = asyncio.create_task(mail.run(stop), name="mail")
        try:
            yield mail
        finally:
            stop.set()
            await task


async def until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 (polling the store is the point)
            await asyncio.sleep(0.05)


async def captured_up_to(mail: MailChannel, uid: int) -> None:
    async def check() -> bool:
        cursor = await mail.state.load("sales")
        return cursor is not None and cursor[1] >= uid

    await until(check)


async def consume(broker: BrokerProcess, topics: Topics, db: Database, group: str) -> None:
    async with consumer_for(broker.bootstrap_servers, topics, db, group=group) as consumer:
        await consumer.run(until_idle=True)
    # The managers' notices come from the lead events, in the notifier's own group.
    async with notifier_for(
        broker.bootstrap_servers, topics, db, group=f"{group}-notify"
    ) as notifier:
        await notifier.run(until_idle=True)


async def dispatch(broker: BrokerProcess, topics: Topics, mail: MailChannel, group: str) -> None:
    config = OutboundConfig(
        bootstrap_servers=broker.bootstrap_servers,
        topics=topics,
        group_id=group,
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
    )
    async with OutboundDispatcher(config) as dispatcher:
        dispatcher.register("email", mail.sender)
        await dispatcher.run(until_idle=True)


async def test_mail_to_lead_ack_reply_restart_and_vacation(
    broker: BrokerProcess,
    topics: Topics,
    db: Database,
    dovecot: Dovecot,
    smtp_sink: MailSink,
    tmp_path: Path,
) -> None:
    members = await seed_team(db)
    user = dovecot.add_user()
    settings = make_settings(tmp_path, dovecot, user, smtp_sink)
    ingest_group, outbound_group = f"in-{uuid.uuid4().hex[:6]}", f"out-{uuid.uuid4().hex[:6]}"
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        # 1. A customer writes.
        async with ImapClient(dovecot.port, user) as client:
            await client.append(corpus("gmail_utf8_b_name.eml"))
        async with running_mail(settings, db, publisher) as mail:
            await captured_up_to(mail, 1)
        await consume(broker, topics, db, ingest_group)
        async with db.sessions() as session:
            page = await list_leads(session, ADMIN)
        assert page.total == 1
        lead = page.items[0]
        assert (lead.contact.name, lead.contact.email, lead.contact.phone) == (
            "Иван Петров",
            "ivan.petrov@gmail.com",
            "+79123456789",
        )
        assert lead.assignee is not None and lead.assignee.id == members[0]

        async with running_mail(settings, db, publisher) as mail:
            await dispatch(broker, topics, mail, outbound_group)
        received = await smtp_sink.wait_for(2)
        by_to = {r.rcpt_tos[0]: r.message for r in received}
        ack = by_to["ivan.petrov@gmail.com"]
        assert ack["Auto-Submitted"] == "auto-replied"
        assert ack["Message-ID"] == f"<ack-{lead.id}@leadflow.invalid>"
        assert ack["In-Reply-To"] == f"<{ORIGINAL_ID}>"
        assert f"<{ORIGINAL_ID}>" in ack["References"]
        assert ack["From"] == f"Example Sales <{user}>"
        assert ack["Subject"] == f"Re: {SUBJECT}"
        body = ack.get_body(("plain",))
        assert body is not None and "Здравствуйте, Иван Петров!" in body.get_content()
        notice = by_to["m0@sales.test"]
        assert notice["Subject"].startswith("New lead: Иван Петров")
        notice_text = notice.get_body(("plain",))
        assert notice_text is not None
        assert f"https://crm.example.test/leads/{lead.id}" in notice_text.get_content()

        # 2. The customer answers the acknowledgement; 3. the connector was restarted.
        reply = simple_mail(
            sender="Иван Петров <ivan.petrov@gmail.com>",
            subject=f"Re: {SUBJECT}",
            body="И ещё 200 штук, пожалуйста.\n",
            headers={
                "In-Reply-To": ack["Message-ID"],
                "References": f"{ack['References']} {ack['Message-ID']}",
            },
        )
        async with ImapClient(dovecot.port, user) as client:
            await client.append(reply)
        async with running_mail(settings, db, publisher) as mail:
            await captured_up_to(mail, 2)
        assert await topic_size(broker.bootstrap_servers, topics.inquiries) == 2
        await consume(broker, topics, db, ingest_group)
        assert await lead_count(db) == 1
        async with db.sessions() as session:
            inbound = list(
                await session.scalars(
                    select(Activity.subject).where(
                        Activity.lead_id == lead.id, Activity.direction == "inbound"
                    )
                )
            )
        assert len(inbound) == 2

        # A restart with nothing new imports nothing.
        async with running_mail(settings, db, publisher) as mail:
            await asyncio.sleep(1.0)
        assert await topic_size(broker.bootstrap_servers, topics.inquiries) == 2

        # 4. A vacation auto-reply: recorded, no lead, no mail.
        async with ImapClient(dovecot.port, user) as client:
            await client.append(corpus("ooo_gmail_vacation.eml"))
        async with running_mail(settings, db, publisher) as mail:
            await captured_up_to(mail, 3)
            await consume(broker, topics, db, ingest_group)
            await dispatch(broker, topics, mail, outbound_group)
        assert await lead_count(db) == 1
        async with db.sessions() as session:
            outcomes = sorted(await session.scalars(select(InquiryRecord.outcome)))
        assert outcomes == ["appended", "new_lead", "recorded"]
        await asyncio.sleep(0.2)
        tos = [r.rcpt_tos[0] for r in smtp_sink.received]
        assert sorted(tos) == ["ivan.petrov@gmail.com", "m0@sales.test", "m0@sales.test"]
    async with ImapClient(dovecot.port, user) as client:
        assert all("\\Seen" in f for f in (await client.flags()).values())
