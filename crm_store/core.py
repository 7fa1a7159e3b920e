"""Statements run on the session's connection, past the ORM (issue 11).

`session.execute` sends every statement through the ORM's compile state and result
loading, even a select of plain columns or an UPDATE of a table: ~50 µs a statement
on this machine, about ten statements in each of the ingest consumer's batches
(a tenth of a one-inquiry batch's CPU). The statements here select columns and
update rows the session holds no objects of, so the ORM has nothing to add; they
run in the session's transaction all the same. Imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable


async def execute(
    session: AsyncSession, statement: Executable, parameters: Mapping[str, Any] | None = None
) -> CursorResult[*tuple[Any, ...]]:
    """`session.execute(statement, parameters)` without the ORM's per-statement work."""
    connection = await session.connection()
    return await connection.execute(statement, parameters)
