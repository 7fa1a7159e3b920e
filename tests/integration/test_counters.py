"""The counters read flags kept by triggers (migration 0014); after any mix of the
paths that change activities and leads, they equal a straight GROUP BY recount, on
both stores, and a drifted flag is found and repaired."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, insert, select, text, update

from crm_store import intake_write, sla, team_reads, work
from crm_store.accounts import Principal
from crm_store.counters import counters, drift, recount, repair
from crm_store.database import Database, open_database
from crm_store.models import Activity, AppUser, Lead, Team
from ingest.contract import Sender
from ingest.decisions import Policy, Snapshot, TeamView
from ingest.pipeline import plan_batch
from ingest.records import rows_for
from leadflow import cli

from ..factories import make_inquiry
from .test_console_api import make_leads

pytestmark = pytest.mark.integration

OPEN = ("new", "in_progress")


def _text_of(payload: dict[str, object]) -> str:
    return str(payload.get("text") or "")


async def _viewers(db: Database) -> list[Principal]:
    """Every kind of viewer: an admin, a head of the team, and each manager."""
    async with db.sessions() as session, session.begin():
        managers = list((await session.scalars(select(AppUser.id))).all())
        head = AppUser(email="head@x.test", name="Head", role="head", created_at=datetime.now(UTC))
        session.add(head)
        await session.flush()
        await session.execute(update(Team).values(head_user_id=head.id))
    return [
        Principal(user_id=0, name="Admin", role="admin"),
        Principal(user_id=head.id, name="Head", role="head"),
        *(Principal(user_id=m, name=f"m{m}", role="manager") for m in managers),
    ]


async def _assert_exact(db: Database, viewers: list[Principal], now: datetime) -> None:
    async with db.sessions() as session:
        assert await drift(session) == {"lead": 0, "activity": 0}
        # Around the deadlines too: overdue and due soon move with the clock.
        for at in (
            now - timedelta(hours=2),
            now,
            now + timedelta(minutes=10),
            now + timedelta(days=2),
        ):
            for who in viewers:
                assert await counters(session, who, at) == await recount(session, who, at)


async def _planned(db: Database) -> list[tuple[uuid.UUID, uuid.UUID, int | None]]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(Activity.id, Activity.lead_id, Activity.assignee_id)
            .join(Lead, Lead.id == Activity.lead_id)
            .where(Activity.status == "planned", Lead.status.in_(OPEN))
            .order_by(Activity.id)
        )
        return [(a, lead, who) for a, lead, who in rows.all() if lead is not None]


async def _console_work(db: Database, now: datetime) -> None:
    """A manager's day through crm_store.work: done, plan, reply, status, junk, convert."""
    planned = await _planned(db)
    for i, (activity_id, lead_id, assignee) in enumerate(planned[:8]):
        who = Principal(user_id=assignee or 0, name="m", role="manager")
        async with db.sessions() as session, session.begin():
            if i % 4 == 0:
                due = now - timedelta(hours=1) if i % 8 == 0 else now + timedelta(minutes=5)
                nxt = work.Plan(kind="call", subject="Call back", due_at=due)
                await work.complete_activity(
                    session, who, activity_id, result="ok", next_plan=nxt, now=now
                )
            elif i % 4 == 1:
                message = {"id": str(uuid.uuid4()), "channel": "email", "to": "c@x.test"}
                await work.record_reply(session, who, lead_id, message=message, now=now)
            elif i % 4 == 2:
                await work.junk(session, who, lead_id, reason="spam", text_of=_text_of, now=now)
            else:
                await work.convert(session, who, lead_id, work.Conversion(), now)
    async with db.sessions() as session, session.begin():
        junked = await session.scalar(select(Lead).where(Lead.status == "junk").limit(1))
        assert junked is not None and junked.assignee_id is not None
        who = Principal(user_id=junked.assignee_id, name="m", role="manager")
        await work.restore(session, who, junked.id, text_of=_text_of, now=now)


