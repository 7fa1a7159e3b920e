"""Phones written in free text reach the lead: web form and email, real servers, both stores.

A form post whose phone field carries words (HTTP → Tansu → consumer → store) gives a
lead whose contact has the number in E.164, with the words on the inquiry the manager
reads. Mail whose phone is only in the body (Dovecot → IMAP connector → Tansu →
consumer → store) gives the phone on the lead; the number in the quoted history does
not.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from connectors.publisher import Publisher
from crm_store.accounts import Principal
from crm_store.card import lead_card
from crm_store.database import Database
from crm_store.leads import list_leads
from ingest.contract import Topics

from ..conftest import BrokerProcess
from ..servers import Dovecot, ImapClient, MailSink
from .helpers import consumer_for, form_client, seed_team
from .mail_helpers import corpus
from .test_email_e2e import captured_up_to, consume, make_settings, running_mail

pytestmark = pytest.mark.integration

ADMIN = Principal(user_id=0, name="admin", role="admin")


async def test_form_phone_with_words_gives_a_lead_with_e164_and_the_words_kept(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    await seed_team(db)
    form = {
        "name": "Ольга",
        "phone": "+7 (903) 555-12-34 доб. 7, после обеда (Telegram)",
        "message": "Нужна доставка плитки",
    }
    async with form_client(broker.bootstrap_servers, topics) as client:
        accepted = await client.post("/forms/contact", data=form)
        refused = await client.post("/forms/contact", data={**form, "phone": "после обеда"})
        assert accepted.status == 202, await accepted.text()
        assert refused.status == 422
        assert "no valid phone number" in (await refused.json())["detail"]
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        await consumer.run(until_idle=True)
    async with db.sessions() as session:
        page = await list_leads(session, ADMIN)
        assert page.total == 1
        card = await lead_card(session, ADMIN, page.items[0].id)
    assert page.items[0].contact.phone == "+79035551234"
    assert card is not None
    [inquiry] = card.inquiries
    assert inquiry.sender_phone == "+79035551234"
    assert inquiry.fields == {"phone_ext": "7", "phone_note": "после обеда (Telegram)"}


async def test_mail_with_the_phone_only_in_the_body_gives_the_phone_on_the_lead(
    broker: BrokerProcess,
    topics: Topics,
    db: Database,
    dovecot: Dovecot,
    smtp_sink: MailSink,
    tmp_path: Path,
) -> None:
    await seed_team(db)
    user = dovecot.add_user()
    settings = make_settings(tmp_path, dovecot, user, smtp_sink)
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        async with ImapClient(dovecot.port, user) as client:
            # "Контактный телефон: 8 (495) 123-45-67 доб. 123" in the body, an ИНН beside
            # it, and the sales team's own number in the quoted history below.
            await client.append(corpus("phone_in_body_contact_line.eml"))
            # "Пётр Сергеев | тел. 8-921-100-20-30" as the last line, no signature marker.
            await client.append(corpus("phone_last_line_no_signature.eml"))
        async with running_mail(settings, db, publisher) as mail:
            await captured_up_to(mail, 2)
        await consume(broker, topics, db, f"in-{uuid.uuid4().hex[:6]}")
    async with db.sessions() as session:
        page = await list_leads(session, ADMIN)
        phones = {lead.contact.email: lead.contact.phone for lead in page.items}
        by_email = {lead.contact.email: lead.id for lead in page.items}
        card = await lead_card(session, ADMIN, by_email["i.lavrova@vector.ru"])
    assert phones == {"i.lavrova@vector.ru": "+74951234567", "p.sergeev@mail.ru": "+79211002030"}
    assert card is not None
    assert card.inquiries[0].fields["phone_ext"] == "123"
