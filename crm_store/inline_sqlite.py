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

Nor does the loop run the WAL's checkpoints. SQLite's automatic checkpoint runs in
the connection whose commit took the WAL past 1,000 pages: copying those pages
into the database file on the loop's thread, ~10 ms every few batches at 1,000
inquiries/s, which every inquiry then waiting in the topic waited for too. A
`Checkpointer` thread with its own connection makes the same passive checkpoint
after commits instead, without the GIL (sqlite3 releases it), on the other core.
The connection keeps an automatic checkpoint at ten times the usual size as a
backstop, should that thread fall behind or fail.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

# SQLITE_BUSY and SQLITE_BUSY_RECOVERY: nothing was done, the call can be made again.
# Not SQLITE_BUSY_SNAPSHOT: a stale read snapshot stays stale, so it is raised at once,
# as SQLite itself does without calling the busy handler.
_RETRYABLE = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY_RECOVERY})
_FIRST_PAUSE_S = 0.0005
_LONGEST_PAUSE_S = 0.02
# Pages of WAL past which a commit checkpoints on the loop after all (SQLite's own
# default is 1,000): only when the `Checkpointer` has fallen behind.
BACKSTOP_PAGES = 10_000
# At most one background checkpoint per this many seconds, so one copies what a few
# batches wrote (a page written by several copied once).
CHECKPOINT_EVERY_S = 0.1


class Checkpointer:
    """Checkpoints one SQLite file's WAL on its own thread, soon after `nudge()`."""

    def __init__(self, path: str, *, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self._path = path
        self._every_s = every_s
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """A commit added pages to the WAL."""
        self._wake.set()

    def stop(self) -> None:
        """Finish after the checkpoint under way, if any; does not wait for it."""
        self._stopped = True
        self._wake.set()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, timeout=0, check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning(
                "no background checkpoints of %s (%s); commits will make them", self._path, exc
            )
            return
        try:
            while not self._stopped:
                self._wake.wait()
                time.sleep(self._every_s)  # let more commits gather into this one
                self._wake.clear()
                if not self._stopped:
                    self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            # PASSIVE: copies what no reader still needs and waits for no one.
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # busy or gone: the next commit nudges again
            log.debug("background checkpoint of %s failed: %s", self._path, exc)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run on the caller's thread; its worker
    thread only opens and closes the sqlite3 connection."""

    def __init__(
        self, connector: Callable[[], sqlite3.Connection], *, busy_timeout_s: float
    ) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._busy_timeout_s = busy_timeout_s
        self.checkpointer: Checkpointer | None = None

    async def commit(self) -> None:
        await super().commit()
        if self.checkpointer is not None:
            self.checkpointer.nudge()

    async def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        await super().close()

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
    path: str, *, busy_timeout_s: float, checkpoint_every_s: float = CHECKPOINT_EVERY_S
) -> Callable[[], Awaitable[InlineConnection]]:
    """An `async_creator` for SQLAlchemy's aiosqlite dialect; each connection has its
    `Checkpointer` (0 or less: none, SQLite's automatic checkpoints as usual)."""

    async def connect() -> InlineConnection:
        # check_same_thread=False: opened on the worker thread, used on the loop's.
        # timeout=0: a busy lock is waited for by `_execute`, never inside SQLite.
        opener = partial(sqlite3.connect, path, check_same_thread=False, timeout=0)
        conn = InlineConnection(opener, busy_timeout_s=busy_timeout_s)
        # Awaiting starts the worker thread, which opens the sqlite3 connection.
        opened = await conn
        assert opened is conn
        if checkpoint_every_s > 0:
            await conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            conn.checkpointer = Checkpointer(path, every_s=checkpoint_every_s)
        return conn

    return connect
