# ruff: noqa: RUF001 - Russian names and text: Cyrillic letters are intended.
"""Search across leads, contacts and companies, scoped by role, in the API and the page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from sqlalchemy import select, update

from crm_store.database import Database
from crm_store.models import Company, Contact, ContactIdentity, InquiryRecord, Lead, Team

from .console_helpers import Client, console_client, email_of, make_user, seeded, sign_in, token_of

pytestmark = pytest.mark.integration

PHONE = "+79035551234"


async def dress(db: Database, lead_id: uuid.UUID) -> str:
    """Give the lead's contact a Cyrillic name, a phone and a company; returns its email."""
    async with db.sessions() as session, session.begin():
        lead = await session.get_one(Lead, lead_id)
        lead.title = "Нужен расчёт кондиционера для офиса"
        contact = await session.get_one(Contact, lead.contact_id)
        company = Company(
            id=uuid.uuid4(),
            name="Рога и Копыта",
            domain="roga.example",
            created_at=datetime.now(UTC),
        )
        session.add(company)
        await session.flush()
        contact.name, contact.phone, contact.company_id = "Ольга Петрова", PHONE, company.id
        session.add(
            ContactIdentity(id=uuid.uuid4(), contact_id=contact.id, kind="phone", value=PHONE)
        )
        record = await session.scalar(select(InquiryRecord).where(InquiryRecord.lead_id == lead_id))
        assert record is not None
        text = "Здравствуйте! Перезвоните после обеда: нужен монтаж сплит-системы."
        record.payload = {**record.payload, "text": text}
        assert contact.email is not None
        return contact.email


async def found(client: Client, headers: dict[str, str], q: str) -> dict[str, list[str]]:
    resp = await client.get(f"/api/v1/search?q={quote(q)}", headers=headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return {kind: [hit["id"] for hit in body[kind]] for kind in ("leads", "contacts", "companies")}


async def test_a_manager_finds_their_lead_by_phone_name_email_company_and_text(
    db: Database,
) -> None:
    members, by_user = await seeded(db, 4)
    lead_id = by_user[members[0]][0]
    email = await dress(db, lead_id)
    async with db.sessions() as session:
        contact_id = await session.scalar(select(Lead.contact_id).where(Lead.id == lead_id))
        company_id = await session.scalar(
            select(Contact.company_id).where(Contact.id == contact_id)
        )
    async with console_client(db) as client:
        mine = await token_of(db, members[0])
        for q in (
            "8 (903) 555-12-34",
            "+7 903 555 12 34",
            "555-12-34",
            "ОЛЬГА",
            "ольга петрова",
            email.upper(),
            "рога и копыта",
        ):
            hits = await found(client, mine, q)
            assert hits["leads"] == [str(lead_id)], q
            assert hits["contacts"] == [str(contact_id)], q
        # A word of the lead's text finds the lead, not its contact.
        by_text = await found(client, mine, "Кондиционера")
        assert by_text["leads"] == [str(lead_id)] and by_text["contacts"] == []
        # So does a word of what the customer wrote, kept on the lead's inquiry.
        by_message = await found(client, mine, "СПЛИТ-системы")
        assert by_message["leads"] == [str(lead_id)] and by_message["contacts"] == []
        company = await found(client, mine, "копыта")
        assert company["companies"] == [str(company_id)]
        # Another lead's words find only that lead, and nothing finds what is not there.
        assert (await found(client, mine, "кондиционер для дома"))["leads"] == []
        assert (await found(client, mine, "999-99-99")) == {
            "leads": [],
            "contacts": [],
            "companies": [],
        }


async def test_a_manager_does_not_find_another_managers_lead(db: Database) -> None:
    members, by_user = await seeded(db, 4)
    lead_id = by_user[members[0]][0]
    await dress(db, lead_id)
    admin = await make_user(db, "root@x.test", "admin")
    async with console_client(db) as client:
        other = await token_of(db, members[1])
        for q in ("ольга", "8 903 555 12 34", "рога"):
            assert await found(client, other, q) == {"leads": [], "contacts": [], "companies": []}
        everyone = await found(client, await token_of(db, admin), "ольга")
        assert everyone["leads"] == [str(lead_id)]


async def test_a_head_finds_the_leads_of_the_teams_they_head_only(db: Database) -> None:
    members, by_user = await seeded(db, 4)
    lead_id = by_user[members[0]][0]
    await dress(db, lead_id)
    head = await make_user(db, "head@x.test", "head")
    elsewhere = await make_user(db, "head2@x.test", "head")
    async with db.sessions() as session, session.begin():
        await session.execute(update(Team).values(head_user_id=head))
    async with console_client(db) as client:
        hits = await found(client, await token_of(db, head), "8 903 555 12 34")
        assert hits["leads"] == [str(lead_id)] and len(hits["contacts"]) == 1
        assert await found(client, await token_of(db, elsewhere), "ольга") == {
            "leads": [],
            "contacts": [],
            "companies": [],
        }


async def test_a_query_of_one_character_is_refused(db: Database) -> None:
    members, _ = await seeded(db, 1)
    async with console_client(db) as client:
        headers = await token_of(db, members[0])
        for url in ("/api/v1/search?q=a", "/api/v1/search?q=%20a%20", "/api/v1/search"):
            resp = await client.get(url, headers=headers)
            assert resp.status == 422, url
            assert "q" in (await resp.json())["errors"]
        assert (await client.get("/api/v1/search?q=" + "x" * 201, headers=headers)).status == 422


async def test_the_search_page_lists_what_the_header_box_finds(db: Database) -> None:
    members, by_user = await seeded(db, 2)
    lead_id = by_user[members[0]][0]
    await dress(db, lead_id)
    async with console_client(db) as client:
        await sign_in(client, await email_of(db, members[0]))
        queue = await (await client.get("/queue")).text()
        assert 'action="/search"' in queue
        page = await client.get("/search?q=" + quote("8 (903) 555-12-34"))
        text = await page.text()
        assert page.status == 200
        assert f"/leads/{lead_id}" in text and "Ольга Петрова" in text and "Рога и Копыта" in text
        short = await client.get("/search?q=a")
        assert short.status == 422
        assert "2 to 200 characters" in await short.text()
        russian = await client.get("/search?q=a", headers={"Accept-Language": "ru"})
        assert "Для поиска введите от 2 до 200 символов." in await russian.text()
