"""Engine and session factory for SQLite (embedded default) and PostgreSQL.

The caller owns the engine: `open_database(url)` is an async context manager that
disposes it on exit. No module-level engines.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from crm_store.inline_sqlite import inline_connector
from crm_store.types import json_serializer

# How long a write waits for another writer's lock before it fails.
SQLITE_BUSY_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, busy_timeout_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the console read while the consumer writes; NORMAL is durable in WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    # 64 MiB of page cache (the default is 2 MiB): a batch inserts random UUID keys
    # into about a dozen indexes, and once they outgrow the cache nearly every row
    # re-reads its leaf pages; at 200,000 leads this halved the consumer's SQL time
    # (issue 11). A ceiling per connection, filled only as pages are read.
    cursor.execute("PRAGMA cache_size=-65536")
    # Statement journals in memory, not in files: an INSERT into a table with
    # triggers (lead, activity) or of many rows keeps one, so that it can be undone
    # alone, and past 64 KiB SQLite spilled it to a new file in /var/tmp, created,
    # written page by page and unlinked per statement: about 14 writes per inquiry
    # in batches of 26 (issue 11). Sorts and temporary tables stay in memory too.
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()
    # SQLite's own lower() folds ASCII only; searches must find "Ольга" as "ольга",
    # as PostgreSQL's lower() does.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    inline: bool = False,
    pre_ping: bool = True,
) -> AsyncEngine:
    """`inline`: on SQLite, make the calls on the event loop's thread
    (`crm_store.inline_sqlite`); only for a process whose loop serves no one waiting.

    `pre_ping`: on PostgreSQL, test each connection as it leaves the pool, so that one
    the server dropped (a restart) is replaced before a statement fails on it. The
    test is three round trips (BEGIN, an empty query, ROLLBACK) per checkout; a
    process whose every use of the store retries a failed transaction (`serve
    ingest`) goes without (issue 11)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        file = parsed.database
        if file and file != ":memory:":
            Path(file).parent.mkdir(parents=True, exist_ok=True)
        if inline and file and file != ":memory:":
            engine = create_async_engine(
                url,
                echo=echo,
                async_creator=inline_connector(file, busy_timeout_s=SQLITE_BUSY_TIMEOUT_S),
                json_serializer=json_serializer,
            )
            busy_ms = 0
        else:
            engine = create_async_engine(
                url,
                echo=echo,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
                json_serializer=json_serializer,
            )
            busy_ms = int(SQLITE_BUSY_TIMEOUT_S * 1000)
        event.listen(
            engine.sync_engine, "connect", partial(_sqlite_pragmas, busy_timeout_ms=busy_ms)
        )
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,
        json_serializer=json_serializer,
    )


@asynccontextmanager
async def open_database(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    inline: bool = False,
    pre_ping: bool = True,
) -> AsyncIterator[Database]:
    engine = create_engine(url, pool_size=pool_size, echo=echo, inline=inline, pre_ping=pre_ping)
    try:
        yield Database(engine, async_sessionmaker(engine, expire_on_commit=False))
    finally:
        await engine.dispose()
