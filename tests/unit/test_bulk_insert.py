"""`bulk_insert` hands the driver exactly what SQLAlchemy's bind processing would (issue 11).

For every table the consumer writes (`intake.write_intake`), on the SQLite (aiosqlite)
and PostgreSQL (asyncpg) dialects, generated rows (None, unicode, aware datetimes in
UTC and in other zones, pydantic's UTC, JSON documents and `EncodedJSON`) become the
same SQL and the same parameter tuples, value for value and type for type, as
SQLAlchemy's executemany makes from the same dicts: its compiled statement's
parameters, each through the column's bind processor. Rows it cannot take the same
way (a naive datetime, a missing key, a Python-side default to compute) are left to
SQLAlchemy. `tests/integration/test_bulk_insert.py` checks the same against the
real stores' executemany calls.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import TzInfo
from sqlalchemy import JSON, Boolean, Column, Float, Integer, String, Table, Text, Uuid
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.sql.compiler import SQLCompiler

from crm_store import bulk_insert
from crm_store.models import (
    Activity,
    AssignmentLedger,
    Base,
    Company,
    Contact,
    ContactIdentity,
    InquiryRecord,
    Lead,
    LeadEvent,
    MessageRef,
    OutboundRecord,
    SpamMark,
)
from crm_store.types import EncodedJSON, UTCDateTime, json_serializer

DIALECTS: dict[str, Dialect] = {
    name: create_async_engine(url, json_serializer=json_serializer).dialect
    for name, url in (
        ("sqlite", "sqlite+aiosqlite://"),
        ("postgresql", "postgresql+asyncpg://nobody@127.0.0.1/none"),
    )
}
# (model, ON CONFLICT DO NOTHING) as write_intake inserts them.
TABLES = (
    (Company, False),
    (Contact, False),
    (ContactIdentity, False),
    (Lead, False),
    (Activity, False),
    (InquiryRecord, False),
    (LeadEvent, False),
    (OutboundRecord, False),
    (SpamMark, False),
    (MessageRef, True),
    (AssignmentLedger, False),
)
# Naive bounds for hypothesis (it wants them naive), a day inside datetime's range.
NAIVE_MIN = datetime(1900, 1, 2, tzinfo=UTC).replace(tzinfo=None)
NAIVE_MAX = datetime(9999, 12, 30, tzinfo=UTC).replace(tzinfo=None)
ZONES = (UTC, TzInfo(0), TzInfo(3 * 3600), timezone(timedelta(hours=-5)), ZoneInfo("Europe/Moscow"))


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _columns(table: Table) -> list[Column[Any]]:
    """The columns a batch sets: all but those a server default or trigger fills."""
    return [c for c in table.c if c.server_default is None]


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=8,
    )


def _aware() -> st.SearchStrategy[datetime]:
    return st.builds(
        lambda at, zone: at.replace(tzinfo=UTC).astimezone(zone),
        st.datetimes(min_value=NAIVE_MIN, max_value=NAIVE_MAX),
        st.sampled_from(ZONES),
    )


def _values(column: Column[Any]) -> st.SearchStrategy[Any]:
    kind = column.type
    value: st.SearchStrategy[Any]
    if isinstance(kind, UTCDateTime):
        value = _aware() | st.datetimes(timezones=st.just(UTC))
    elif isinstance(kind, JSON):
        documents = st.dictionaries(st.text(), _json_values(), max_size=4)
        value = (
            documents
            | st.lists(_json_values(), max_size=3)
            | documents.map(lambda d: EncodedJSON(json.dumps(d, ensure_ascii=False)))
            | _json_values()
        )
    elif isinstance(kind, Uuid):
        value = st.uuids()
    elif isinstance(kind, Boolean):
        value = st.booleans()
    elif isinstance(kind, Integer):
        value = st.integers(-(2**31), 2**31 - 1)
    elif isinstance(kind, Float):
        value = st.floats(allow_nan=False) | st.integers(-1000, 1000)
    elif isinstance(kind, String | Text):
        value = st.text()
    else:
        raise AssertionError(f"no values for {column} ({kind!r})")
    return st.none() | value


def _rows(table: Table, columns: list[Column[Any]]) -> st.SearchStrategy[list[dict[str, Any]]]:
    row = st.fixed_dictionaries({c.name: _values(c) for c in columns})
    return st.lists(row, min_size=1, max_size=5)


def sqlalchemy_parameters(
    dialect: Dialect, table: Table, rows: list[dict[str, Any]], skip_existing: bool
) -> tuple[str, list[tuple[Any, ...]]]:
    """What SQLAlchemy's executemany hands the driver: the compiled statement's
    parameters for each row, each through its bind processor, in positional order."""
    stmt = bulk_insert.insert_statement(dialect.name, table, skip_existing=skip_existing)
    compiled = cast(
        SQLCompiler, stmt.compile(dialect=dialect, column_keys=list(rows[0]), for_executemany=True)
    )
    processors: dict[str, Any] = dict(compiled._bind_processors)
    out = []
    for row in rows:
        params = compiled.construct_params(row)
        out.append(
            tuple(
                processors[key](params[key]) if key in processors else params[key]
                for key in compiled.positiontup or ()
            )
        )
    return compiled.string, out


def _spelled(rows: list[tuple[Any, ...]]) -> list[list[tuple[type, str]]]:
    """Values compared by type and repr: a datetime's zone and a str subclass count."""
    return [[(type(v), repr(v)) for v in row] for row in rows]


