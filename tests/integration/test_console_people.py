"""The admin's people tools on both stores: password reset and deactivation end the
user's sessions, deactivated or absent managers and managers at capacity get no new
leads from the consumer's own store path, and the routing dry run explains a decision
without writing anything."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from sqlalchemy import func, select, update

from console.passwords import hash_password
from crm_store import sessions as session_store
from crm_store.database import Database
from crm_store.models import Absence, AppUser, InquiryRecord, Lead, Team
from ingest.batch_store import BatchStore, StoreOptions
from ingest.contract import Routing, Sender
from ingest.decisions import Policy
from ingest.row_ids import row_id
from tests.factories import make_inquiry

from .console_helpers import PASSWORD, console_client, make_user, sign_in, token_of
from .helpers import seed_team

pytestmark = pytest.mark.integration

DRY = "/api/v1/admin/rules/dry-run"


async def _lead_to(
    db: Database, n: int, email: str | None = None, store: BatchStore | None = None
) -> list[int | None]:
    """Post `n` fresh web-form inquiries through the consumer's store path; assignees."""
    store = store or BatchStore(db, Policy(), StoreOptions(default_team="Sales"))
    now = datetime.now(UTC)
    assignees: list[int | None] = []
    for i in range(n):
        inquiry = make_inquiry(
            sender=Sender(
                name=f"Buyer {i}", email=email or f"buyer{i}-{now.timestamp()}@example.com"
            ),
            received_at=now,
            routing=Routing(form="contact"),
        )
        await store.write([inquiry], now + timedelta(seconds=i))
        async with db.sessions() as session:
            assignees.append(
                await session.scalar(
                    select(Lead.assignee_id).where(Lead.id == row_id(inquiry.id, "lead"))
                )
            )
    return assignees


async def test_reset_password_ends_sessions_generated_shown_once(db: Database) -> None:
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    manager = await make_user(db, "m@x.test", "manager")
    async with console_client(db) as client:
        await sign_in(client, "m@x.test")
        assert (await client.get("/api/v1/me")).status == 200
        path = f"/api/v1/admin/users/{manager}/password"
        generated = await client.post(path, json={}, headers=admin)
        assert generated.status == 200, await generated.text()
        new = (await generated.json())["password"]
        assert isinstance(new, str) and len(new) >= 12
        assert (await client.get("/api/v1/me")).status == 401  # the old session ended
        bad = await client.post("/api/v1/session", json={"email": "m@x.test", "password": PASSWORD})
        assert bad.status == 401
        await sign_in(client, "m@x.test", new)
        typed = await client.post(path, json={"password": "a-brand-new-secret"}, headers=admin)
        assert (await typed.json()) == {"password": None, "sessions_ended": True}
        assert (await client.get("/api/v1/me")).status == 401
        await sign_in(client, "m@x.test", "a-brand-new-secret")
        short = await client.post(path, json={"password": "short"}, headers=admin)
        assert short.status == 422
        missing = await client.post("/api/v1/admin/users/99999/password", json={}, headers=admin)
        assert missing.status == 404
        # Only an admin may, and a browser session needs the CSRF token.
        own = await client.post(path, json={})
        assert own.status == 403


async def test_reset_needs_csrf_from_a_browser_session(db: Database) -> None:
    await make_user(db, "root@x.test", "admin")
    manager = await make_user(db, "m@x.test", "manager")
    async with console_client(db) as client:
        csrf = await sign_in(client, "root@x.test")
        path = f"/api/v1/admin/users/{manager}/password"
        assert (await client.post(path, json={})).status == 403
        assert (await client.post(path, json={}, headers=csrf)).status == 200


async def test_deactivated_manager_cannot_sign_in_and_gets_no_leads(db: Database) -> None:
    members = await seed_team(db)
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    async with console_client(db) as client:
        async with db.sessions() as session, session.begin():
            await session_store.set_password_hash(session, members[1], hash_password(PASSWORD))
        await sign_in(client, "m1@sales.test")
        off = await client.patch(
            f"/api/v1/admin/users/{members[1]}", json={"active": False}, headers=admin
        )
        assert off.status == 200 and (await off.json())["active"] is False
        assert (await client.get("/api/v1/me")).status == 401
        refused = await client.post(
            "/api/v1/session", json={"email": "m1@sales.test", "password": PASSWORD}
        )
        assert refused.status == 401
        assert members[1] not in await _lead_to(db, 4)
        back = await client.patch(
            f"/api/v1/admin/users/{members[1]}", json={"active": True}, headers=admin
        )
        assert back.status == 200
        assert members[1] in await _lead_to(db, 3)
        await sign_in(client, "m1@sales.test")


