"""SQLite calls made on the loop's thread (`crm_store.inline_sqlite`, what
`leadflow serve ingest` uses) wait for another writer's lock without freezing the loop.

SQLite-only by nature: PostgreSQL's driver is asynchronous already.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from crm_store.database import open_database
from crm_store.inline_sqlite import inline_connector

from .channel_helpers import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(20)]


def _holder(path: Path) -> sqlite3.Connection:
    """Another writer (as another process would be) holding the write lock."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS note (body TEXT)")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO note VALUES ('held')")
    return conn


async def test_a_write_waits_for_the_lock_while_the_loop_runs_on(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    holder = _holder(path)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    loop = asyncio.get_running_loop()
    async with open_database(f"sqlite+aiosqlite:///{path}", inline=True) as db:
        ticker = asyncio.create_task(tick())
        # Released from the loop: were the waiting write to block the loop (SQLite's own
        # busy handler), the release would never come and the write would fail.
        loop.call_later(0.3, holder.commit)
        ticks_before = ticks
        async with db.engine.begin() as conn:
            await conn.execute(text("INSERT INTO note VALUES ('inline')"))
        ticker.cancel()
        assert ticks - ticks_before >= 5, "the loop stood still while the write waited"
        async with db.engine.connect() as conn:
            bodies = (await conn.execute(text("SELECT body FROM note ORDER BY rowid"))).scalars()
            assert list(bodies) == ["held", "inline"]
    holder.close()


async def test_a_lock_held_past_the_timeout_fails_as_locked(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    holder = _holder(path)
    conn = await inline_connector(str(path), busy_timeout_s=0.2)()
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await conn.execute("INSERT INTO note VALUES ('inline')")
        holder.commit()
        await conn.execute("INSERT INTO note VALUES ('inline')")
        await conn.commit()
    finally:
        await conn.close()
        holder.close()
    check = sqlite3.connect(path)
    assert [r[0] for r in check.execute("SELECT body FROM note ORDER BY rowid")] == [
        "held",
        "inline",
    ]
    check.close()


async def test_other_errors_are_not_waited_on(tmp_path: Path) -> None:
    conn = await inline_connector(str(tmp_path / "store.db"), busy_timeout_s=30)()
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await asyncio.wait_for(conn.execute("SELECT * FROM missing"), 5)
    finally:
        await conn.close()


async def test_the_wal_is_checkpointed_off_the_committing_thread(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    blob = b"x" * 3000  # one page each: 2,000 rows are twice SQLite's usual checkpoint
    async with open_database(f"sqlite+aiosqlite:///{path}", inline=True) as db:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE note (body BLOB)"))
        await asyncio.sleep(0.5)  # past that commit's own background checkpoint
        size_before = path.stat().st_size
        async with db.engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO note VALUES (:b)"), [{"b": blob} for _ in range(2000)]
            )
        # Past 1,000 pages SQLite's own checkpoint would have copied them into the
        # file in that commit, on this thread: it is left to the checkpointer's thread.
        assert path.stat().st_size < size_before + 1_000_000
        await eventually(
            lambda: path.stat().st_size > size_before + 6_000_000, what="a background checkpoint"
        )
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM note"))).scalar() == 2000


def _spilled_journals() -> int:
    """This process's open files that are SQLite's temporary files (unlinked, named
    `etilqs_…`): where a statement journal goes once it outgrows 64 KiB of memory."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            count += "etilqs_" in os.readlink(fd)
        except OSError:  # closed since listed
            continue
    return count


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "aiosqlite"])
async def test_a_large_statement_keeps_its_journal_in_memory(tmp_path: Path, inline: bool) -> None:
    """An INSERT into a table with a trigger journals every page it changes, so that it
    can be undone alone; past 64 KiB SQLite used to spill that journal to a new file
    per statement, which the consumer's batch inserts did on every batch (issue 11)."""
    seen: list[int] = []

    def probe() -> int:
        seen.append(_spilled_journals())
        return 0

    path = tmp_path / "store.db"
    async with open_database(f"sqlite+aiosqlite:///{path}", inline=inline) as db:
        async with db.engine.begin() as conn:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.create_function("probe", 0, probe)  # type: ignore[union-attr]
            await conn.execute(text("CREATE TABLE note (body TEXT)"))
            await conn.execute(text("CREATE INDEX ix_note_body ON note (body)"))
            await conn.execute(text(_ROWS.format(n=3000)))
        async with db.engine.begin() as conn:
            # Random keys change most of the index's existing pages: ~300 KiB journaled.
            await conn.execute(
                text("CREATE TRIGGER note_probe AFTER INSERT ON note BEGIN SELECT probe(); END")
            )
            await conn.execute(text(_ROWS.format(n=3000)))
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM note"))).scalar() == 6000
    assert len(seen) == 3000
    assert max(seen) == 0, "a statement journal was spilled to a file"


_ROWS = """INSERT INTO note (body)
WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < {n})
SELECT hex(randomblob(40)) FROM r"""