def _ours(
    dialect: Dialect, table: Table, rows: list[dict[str, Any]], skip_existing: bool
) -> tuple[str, list[tuple[Any, ...]]] | None:
    compiled = bulk_insert.compile_insert(dialect, table, tuple(rows[0]), skip_existing)
    assert compiled is not None, "every table of write_intake takes the short path"
    params = bulk_insert.parameters(compiled, rows)
    return None if params is None else (compiled.sql, params)


@pytest.mark.parametrize("dialect_name", list(DIALECTS))
@pytest.mark.parametrize(
    ("model", "skip_existing"), TABLES, ids=[model.__name__ for model, _ in TABLES]
)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_parameters_are_what_sqlalchemy_binds(
    dialect_name: str, model: type[Base], skip_existing: bool, data: st.DataObject
) -> None:
    dialect = DIALECTS[dialect_name]
    table = _table(model)
    columns = data.draw(st.permutations(_columns(table)))  # any dict order
    rows = data.draw(_rows(table, columns))
    ours = _ours(dialect, table, rows, skip_existing)
    assert ours is not None
    sql, params = sqlalchemy_parameters(dialect, table, rows, skip_existing)
    assert ours[0] == sql
    assert _spelled(ours[1]) == _spelled(params)


@pytest.mark.parametrize("dialect_name", list(DIALECTS))
def test_a_naive_datetime_is_left_to_sqlalchemy(dialect_name: str) -> None:
    dialect = DIALECTS[dialect_name]
    table = _table(MessageRef)
    row = {"message_id": "a@b", "lead_id": None, "direction": "inbound"}
    rows = [
        {**row, "created_at": datetime.now(UTC)},
        {**row, "created_at": datetime.now(UTC).replace(tzinfo=None)},
    ]
    with pytest.raises(ValueError, match="naive datetime"):
        sqlalchemy_parameters(dialect, table, rows, True)
    assert _ours(dialect, table, rows, True) is None


@pytest.mark.parametrize("dialect_name", list(DIALECTS))
def test_rows_that_do_not_fit_are_left_to_sqlalchemy(dialect_name: str) -> None:
    dialect = DIALECTS[dialect_name]
    table = _table(ContactIdentity)
    row = {"id": None, "contact_id": None, "kind": "email", "value": "a@b"}
    # A later row without one of the first row's keys: SQLAlchemy says which.
    assert (
        _ours(dialect, table, [row, {k: v for k, v in row.items() if k != "kind"}], False) is None
    )
    # A key that is no column, or a Python-side default to compute (lead.status).
    assert bulk_insert.compile_insert(dialect, table, (*row, "nope"), False) is None
    lead_keys = tuple(c.name for c in _columns(_table(Lead)) if c.name != "status")
    assert bulk_insert.compile_insert(dialect, _table(Lead), lead_keys, False) is None


@pytest.mark.parametrize("dialect_name", list(DIALECTS))
def test_datetime_and_json_columns_take_the_shortcuts(dialect_name: str) -> None:
    """The shortcuts are on (a change in SQLAlchemy's DATETIME would turn the
    datetime one off, keeping the results right but the CPU as before)."""
    keys = tuple(c.name for c in _columns(_table(Lead)))
    compiled = bulk_insert.compile_insert(DIALECTS[dialect_name], _table(Lead), keys, False)
    assert compiled is not None
    made_by = {
        key: convert.__qualname__.split(".")[0]
        for key, convert in zip(compiled.keys, compiled.converters, strict=True)
        if convert is not None
    }
    assert made_by["created_at"] == "_utc_datetime"
    assert made_by["decision"] == "_json"


