# ruff: noqa: RUF001 - Russian names and text: Cyrillic letters are intended.
"""Contact, company and deal pages and their API, scoped by role, on both databases."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select, update

from crm_store.database import Database
from crm_store.models import Contact, ContactIdentity, Deal, Lead, Team

from .console_helpers import Client, console_client, email_of, make_user, seeded, sign_in, token_of
from .test_console_search import PHONE, dress

pytestmark = pytest.mark.integration

XSS = "<script>window.__xss=1</script>"


async def a_deal(db: Database, client: Client, manager: int, lead_id: uuid.UUID) -> str:
    """Convert the manager's dressed lead into a deal of 150 000; returns the deal id."""
    await dress(db, lead_id)
    async with db.sessions() as session, session.begin():
        contact_id = await session.scalar(select(Lead.contact_id).where(Lead.id == lead_id))
        session.add(
            ContactIdentity(
                id=uuid.uuid4(), contact_id=contact_id, kind="telegram", value="olga_" + XSS
            )
        )
    headers = await token_of(db, manager)
    resp = await client.post(
        f"/api/v1/leads/{lead_id}/convert",
        json={
            "title": "Кондиционеры " + XSS,
            "amount": 150000,
            "company": {"name": "Рога и Копыта", "domain": "roga.example"},
        },
        headers=headers,
    )
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["deal_id"])


async def get(client: Client, url: str, headers: dict[str, str]) -> tuple[int, Any]:
    resp = await client.get(url, headers=headers)
    return resp.status, await resp.json()


async def test_a_manager_reads_the_contact_company_and_deal_of_their_lead(db: Database) -> None:
    members, by_user = await seeded(db, 4)
    lead_id = by_user[members[0]][0]
    async with console_client(db) as client:
        deal_id = await a_deal(db, client, members[0], lead_id)
        mine = await token_of(db, members[0])
        status, deal = await get(client, f"/api/v1/deals/{deal_id}", mine)
        assert status == 200
        assert (deal["amount"], deal["stage"], deal["closed_at"]) == (150000.0, "new", None)
        assert deal["lead"]["id"] == str(lead_id)
        assert deal["company"]["name"] == "Рога и Копыта"
        assert deal["owner"]["id"] == members[0]
        # The lead's first contact is on the deal's timeline: where the deal came from.
        assert any(a["lead_id"] == str(lead_id) for a in deal["activities"])

        contact_id = deal["contact"]["id"]
        status, contact = await get(client, f"/api/v1/contacts/{contact_id}", mine)
        assert status == 200
        assert contact["name"] == "Ольга Петрова"
        kinds = [(i["kind"], i["value"]) for i in contact["identities"]]
        # The phone once (column and identity alike), then the email, then a messenger.
        assert kinds[0] == ("phone", PHONE) and [k for k, _ in kinds] == [
            "phone",
            "email",
            "telegram",
        ]
        assert [lead["id"] for lead in contact["leads"]] == [str(lead_id)]
        assert contact["leads"][0]["status"] == "converted"
        assert contact["leads"][0]["assignee"] == deal["owner"]["name"]
        assert [d["id"] for d in contact["deals"]] == [deal_id]
        assert contact["activities"], "the lead's activities are on the contact's timeline"

        company_id = deal["company"]["id"]
        status, company = await get(client, f"/api/v1/companies/{company_id}", mine)
        assert status == 200
        assert (company["name"], company["domain"]) == ("Рога и Копыта", "roga.example")
        assert [c["id"] for c in company["contacts"]] == [contact_id]
        assert [lead["id"] for lead in company["leads"]] == [str(lead_id)]
        assert (company["open_deals"], company["open_amount"]) == (1, 150000.0)


