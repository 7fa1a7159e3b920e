"""On the real stores, `bulk_insert.insert_rows` hands the driver what
`session.execute(insert(table), rows)` does (issue 11): on SQLite the very same
executemany, on PostgreSQL one `INSERT … SELECT * FROM unnest(…)` whose arrays hold the
same values; and what it writes reads back as SQLAlchemy's own insert wrote it.

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
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    event,
    select,
)
from sqlalchemy.exc import DBAPIError
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


@pytest.mark.parametrize("count", [1, 7, 600])
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
        assert len(theirs) == 1, table.name
        if db.dialect == "postgresql":
            # One statement with an array per column, holding the very same values.
            assert len(ours) == 1, table.name
            sql, params = ours[0]
            assert sql.startswith(f"INSERT INTO {table.name} ("), sql
            assert " SELECT * FROM unnest($1::" in sql, sql
            params = list(zip(*params, strict=True))
        else:
            # One statement per chunk of at most 256 rows, padded to a power of two (7
            # rows: 8), each SQLAlchemy's own INSERT selecting from a VALUES list whose
            # rows lead with a marker (padding: NULL), holding the very same values.
            width = len(rows[0]) + 1
            assert [len(p) // width for _, p in ours] == _padded(count), table.name
            head, _, rest = theirs[0][0].partition(" VALUES ")
            row = rest[: rest.index(")") + 1]
            marked = f"(?, {row[1:]}"
            selected = ", ".join(f"column{n}" for n in range(2, width + 1))
            for sql, flat in ours:
                n = len(flat) // width
                assert sql == (
                    f"{head} SELECT {selected} FROM (VALUES {', '.join([marked] * n)}) "
                    f"WHERE column1 IS NOT NULL{rest[len(row) :]}"
                ), sql
            flat = [v for _, p in ours for v in p]
            marked_rows = [tuple(flat[i : i + width]) for i in range(0, len(flat), width)]
            assert {r[0] for r in marked_rows} <= {1, None}, table.name
            assert all(all(v is None for v in r) for r in marked_rows if r[0] is None)
            params = [r[1:] for r in marked_rows if r[0] is not None]
        assert _spelled(params) == _spelled(theirs[0][1]), table.name


def _padded(count: int) -> list[int]:
    """Rows of each statement for `count` rows: 256 at a time, the rest padded to a
    power of two."""
    sizes = []
    while count:
        chunk = min(count, 256)
        sizes.append(1 << (chunk - 1).bit_length())
        count -= chunk
    return sizes


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


def _scratch_table(name: str) -> Table:
    return Table(
        name,
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("code", String(8)),
        Column("at", UTCDateTime()),
        Column("doc", JSON),
        Column("flag", Boolean),
        Column("ratio", Float),
        Column("ref", Uuid),
    )


def _scratch_rows(ids: list[int]) -> list[dict[str, Any]]:
    rows = []
    for n in ids:
        rows.append(
            {
                "id": n,
                "code": None if (text := TEXTS[n % len(TEXTS)]) is None else text[:8],
                "at": SAMPLES[UTCDateTime][n % len(SAMPLES[UTCDateTime])],
                "doc": SAMPLES[JSON][n % len(SAMPLES[JSON])],
                "flag": SAMPLES[Boolean][n % 3],
                "ratio": SAMPLES[Float][n % 4],
                "ref": SAMPLES[Uuid][n % 3],
            }
        )
    return rows


async def test_what_it_writes_reads_back_as_sqlalchemy_wrote_it(db: Database) -> None:
    ours, theirs = _scratch_table("bulk_ours"), _scratch_table("bulk_theirs")
    rows = _scratch_rows(list(range(12)))
    async with db.sessions() as session:
        connection = await session.connection()
        await connection.run_sync(ours.metadata.create_all)
        await connection.run_sync(theirs.metadata.create_all)
        await bulk_insert.insert_rows(session, ours, rows)
        await session.execute(bulk_insert.insert_statement(db.dialect, theirs), rows)
        got = (await session.execute(select(ours).order_by(ours.c.id))).all()
        want = (await session.execute(select(theirs).order_by(theirs.c.id))).all()
        await session.rollback()
    assert len(got) == 12
    assert got == want


async def test_a_value_too_long_for_its_column_is_refused_not_cut(db: Database) -> None:
    table = _scratch_table("bulk_long")
    rows = [{**_scratch_rows([1])[0], "code": "twelve chars"}]
    async with db.sessions() as session:
        connection = await session.connection()
        await connection.run_sync(table.metadata.create_all)
        if db.dialect == "postgresql":
            with pytest.raises(DBAPIError, match="too long"):
                await bulk_insert.insert_rows(session, table, rows)
        else:  # SQLite does not enforce VARCHAR lengths, with either path
            await bulk_insert.insert_rows(session, table, rows)
            stored = await session.scalar(select(table.c.code))
            assert stored == "twelve chars"
        await session.rollback()


async def test_skip_existing_keeps_the_first_of_a_key_in_the_batch_and_the_stored_one(
    db: Database,
) -> None:
    table = _scratch_table("bulk_skip")
    first, again = _scratch_rows([1])[0], _scratch_rows([1])[0]
    async with db.sessions() as session:
        connection = await session.connection()
        await connection.run_sync(table.metadata.create_all)
        await bulk_insert.insert_rows(session, table, [{**first, "code": "stored"}])
        batch = [
            {**again, "code": "again"},
            {**_scratch_rows([2])[0], "code": "first"},
            {**_scratch_rows([2])[0], "code": "second"},
        ]
        await bulk_insert.insert_rows(session, table, batch, skip_existing=True)
        got = (await session.execute(select(table.c.id, table.c.code).order_by(table.c.id))).all()
        await session.rollback()
    assert [tuple(r) for r in got] == [(1, "stored"), (2, "first")]