def _bind_before(value: datetime | None, dialect_name: str) -> datetime | None:
    """`UTCDateTime.process_bind_param` as it was before its UTC shortcut."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    value = value.astimezone(UTC)
    if dialect_name == "sqlite":
        return value.replace(tzinfo=None)
    return value


@pytest.mark.parametrize("dialect_name", list(DIALECTS))
@settings(max_examples=300, deadline=None)
@given(value=st.none() | _aware() | st.datetimes() | st.datetimes(timezones=st.just(UTC)))
def test_utc_datetime_binds_as_before(dialect_name: str, value: datetime | None) -> None:
    dialect = DIALECTS[dialect_name]
    try:
        before: Any = _bind_before(value, dialect_name)
    except ValueError as exc:
        before = exc.args
    try:
        now: Any = UTCDateTime().process_bind_param(value, dialect)
    except ValueError as exc:
        now = exc.args
    assert (type(now), repr(now)) == (type(before), repr(before))


@pytest.mark.parametrize("dialect_name", list(DIALECTS))
@pytest.mark.parametrize("model", [Lead, Activity, LeadEvent], ids=lambda m: m.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_one_datetime_object_in_many_rows_binds_as_sqlalchemy_binds(
    dialect_name: str, model: type[Base], data: st.DataObject
) -> None:
    """A batch's datetimes are mostly one object (its `now`), which the SQLite shortcut
    remembers with its text: rows that share a few datetime objects, UTC or not, in
    any order and over several batches, bind as SQLAlchemy binds them."""
    dialect = DIALECTS[dialect_name]
    table = _table(model)
    columns = _columns(table)
    pool = data.draw(
        st.lists(_aware() | st.datetimes(timezones=st.just(UTC)), min_size=1, max_size=3)
    )
    shared = st.sampled_from(pool) | st.none()
    for _ in range(data.draw(st.integers(1, 3))):  # the shortcut outlives a batch
        row = st.fixed_dictionaries(
            {c.name: shared if isinstance(c.type, UTCDateTime) else _values(c) for c in columns}
        )
        rows = data.draw(st.lists(row, min_size=1, max_size=6))
        ours = _ours(dialect, table, rows, False)
        assert ours is not None
        assert _spelled(ours[1]) == _spelled(sqlalchemy_parameters(dialect, table, rows, False)[1])


@pytest.mark.parametrize(
    ("rows", "columns", "expected", "padded"),
    [
        (1, 21, [1], [1]),
        (7, 21, [7], [8]),
        (26, 21, [26], [32]),
        (500, 21, [256, 244], [256, 256]),
        (600, 21, [256, 256, 88], [256, 256, 128]),
        # 256 rows of 200 columns would pass SQLite's 32,766 parameters
        (300, 200, [128, 128, 44], [128, 128, 64]),
    ],
)
def test_sqlite_inserts_take_one_statement_per_largest_chunk_padded_to_a_power_of_two(
    rows: int, columns: int, expected: list[int], padded: list[int]
) -> None:
    chunks = list(bulk_insert.sqlite_chunks(rows, columns))
    assert [size for size, _ in chunks] == expected
    assert [start for _, start in chunks] == [sum(expected[:i]) for i in range(len(expected))]
    assert [bulk_insert.padded_size(size, columns) for size, _ in chunks] == padded


def test_padding_rows_are_not_inserted_and_the_first_row_of_a_key_wins() -> None:
    row_sql = bulk_insert.values_row("INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT DO NOTHING", 2)
    assert row_sql is not None
    sql = bulk_insert.padded_rows_sql(row_sql, 4)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT NOT NULL)")
    db.execute(sql, (1, 1, "first", 1, 1, "second", 1, 2, "other", None, None, None))
    assert db.execute("SELECT a, b FROM t ORDER BY a").fetchall() == [(1, "first"), (2, "other")]


def test_a_sqlite_row_with_anything_but_placeholders_keeps_the_executemany() -> None:
    plain = "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT DO NOTHING"
    assert bulk_insert.values_row(plain, 2) == (
        "INSERT INTO t (a, b) VALUES ",
        "(?, ?)",
        " ON CONFLICT DO NOTHING",
    )
    assert bulk_insert.values_row("INSERT INTO t (a, b) VALUES (?, CURRENT_TIMESTAMP)", 1) is None
    assert bulk_insert.values_row("INSERT INTO t DEFAULT VALUES", 0) is None
    row_sql = bulk_insert.values_row(plain, 2)
    assert row_sql is not None
    assert bulk_insert.padded_rows_sql(row_sql, 2) == (
        "INSERT INTO t (a, b) SELECT column2, column3 FROM (VALUES (?, ?, ?), (?, ?, ?)) "
        "WHERE column1 IS NOT NULL ON CONFLICT DO NOTHING"
    )
