"""On the real stores, `bulk_insert.insert_rows` makes the very executemany call that
`session.execute(insert(table), rows)` makes (issue 11): same SQL, same parameters.

Both calls are caught at the dialect's `do_executemany` / `do_execute` hook, which
stops them there, so nothing is written and no parent rows are needed. The rows mix
None, unicode, datetimes in several zones (pydantic's UTC among them), JSON
documents and `EncodedJSON`, for every table the consumer writes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from pydantic_core import TzInfo
from sqlalchemy import JSON, Boolean, Column, Float, Integer, Table, Uuid, event
from sqlalchemy.util import await_

from crm_store import bulk_insert
from crm_store.database import Database
from crm_store.models import (
    MessageRef,
)
from crm_store.types import EncodedJSON, UTCDateTime
from tests.unit.test_bulk_insert import TABLES  # as write_intake inserts them

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 3, 7, 30, 15, 123456, tzinfo=UTC)
SAMPLES: dict[type, tuple[Any, ...]] = {
    UTCDateTime: (
        AT,
        AT.replace(microsecond=0),
        AT.astimezone(timezone(timedelta(hours=3))),
        AT.replace(tzinfo=TzInfo(0)),
        None,
    ),
    JSON: (
        {"text": "Здравствуйте ✓", "n": [1, 2.5, None, True]},
        EncodedJSON('{"id":"x","text":"Ольга"}'),
        ["a", {"b": None}],
        {},
        None,
    ),
    Uuid: (uuid.uuid4(), uuid.UUID(int=0), None),
    Boolean: (True, False, None),
    Integer: (1, -7, None),
    Float: (0.0, 0.875, 3, None),
}
TEXTS = ("plain", "Ольга Иванова", "emoji 🙂 and 'quotes'", "", None)


def _sample(column: Column[Any], n: int) -> Any:
    for kind, values in SAMPLES.items():
        if isinstance(column.type, kind):
            return values[n % len(values)]
    return TEXTS[n % len(TEXTS)]


def _rows(table: Table, count: int) -> list[dict[str, Any]]:
    columns = [c for c in table.c if c.server_default is None]
    return [{c.name: _sample(c, n + i) for i, c in enumerate(columns)} for n in range(count)]


@contextmanager
def _caught(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """The driver calls made meanwhile, stopped before they reach the driver."""
    calls: list[tuple[str, Any]] = []

    def catch(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        calls.append((statement, parameters))
        # SQLAlchemy's async bridge insists that a statement awaited something.
        await_(asyncio.sleep(0))
        return True

    engine = db.engine.sync_engine
    event.listen(engine, "do_executemany", catch)
    event.listen(engine, "do_execute", catch)
    try:
        yield calls
    finally:
        event.remove(engine, "do_executemany", catch)
        event.remove(engine, "do_execute", catch)


def _spelled(parameters: Any) -> Any:
    if isinstance(parameters, tuple):
        parameters = [parameters]
    return [[(type(v), repr(v)) for v in row] for row in parameters]


@pytest.mark.parametrize("count", [1, 7])
async def test_insert_rows_calls_the_driver_as_sqlalchemy_does(db: Database, count: int) -> None:
    for model, skip_existing in TABLES:
        table = cast(Table, model.__table__)
        rows = _rows(table, count)
        async with db.sessions() as session:
            _ = await session.connection()  # the BEGIN is not what is compared
            with _caught(db) as theirs:
                stmt = bulk_insert.insert_statement(db.dialect, table, skip_existing=skip_existing)
                await session.execute(stmt, rows)
            with _caught(db) as ours:
                await bulk_insert.insert_rows(session, table, rows, skip_existing=skip_existing)
            await session.rollback()
        assert len(theirs) == len(ours) == 1, table.name
        assert ours[0][0] == theirs[0][0], table.name
        assert _spelled(ours[0][1]) == _spelled(theirs[0][1]), table.name


async def test_a_batch_that_does_not_fit_goes_through_sqlalchemy(db: Database) -> None:
    table = cast(Table, MessageRef.__table__)
    row = {"message_id": "a@b", "lead_id": None, "direction": "inbound"}
    rows = [{**row, "created_at": AT}, {**row, "created_at": AT.replace(tzinfo=None)}]
    async with db.sessions() as session:
        with pytest.raises(Exception, match="naive datetime") as raised:
            await bulk_insert.insert_rows(session, table, rows, skip_existing=True)
        with pytest.raises(type(raised.value), match="naive datetime"):
            await session.execute(bulk_insert.insert_statement(db.dialect, table), rows)


def test_samples_cover_every_column_type() -> None:
    kinds = {
        type(c.type)
        for model, _ in TABLES
        for c in cast(Table, model.__table__).c
        if not any(isinstance(c.type, kind) for kind in SAMPLES)
    }
    assert {k.__name__ for k in kinds} <= {"String", "Text"}, kinds
