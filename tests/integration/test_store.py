"""The store on SQLite and PostgreSQL: migrations, UTC times, uniqueness, configuration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, inspect, select
from sqlalchemy.exc import IntegrityError

from crm_store import accounts, intake, team_reads
from crm_store.database import Database
from crm_store.models import Absence, Base, Company, InquiryRecord, Lead, OutboundRecord, Team
from leadflow.seed import apply_configuration
from leadflow.settings import load_settings

pytestmark = pytest.mark.integration


async def test_migrations_create_every_model_table(db: Database) -> None:
    async with db.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert "alembic_version" in tables


async def test_timestamps_come_back_aware_utc(db: Database) -> None:
    moscow = timezone(timedelta(hours=3))
    at = datetime(2026, 3, 1, 12, 30, tzinfo=moscow)
    async with db.sessions() as session, session.begin():
        session.add(Team(name="T", created_at=at))
    async with db.sessions() as session:
        team = await session.scalar(select(Team))
    assert team is not None
    assert team.created_at.tzinfo is not None
    assert team.created_at == at
    assert team.created_at.utcoffset() == timedelta(0)


async def test_idempotency_key_is_unique(db: Database) -> None:
    now = datetime.now(UTC)
    row = {
        "channel": "web_form",
        "received_at": now,
        "payload": {},
        "outcome": "new_lead",
        "created_at": now,
        "idempotency_key": "same",
    }
    async with db.sessions() as session, session.begin():
        session.add(InquiryRecord(id=uuid.uuid4(), **row))
    with pytest.raises(IntegrityError):
        async with db.sessions() as session, session.begin():
            session.add(InquiryRecord(id=uuid.uuid4(), **row))
    async with db.sessions() as session:
        assert await intake.known_idempotency_keys(session, ["same", "other"]) == {"same"}


async def test_known_keys_lookup_handles_large_batches(db: Database) -> None:
    async with db.sessions() as session:
        assert await intake.known_idempotency_keys(session, [f"k{i}" for i in range(1500)]) == set()


@pytest.mark.parametrize("extra", [0, 1200], ids=["one-chunk", "three-chunks"])
async def test_known_and_recent_answers_as_the_two_reads_it_merges(
    db: Database, extra: int
) -> None:
    now = datetime.now(UTC)
    rows = [
        ("k1", "s1", "10.0.0.1", now - timedelta(minutes=1)),
        ("k2", "s1", "10.0.0.1", now - timedelta(minutes=2)),
        ("k3", "s2", "10.0.0.2", now - timedelta(days=2)),  # outside both windows
        ("k4", "s3", None, now - timedelta(minutes=3)),
    ]
    async with db.sessions() as session, session.begin():
        for key, sender, ip, at in rows:
            session.add(
                InquiryRecord(
                    id=uuid.uuid4(),
                    channel="web_form",
                    received_at=at,
                    payload={},
                    outcome="new_lead",
                    created_at=at,
                    idempotency_key=key,
                    sender_key=sender,
                    client_ip=ip,
                )
            )
    keys = ["k1", "k3", "k9", *(f"x{i}" for i in range(extra))]
    senders = ["s1", "s2", "s3", "s9", *(f"y{i}" for i in range(extra))]
    ips = ["10.0.0.1", "10.0.0.2", "10.0.0.9"]
    since = now - timedelta(hours=1)
    async with db.sessions() as session:
        merged = await intake.known_and_recent(session, keys, senders, since, ips, since)
        apart = (
            await intake.known_idempotency_keys(session, keys),
            *await intake.recent_counts(session, senders, since, ips, since),
        )
        assert merged == apart
        assert merged == ({"k1", "k3"}, {"s1": 2, "s3": 1}, {"10.0.0.1": 2})
        assert await intake.known_and_recent(session, [], [], since, [], since) == (set(), {}, {})
        assert await intake.known_and_recent(session, ["k4"], [], since, [], since) == (
            {"k4"},
            {},
            {},
        )


async def test_load_teams_gives_each_member_their_unended_absences_in_order(
    db: Database,
) -> None:
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    async with db.sessions() as session, session.begin():
        sales = await accounts.upsert_team(session, name="Sales", strategy="round_robin", now=now)
        vip = await accounts.upsert_team(session, name="VIP", strategy="round_robin", now=now)
        ids = [
            await accounts.upsert_user(
                session, email=f"m{i}@t.test", name=f"M{i}", role="manager", now=now
            )
            for i in range(3)
        ]
        for team_id in (sales, vip):
            for user_id in ids[:2]:
                await accounts.upsert_member(
                    session, team_id=team_id, user_id=user_id, capacity=5, active=True
                )
        await accounts.upsert_member(
            session, team_id=sales, user_id=ids[2], capacity=5, active=False
        )
        spans = [
            (ids[0], now + 5 * hour, now + 6 * hour),
            (ids[0], now - 3 * hour, now - 2 * hour),  # ended: left out
            (ids[0], now - hour, now + hour),
            (ids[2], now - hour, now + hour),  # an inactive member
        ]
        for user_id, starts, ends in spans:
            session.add(Absence(user_id=user_id, starts_at=starts, ends_at=ends))
    async with db.sessions() as session, session.begin():
        teams = await team_reads.load_teams(session, lock=False, now=now)
        without_now = await team_reads.load_teams(session, lock=False)
    for name in ("Sales", "VIP"):
        members = {m.user_id: m for m in teams[name].members}
        assert teams[name].member_ids == (ids[0], ids[1])
        assert members[ids[0]].absences == (
            (now - hour, now + hour),
            (now + 5 * hour, now + 6 * hour),
        )
        assert members[ids[1]].absences == ()
        assert all(m.absences == () for m in without_now[name].members)
        assert without_now[name].member_ids == (ids[0], ids[1])


async def test_demo_seed_runs_once_and_config_upserts(db: Database, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    first = await apply_configuration(db, settings, demo=True)
    assert first.admin_token is not None
    assert first.forms == ["contact"]
    again = await apply_configuration(db, settings, demo=True)
    assert again.admin_token is None, "the demo seed only fills an empty store"
    async with db.sessions() as session:
        assert await accounts.principal_for_token(session, first.admin_token) is not None
        teams = await team_reads.load_teams(session, lock=False)
        forms = await accounts.list_forms(session)
    assert len(teams["Sales"].member_ids) == 3
    assert [(f.slug, f.language) for f in forms] == [("contact", "ru")], "the demo is Russian"


async def test_toml_configuration_is_upserted(db: Database, tmp_path: Path) -> None:
    config = tmp_path / "leadflow.toml"
    config.write_text(
        """
