"""Member load is read from rows kept by triggers (migration 0019); after any sequence of
changes to leads and activities, by any path and in any statement shape, it equals
the GROUP BY that assignment used to run, on both stores, and a drift is found and
repaired."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, insert, select, text, update

from crm_store import team_reads
from crm_store.database import Database, open_database
from crm_store.member_load import drift, loads, recount_loads, repair
from crm_store.migrate import alembic_config, upgrade_async
from crm_store.models import Activity, AppUser, Lead
from leadflow import cli

from .test_console_api import make_leads
from .test_counters import _console_work, _pipeline_leads, _watcher_and_raw_sql

pytestmark = pytest.mark.integration

STATUSES = ("new", "in_progress", "converted", "junk")


async def _users(db: Database) -> list[int]:
    async with db.sessions() as session:
        return list((await session.scalars(select(AppUser.id).order_by(AppUser.id))).all())


async def _assert_exact(db: Database, now: datetime) -> None:
    users = await _users(db)
    async with db.sessions() as session:
        assert await drift(session) == {"members": 0, "days": 0}
        # Midnight moves what "assigned today" means; yesterday's and tomorrow's too.
        for at in (now - timedelta(days=1), now, now + timedelta(days=1)):
            assert await loads(session, users, at) == await recount_loads(session, users, at)


def _lead(rng: random.Random, users: list[int], now: datetime) -> dict[str, Any]:
    at = rng.choice([None, now, now - timedelta(days=1), now.replace(hour=0, minute=0)])
    return {
        "id": uuid.uuid4(),
        "status": rng.choice(STATUSES),
        "channel": "web_form",
        "title": "Random",
        "assignee_id": rng.choice([None, *users]),
        "assigned_at": at,
        "created_at": now,
        "updated_at": now,
    }


def _activity(
    rng: random.Random, users: list[int], leads: list[uuid.UUID], now: datetime
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "lead_id": rng.choice([None, *leads]) if leads else None,
        "assignee_id": rng.choice([None, *users]),
        "kind": "call",
        "status": rng.choice(["planned", "planned", "done"]),
        "is_first_contact": rng.random() < 0.7,
        "subject": "Random",
        "due_at": now,
        "created_at": now,
    }


async def _random_step(db: Database, rng: random.Random, users: list[int], now: datetime) -> None:
    """A few random statements in one transaction, single-row and multi-row."""
    async with db.sessions() as session, session.begin():
        leads = list((await session.scalars(select(Lead.id).order_by(Lead.id))).all())
        acts = list((await session.scalars(select(Activity.id).order_by(Activity.id))).all())
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(12)
            if op == 0 or not leads:
                rows = [_lead(rng, users, now) for _ in range(rng.randint(1, 6))]
                await session.execute(insert(Lead), rows)
                leads += [r["id"] for r in rows]
            elif op == 1:
                await session.execute(
                    update(Lead)
                    .where(Lead.id == rng.choice(leads))
                    .values(status=rng.choice(STATUSES))
                )
            elif op == 2:
                # A reassignment: new assignee, stamped now (or unassigned).
                who = rng.choice([None, *users])
                await session.execute(
                    update(Lead)
                    .where(Lead.id == rng.choice(leads))
                    .values(assignee_id=who, assigned_at=now if who else None)
                )
            elif op == 3:
                # One statement over many leads of many members, both ways.
                await session.execute(
                    update(Lead)
                    .where(Lead.id.in_(rng.sample(leads, min(len(leads), 5))))
                    .values(status=rng.choice(STATUSES), assignee_id=rng.choice(users))
                )
            elif op == 4:
                # Touches nothing counted (what the consumer does to appended leads).
                await session.execute(
                    update(Lead).where(Lead.id.in_(leads[:10])).values(updated_at=now)
                )
            elif op == 5:
                # Only this test's own leads: the pipeline's have events and records.
                mine = (await session.scalars(select(Lead.id).where(Lead.title == "Random"))).all()
                if not mine:
                    continue
                gone = rng.choice(sorted(mine))
                await session.execute(delete(Activity).where(Activity.lead_id == gone))
                await session.execute(delete(Lead).where(Lead.id == gone))
                leads.remove(gone)
                acts = list((await session.scalars(select(Activity.id))).all())
            elif op == 6:
                rows = [_activity(rng, users, leads, now) for _ in range(rng.randint(1, 6))]
                await session.execute(insert(Activity), rows)
                acts += [r["id"] for r in rows]
            elif op == 7 and acts:
                done = rng.random() < 0.5
                await session.execute(
                    update(Activity)
                    .where(Activity.id.in_(rng.sample(acts, min(len(acts), 3))))
                    .values(status="done" if done else "planned", done_at=now if done else None)
                )
            elif op == 8 and acts:
                await session.execute(
                    update(Activity)
                    .where(Activity.id == rng.choice(acts))
                    .values(
                        assignee_id=rng.choice([None, *users]),
                        is_first_contact=rng.random() < 0.5,
                    )
                )
            elif op == 9 and acts:
                gone_activity = rng.choice(acts)
                await session.execute(delete(Activity).where(Activity.id == gone_activity))
                acts.remove(gone_activity)
            elif op == 10:
                # The day a lead was assigned moves (a backdated import, a fix).
                await session.execute(
                    update(Lead)
                    .where(Lead.id == rng.choice(leads))
                    .values(assigned_at=now - timedelta(days=rng.randint(0, 2)))
                )
            elif op == 11:
                # The same member, the stamp cleared or the status moved with it:
                # one side of an update counts and the other does not.
                await session.execute(
                    update(Lead)
                    .where(Lead.id == rng.choice(leads))
                    .values(assigned_at=rng.choice([None, now]), status=rng.choice(STATUSES))
                )


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_member_load_equals_a_recount_after_random_changes(db: Database, seed: int) -> None:
    await make_leads(db, 6)
    users = await _users(db)
    rng = random.Random(seed)
    now = datetime(2026, 12, 2, 14, 30, tzinfo=UTC) + timedelta(hours=seed)
    await _assert_exact(db, now)
    for _ in range(25):
        await _random_step(db, rng, users, now)
        await _assert_exact(db, now)


async def _sqlite_triggers(url: str) -> dict[str, str]:
    """The member-load triggers' SQL as a SQLite store holds it."""
    async with open_database(url) as db, db.sessions() as session:
        rows = await session.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        )
        return {name: sql for name, sql in rows if name.startswith("member_load_")}


async def test_member_load_stays_exact_across_a_downgrade_and_back(
    database_url: str, tmp_path: Path
) -> None:
    """0021 swaps SQLite's triggers for per-row ones; its downgrade puts back 0019's
    exactly (and on PostgreSQL, where 0021 changes nothing, it is a no-op both ways)."""
    sqlite = database_url.startswith("sqlite")
    now = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
    rng = random.Random(5)
    head = await _sqlite_triggers(database_url) if sqlite else {}
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0020")
    try:
        if sqlite:
            before = f"sqlite+aiosqlite:///{tmp_path / 'at-0020.db'}"
            await upgrade_async(before, "0020")
            assert await _sqlite_triggers(database_url) == await _sqlite_triggers(before)
            assert await _sqlite_triggers(database_url) != head
        async with open_database(database_url) as db:
            await make_leads(db, 6)
            users = await _users(db)
            for _ in range(10):
                await _random_step(db, rng, users, now)
            await _assert_exact(db, now)
    finally:
        await upgrade_async(database_url)
    if sqlite:
        assert await _sqlite_triggers(database_url) == head
    async with open_database(database_url) as db:
        for _ in range(10):
            await _random_step(db, rng, users, now)
        await _assert_exact(db, now)


async def test_member_load_equals_a_recount_through_the_console_and_watcher(db: Database) -> None:
    await make_leads(db, 12)
    now = datetime.now(UTC)
    await _assert_exact(db, now)
    async with db.sessions() as session:
        users = await _users(db)
        before = await loads(session, users, now)
    # make_leads spreads 12 leads over 3 managers: 4 open, 4 first contacts each.
    assert sorted(before.values()) == [(4, 4, 4)] * 3
    await _console_work(db, now)
    await _assert_exact(db, now)
    await _watcher_and_raw_sql(db, now)
    await _assert_exact(db, now)
    await _pipeline_leads(db, 5, now)
    await _assert_exact(db, now)


async def test_load_teams_reads_the_kept_rows(db: Database) -> None:
    await make_leads(db, 6)
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        teams = await team_reads.load_teams(session, lock=False, now=now)
        loaded = {m.user_id: m for m in teams["Sales"].members}
        users = sorted(loaded)
        want = await recount_loads(session, users, now)
        assert {
            u: (m.assigned_today, m.open_leads, m.pending_first_contacts) for u, m in loaded.items()
        } == want
        assert all(v == (2, 2, 2) for v in want.values())


async def test_drifted_member_loads_are_found_and_repaired(db: Database) -> None:
    await make_leads(db, 6)
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        # What a restore from an old dump or a manual edit could leave behind.
        await session.execute(text("UPDATE member_load SET open_leads = open_leads + 5"))
        await session.execute(text("DELETE FROM member_day_load"))
    async with db.sessions() as session:
        assert await drift(session) == {"members": 3, "days": 3}
    async with db.sessions() as session, session.begin():
        assert await repair(session) == {"members": 3, "days": 3}
    await _assert_exact(db, now)


def test_leadflow_counters_checks_and_repairs_member_loads(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def drift_one() -> None:
        async with open_database(database_url) as db:
            await make_leads(db, 2)
            async with db.sessions() as session, session.begin():
                await session.execute(text("UPDATE member_load SET pending_first_contacts = 9"))

    asyncio.run(drift_one())
    monkeypatch.setenv("LEADFLOW_DATABASE__URL", database_url)
    assert cli.main(["counters", "check"]) == 1
    assert "member loads: wrong 2 member rows and 0 day rows" in capsys.readouterr().out
    assert cli.main(["counters", "repair"]) == 0
    assert cli.main(["counters", "check"]) == 0
    assert "member loads: wrong 0 member rows and 0 day rows" in capsys.readouterr().out