async def test_another_manager_gets_404_for_everything_a_head_and_admin_see_it(
    db: Database,
) -> None:
    members, by_user = await seeded(db, 4)
    lead_id = by_user[members[0]][0]
    head = await make_user(db, "head@x.test", "head")
    elsewhere = await make_user(db, "head2@x.test", "head")
    admin = await make_user(db, "root@x.test", "admin")
    async with db.sessions() as session, session.begin():
        await session.execute(update(Team).values(head_user_id=head))
    async with console_client(db) as client:
        deal_id = await a_deal(db, client, members[0], lead_id)
        async with db.sessions() as session:
            deal = await session.get_one(Deal, uuid.UUID(deal_id))
            urls = [
                f"/api/v1/deals/{deal_id}",
                f"/api/v1/contacts/{deal.contact_id}",
                f"/api/v1/companies/{deal.company_id}",
            ]
        for who in (members[1], elsewhere):
            headers = await token_of(db, who)
            for url in urls:
                assert (await client.get(url, headers=headers)).status == 404, url
            patch = await client.patch(urls[0], json={"amount": 1}, headers=headers)
            assert patch.status == 404
        for who in (head, admin):
            headers = await token_of(db, who)
            for url in urls:
                assert (await client.get(url, headers=headers)).status == 200, url
        # Nothing the other manager sent changed the deal; a bad id is a 404 too.
        _, seen = await get(client, urls[0], await token_of(db, admin))
        assert seen["amount"] == 150000.0
        mine = await token_of(db, members[0])
        for url in ("/api/v1/deals/not-a-uuid", f"/api/v1/contacts/{uuid.uuid4()}"):
            assert (await client.get(url, headers=mine)).status == 404


async def test_a_deal_owned_by_a_manager_is_theirs_even_when_the_lead_is_not(
    db: Database,
) -> None:
    members, by_user = await seeded(db, 4)
    lead_id = by_user[members[0]][0]
    async with console_client(db) as client:
        deal_id = await a_deal(db, client, members[0], lead_id)
        async with db.sessions() as session, session.begin():
            await session.execute(
                update(Deal).where(Deal.id == uuid.UUID(deal_id)).values(owner_id=members[1])
            )
            contact_id = await session.scalar(select(Deal.contact_id))
        theirs = await token_of(db, members[1])
        status, deal = await get(client, f"/api/v1/deals/{deal_id}", theirs)
        assert status == 200
        assert deal["lead"] is None, "the lead stays another manager's"
        status, contact = await get(client, f"/api/v1/contacts/{contact_id}", theirs)
        assert status == 200 and contact["leads"] == [] and len(contact["deals"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"stage": "sold"}, "stage", id="unknown-stage"),
        pytest.param({"stage": None}, "stage", id="null-stage"),
        pytest.param({"amount": -1}, "amount", id="negative"),
        pytest.param({"amount": 1.005}, "amount", id="tenths-of-a-cent"),
        pytest.param({"amount": "100"}, "amount", id="text"),
        pytest.param({"amount": 1e12}, "amount", id="too-large"),
        pytest.param({"owner_id": 1}, "owner_id", id="unknown-field"),
        pytest.param({}, "body", id="nothing"),
    ],
)
async def test_a_bad_change_is_a_422_naming_the_field(
    db: Database, body: dict[str, Any], field: str
) -> None:
    members, by_user = await seeded(db, 2)
    async with console_client(db) as client:
        deal_id = await a_deal(db, client, members[0], by_user[members[0]][0])
        resp = await client.patch(
            f"/api/v1/deals/{deal_id}", json=body, headers=await token_of(db, members[0])
        )
        assert resp.status == 422
        assert field in (await resp.json())["errors"]


async def test_a_manager_changes_the_stage_and_amount_with_the_csrf_token(db: Database) -> None:
    members, by_user = await seeded(db, 2)
    async with console_client(db) as client:
        deal_id = await a_deal(db, client, members[0], by_user[members[0]][0])
        csrf = await sign_in(client, await email_of(db, members[0]))
        url = f"/api/v1/deals/{deal_id}"
        refused = await client.patch(url, json={"stage": "won"})
        assert refused.status == 403, "a cookie session's write needs the CSRF token"
        resp = await client.patch(url, json={"stage": "won", "amount": 99.5}, headers=csrf)
        assert resp.status == 200, await resp.text()
        won = await resp.json()
        assert (won["stage"], won["amount"]) == ("won", 99.5) and won["closed_at"]
        status, company = await get(client, f"/api/v1/companies/{won['company']['id']}", {})
        assert status == 200 and (company["open_deals"], company["open_amount"]) == (0, 0.0)
        reopened = await client.patch(url, json={"stage": "negotiation"}, headers=csrf)
        body = await reopened.json()
        assert (body["stage"], body["amount"], body["closed_at"]) == ("negotiation", 99.5, None)
        cleared = await client.patch(url, json={"amount": None}, headers=csrf)
        assert (await cleared.json())["amount"] is None
        same = await client.patch(url, json={"stage": "negotiation"}, headers=csrf)
        assert same.status == 200  # nothing changed: nothing recorded

        # Every change is in the deal's history, newest first, with who made it...
        manager = "Manager 0"
        history = (await same.json())["history"]
        assert [(h["changes"], h["by"]) for h in history] == [
            ({"amount": ["99.50", None]}, manager),
            ({"stage": ["won", "negotiation"]}, manager),
            ({"stage": ["new", "won"], "amount": ["150000.00", "99.50"]}, manager),
        ]
        # ...and in its lead's, beside the lead's own events.
        lead_id = by_user[members[0]][0]
        status, lead = await get(client, f"/api/v1/leads/{lead_id}/history", {})
        changes = [
            e["event"]["changes"]
            for e in lead["items"]
            if e["kind"] == "event" and e["event"]["type"] == "deal.changed"
        ]
        assert status == 200 and changes == [h["changes"] for h in history]
        page = await (
            await client.get(f"/deals/{deal_id}", headers={"Accept-Language": "ru"})
        ).text()
        shown = page[page.index('id="deal-history"') : page.index('id="deal-timeline"')]
        assert (
            "Стадия: Новый → Выиграна" in shown
            and "Сумма: 150\xa0000,00\xa0₽ → 99,50\xa0₽" in shown
        )
        assert shown.index("Стадия: Выиграна → Переговоры") < shown.index("Стадия: Новый")
        card = await (await client.get(f"/leads/{lead_id}")).text()
        assert 'data-type="deal.changed"' in card
        # Another manager sees neither.
        await sign_in(client, await email_of(db, members[1]))
        assert (await client.get(f"/api/v1/leads/{lead_id}/history")).status == 404