async def _watcher_and_raw_sql(db: Database, now: datetime) -> None:
    """The SLA watcher's reassignment, and what a script or a future path may do."""
    planned = await _planned(db)
    async with db.sessions() as session, session.begin():
        users = list((await session.scalars(select(AppUser.id).order_by(AppUser.id))).all())
        activity_id, lead_id, assignee = planned[0]
        to_user = next(u for u in users if u != assignee)
        await sla.assign_lead(
            session,
            lead_id=lead_id,
            activity_id=activity_id,
            to_user=to_user,
            due_at=now - timedelta(minutes=3),
            now=now,
            hop=True,
        )
        await sla.mark_breached(session, lead_id, now)
        leads = list((await session.scalars(select(Lead.id).order_by(Lead.id))).all())
        done = await session.scalar(
            select(Activity.id).where(Activity.status == "done", Activity.direction != "inbound")
        )
        # An activity moved to another lead, a done one undone, one deleted, one on no
        # lead, a lead closed and reopened behind the console's back.
        await session.execute(
            update(Activity).where(Activity.id == planned[1][0]).values(lead_id=leads[-1])
        )
        await session.execute(
            update(Activity).where(Activity.id == done).values(status="planned", done_at=None)
        )
        await session.execute(
            delete(Activity).where(
                Activity.status == "done",
                Activity.direction != "inbound",
                Activity.id != done,
            )
        )
        await session.execute(
            insert(Activity).values(
                id=uuid.uuid4(),
                lead_id=None,
                assignee_id=to_user,
                kind="task",
                status="planned",
                subject="No lead",
                due_at=now - timedelta(hours=3),
                created_at=now,
            )
        )
        untouched = await session.scalar(
            select(Lead.id).where(
                Lead.status == "new",
                ~select(Activity.id)
                .where(
                    Activity.lead_id == Lead.id,
                    Activity.status == "done",
                    Activity.direction != "inbound",
                )
                .exists(),
            )
        )
        # A call the phone connector logs as done on an untouched lead.
        await session.execute(
            insert(Activity).values(
                id=uuid.uuid4(),
                lead_id=untouched,
                assignee_id=to_user,
                kind="call",
                direction="outbound",
                status="done",
                subject="Logged call",
                done_at=now,
                created_at=now,
            )
        )
        await session.execute(update(Lead).where(Lead.id == leads[0]).values(status="junk"))
        await session.execute(update(Lead).where(Lead.id == leads[1]).values(status="converted"))
        await session.execute(update(Lead).where(Lead.id == leads[1]).values(status="new"))


async def test_counters_equal_a_recount_after_every_kind_of_change(db: Database) -> None:
    await make_leads(db, 12)
    viewers = await _viewers(db)
    now = datetime.now(UTC)
    await _assert_exact(db, viewers, now)
    async with db.sessions() as session:
        before = await counters(session, viewers[0], now + timedelta(days=2))
    # Every lead's first contact is overdue two days on, and none is touched yet.
    assert before.total.overdue == 12 and before.total.new_untouched == 12
    await _console_work(db, now)
    await _assert_exact(db, viewers, now)
    await _watcher_and_raw_sql(db, now)
    await _assert_exact(db, viewers, now)
    # More pipeline inserts on a store that already has worked leads.
    await _pipeline_leads(db, 5, now)
    await _assert_exact(db, viewers, now)


async def _pipeline_leads(db: Database, n: int, now: datetime) -> None:
    async with db.sessions() as session, session.begin():
        t = (await team_reads.load_teams(session, lock=False))["Sales"]
        snapshot = Snapshot(
            {}, {"Sales": TeamView(t.id, t.name, t.member_ids, None, t.member_names)}
        )
        inquiries = [
            make_inquiry(sender=Sender(name=f"Later {i}", email=f"later{i}@example.com"))
            for i in range(n)
        ]
        plan = plan_batch(inquiries, snapshot, now, Policy())
        await intake_write.write_intake(session, rows_for(plan, {t.id: t.name}, now))


