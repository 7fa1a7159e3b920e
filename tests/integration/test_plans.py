"""The consumer's batch lookups are planned for their values on PostgreSQL, and only
inside the transaction that asked (`crm_store.plans`); SQLite needs nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import plans
from crm_store.database import Database
from crm_store.models import ContactIdentity

pytestmark = pytest.mark.integration


async def _mode(db: Database, session: AsyncSession) -> str | None:
    if db.dialect != "postgresql":
        return None
    result = await session.execute(text("SHOW plan_cache_mode"))
    return str(result.scalar_one())


async def test_lookups_are_planned_for_their_values_and_writes_as_configured(
    db: Database,
) -> None:
    async with db.sessions() as session, session.begin():
        configured = await _mode(db, session)
        await plans.for_values(session)
        assert await _mode(db, session) == (None if configured is None else "force_custom_plan")
        # A batch lookup of a thousand values still answers as before.
        found = await session.scalars(
            select(ContactIdentity.contact_id).where(
                ContactIdentity.value.in_([f"c{i}@example.com" for i in range(1000)])
            )
        )
        assert list(found) == []
        await plans.as_configured(session)
        assert await _mode(db, session) == configured
        await plans.for_values(session)
    # The end of the transaction undoes it: other work on this pooled connection
    # keeps the server's mode.
    async with db.sessions() as session, session.begin():
        assert await _mode(db, session) == configured
    if db.dialect == "postgresql":
        assert configured == "auto"
