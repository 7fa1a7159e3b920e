"""`crm_store.core.connection`: the session's connection asked for once per
transaction (issue 11), and never a finished transaction's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from crm_store import core
from crm_store.database import Database
from crm_store.models import Team

pytestmark = pytest.mark.integration


async def test_one_connection_serves_a_transaction_and_the_next_gets_its_own(
    db: Database,
) -> None:
    now = datetime.now(UTC)
    async with db.sessions() as session:
        async with session.begin():
            first = await core.connection(session)
            assert await core.connection(session) is first
            await core.execute(session, insert(Team), {"name": "kept", "created_at": now})
        transaction = await session.begin()
        # Run on the committed transaction's connection, this would fail (closed) or
        # escape the rollback below.
        await core.execute(session, insert(Team), {"name": "undone", "created_at": now})
        await transaction.rollback()
        async with session.begin():
            await core.execute(session, insert(Team), {"name": "after", "created_at": now})
    async with db.sessions() as session:
        names = set(await session.scalars(select(Team.name)))
    assert {"kept", "after"} <= names
    assert "undone" not in names