async def test_the_same_consumer_sees_a_deactivation_and_an_absence_at_its_next_batch(
    db: Database,
) -> None:
    # One store for the whole test, as one consumer process keeps: the teams, members
    # and absences it reads are not cached between batches (issue 11 kept it so).
    members = await seed_team(db)
    store = BatchStore(db, Policy(), StoreOptions(default_team="Sales"))
    assert set(await _lead_to(db, 3, store=store)) == set(members)
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        await session.execute(update(AppUser).where(AppUser.id == members[0]).values(active=False))
        session.add(
            Absence(
                user_id=members[1],
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(days=1),
            )
        )
    assert set(await _lead_to(db, 3, store=store)) == {members[2]}


async def test_absent_manager_gets_no_leads_until_the_absence_is_removed(db: Database) -> None:
    members = await seed_team(db)
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    now = datetime.now(UTC)
    async with console_client(db) as client:
        made = await client.post(
            "/api/v1/admin/absences",
            json={
                "user_id": members[0],
                # Entered in Moscow time, as the page sends it: an instant with its offset.
                "starts_at": (now - timedelta(hours=1)).astimezone().isoformat(),
                "ends_at": (now + timedelta(days=2)).isoformat(),
                "reason": "vacation",
            },
            headers=admin,
        )
        assert made.status == 201, await made.text()
        listed = await (
            await client.get(f"/api/v1/admin/users/{members[0]}/absences", headers=admin)
        ).json()
        assert [a["reason"] for a in listed["items"]] == ["vacation"]
        assert members[0] not in await _lead_to(db, 4)
        dry = await client.post(DRY, json={"email": "new@example.com"}, headers=admin)
        assert "Manager 0 on absence" in (await dry.json())["reasons"]["assignment"]
        gone = await client.delete(
            f"/api/v1/admin/absences/{listed['items'][0]['id']}", headers=admin
        )
        assert gone.status == 204
        assert members[0] in await _lead_to(db, 3)


async def test_manager_made_by_admin_gets_leads_when_others_are_at_capacity(
    db: Database,
) -> None:
    members = await seed_team(db, members=2)
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    async with console_client(db) as client:
        made = await client.post(
            "/api/v1/admin/users",
            json={
                "name": "Nina New",
                "email": "nina@x.test",
                "timezone": "America/New_York",
                "working_hours": None,
            },
            headers=admin,
        )
        assert made.status == 201, await made.text()
        nina = (await made.json())["id"]
        async with db.sessions() as session:
            team_id = await session.scalar(select(Team.id).where(Team.name == "Sales"))
        joined = await client.put(
            f"/api/v1/admin/teams/{team_id}/members/{nina}", json={"capacity": 5}, headers=admin
        )
        assert joined.status == 200
        assert nina in await _lead_to(db, 3)  # plain round-robin reaches her
        for user_id in members:
            full = await client.put(
                f"/api/v1/admin/teams/{team_id}/members/{user_id}",
                json={"capacity": 0},
                headers=admin,
            )
            assert full.status == 200
        assert await _lead_to(db, 2) == [nina, nina]
        dry = await (await client.post(DRY, json={"email": "x@example.com"}, headers=admin)).json()
        assert dry["assignee_name"] == "Nina New"
        assert "Manager 0 at capacity" in dry["reasons"]["assignment"]
        out = await client.delete(f"/api/v1/admin/teams/{team_id}/members/{nina}", headers=admin)
        assert out.status == 204
        queued = await (
            await client.post(DRY, json={"email": "y@example.com"}, headers=admin)
        ).json()
        assert queued["outcome"] == "new_lead" and queued["assignee_id"] is None


async def _counts(db: Database) -> tuple[int, int, Any]:
    async with db.sessions() as session:
        leads = await session.scalar(select(func.count()).select_from(Lead))
        inquiries = await session.scalar(select(func.count()).select_from(InquiryRecord))
        cursor = await session.scalar(select(Team.rr_last_user_id).where(Team.name == "Sales"))
    return int(leads or 0), int(inquiries or 0), cursor


async def test_dry_run_names_rule_team_and_manager_and_writes_nothing(db: Database) -> None:
    await seed_team(db)
    vip = await seed_team(db, members=1, team="VIP")
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    async with console_client(db) as client:
        async with db.sessions() as session:
            vip_team = await session.scalar(select(Team.id).where(Team.name == "VIP"))
        rule = await client.post(
            "/api/v1/admin/routing-rules",
            json={"priority": 5, "team_id": vip_team, "utm_source": "partner", "channel": "email"},
            headers=admin,
        )
        assert rule.status == 201
        [loyal_manager] = await _lead_to(db, 1, email="loyal@example.com")
        before = await _counts(db)
        hit = await client.post(
            DRY,
            json={
                "channel": "email",
                "email": "boss@example.com",
                "utm_source": "partner",
                "text": "Need a quote for 20 seats",
            },
            headers=admin,
        )
        assert hit.status == 200, await hit.text()
        body = await hit.json()
        assert body["outcome"] == "new_lead"
        assert (body["team"], body["assignee_id"]) == ("VIP", vip[0])
        assert "rule #1 (priority 5)" in body["reasons"]["team"]
        assert "utm_source=partner" in body["reasons"]["team"]
        miss = await (
            await client.post(
                DRY, json={"channel": "web_form", "email": "b@example.com"}, headers=admin
            )
        ).json()
        assert miss["team"] == "Sales" and "no rule matched" in miss["reasons"]["team"]
        assert "round-robin" in miss["reasons"]["assignment"]
        # The same customer again: the open lead, with its manager.
        again = await (
            await client.post(DRY, json={"email": "loyal@example.com"}, headers=admin)
        ).json()
        assert again["outcome"] == "appended" and again["assignee_id"] == loyal_manager
        assert loyal_manager is not None
        spam = await (
            await client.post(
                DRY,
                json={"email": "z@example.com", "text": "<script>alert(1)</script> http://a.test"},
                headers=admin,
            )
        ).json()
        assert spam["outcome"] == "junk_lead" and spam["assignee_id"] is None
        assert await _counts(db) == before  # no lead, no inquiry, no cursor moved
        bad = await client.post(DRY, json={"phone": "not a phone"}, headers=admin)
        assert bad.status == 422
        empty = await client.post(DRY, json={"channel": "email"}, headers=admin)
        assert empty.status == 422
        for odd in (
            {"email": "a@b.test", "at": "9999-12-31T23:59:00+00:00"},
            {"email": "a@b.test", "text": "nul\u0000byte"},
            {"email": "not an email"},
            {"email": "a@b.test", "extra": 1},
        ):
            answer = await client.post(DRY, json=odd, headers=admin)
            assert answer.status in {200, 422}, (odd, await answer.text())
            assert answer.status == 422 or odd.get("text")
        head = await token_of(db, await make_user(db, "head@x.test", "head"))
        assert (await client.post(DRY, json={"email": "a@b.test"}, headers=head)).status == 403


async def test_dry_run_at_a_moment_outside_working_hours(db: Database) -> None:
    members = await seed_team(db, members=2)
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    async with console_client(db) as client:
        hours = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
        changed = await client.patch(
            f"/api/v1/admin/users/{members[0]}",
            json={"working_hours": hours, "timezone": "Europe/Moscow"},
            headers=admin,
        )
        assert changed.status == 200
        # Saturday noon in Moscow: Manager 0 is off, Manager 1 (always working) gets it.
        saturday = "2026-12-05T12:00:00+03:00"
        result = await (
            await client.post(DRY, json={"email": "c@example.com", "at": saturday}, headers=admin)
        ).json()
        assert result["assignee_id"] == members[1]
        assert "Manager 0 outside hours" in result["reasons"]["assignment"]
        # The same reasons as codes, and as sentences in the admin's language and zone.
        assignment = result["details"]["assignment"]
        assert assignment["code"] == "assigned"
        assert assignment["params"]["skipped"] == [
            {"name": "Manager 0", "code": "outside_hours", "count": None, "limit": None}
        ]
        assert result["deadline_at"] == "2026-12-05T09:30:00Z"  # a web form: 30 min
        assert result["details"]["deadline"]["code"] == "first_contact_due"
        deadline = result["details"]["deadline"]["text"].replace("\u202f", " ")
        assert "9:30 AM UTC, in 30 min" in deadline
        for language, zone, seen in (
            ("ru", "Europe/Moscow", ["12:30", "через 30 мин", "Manager 0 вне рабочих часов"]),
            ("en", "America/New_York", ["4:30 AM", "in 30 min", "Manager 0 is outside working"]),
        ):
            admin_id = (await (await client.get("/api/v1/me", headers=admin)).json())["id"]
            mine = {"language": language, "timezone": zone}
            await client.patch(f"/api/v1/admin/users/{admin_id}", json=mine, headers=admin)
            read = await (
                await client.post(
                    DRY, json={"email": "c@example.com", "at": saturday}, headers=admin
                )
            ).json()
            shown = " ".join(d["text"] for d in read["details"].values()).replace("\u202f", " ")
            assert all(part in shown for part in seen), shown
            assert read["reasons"] == result["reasons"]  # the old field as it was


