"""The store on SQLite and PostgreSQL: migrations, UTC times, uniqueness, configuration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from crm_store import accounts, intake
from crm_store.database import Database
from crm_store.models import Base, InquiryRecord, Lead, Team
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


async def test_demo_seed_runs_once_and_config_upserts(db: Database, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    first = await apply_configuration(db, settings, demo=True)
    assert first.admin_token is not None
    assert first.forms == ["contact"]
    again = await apply_configuration(db, settings, demo=True)
    assert again.admin_token is None, "the demo seed only fills an empty store"
    async with db.sessions() as session:
        assert await accounts.principal_for_token(session, first.admin_token) is not None
        teams = await intake.load_teams(session, lock=False)
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
        teams = await intake.load_teams(session, lock=False)
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
