# ruff: noqa: RUF001  (Cyrillic company names and titles are meant)
"""Console defects a sales team noticed, each checked as they would see it, on both
stores: times in the viewer's zone, a hand-made lead staying with its creator, the
typed company name and the money format on conversion, report periods and files
Excel opens, and readable queue rows."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from console import display
from crm_store.database import Database
from crm_store.models import AppUser, Lead
from ingest.contract import Topics

from ..conftest import BrokerProcess
from .console_helpers import console_client, email_of, make_user, seeded, sign_in, token_of
from .helpers import consumer_for

pytestmark = pytest.mark.integration
MOSCOW = ZoneInfo("Europe/Moscow")
NBSP = "\u00a0"
COMPANY = "ООО Пример"


async def set_zone(db: Database, user_id: int, zone: str) -> None:
    async with db.sessions() as session, session.begin():
        await session.execute(update(AppUser).where(AppUser.id == user_id).values(timezone=zone))


async def test_a_moscow_manager_sees_moscow_times_and_the_next_activity_an_hour_ahead(
    db: Database,
) -> None:
    members, by_user = await seeded(db, 3)
    anna = members[0]
    await set_zone(db, anna, "Europe/Moscow")
    lead_id = by_user[anna][0]
    async with db.sessions() as session:
        lead = await session.get(Lead, lead_id)
    assert lead is not None and lead.first_contact_due_at is not None
    async with console_client(db) as client:
        await sign_in(client, await email_of(db, anna))
        before = datetime.now(UTC)
        card = await (await client.get(f"/leads/{lead_id}")).text()
        after = datetime.now(UTC)
        queue = await (await client.get("/queue")).text()
    due = display.when(lead.first_contact_due_at, MOSCOW, "en")
    assert due.endswith(" MSK")
    assert f"first contact due {due}" in card
    assert " UTC" not in card
    found = re.search(
        r'name="next.due_at" type="datetime-local" value="([^"]+)" data-zone="Europe/Moscow"',
        card,
    )
    assert found is not None, "the next activity is typed in the viewer's zone"
    prefilled = datetime.strptime(found[1], "%Y-%m-%dT%H:%M").replace(tzinfo=MOSCOW)
    # An hour ahead in Moscow, not an hour ahead in UTC read as Moscow (2 h in the past).
    assert before + timedelta(minutes=59) <= prefilled <= after + timedelta(hours=1)
    # The web form's 30-minute first contact reads as a countdown in the queue and card.
    assert re.search(r'<span class="relative">in \d+ min</span>', queue)
    assert re.search(r'<span class="relative">in \d+ min</span>', card)
    assert due in queue


async def test_a_hand_made_lead_goes_to_its_creator_or_to_whom_they_choose(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    from connectors.publisher import Publisher

    members, _ = await seeded(db, 0)
    creator, chosen = members[1], members[2]  # round-robin would start with members[0]
    admin = await make_user(db, "root@x.test", "admin")
    async with (
        Publisher(broker.bootstrap_servers, topics) as publisher,
        console_client(db, publish=publisher.publish) as client,
    ):
        h = await token_of(db, creator)
        for body in (
            {"name": "Walk-in", "email": "walkin@client.example", "text": "Came to the office"},
            {"name": "Referral", "email": "friend@other.example", "assignee_id": chosen},
        ):
            assert (await client.post("/api/v1/leads", json=body, headers=h)).status == 202
        for wrong in (admin, 2_000_000):
            refused = await client.post(
                "/api/v1/leads", json={"email": "x@client.example", "assignee_id": wrong}, headers=h
            )
            assert refused.status == 422
            assert "assignee_id" in (await refused.json())["errors"]
        routed = await client.post(
            "/api/v1/leads",
            json={"email": "routed@third.example"},
            headers=await token_of(db, admin),
        )
        assert routed.status == 202
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        await consumer.run(until_idle=True)
    owners = await _owners_by_email(db)
    assert owners["walkin@client.example"][0] == creator
    assert "made by hand" in (owners["walkin@client.example"][2] or "")
    assert owners["friend@other.example"][0] == chosen
    assert owners["routed@third.example"][0] == members[0], "an admin's lead is routed"
    async with console_client(db) as client:
        card = await client.get(
            f"/api/v1/leads/{owners['walkin@client.example'][1]}/card",
            headers=await token_of(db, creator),
        )
        assert card.status == 200, "the creator opens the lead they made"


async def _owners_by_email(db: Database) -> dict[str, tuple[int | None, uuid.UUID, str | None]]:
    from crm_store.models import Contact

    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(Contact.email, Lead.assignee_id, Lead.id, Lead.assignment_reason).join(
                    Contact, Contact.id == Lead.contact_id
                )
            )
        ).all()
    return {
        email: (assignee, lead_id, reason)
        for email, assignee, lead_id, reason in rows
        if email is not None  # these tests' contacts all write from an address
    }


async def test_convert_keeps_the_typed_company_name_and_shows_money_and_no_done(
    db: Database,
) -> None:
    members, by_user = await seeded(db, 3)
    anna = members[0]
    lead_id = by_user[anna][0]
    async with console_client(db) as client:
        h = await token_of(db, anna)
        before = await (await client.get(f"/api/v1/leads/{lead_id}/card", headers=h)).json()
        # The pipeline named the company after the address's domain.
        assert before["contact"]["company"]["name"] == "example.com"
        made = await client.post(
            f"/api/v1/leads/{lead_id}/convert",
            json={
                "title": "20 licenses",
                "amount": 150000,
                "company": {"name": COMPANY, "domain": "example.com"},
            },
            headers=h,
        )
        assert made.status == 201, await made.text()
        assert (await made.json())["reused_company"] is True
        after = await (await client.get(f"/api/v1/leads/{lead_id}/card", headers=h)).json()
        assert after["contact"]["company"]["name"] == COMPANY
        found = await (await client.get("/api/v1/companies?q=example", headers=h)).json()
        assert [c["name"] for c in found["items"]] == [COMPANY]
        await sign_in(client, await email_of(db, anna))
        page = await (await client.get(f"/leads/{lead_id}")).text()
        russian = await client.get(f"/leads/{lead_id}", headers={"Accept-Language": "ru"})
        ru_page = await russian.text()
    assert f"RUB{NBSP}150,000.00" in page and "150000.0" not in page
    assert f"150{NBSP}000,00{NBSP}₽" in ru_page and "150000.0" not in ru_page
    assert 'class="complete"' not in page, "a converted lead offers no first-contact Done"
    assert "This lead is converted" in page
    assert "Статус лида — конвертирован" in ru_page


async def test_report_periods_up_to_two_years_and_a_clear_refusal_beyond(db: Database) -> None:
    members, _ = await seeded(db, 3)
    today = datetime.now(UTC).date()
    two_years = today - timedelta(days=730)
    too_long = today - timedelta(days=731)
    async with console_client(db) as client:
        h = await token_of(db, members[0])
        ok = await client.get(f"/api/v1/reports?from={two_years}&to={today}", headers=h)
        assert ok.status == 200
        assert (await ok.json())["total"]["received"] == 1
        refused = await client.get(f"/api/v1/reports?from={too_long}&to={today}", headers=h)
        assert refused.status == 422
        assert "at most two years" in (await refused.json())["detail"]
        await sign_in(client, await email_of(db, members[0]))
        page = await client.get(f"/reports?from={too_long}&to={today}")
        text = await page.text()
        assert page.status == 422
        assert "at most two years" in text and "732 days" in text
        assert 'class="kpis"' not in text, "no other period is shown instead"
        assert f'value="{too_long}"' in text, "the dates stay as typed"
        shown = await (await client.get(f"/reports?from={two_years}&to={today}")).text()
        assert 'class="kpis"' in shown and f'value="{two_years}"' in shown
        assert "Web form" in shown and "web_form" not in shown, "channels by name"


async def test_csv_files_open_in_russian_excel(db: Database) -> None:
    members, _ = await seeded(db, 3)
    async with console_client(db) as client:
        h = await token_of(db, members[0])
        resp = await client.get("/api/v1/reports.csv", headers=h)
        body = await resp.read()
        comma = await (await client.get("/api/v1/reports.csv?sep=,", headers=h)).read()
        bad = await client.get("/api/v1/reports.csv?sep=|", headers=h)
    assert resp.status == 200 and body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:4] == ["scope", "id", "name", "received"]
    assert [r[0] for r in rows[1:]] == ["manager", "team", "total"]
    assert list(csv.reader(io.StringIO(comma.decode("utf-8-sig")))) == rows
    assert bad.status == 422


async def test_lead_exports_hold_the_leads_each_may_see(db: Database) -> None:
    members, by_user = await seeded(db, 6)
    admin = await make_user(db, "root@x.test", "admin")
    async with db.sessions() as session, session.begin():
        await session.execute(
            update(Lead).where(Lead.id == by_user[members[0]][0]).values(title="=HYPERLINK(1)")
        )
    async with console_client(db) as client:
        mine = await client.get("/api/v1/leads.csv", headers=await token_of(db, members[0]))
        assert mine.status == 200 and mine.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO((await mine.read()).decode("utf-8-sig")), delimiter=";"))
        book = await client.get("/api/v1/leads.xlsx", headers=await token_of(db, admin))
        assert book.status == 200 and ".xlsx" in book.headers["Content-Disposition"]
        data = await book.read()
    assert rows[0][:3] == ["id", "created (UTC)", "status"]
    assert sorted(r[0] for r in rows[1:]) == sorted(str(i) for i in by_user[members[0]])
    assert {r[3] for r in rows[1:]} == {"Web form"}
    assert "'=HYPERLINK(1)" in {r[4] for r in rows[1:]}
    sheet = load_workbook(io.BytesIO(data))["Leads"]
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 1 + 6, "an admin's export holds every lead"
    assert isinstance(values[1][1], datetime)
    assert len({v[9] for v in values[1:]}) == 3, "each row names its manager"


async def test_queue_rows_are_short_and_labelled_and_the_site_has_an_icon(db: Database) -> None:
    members, by_user = await seeded(db, 3)
    anna = members[0]
    long_title = "Нужна интеграция с 1С и телефонией " + "и ещё очень длинный текст " * 30
    async with db.sessions() as session, session.begin():
        await session.execute(
            update(Lead).where(Lead.id == by_user[anna][0]).values(title=long_title[:500])
        )
    async with console_client(db) as client:
        await sign_in(client, await email_of(db, anna))
        queue = await (await client.get("/queue")).text()
        card = await (await client.get(f"/leads/{by_user[anna][0]}")).text()
        icon = await client.get("/favicon.ico", allow_redirects=False)
        svg = await client.get("/static/favicon.svg")
    shown = re.search(r'<span class="title" title="[^"]*">([^<]*)</span>', queue)
    assert shown is not None and shown[1].endswith("…") and len(shown[1]) <= 90
    assert long_title[:500].rstrip() in card, "the card shows the whole title"
    assert ">Web form<" in queue and ">New<" in queue
    assert ">web_form<" not in queue and ">new<" not in queue
    assert '<link rel="icon" href="/static/favicon.svg"' in queue
    assert icon.status == 301 and icon.headers["Location"] == "/static/favicon.svg"
    assert svg.status == 200 and svg.content_type == "image/svg+xml"