async def test_people_and_rules_pages_render_forms_without_json(db: Database) -> None:
    members = await seed_team(db)
    await make_user(db, "root@x.test", "admin")
    async with console_client(db) as client:
        await sign_in(client, "root@x.test")
        people_page = await client.get("/admin/people")
        assert people_page.status == 200, await people_page.text()
        html = await people_page.text()
        assert html.count("data-hours-grid") == 5  # the new-user form and 4 users
        assert html.count("data-zone-picker") == 5
        assert f'data-api="/api/v1/admin/users/{members[0]}/password"' not in html
        assert f'data-password="/api/v1/admin/users/{members[0]}/password"' in html
        assert '<option value="Europe/Moscow"' in html
        assert "(JSON" not in html and "placeholder='{" not in html
        rules = await client.get("/admin/rules")
        assert rules.status == 200, await rules.text()
        rules_html = await rules.text()
        assert 'data-dry-run="/api/v1/admin/rules/dry-run"' in rules_html
        assert 'name="phone_region_prefix"' in rules_html


async def test_people_page_size_stays_bounded(db: Database) -> None:
    """The ~600 zones are rendered once, not once per user (about 26 kB each)."""
    await seed_team(db, members=20)
    await make_user(db, "root@x.test", "admin")
    async with console_client(db) as client:
        await sign_in(client, "root@x.test")
        html = await (await client.get("/admin/people")).text()
        assert html.count("data-zone-picker") == 22  # each user's form and the new-user form
        assert html.count("data-hours-grid") == 22
        assert html.count("<datalist") == 1  # ...sharing one list of zones
        assert html.count('<option value="Europe/Moscow"') == 1
        assert len(html.encode()) < 250_000


async def test_people_page_keeps_every_interval_of_a_day_in_the_edit_form(db: Database) -> None:
    """A user working 09:00-13:00 and 14:00-18:00 on Monday: both intervals are in the
    form that saves them, so an edit of anything else does not drop the second."""
    members = await seed_team(db, members=1)
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    hours = {"mon": [["09:00", "13:00"], ["14:00", "18:00"]], "sat": []}
    async with console_client(db) as client:
        path = f"/api/v1/admin/users/{members[0]}"
        set_hours = await client.patch(path, json={"working_hours": hours}, headers=admin)
        assert set_hours.status == 200, await set_hours.text()
        await sign_in(client, "root@x.test")
        html = await (await client.get("/admin/people")).text()
        form = html[html.index(f'data-api="{path}" data-method="PATCH"') :]
        saved = re.search(r"name=\"working_hours\" data-json value='([^']*)'", form)
        assert saved is not None, form[:2000]
        # Stored with every day present: the days not sent are days off.
        week: dict[str, list[object]] = {
            d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        }
        assert json.loads(unescape(saved.group(1))) == {**week, "mon": hours["mon"]}


@pytest.mark.parametrize("off", [{}, {d: [] for d in ("mon", "sat", "sun")}], ids=["empty", "some"])
async def test_a_manager_with_every_day_off_gets_no_leads(db: Database, off: Any) -> None:
    """The grid with "day off" ticked on every day: never on duty, neither in the dry
    run nor for real leads, and shown so on the people page; null stays "always"."""
    members = await seed_team(db, members=1)
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    async with console_client(db) as client:
        path = f"/api/v1/admin/users/{members[0]}"
        changed = await client.patch(path, json={"working_hours": off}, headers=admin)
        assert changed.status == 200, await changed.text()
        assert (await changed.json())["working_hours"]["tue"] == []
        for at in ("2026-12-02T11:00:00+03:00", "2026-12-05T03:00:00-05:00"):
            result = await (
                await client.post(DRY, json={"email": "c@example.com", "at": at}, headers=admin)
            ).json()
            assert result["assignee_id"] is None, result
            assert "outside hours" in result["reasons"]["assignment"]
        assert await _lead_to(db, 1) == [None]
        await sign_in(client, "root@x.test")
        html = await (await client.get("/admin/people")).text()
        assert "never (every day off)" in html
        back = await client.patch(path, json={"working_hours": None}, headers=admin)
        assert (await back.json())["working_hours"] is None
        assert await _lead_to(db, 1) == [members[0]]
