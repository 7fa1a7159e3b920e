"""The head's control: bulk reassignment and the team board, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select, update

from console.team import today
from crm_store import accounts, board
from crm_store.accounts import Principal
from crm_store.database import Database
from crm_store.models import Absence, Activity, AppUser, AssignmentLedger, Lead, LeadEvent, Team
from ingest.notices import read_event

from .console_helpers import Client, console_client, email_of, make_user, seeded, sign_in, token_of

pytestmark = pytest.mark.integration


async def headed(db: Database, n: int = 6) -> tuple[int, list[int], dict[int, list[Any]]]:
    """The Sales team (m0..m2, n leads round-robin) and its head."""
    members, by_user = await seeded(db, n)
    head = await make_user(db, "head@x.test", "head")
    async with db.sessions() as session, session.begin():
        await session.execute(update(Team).values(head_user_id=head))
    return head, members, by_user


async def counters_of(client: Client, headers: dict[str, str]) -> dict[int, dict[str, int]]:
    resp = await client.get("/api/v1/counters", headers=headers)
    assert resp.status == 200
    return {u["user_id"]: u["counters"] for u in (await resp.json())["by_user"]}


async def test_a_head_reassigns_leads_with_a_reason_ledgered_notified_and_counted(
    db: Database,
) -> None:
    head, (m0, m1, _), by_user = await headed(db)
    moving = by_user[m0]
    assert len(moving) == 2
    async with console_client(db) as client:
        auth = await token_of(db, head)
        before = await counters_of(client, auth)
        assert before[m0]["new_untouched"] == 2 and before[m1]["new_untouched"] == 2
        resp = await client.post(
            "/api/v1/leads/reassign",
            json={
                "lead_ids": [str(i) for i in [*moving, by_user[m1][0]]],
                "manager_id": m1,
                "reason": "Anna is on sick leave",
            },
            headers=auth,
        )
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert sorted(body["moved"]) == sorted(str(i) for i in moving)
        assert body["unchanged"] == [str(by_user[m1][0])], "already theirs: left as is"
        after = await counters_of(client, auth)
        assert after.get(m0, {"new_untouched": 0})["new_untouched"] == 0
        assert after[m1]["new_untouched"] == 4
        # m1 now sees the leads; m0 no longer does.
        m1_page = await (await client.get("/api/v1/queue", headers=await token_of(db, m1))).json()
        assert {str(i) for i in moving} <= {item["id"] for item in m1_page["items"]}
        m0_lead = await client.get(f"/api/v1/leads/{moving[0]}", headers=await token_of(db, m0))
        assert m0_lead.status == 404
        card = await (await client.get(f"/api/v1/leads/{moving[0]}/card", headers=auth)).json()
        assert card["ledger"][-1]["kind"] == "reassigned"
        assert card["ledger"][-1]["reason"] == "head@x.test: Anna is on sick leave"
    async with db.sessions() as session:
        first = (
            await session.scalars(
                select(Activity.assignee_id).where(
                    Activity.lead_id.in_(moving), Activity.is_first_contact.is_(True)
                )
            )
        ).all()
        assert first == [m1, m1], "the planned first contact moves with the lead"
        ledger = (
            await session.execute(
                select(AssignmentLedger.from_user_id, AssignmentLedger.to_user_id).where(
                    AssignmentLedger.kind == "reassigned"
                )
            )
        ).all()
        assert sorted(ledger) == [(m0, m1), (m0, m1)]
        events = (
            await session.scalars(select(LeadEvent).where(LeadEvent.type == "lead.reassigned"))
        ).all()
        # What the notifier reads (ingest.notices.read_event) to tell the new manager.
        assert {(e.payload["assignee_id"], e.payload["from_user_id"]) for e in events} == {(m1, m0)}
        assert all(e.payload["reason"].endswith("Anna is on sick leave") for e in events)
        # The notifier reads the published event as it reads the SLA watcher's.
        published = json.dumps({"event_id": str(events[0].id), **events[0].payload}).encode()
        view = read_event(published)
        assert view is not None and view.type == "lead.reassigned"
        assert view.assignee_id == m1 and view.reason == "head@x.test: Anna is on sick leave"


async def test_the_target_must_be_an_active_manager_of_the_heads_teams(db: Database) -> None:
    head, (m0, m1, _), by_user = await headed(db)
    outsider = await make_user(db, "far@x.test", "manager")
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        await session.execute(update(AppUser).where(AppUser.id == m1).values(active=False))
        other = await accounts.upsert_team(session, name="Far", strategy="round_robin", now=now)
        await accounts.upsert_member(
            session, team_id=other, user_id=outsider, capacity=5, active=True
        )
    lead = str(by_user[m0][0])
    async with console_client(db) as client:
        auth = await token_of(db, head)
        for target, sentence in [
            (m1, "inactive"),
            (head, "not one"),
            (outsider, "not in a team you head"),
        ]:
            resp = await client.post(
                "/api/v1/leads/reassign",
                json={"lead_ids": [lead], "manager_id": target, "reason": "x"},
                headers=auth,
            )
            assert resp.status == 422, target
            assert sentence in (await resp.json())["detail"]
        too_many = [str(uuid.uuid4()) for _ in range(501)]
        resp = await client.post(
            "/api/v1/leads/reassign",
            json={"lead_ids": too_many, "manager_id": m0, "reason": "x"},
            headers=auth,
        )
        assert resp.status == 422
        resp = await client.post(
            "/api/v1/leads/reassign",
            json={"lead_ids": [lead, str(uuid.uuid4())], "manager_id": m0, "reason": "x"},
            headers=auth,
        )
        assert resp.status == 404, "all or nothing: one unknown lead refuses the call"
        blank = await client.post(
            "/api/v1/leads/reassign",
            json={"lead_ids": [lead], "manager_id": m0, "reason": "   "},
            headers=auth,
        )
        assert blank.status == 422, "the reason is required"
    async with db.sessions() as session:
        assert await session.scalar(select(Lead.assignee_id).where(Lead.id == by_user[m0][0])) == m0


async def test_a_manager_cannot_reassign_nor_see_the_board_and_writes_need_csrf(
    db: Database,
) -> None:
    _, (m0, m1, _), by_user = await headed(db)
    body = {"lead_ids": [str(by_user[m0][0])], "manager_id": m1, "reason": "mine now"}
    async with console_client(db) as client:
        manager = await token_of(db, m0)
        assert (
            await client.post("/api/v1/leads/reassign", json=body, headers=manager)
        ).status == 403
        assert (await client.get("/api/v1/team", headers=manager)).status == 403
        await sign_in(client, await email_of(db, m0))
        page = await client.get("/team")
        assert page.status == 403
        queue = await (await client.get("/queue")).text()
        assert "reassign-form" not in queue and 'name="lead_ids"' not in queue
    async with console_client(db) as client:
        csrf = await sign_in(client, "head@x.test")
        without = await client.post("/api/v1/leads/reassign", json=body)
        assert without.status == 403
        resp = await client.post("/api/v1/leads/reassign", json=body, headers=csrf)
        assert resp.status == 200
        page = await client.get("/team")
        assert page.status == 200
        assert "Team board" in await page.text()
        queue = await (await client.get(f"/queue?assignee={m0}")).text()
        assert queue.count('name="lead_ids"') == len(by_user[m0]) - 1, "m0's leads, to tick"
        assert "Select all on this page" in queue


async def test_the_board_shows_counters_load_sla_today_and_presence(db: Database) -> None:
    head, (m0, m1, m2), by_user = await headed(db)
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        # m0: one first contact late (still open past its deadline), one kept. Both
        # deadlines within a second of now: "today" is the head's day, and a deadline
        # minutes away fell into tomorrow when CI ran just before midnight.
        late, kept = by_user[m0]
        await session.execute(
            update(Activity)
            .where(Activity.lead_id == late, Activity.is_first_contact.is_(True))
            .values(due_at=now - timedelta(seconds=1))
        )
        await session.execute(
            update(Activity)
            .where(Activity.lead_id == kept, Activity.is_first_contact.is_(True))
            .values(status="done", done_at=now - timedelta(seconds=1), due_at=now)
        )
        session.add(
            Absence(
                user_id=m1, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1)
            )
        )
        # m2 works on no day at all: off hours whenever the board is read.
        await session.execute(
            update(AppUser).where(AppUser.id == m2).values(working_hours={"mon": []})
        )
    async with console_client(db) as client:
        resp = await client.get("/api/v1/team", headers=await token_of(db, head))
        assert resp.status == 200
        rows = {r["user_id"]: r for r in (await resp.json())["rows"]}
    assert set(rows) == {m0, m1, m2}, "one row per manager of the head's team, not the head"
    assert rows[m0]["overdue"] == 1 and rows[m0]["untouched"] == 1
    assert (rows[m0]["sla_kept_today"], rows[m0]["sla_late_today"]) == (1, 1)
    assert rows[m0]["open_leads"] == 2 and rows[m0]["capacity"] == 50
    assert rows[m0]["load_pct"] == 4
    assert rows[m0]["state"] == "working"
    assert rows[m1]["state"] == "absent"
    assert rows[m2]["state"] == "off_hours"
    assert rows[m1]["due_today"] + rows[m1]["overdue"] <= 2


async def test_the_board_of_fifty_managers_is_one_query(db: Database) -> None:
    head, _, _ = await headed(db, 3)
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        team_id = await session.scalar(select(Team.id))
        assert team_id is not None
        for i in range(47):
            user_id = await accounts.upsert_user(
                session, email=f"extra{i}@x.test", name=f"Extra {i:02}", role="manager", now=now
            )
            await accounts.upsert_member(
                session, team_id=team_id, user_id=user_id, capacity=20, active=True
            )
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    who = Principal(head, "head@x.test", "head", "Europe/Moscow")
    start, end = today(now, ZoneInfo("Europe/Moscow"))
    async with db.sessions() as session:
        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            rows = await board.board(session, who, now=now, day_start=start, day_end=end)
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(rows) == 50
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, statements
    assert [r.name for r in rows] == sorted(r.name for r in rows)
