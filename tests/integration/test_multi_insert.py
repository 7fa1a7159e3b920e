"""`multi_insert.insert_tables` on the real stores (issue 11): several tables' rows in
one call are stored as separate inserts would store them; on PostgreSQL they go as one
statement, whose foreign keys are still checked and whose ON CONFLICT still skips.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, event, func, select
from sqlalchemy.exc import IntegrityError

from crm_store.database import Database
from crm_store.models import Contact, ContactIdentity
from crm_store.multi_insert import TableRows, combined_sql, insert_tables

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
CONTACTS = cast(Table, Contact.__table__)
IDENTITIES = cast(Table, ContactIdentity.__table__)


def _contact(name: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "name": name,
        "email": f"{name.lower()}@example.ru",
        "phone": None,
        "company_id": None,
        "created_at": AT,
    }


def _identity(contact: dict[str, Any], kind: str, value: str) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "contact_id": contact["id"], "kind": kind, "value": value}


@contextmanager
def _inserts(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        statement = str(args[2])
        if "INSERT" in statement:
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def _identities(db: Database) -> set[tuple[str | None, str, str]]:
    query = select(Contact.name, ContactIdentity.kind, ContactIdentity.value).join(
        Contact, Contact.id == ContactIdentity.contact_id
    )
    async with db.sessions() as session:
        return {(n, k, v) for n, k, v in await session.execute(query)}


async def test_parents_and_children_of_one_call_are_stored(db: Database) -> None:
    olga, ivan = _contact("Olga"), _contact("Ivan")
    identities = [
        _identity(olga, "email", "olga@example.ru"),
        _identity(olga, "phone", "+79161234567"),
        _identity(ivan, "email", "ivan@example.ru"),
    ]
    parts = [TableRows(CONTACTS, [olga, ivan]), TableRows(IDENTITIES, identities)]
    if db.dialect == "postgresql":
        # Children first: one statement, whose foreign keys are checked once all is in.
        parts.reverse()
    with _inserts(db) as inserts:
        async with db.sessions() as session, session.begin():
            await insert_tables(session, parts)
    assert await _identities(db) == {
        ("Olga", "email", "olga@example.ru"),
        ("Olga", "phone", "+79161234567"),
        ("Ivan", "email", "ivan@example.ru"),
    }
    assert len(inserts) == (1 if db.dialect == "postgresql" else 2)


async def test_a_child_without_its_parent_is_refused_and_nothing_is_kept(db: Database) -> None:
    olga, ghost = _contact("Olga"), _contact("Ghost")
    with pytest.raises(IntegrityError):
        async with db.sessions() as session, session.begin():
            await insert_tables(
                session,
                [
                    TableRows(CONTACTS, [olga]),
                    TableRows(IDENTITIES, [_identity(ghost, "email", "ghost@example.ru")]),
                ],
            )
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Contact)) == 0


async def test_skip_existing_keeps_the_stored_row_and_adds_the_rest(db: Database) -> None:
    olga, ivan = _contact("Olga"), _contact("Ivan")
    async with db.sessions() as session, session.begin():
        await insert_tables(
            session,
            [
                TableRows(CONTACTS, [olga]),
                TableRows(IDENTITIES, [_identity(olga, "email", "shared@example.ru")]),
            ],
        )
    async with db.sessions() as session, session.begin():
        await insert_tables(
            session,
            [
                TableRows(CONTACTS, [ivan]),
                TableRows(
                    IDENTITIES,
                    [
                        _identity(ivan, "email", "shared@example.ru"),
                        _identity(ivan, "phone", "+79167654321"),
                    ],
                    skip_existing=True,
                ),
            ],
        )
    assert await _identities(db) == {
        ("Olga", "email", "shared@example.ru"),
        ("Ivan", "phone", "+79167654321"),
    }


def test_placeholders_are_numbered_on_from_one_statement_to_the_next() -> None:
    first = "INSERT INTO a (x, y) SELECT * FROM unnest($1::UUID[], $2::VARCHAR[])"
    second = "INSERT INTO b (z) SELECT * FROM unnest($1::INTEGER[]) ON CONFLICT DO NOTHING"
    assert combined_sql((first, second)) == (
        "WITH w1 AS (INSERT INTO a (x, y) SELECT * FROM unnest($1::UUID[], $2::VARCHAR[])) "
        "INSERT INTO b (z) SELECT * FROM unnest($3::INTEGER[]) ON CONFLICT DO NOTHING"
    )
    assert combined_sql((second,)) == second
