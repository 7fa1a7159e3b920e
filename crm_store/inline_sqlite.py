"""SQLite calls made on the event loop's own thread, for a process that only ingests.

aiosqlite runs every call on a worker thread and hands the result back through the
event loop: a queue put, a thread wake-up, the GIL passed twice and a self-pipe write
per call. A consumer batch makes about a hundred such calls (execute, fetch, close,
per statement), and at small batches that hand-off was over a third of the batch's
CPU (issue 11: 19.2 → 12.3 ms per batch of one inquiry, 3.0 → 1.8 ms per inquiry in
batches of ten). SQLite's own work per call is microseconds, so `InlineConnection`
makes the call directly instead.

The price is that a call blocks the loop while it runs, so this is only for a
process whose loop serves no one waiting (`leadflow serve ingest`), and a lock must
never be waited for on the loop: SQLite's busy handler would freeze the loop, and
with it the very transaction (on this process, awaiting a broker's acknowledgement)
that holds the lock. So the busy timeout is 0 and `_execute` waits for a busy lock
by sleeping on the loop, as the busy handler would have slept on the thread, for
at most `busy_timeout_s` in all.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import aiosqlite

# SQLITE_BUSY and SQLITE_BUSY_RECOVERY: nothing was done, the call can be made again.
# Not SQLITE_BUSY_SNAPSHOT: a stale read snapshot stays stale, so it is raised at once,
# as SQLite itself does without calling the busy handler.
_RETRYABLE = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY_RECOVERY})
_FIRST_PAUSE_S = 0.0005
_LONGEST_PAUSE_S = 0.02


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run on the caller's thread; its worker
    thread only opens and closes the sqlite3 connection."""

    def __init__(
        self, connector: Callable[[], sqlite3.Connection], *, busy_timeout_s: float
    ) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._busy_timeout_s = busy_timeout_s

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        deadline: float | None = None
        pause = _FIRST_PAUSE_S
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode not in _RETRYABLE:
                    raise
                now = asyncio.get_running_loop().time()
                if deadline is None:
                    deadline = now + self._busy_timeout_s
                if now >= deadline:
                    raise
            await asyncio.sleep(min(pause, deadline - now))
            pause = min(pause * 2, _LONGEST_PAUSE_S)


def inline_connector(
    path: str, *, busy_timeout_s: float
) -> Callable[[], Awaitable[InlineConnection]]:
    """An `async_creator` for SQLAlchemy's aiosqlite dialect."""

    async def connect() -> InlineConnection:
        # check_same_thread=False: opened on the worker thread, used on the loop's.
        # timeout=0: a busy lock is waited for by `_execute`, never inside SQLite.
        opener = partial(sqlite3.connect, path, check_same_thread=False, timeout=0)
        conn = InlineConnection(opener, busy_timeout_s=busy_timeout_s)
        # Awaiting starts the worker thread, which opens the sqlite3 connection.
        opened = await conn
        assert opened is conn
        return conn

    return connect
