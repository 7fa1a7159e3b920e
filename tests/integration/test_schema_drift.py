"""The migrations build exactly the schema the models declare, on both stores.

The consumer's bulk inserts and every read are written against `crm_store.models`;
a migration that forgets an index (or drops one the models still declare) would be
found only by a slow page at a customer's million rows. Alembic's own comparison
(what `alembic revision --autogenerate` would write) must come out empty.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Connection, String
from sqlalchemy.types import TypeEngine

from crm_store.database import Database
from crm_store.models import Base


def _compare_type(
    context: MigrationContext,
    inspected: Column[Any],
    declared: Column[Any],
    inspected_type: TypeEngine[Any],
    declared_type: TypeEngine[Any],
) -> bool | None:
    """Migration 0007 widens four columns to TEXT on PostgreSQL only: SQLite never
    enforces a VARCHAR's length, and rebuilding a table to change it would copy
    every row. Any other type difference is alembic's to judge."""
    if (
        context.dialect.name == "sqlite"
        and isinstance(inspected_type, String)
        and isinstance(declared_type, String)
    ):
        return False
    return None


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": _compare_type})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_store_has_the_models_schema(db: Database) -> None:
    async with db.engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []
