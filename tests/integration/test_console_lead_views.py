# ruff: noqa: RUF001 - Russian text: Cyrillic letters are intended.
"""The leads table and board, the lead's history and the contact edit: API and pages,
scoped by role, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from crm_store.database import Database
from crm_store.models import Contact, ContactIdentity, Deal, Lead

from .console_helpers import console_client, email_of, make_user, seeded, sign_in, token_of

pytestmark = pytest.mark.integration


async def table(client: Any, headers: dict[str, str], query: str = "") -> dict[str, Any]:
    resp = await client.get(f"/api/v1/lead-table?{query}", headers=headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_the_table_is_scoped_sorted_filtered_and_paged(db: Database) -> None:
    members, by_user = await seeded(db, 6)
    async with db.sessions() as session, session.begin():
        leads = list(await session.scalars(select(Lead).order_by(Lead.created_at)))
        for i, lead in enumerate(leads):
            lead.title = f"Lead {'BADCFE'[i]}"
        leads[0].status, leads[0].channel = "converted", "telegram"
        session.add(
            Deal(
                id=uuid.uuid4(),
                title="Deal",
                lead_id=leads[0].id,
                amount=Decimal("150000.00"),
                stage="new",
                created_at=datetime.now(UTC),
            )
        )
        leads[1].created_at = datetime.now(UTC) - timedelta(days=10)
    admin = await make_user(db, "admin@example.com", "admin")
    async with console_client(db) as client:
        everyone = await token_of(db, admin)
        mine = await token_of(db, members[0])
        page = await table(client, everyone, "sort=title")
        assert [r["title"] for r in page["items"]] == [f"Lead {c}" for c in "ABCDEF"]
        assert page["total"] == 6
        page = await table(client, everyone, "sort=-title&limit=2&offset=2")
        assert [r["title"] for r in page["items"]] == ["Lead D", "Lead C"]
        assert page["total"] == 6
        amounts = await table(client, everyone, "sort=-amount")
        assert amounts["items"][0]["amount"] == 150000.0
        assert amounts["items"][1]["amount"] is None, "empty amounts sort last"
        only = await table(client, everyone, "status=converted")
        assert [r["title"] for r in only["items"]] == ["Lead B"]
        assert (await table(client, everyone, "channel=telegram"))["total"] == 1
        assignee = await table(client, everyone, f"assignee_id={members[1]}")
        assert {r["assignee"]["id"] for r in assignee["items"]} == {members[1]}
        today = datetime.now(UTC).date()
        recent = await table(client, everyone, f"from={today - timedelta(days=2)}")
        assert recent["total"] == 5, "the lead made ten days ago is outside the period"
        old = await table(client, everyone, f"to={today - timedelta(days=5)}")
        assert [r["title"] for r in old["items"]] == ["Lead A"]
        # A manager sees only their own, whatever they filter by.
        own = await table(client, mine)
        assert {r["id"] for r in own["items"]} == {str(i) for i in by_user[members[0]]}
        assert (await table(client, mine, f"assignee_id={members[1]}"))["total"] == 0
        refused = await client.get("/api/v1/lead-table?sort=secret", headers=everyone)
        assert refused.status == 422
        # A bare number is not a day (pydantic would read 0 as 1970-01-01).
        for bad in ("to=0", "from=1", "from=1999-12-31"):
            refused = await client.get(f"/api/v1/lead-table?{bad}", headers=everyone)
            assert refused.status == 422, bad


async def test_pages_show_the_table_and_board_to_their_reader_only(db: Database) -> None:
    members, by_user = await seeded(db, 3)
    async with db.sessions() as session, session.begin():
        for lead in await session.scalars(select(Lead)):
            lead.title = f"Title of {lead.assignee_id} <b>bold</b>"
    async with console_client(db) as client:
        await sign_in(client, await email_of(db, members[0]))
        resp = await client.get("/leads?sort=title")
        html = await resp.text()
        assert resp.status == 200
        assert f"Title of {members[0]} &lt;b&gt;bold&lt;/b&gt;" in html
        assert f"Title of {members[1]}" not in html, "another manager's lead is not listed"
        assert 'aria-sort="ascending"' in html
        resp = await client.get("/leads/board")
        html = await resp.text()
        assert resp.status == 200
        assert html.count('class="board-column"') == 4
        assert f'data-lead="{by_user[members[0]][0]}"' in html
        assert f"Title of {members[1]}" not in html
        other = by_user[members[1]][0]
        assert (await client.get(f"/leads/{other}")).status == 404


async def test_a_status_move_and_a_contact_edit_are_in_the_history(db: Database) -> None:
    members, by_user = await seeded(db, 3)
    lead_id = by_user[members[0]][0]
    async with console_client(db) as client:
        csrf = await sign_in(client, await email_of(db, members[0]))
        resp = await client.post(
            f"/api/v1/leads/{lead_id}/status", json={"status": "in_progress"}, headers=csrf
        )
        assert resp.status == 200, await resp.text()
        refused = await client.post(
            f"/api/v1/leads/{lead_id}/status", json={"status": "junk"}, headers=csrf
        )
        assert refused.status == 422, "junk needs a reason: the board's move is refused"
        no_token = await client.patch(f"/api/v1/leads/{lead_id}/contact", json={"name": "X"})
        assert no_token.status == 403
        resp = await client.patch(
            f"/api/v1/leads/{lead_id}/contact",
            json={
                "name": "Ольга Петрова",
                "phone": "8 (903) 555-12-34",
                "company": "Рога и Копыта",
            },
            headers=csrf,
        )
        assert resp.status == 200, await resp.text()
        contact = await resp.json()
        assert contact["phone"] == "+79035551234"
        assert contact["company"]["name"] == "Рога и Копыта"
        resp = await client.get(f"/api/v1/leads/{lead_id}/history", headers=csrf)
        items = (await resp.json())["items"]
        kinds = [(i["kind"], (i["event"] or {}).get("type")) for i in items]
        assert kinds[0] == ("event", "lead.contact_edited"), "newest first"
        assert kinds[1] == ("event", "lead.status_changed")
        assert items[1]["event"]["previous"] == "new"
        assert items[1]["event"]["status"] == "in_progress"
        assert items[0]["event"]["changes"]["phone"][1] == "+79035551234"
        assert ("inquiry", None) in kinds and ("assignment", None) in kinds
        assert kinds[-1] == ("inquiry", None), "the customer's inquiry is the oldest"
        page = await (await client.get(f"/leads/{lead_id}")).text()
        assert 'href="tel:+79035551234"' in page
        assert 'href="mailto:c' in page
        assert "Contact edited" in page and "Status: New → In progress" in page
    async with db.sessions() as session:
        found = await session.scalar(
            select(ContactIdentity.contact_id).where(ContactIdentity.value == "+79035551234")
        )
        assert found is not None, "the next call from this number finds this person"


async def test_a_contact_edit_says_what_is_wrong_beside_each_field(db: Database) -> None:
    members, by_user = await seeded(db, 3)
    lead_id, other_lead = by_user[members[0]][0], by_user[members[1]][0]
    async with db.sessions() as session:
        other_email = await session.scalar(
            select(Contact.email)
            .join(Lead, Lead.contact_id == Contact.id)
            .where(Lead.id == other_lead)
        )
    async with console_client(db) as client:
        csrf = await sign_in(client, await email_of(db, members[0]))
        url = f"/api/v1/leads/{lead_id}/contact"
        resp = await client.patch(
            url, json={"phone": "12", "email": "not an address"}, headers=csrf
        )
        assert resp.status == 422
        assert set((await resp.json())["errors"]) == {"phone", "email"}
        ru = {**csrf, "Accept-Language": "ru"}
        resp = await client.patch(url, json={"phone": "12"}, headers=ru)
        assert "Не номер телефона" in (await resp.json())["errors"]["phone"]
        resp = await client.patch(url, json={"email": other_email}, headers=csrf)
        assert resp.status == 409
        assert set((await resp.json())["errors"]) == {"email"}
        resp = await client.patch(f"/api/v1/leads/{other_lead}/contact", json={}, headers=csrf)
        assert resp.status == 404, "another manager's lead does not exist for her"
        resp = await client.get(f"/api/v1/leads/{other_lead}/history", headers=csrf)
        assert resp.status == 404
        resp = await client.patch(url, json={"email": "", "company": None}, headers=csrf)
        assert resp.status == 200
        assert (await resp.json())["email"] is None
