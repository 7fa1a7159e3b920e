"""The consumer's per-batch reads find their rows through an index on both stores.

A read that scans a table costs nothing on an empty store and grows with every lead
stored (issue 11's growth target); no functional test notices. These run the real
`crm_store.intake` reads, capture the SQL they send, and ask each store for its plan
(SQLite's EXPLAIN QUERY PLAN; PostgreSQL's EXPLAIN with sequential scans priced out,
since on a small table its planner rightly prefers one): the named index must be in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import intake, outbox, sla
from crm_store.database import open_database
from crm_store.models import Contact, ContactIdentity

pytestmark = pytest.mark.integration

Read = Callable[[AsyncSession], Awaitable[Any]]


async def plans(url: str, read: Read, *, seqscan: bool = False) -> list[str]:
    """The plan of every SELECT that `read` sends, as one text each (on PostgreSQL
    with sequential scans priced out unless `seqscan`)."""
    async with open_database(url) as db:
        sent: list[tuple[str, Any]] = []

        def grab(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
            sent.append((statement, parameters))

        async with db.sessions() as session, session.begin():
            event.listen(db.engine.sync_engine, "before_cursor_execute", grab)
            try:
                await read(session)
            finally:
                event.remove(db.engine.sync_engine, "before_cursor_execute", grab)
            conn = await session.connection()
            sqlite = db.dialect == "sqlite"
            if not sqlite and not seqscan:
                await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            out = []
            for statement, parameters in sent:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
                rows = await conn.exec_driver_sql(explain + statement, parameters)
                out.append("\n".join(str(row[-1]) for row in rows))
            return out


async def test_the_outbox_sweep_reads_only_unpublished_rows_by_index(database_url: str) -> None:
    found = await plans(database_url, outbox.unpublished_outbound)
    assert found
    assert all("ix_outbound_record_unpublished" in plan for plan in found), found


async def test_contacts_are_found_by_kind_and_value_index(database_url: str) -> None:
    async def read(session: AsyncSession) -> Any:
        return await intake.find_contacts(
            session, [("email", "a@example.com"), ("phone", "+79120000001")]
        )

    found = await plans(database_url, read)
    assert found
    # SQLite names the unique constraint's index sqlite_autoindex_contact_identity_N.
    assert all(
        "uq_contact_identity_kind" in plan or "autoindex_contact_identity" in plan for plan in found
    ), found


GROWN = 20_000


async def grow_contacts(url: str) -> dict[tuple[str, str], uuid.UUID]:
    """GROWN contacts with an email identity each, and the store's statistics."""
    contacts: list[dict[str, Any]] = [
        {"id": uuid.uuid4(), "name": f"c{i}", "created_at": datetime.now(UTC)} for i in range(GROWN)
    ]
    identities: list[dict[str, Any]] = [
        {"id": uuid.uuid4(), "contact_id": c["id"], "kind": "email", "value": f"c{i}@example.com"}
        for i, c in enumerate(contacts)
    ]
    async with open_database(url) as db:
        async with db.sessions() as session, session.begin():
            await session.execute(insert(Contact), contacts)
            await session.execute(insert(ContactIdentity), identities)
        async with db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.exec_driver_sql("ANALYZE")
    return {(row["kind"], row["value"]): row["contact_id"] for row in identities}


async def test_a_grown_contact_table_is_probed_by_index_not_scanned(database_url: str) -> None:
    """With statistics of 20,000 identities each store plans an index probe per wanted
    identity. A lookup on `value` alone (the kinds left out) read the whole table on
    PostgreSQL: 38 ms a call at 300,000 leads, and growing with every contact."""
    stored = await grow_contacts(database_url)
    wanted = [
        ("email", "c7@example.com"),
        ("phone", "c7@example.com"),
        ("email", "c19999@example.com"),
        ("phone", "+79120000001"),
    ]

    async def read(session: AsyncSession) -> Any:
        return await intake.find_contacts(session, wanted)

    async with open_database(database_url) as db, db.sessions() as session:
        assert await read(session) == {pair: stored[pair] for pair in wanted if pair in stored}
    found = await plans(database_url, read, seqscan=True)
    assert found
    for plan in found:
        assert "uq_contact_identity_kind" in plan or "autoindex_contact_identity" in plan, plan
        assert "Seq Scan" not in plan and "SCAN contact_identity" not in plan, plan


async def test_the_sla_watcher_reads_its_candidates_in_index_order(database_url: str) -> None:
    """Not yet breached first, then a page of the breached after a cursor: each read
    walks the index in its order rather than sorting every `new` lead."""

    async def read(session: AsyncSession) -> None:
        at = datetime(2026, 1, 1, tzinfo=UTC)
        after = (at, at, uuid.UUID(int=1))
        await sla.pending_first_contacts(session, datetime.now(UTC), breached_after=after)

    found = await plans(database_url, read)
    candidates = [plan for plan in found if "activity" in plan.lower() or "lead" in plan.lower()]
    assert len(candidates) >= 2, found
    assert all("ix_lead_status_sla" in plan for plan in candidates[:2]), found
    if database_url.startswith("sqlite"):
        # SQLite, with no statistics, plans the same on any store size. PostgreSQL on
        # an empty table rightly sorts its one estimated row.
        assert not any("TEMP B-TREE" in plan for plan in candidates[:2]), found