async def test_pages_show_money_in_the_language_link_each_other_and_keep_text_inert(
    db: Database,
) -> None:
    members, by_user = await seeded(db, 4)
    lead_id = by_user[members[0]][0]
    async with console_client(db) as client:
        deal_id = await a_deal(db, client, members[0], lead_id)
        async with db.sessions() as session, session.begin():
            deal = await session.get_one(Deal, uuid.UUID(deal_id))
            contact = await session.get_one(Contact, deal.contact_id)
            contact.name = "Ольга " + XSS
        await sign_in(client, await email_of(db, members[0]))
        russian = {"Accept-Language": "ru"}
        page = await (await client.get(f"/deals/{deal_id}", headers=russian)).text()
        assert "150\xa0000,00\xa0₽" in page
        assert "Сделка" in page and "Изменить сделку" in page
        assert f"/contacts/{deal.contact_id}" in page and f"/companies/{deal.company_id}" in page
        assert f"/leads/{lead_id}" in page
        assert XSS not in page and "&lt;script&gt;" in page
        english = await (await client.get(f"/deals/{deal_id}")).text()
        assert "RUB\xa0150,000.00" in english

        page = await (await client.get(f"/contacts/{deal.contact_id}", headers=russian)).text()
        assert f'href="tel:{PHONE}"' in page and "8 (903) 555-12-34" in page
        assert 'href="mailto:' in page and f"/deals/{deal_id}" in page
        assert XSS not in page
        page = await (await client.get(f"/companies/{deal.company_id}", headers=russian)).text()
        assert "Открытые сделки: 1" in page and "150\xa0000,00\xa0₽" in page

        card = await (await client.get(f"/leads/{lead_id}")).text()
        for link in (f"/contacts/{deal.contact_id}", f"/companies/{deal.company_id}"):
            assert link in card
        assert f"/deals/{deal_id}" in card
        found = await (await client.get("/search?q=" + quote("рога"))).text()
        assert f"/contacts/{deal.contact_id}" in found and f"/companies/{deal.company_id}" in found

        await sign_in(client, await email_of(db, members[1]))
        for url in (f"/deals/{deal_id}", f"/contacts/{deal.contact_id}", "/deals/nope"):
            resp = await client.get(url)
            assert resp.status == 404, url
            assert "Рога" not in await resp.text()


async def test_the_openapi_document_lists_the_record_endpoints(db: Database) -> None:
    async with console_client(db) as client:
        doc = await (await client.get("/api/v1/openapi.json")).json()
    deal = doc["paths"]["/api/v1/deals/{deal_id}"]
    assert set(deal) == {"get", "patch"}
    assert deal["patch"]["parameters"][0]["schema"] == {"type": "string", "format": "uuid"}
    assert "requestBody" in deal["patch"]
    for path in ("/api/v1/contacts/{contact_id}", "/api/v1/companies/{company_id}"):
        assert doc["paths"][path]["get"]["parameters"][0]["schema"]["format"] == "uuid"
    stages = doc["components"]["schemas"]["DealPatch"]["properties"]["stage"]
    assert "won" in str(stages)