async def test_a_drifted_flag_is_found_and_repaired(db: Database) -> None:
    await make_leads(db, 6)
    viewers = await _viewers(db)
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        # What a restore from an old dump or a manual edit could leave behind.
        await session.execute(text("UPDATE lead SET manager_touched = true"))
        await session.execute(text("UPDATE activity SET lead_open = false"))
    async with db.sessions() as session:
        wrong = await counters(session, viewers[0], now + timedelta(days=2))
        assert wrong.total.overdue == 0 and wrong.total.new_untouched == 0
        assert await drift(session) == {"lead": 6, "activity": 6}
    async with db.sessions() as session, session.begin():
        assert await repair(session) == {"lead": 6, "activity": 6}
    await _assert_exact(db, viewers, now)
    async with db.sessions() as session:
        right = await counters(session, viewers[0], now + timedelta(days=2))
        assert right.total.overdue == 6 and right.total.new_untouched == 6


def test_leadflow_counters_checks_and_repairs(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def drift_one() -> None:
        async with open_database(database_url) as db:
            await make_leads(db, 2)
            async with db.sessions() as session, session.begin():
                await session.execute(text("UPDATE activity SET lead_open = false"))

    asyncio.run(drift_one())
    monkeypatch.setenv("LEADFLOW_DATABASE__URL", database_url)
    assert cli.main(["counters", "check"]) == 1
    assert "wrong flags on 0 leads and 2 activities" in capsys.readouterr().out
    assert cli.main(["counters", "repair"]) == 0
    assert cli.main(["counters", "check"]) == 0
    assert "wrong flags on 0 leads and 0 activities" in capsys.readouterr().out


async def test_sla_breaches_today_equal_a_recount_at_every_edge(db: Database) -> None:
    """Today's breaches are counted without an OR (two branches in one index range):
    each edge of each branch, around midnight, `now` and `done_at = due_at`."""
    await make_leads(db, 3)
    viewers = await _viewers(db)
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    day = noon.replace(hour=0)
    async with db.sessions() as session, session.begin():
        leads = list((await session.execute(select(Lead.id, Lead.assignee_id))).all())
        await session.execute(delete(Activity))
        (open_lead, user), (other_lead, other_user), (closed_lead, closed_user) = leads
        await session.execute(update(Lead).where(Lead.id == closed_lead).values(status="junk"))

        def first_contact(
            lead: uuid.UUID, who: int | None, due: datetime, done: datetime | None
        ) -> dict[str, object]:
            return {
                "id": uuid.uuid4(),
                "lead_id": lead,
                "assignee_id": who,
                "kind": "call",
                "direction": "outbound",
                "status": "planned" if done is None else "done",
                "subject": "First contact",
                "is_first_contact": True,
                "due_at": due,
                "done_at": done,
                "created_at": day,
            }

        h = timedelta(hours=1)
        late = [
            first_contact(open_lead, user, day + 9 * h, day + 10 * h),  # done late
            first_contact(open_lead, user, day + 11 * h, None),  # open past due
            first_contact(open_lead, user, day, None),  # due at midnight, open
            first_contact(closed_lead, closed_user, day + 10 * h, None),  # a junked lead's
            first_contact(other_lead, other_user, day + 23 * h, day + 24 * h),
        ]
        not_late = [
            first_contact(open_lead, user, day + 9 * h, day + 8 * h),  # done early
            first_contact(open_lead, user, day + 9 * h, day + 9 * h),  # done on the dot
            first_contact(open_lead, user, noon, None),  # due right now
            first_contact(open_lead, user, day + 13 * h, None),  # due later today
            first_contact(other_lead, other_user, day - h, None),  # due yesterday
            first_contact(other_lead, other_user, day + 24 * h, day + 25 * h),  # tomorrow's
            {**first_contact(open_lead, user, day + 10 * h, None), "is_first_contact": False},
        ]
        await session.execute(insert(Activity), [*late, *not_late])
    async with db.sessions() as session:
        at_noon = await counters(session, viewers[0], noon)
        assert at_noon.total.sla_breaches_today == len(late)
        for at in (
            day,
            noon - timedelta(microseconds=1),
            noon,
            day + 24 * h - timedelta(seconds=1),
        ):
            for who in viewers:
                assert await counters(session, who, at) == await recount(session, who, at)
