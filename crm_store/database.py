"""Engine and session factory for SQLite (embedded default) and PostgreSQL.

The caller owns the engine: `open_database(url)` is an async context manager that
disposes it on exit. No module-level engines.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
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

from crm_store.types import json_serializer


@dataclass(frozen=True, slots=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the console read while the consumer writes; NORMAL is durable in WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 64 MiB of page cache (the default is 2 MiB): a batch inserts random UUID keys
    # into about a dozen indexes, and once they outgrow the cache nearly every row
    # re-reads its leaf pages; at 200,000 leads this halved the consumer's SQL time
    # (issue 11). A ceiling per connection, filled only as pages are read.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()
    # SQLite's own lower() folds ASCII only; searches must find "Ольга" as "ольга",
    # as PostgreSQL's lower() does.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": 30}, json_serializer=json_serializer
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        json_serializer=json_serializer,
    )


@asynccontextmanager
async def open_database(
    url: str, *, pool_size: int = 10, echo: bool = False
) -> AsyncIterator[Database]:
    engine = create_engine(url, pool_size=pool_size, echo=echo)
    try:
        yield Database(engine, async_sessionmaker(engine, expire_on_commit=False))
    finally:
        await engine.dispose()
