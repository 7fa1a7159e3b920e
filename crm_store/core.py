"""Statements run on the session's connection, past the ORM (issue 11).

`session.execute` sends every statement through the ORM's compile state and result
loading, even a select of plain columns or an UPDATE of a table: ~50 µs a statement
on this machine, about ten statements in each of the ingest consumer's batches
(a tenth of a one-inquiry batch's CPU). The statements here select columns and
update rows the session holds no objects of, so the ORM has nothing to add; they
run in the session's transaction all the same. Imports nothing of ours.

`connection` is `session.connection()` looked up once per transaction: each call is a
greenlet hop into the session (~35 µs), and a batch's statements made about twenty.

`one_of` is the consumer's "column among these values", spelled for each store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql import Executable


async def execute(
    session: AsyncSession, statement: Executable, parameters: Mapping[str, Any] | None = None
) -> CursorResult[*tuple[Any, ...]]:
    """`session.execute(statement, parameters)` without the ORM's per-statement work."""
    return await (await connection(session)).execute(statement, parameters)


_CONNECTION = "crm_store.core.connection"


async def connection(session: AsyncSession) -> AsyncConnection:
    """`await session.connection()`, asked of the session once per transaction.

    A session with one bind (ours) keeps one connection for its root transaction,
    savepoints included, so the one found for a transaction serves it to the end; a
    new transaction (after a commit or a rollback) asks the session again."""
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_CONNECTION)
    if transaction is not None and cached is not None and cached[0] is transaction:
        found: AsyncConnection = cached[1]
        return found
    found = await session.connection()
    session.info[_CONNECTION] = (session.sync_session.get_transaction(), found)
    return found


def on_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def one_of(
    column: ColumnElement[Any] | QueryableAttribute[Any], name: str, *, postgresql: bool
) -> ColumnElement[bool]:
    """`column` among the values of the list parameter `name`.

    On PostgreSQL `column = ANY(:name)`, the list as one array: the statement's text
    is the same whatever the list's length, so asyncpg prepares it once per
    connection, and SQLAlchemy renders nothing per execution. An `IN` list made a
    new text for each length, rendered on every execution: a batch lookup cost the
    consumer ~550 µs of CPU against ~340 as an array, and ~250 µs more of waiting
    (issue 11). SQLite has no arrays: an `IN` list there, one `?` per value.
    """
    element = column.expression if isinstance(column, QueryableAttribute) else column
    if postgresql:
        return element == any_(bindparam(name, type_=ARRAY(element.type)))
    return element.in_(bindparam(name, expanding=True))


def text_array(name: str) -> BindParameter[Any]:
    """A PostgreSQL array parameter of texts (`unnest` of it makes a relation to join)."""
    return bindparam(name, type_=ARRAY(String()))