[[teams]]
name = "Enterprise"
[[teams.members]]
email = "Olga@Corp.test"
name = "Olga"
capacity = 10
[[teams.members]]
email = "pavel@corp.test"
name = "Pavel"
active = false

[[forms]]
slug = "demo-request"
name = "Request a demo"
team = "Enterprise"
allowed_origins = ["https://corp.example"]
language = "en"
fields = [
  { name = "fio", label = "Full name", maps_to = "name", required = true },
  { name = "mail", label = "Work email", maps_to = "email" },
]
""",
        encoding="utf-8",
    )
    settings = load_settings(config)
    await apply_configuration(db, settings, demo=False)
    await apply_configuration(db, settings, demo=False)  # idempotent
    async with db.sessions() as session:
        teams = await team_reads.load_teams(session, lock=False)
        forms = await accounts.list_forms(session)
    assert list(teams) == ["Enterprise"]
    assert len(teams["Enterprise"].member_ids) == 1, "the inactive member is not in rotation"
    (form,) = forms
    assert form.team == "Enterprise"
    assert form.allowed_origins == ["https://corp.example"]
    assert form.fields[0]["maps_to"] == "name"
    assert form.language == "en"


async def test_lead_rows_written_by_intake_are_readable(db: Database) -> None:
    from tests.integration.test_console_api import make_leads

    await make_leads(db, 3)
    async with db.sessions() as session:
        statuses = list(await session.scalars(select(Lead.status)))
    assert statuses == ["new", "new", "new"]


async def test_a_batch_lookup_answers_for_any_number_of_values_with_one_statement_text(
    db: Database, database_url: str
) -> None:
    """PostgreSQL gets each batch lookup as one text whatever the list's length (an
    array), so the server keeps one prepared statement per lookup, not one per
    length; SQLite gets an `IN` list. Either way the answer is the same, from an
    empty list to more values than one statement takes on SQLite."""
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        for n in range(3):
            session.add(Company(id=uuid.uuid4(), name=f"C{n}", domain=f"c{n}.ru", created_at=now))
            session.add(
                OutboundRecord(
                    id=uuid.uuid4(),
                    channel="email",
                    purpose="acknowledgement",
                    recipient=f"r{n}@c.ru",
                    payload={},
                    created_at=now - timedelta(hours=n),
                )
            )
    sent: list[str] = []

    def grab(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    since = now - timedelta(minutes=90)
    event.listen(db.engine.sync_engine, "before_cursor_execute", grab)
    try:
        async with db.sessions() as session:
            for extra in (0, 1, 2, 7, 600):
                others = [f"x{i}@c.ru" for i in range(extra)]
                assert await intake.recent_recipients(
                    session, "email", "acknowledgement", ["r0@c.ru", "r2@c.ru", *others], since
                ) == {"r0@c.ru"}
                domains = await intake.find_companies(session, ["c1.ru", *others])
                assert set(domains) == {"c1.ru"}
            assert await intake.recent_recipients(
                session, "email", "acknowledgement", [], since
            ) == (set())
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", grab)
    recipients = {s for s in sent if "outbound_record.recipient" in s}
    companies = {s for s in sent if "FROM company" in s}
    if database_url.startswith("postgresql"):
        assert len(recipients) == 1
        assert len(companies) == 1
    else:
        assert len(recipients) > 1  # an IN list per length: the test sees both spellings
