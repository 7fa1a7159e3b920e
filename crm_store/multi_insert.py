"""Several tables' batched INSERTs as one PostgreSQL statement (issue 11).

The consumer writes a batch into up to a dozen tables, each one `INSERT … SELECT * FROM
unnest(…)` (`bulk_insert`). On PostgreSQL every statement is a round trip with its
own fixed cost, about 0.4 to 0.6 ms of wall time on a two-core machine whatever its row
count (`bench.consumer_cpu --store postgresql --sql-times`: the lead INSERT took
1.5 ms for 30 rows and 15 ms for 500), so at a steady rate, in batches of tens,
those fixed costs were most of a batch's time in the store. Here the tables' INSERTs
go as one statement, each but the last a data-modifying `WITH` item:

    WITH w1 AS (INSERT INTO contact … unnest($1, …)), w2 AS (…) INSERT INTO lead …

PostgreSQL runs every part in the same snapshot and checks foreign keys, and fires
AFTER triggers (the member loads', migration 0019; the counters', 0014), at the end
of the whole statement, once every row is in: parents and children may come in any
order. A BEFORE trigger, though, runs as its row goes in, and sees none of the
statement's other rows: a table whose BEFORE trigger reads another must be inserted
by a later call than that table (activity after lead, `intake_write.write_intake`).
SQLite has no round trip to save (`inline_sqlite` runs its calls on the loop's
thread), so there, and wherever a table's rows cannot go through `bulk_insert`'s
arrays, each table is inserted on its own as before. Imports nothing of ours outside
`crm_store`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import bulk_insert, core

# `bulk_insert.unnest_insert`'s placeholders: `$n::type[]`, numbered from 1; nothing
# else in its text (table and column names of our schema) holds a `$`.
_PLACEHOLDER = re.compile(r"\$(\d+)::")


@dataclass(frozen=True, slots=True)
class TableRows:
    """One table's rows of a batch, as column-name dicts (see `bulk_insert`)."""

    table: Table
    rows: Sequence[Mapping[str, Any]]
    skip_existing: bool = False


async def insert_tables(session: AsyncSession, parts: Sequence[TableRows]) -> None:
    """Insert every part's rows in the session's transaction: on PostgreSQL in one
    statement, elsewhere (or when a part does not fit) one table after another, in
    the order given."""
    parts = [part for part in parts if part.rows]
    if not parts:
        return
    connection = await core.connection(session)
    arrays = _as_arrays(connection.dialect, parts) if len(parts) > 1 else None
    if arrays is None:
        for part in parts:
            await bulk_insert.insert_rows(
                session, part.table, part.rows, skip_existing=part.skip_existing
            )
        return
    statements, columns = arrays
    await connection.exec_driver_sql(combined_sql(statements), columns)


def _as_arrays(
    dialect: Dialect, parts: Sequence[TableRows]
) -> tuple[tuple[str, ...], tuple[list[Any], ...]] | None:
    """Each part's `INSERT … unnest(…)` and its arrays, or None when one part has none
    (another dialect, or rows `bulk_insert` leaves to SQLAlchemy)."""
    statements: list[str] = []
    columns: list[tuple[list[Any], ...]] = []
    for part in parts:
        compiled = bulk_insert.compile_insert(
            dialect, part.table, tuple(part.rows[0]), part.skip_existing
        )
        if compiled is None or compiled.arrays_sql is None:
            return None
        params = bulk_insert.parameters(compiled, part.rows)
        if params is None:
            return None
        statements.append(compiled.arrays_sql)
        columns.append(bulk_insert.columns_of(params))
    return tuple(statements), tuple(chain.from_iterable(columns))


@lru_cache(maxsize=256)
def combined_sql(statements: tuple[str, ...]) -> str:
    """The statements as one: all but the last as `WITH` items, placeholders numbered
    on from one statement to the next. Cached: a batch's mix of tables repeats."""
    numbered: list[str] = []
    offset = 0
    for sql in statements:
        numbered.append(_renumbered(sql, offset))
        offset += len(_PLACEHOLDER.findall(sql))
    *items, last = numbered
    if not items:
        return last
    with_items = ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(items, start=1))
    return f"WITH {with_items} {last}"


def _renumbered(sql: str, offset: int) -> str:
    return _PLACEHOLDER.sub(lambda m: f"${int(m[1]) + offset}::", sql)
