"""Batched INSERTs without SQLAlchemy's per-row work, for the ingest consumer (issue 11).

`session.execute(insert(table), rows)` finds the compiled statement in its cache,
then builds a parameter dict per row and runs every column's bind processor through
several layers of calls (a fifth to a third of the inserts' CPU). Here a
table's INSERT is compiled once per dialect and column set (`compile_insert`), rows
become the driver's parameter tuples (`parameters`), and the driver's executemany
runs through the session's connection (`exec_driver_sql`: the same transaction,
cursor events and exception translation as `session.execute`). On PostgreSQL the
batch goes as one `INSERT … SELECT * FROM unnest(…)` with an array per column
(`unnest_insert`) rather than an executemany.

Stored values stay exactly what the columns' bind processing makes: every column
keeps SQLAlchemy's own processor, and `UTCDateTime` and `JSON` columns only put a
shortcut in front of it for the common case (an aware UTC datetime; a dict, list or
`EncodedJSON`). A batch that does not fit (a Python-side default to compute, a row
without one of the first row's keys, a value a processor rejects) goes through
`session.execute` unchanged, so SQLAlchemy decides what happens to it. Imports
nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import JSON, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from crm_store import core
from crm_store.types import EncodedJSON, UTCDateTime, json_serializer

Convert = Callable[[Any], Any]

# Rows per multi-row INSERT on SQLite, and the parameters one statement may have
# (SQLITE_MAX_VARIABLE_NUMBER: 32766 since SQLite 3.32, 999 before).
_SQLITE_ROWS_PER_INSERT = 256
_SQLITE_MAX_PARAMETERS = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999

_PROBES = (
    datetime(2026, 12, 3, 7, 30, tzinfo=UTC),
    datetime(1999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
)


@dataclass(frozen=True, slots=True)
class CompiledInsert:
    """An INSERT as the driver gets it, and how to make its parameters from a row."""

    sql: str
    # The row keys in the statement's parameter order.
    keys: tuple[str, ...]
    # Each parameter's processor, or None where the value passes as it is.
    converters: tuple[Convert | None, ...]
    # PostgreSQL: the same INSERT taking one array per column (`unnest_insert`).
    arrays_sql: str | None = None
    # SQLite: the one-row INSERT split around its row of parameters (`values_row`).
    row_sql: tuple[str, str, str] | None = None


def insert_statement(dialect_name: str, table: Table, *, skip_existing: bool = False) -> Any:
    """The statement itself; `skip_existing` leaves out rows whose key is already
    stored (ON CONFLICT DO NOTHING, which both dialects have)."""
    if not skip_existing:
        return insert(table)
    if dialect_name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


async def insert_rows(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    skip_existing: bool = False,
) -> None:
    """What `session.execute(insert_statement(...), rows)` does, with less CPU."""
    if not rows:
        return
    connection = await core.connection(session)
    dialect = connection.dialect
    compiled = compile_insert(dialect, table, tuple(rows[0]), skip_existing)
    params = parameters(compiled, rows) if compiled is not None else None
    if compiled is None or params is None:
        stmt = insert_statement(dialect.name, table, skip_existing=skip_existing)
        await session.execute(stmt, list(rows))
        return
    if compiled.arrays_sql is not None:
        await connection.exec_driver_sql(compiled.arrays_sql, columns_of(params))
        return
    if compiled.row_sql is not None:
        width = len(compiled.keys) + 1  # each row leads with its marker
        for count, start in sqlite_chunks(len(params), width):
            chunk = params[start : start + count]
            padded = padded_size(count, width)
            flat = tuple(chain.from_iterable((_REAL, *row) for row in chunk))
            if padded > count:
                flat += (None,) * ((padded - count) * width)
            await connection.exec_driver_sql(padded_rows_sql(compiled.row_sql, padded), flat)
        return
    await connection.exec_driver_sql(compiled.sql, params)


def _largest_chunk(columns: int) -> int:
    largest = _SQLITE_ROWS_PER_INSERT
    while largest > 1 and largest * columns > _SQLITE_MAX_PARAMETERS:
        largest //= 2
    return largest


def sqlite_chunks(rows: int, columns: int) -> Iterator[tuple[int, int]]:
    """(row count, first row) of each multi-row INSERT for `rows` rows: as many of the
    largest size as fit, then the rest in one (`padded_size` rounds it up)."""
    largest = _largest_chunk(columns)
    for start in range(0, rows, largest):
        yield min(largest, rows - start), start


def padded_size(rows: int, columns: int) -> int:
    """The rows of the statement that takes `rows` rows: the next power of two, so
    that a table has few statement texts (each stays in the driver's statement cache)
    and a batch still takes one statement per table (issue 11: with one per power of
    two in the count, a batch of 26 made 3 per table, each ~60 µs of fixed cost)."""
    return min(1 << (rows - 1).bit_length(), _largest_chunk(columns))


# The first value of each row of `padded_rows_sql`: a row to insert; padding has NULL.
_REAL = 1


@lru_cache(maxsize=512)
def padded_rows_sql(row_sql: tuple[str, str, str], count: int) -> str:
    """`INSERT INTO t (a, b) SELECT column2, column3 FROM (VALUES (?, ?, ?), …) WHERE
    column1 IS NOT NULL` with `count` rows, each led by a marker: 1 for a row to
    insert, NULL for padding up to `count`; `row_sql` is the one-row INSERT split
    around its row of parameters. SQLite reads a VALUES list in order, so the rows go
    in as the plain multi-row INSERT put them, and `ON CONFLICT DO NOTHING` still
    keeps the first row of a key (the WHERE clause is also what SQLite's parser needs
    before an upsert clause on an INSERT … SELECT)."""
    head, row, tail = row_sql
    columns = row.count("?")
    selected = ", ".join(f"column{n}" for n in range(2, columns + 2))
    marked = f"(?, {row[1:]}"
    return (
        f"{head.removesuffix(' VALUES ')} SELECT {selected} FROM "
        f"(VALUES {', '.join([marked] * count)}) WHERE column1 IS NOT NULL{tail}"
    )


def columns_of(params: Sequence[tuple[Any, ...]]) -> tuple[list[Any], ...]:
    """The rows' parameter tuples as one list per column: `arrays_sql`'s parameters."""
    return tuple(list(column) for column in zip(*params, strict=True))


def parameters(
    compiled: CompiledInsert, rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]] | None:
    """The driver's parameter tuples; None when a row does not fit (SQLAlchemy's own
    path then raises whatever it raises for it)."""
    # Column by column: the loops over rows run in `map` and `zip`, in C.
    columns = [
        map(itemgetter(key), rows) if convert is None else map(convert, map(itemgetter(key), rows))
        for key, convert in zip(compiled.keys, compiled.converters, strict=True)
    ]
    try:
        return list(zip(*columns, strict=True))
    except Exception:  # a missing key or a value a processor rejects: see the docstring
        return None


@lru_cache(maxsize=256)
def compile_insert(
    dialect: Dialect, table: Table, keys: tuple[str, ...], skip_existing: bool
) -> CompiledInsert | None:
    """The compiled INSERT for rows with these keys; None when this module cannot
    make its parameters exactly as SQLAlchemy would (then it is not used)."""
    if dialect.name not in ("sqlite", "postgresql") or not dialect.positional:
        return None
    if not keys or any(key not in table.c for key in keys):
        return None
    stmt = insert_statement(dialect.name, table, skip_existing=skip_existing)
    compiled = cast(
        SQLCompiler,
        stmt.compile(dialect=dialect, column_keys=list(keys), for_executemany=True),
    )
    names = tuple(compiled.positiontup or ())
    if (
        sorted(names) != sorted(keys)
        # A Python-side default (computed per row) or a bind name SQLAlchemy had to
        # escape: rare enough to leave to SQLAlchemy.
        or compiled.insert_prefetch
        or compiled.escaped_bind_names
        or compiled.literal_execute_params
        or compiled.post_compile_params
    ):
        return None
    converters: list[Convert | None] = []
    for name in names:
        processor = compiled._bind_processors.get(name)
        if processor is not None and not callable(processor):  # a tuple's processors
            return None
        converters.append(processor and _converter(table.c[name].type, processor, dialect))
    arrays_sql = unnest_insert(dialect, table, names, skip_existing)
    row_sql = values_row(compiled.string, len(names)) if dialect.name == "sqlite" else None
    return CompiledInsert(compiled.string, names, tuple(converters), arrays_sql, row_sql)


def values_row(sql: str, parameters: int) -> tuple[str, str, str] | None:
    """SQLite's one-row INSERT as (what comes before its row, the row, what follows),
    for `padded_rows_sql`; None when its row is anything but `parameters` placeholders
    (a default SQLAlchemy writes into it, say): such a table keeps the executemany.

    SQLite runs each row of an executemany as a statement of its own, and an INSERT
    trigger on the table (`lead` and `activity` have the member loads' and the
    counters') makes each statement keep a journal of every page it touches, so that
    it could be undone alone: about 24 µs of a lead's 66. One statement of many rows
    keeps one such journal for all of them (lead 66 → 29 µs a row, activity 60 → 28,
    measured with plain sqlite3 in chunks of 500). Rows are inserted in order, so
    `ON CONFLICT DO NOTHING` keeps the first row of a key as the executemany did."""
    head, marker, rest = sql.partition(" VALUES ")
    row = f"({', '.join(['?'] * parameters)})"
    tail = rest.removeprefix(row)
    if not marker or tail == rest or "VALUES" in tail.upper():
        return None
    return head + marker, row, tail


def unnest_insert(
    dialect: Dialect, table: Table, names: Sequence[str], skip_existing: bool
) -> str | None:
    """On PostgreSQL, `INSERT INTO t (a, b) SELECT * FROM unnest($1::A[], $2::B[])`:
    the batch in one statement instead of one execution per row.

    With an executemany every row is a statement of its own: its own executor start,
    and its own run of the statement-level triggers that keep the member loads
    (`0019_member_load`), a plpgsql upsert per row. One statement runs them once with
    every row in their transition table, which sums the same figures. Rows are
    inserted in order, and `ON CONFLICT DO NOTHING` skips a row whose key an earlier
    row of the same batch took, as the executemany did. None on other dialects."""
    if dialect.name != "postgresql":
        return None
    quote = dialect.identifier_preparer.quote
    arrays = ", ".join(
        f"${n}::{_array_type(table.c[name].type, dialect)}" for n, name in enumerate(names, start=1)
    )
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(name) for name in names)}) SELECT * FROM unnest({arrays})"
    )
    return sql + " ON CONFLICT DO NOTHING" if skip_existing else sql


def _converter(column_type: Any, processor: Convert, dialect: Dialect) -> Convert:
    if isinstance(column_type, UTCDateTime):
        fast = _utc_datetime(processor, sqlite=dialect.name == "sqlite")
        # The shortcut spells out what this SQLAlchemy's DATETIME bind processing does;
        # checked on a few instants so that a change there turns the shortcut off.
        return fast if all(fast(at) == processor(at) for at in _PROBES) else processor
    if type(column_type) is JSON and _json_strings_pass(column_type, dialect):
        serializer = getattr(dialect, "_json_serializer", None)
        if serializer is not None:
            return _json(processor, serializer)
    return processor


def _json_strings_pass(column_type: JSON, dialect: Dialect) -> bool:
    """Whether the JSON column hands the serializer's string to the driver as it is."""
    impl = cast(JSON, column_type.dialect_impl(dialect))
    return impl._str_impl.bind_processor(dialect) is None


def _utc_datetime(processor: Convert, *, sqlite: bool) -> Convert:
    """`UTCDateTime`'s bind processing, short for a `datetime` already in UTC.

    SQLite stores it naive, as SQLAlchemy's SQLite DATETIME writes it
    (`YYYY-MM-DD HH:MM:SS.ffffff`, which is `isoformat`'s text without its offset);
    asyncpg takes the datetime itself.
    """
    if sqlite:
        # Most datetimes of a batch are one object, its `now`: the last one written
        # is remembered with its text (a datetime is immutable, and the pair is
        # replaced as one reference, so a reader never sees half of it).
        last: tuple[object, str] = (object(), "")

        def convert_sqlite(value: Any) -> Any:
            nonlocal last
            seen, text = last
            if value is seen:
                return text
            if value.__class__ is datetime and value.tzinfo is UTC:
                text = value.isoformat(" ", "microseconds")[:26]
                last = (value, text)
                return text
            return processor(value)

        return convert_sqlite

    def convert(value: Any) -> Any:
        if value.__class__ is datetime and value.tzinfo is UTC:
            return value
        return processor(value)

    return convert


def _json(processor: Convert, serializer: Convert) -> Convert:
    """`JSON`'s bind processing, short for a plain document: the engine's serializer
    (an `EncodedJSON` as it is, when the serializer is ours)."""
    ours = serializer is json_serializer

    def convert(value: Any) -> Any:
        kind = value.__class__
        if kind is EncodedJSON and ours:
            return str.__str__(value)
        if kind is dict or kind is list:
            return serializer(value)
        return processor(value)

    return convert


def _array_type(column_type: Any, dialect: Dialect) -> str:
    """The array of the column's type, without its length: a cast to `VARCHAR(16)`
    would cut a longer value silently, where the insert must refuse it as before."""
    return re.sub(r"\(\d+(,\s*\d+)?\)", "", column_type.compile(dialect=dialect)) + "[]"
