"""The edge journal's writer: one SQLite connection on one thread, with group commit.

`JournalWriter` owns this process's only connection to the journal file. `append`
queues an entry; the thread takes every append queued meanwhile into the same
transaction (group commit: one fsync for the group, with `synchronous=FULL`) and
resolves each caller's future only after COMMIT, or with `WriteFailed` after a
rollback. `call` runs any other statement on the same thread, in queue order, so
reads see every earlier commit. The SQL helpers the journal's queries share live
here too. Imports nothing of ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_GROUP = 2000  # appends per transaction; bounds the latency of the first in a group
_CHUNK = 500  # keys per IN (...) list, under SQLite's variable limit
# How long a group waits for more appends once the queue is empty (see `_group`).
GROUP_LINGER_S = 0.002

SCHEMA = """
CREATE TABLE IF NOT EXISTS entry (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    kafka_key BLOB,
    value BLOB NOT NULL,
    size INTEGER NOT NULL,
    appended_at REAL NOT NULL,
    published_at REAL,
    publish_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS entry_published ON entry (published_at, seq);
CREATE TABLE IF NOT EXISTS confirm_cursor (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""


class WriteFailed(Exception):
    """The transaction was rolled back: nothing of it was recorded."""


@dataclass(slots=True)
class Appended:
    """One queued append; `added` is False when the key was already held."""

    key: str
    kafka_key: bytes | None
    value: bytes
    at: float
    future: asyncio.Future[bool]
    added: bool = False


@dataclass(slots=True)
class _Call:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]


_STOP = object()


class JournalWriter:
    """`start()`, then `append`/`call` from the event loop, then `close()`."""

    def __init__(
        self,
        path: Path,
        on_commit: Callable[[list[Appended]], None],
        *,
        linger_s: float = GROUP_LINGER_S,
    ) -> None:
        self.path = path
        self._linger_s = linger_s
        self._on_commit = on_commit  # runs on the loop, before the callers wake
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name=f"journal-{self.path.name}", daemon=True
        )
        self._thread.start()
        try:
            await ready
        except BaseException:
            await asyncio.to_thread(self._thread.join)
            raise

    async def close(self) -> None:
        """Commit what is queued, then close the connection."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(thread.join)

    def append(self, key: str, kafka_key: bytes | None, value: bytes, at: float) -> Appended:
        assert self._loop is not None, "start() first"
        future: asyncio.Future[bool] = self._loop.create_future()
        # A caller cancelled meanwhile (client gone) never reads the outcome: mark it read.
        future.add_done_callback(_consume_outcome)
        item = Appended(key, kafka_key, value, at, future)
        self._queue.put(item)
        return item

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._loop is None or self._thread is None:
            raise RuntimeError("the journal is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put(_Call(fn, future))
        return await future

    # ---- on the thread ---------------------------------------------------------------

    def _run(self, ready: asyncio.Future[None]) -> None:
        try:
            conn = connect(self.path)
        except Exception as exc:  # report to start(), which raises it
            self._resolve(ready, error=exc)
            return
        self._resolve(ready, None)
        try:
            pending: object | None = None
            durable = True  # connect() leaves synchronous=FULL
            while True:
                item = pending if pending is not None else self._queue.get()
                pending = None
                if item is _STOP:
                    break
                if isinstance(item, Appended):
                    group, pending = self._group(item)
                    if not durable:
                        durable = _synchronous(conn, full=True)
                    self._commit(conn, group)
                elif isinstance(item, _Call):
                    if durable:
                        # Only appends must survive a power cut: a lost "published" mark or
                        # deletion just publishes an entry again, and the idempotency key
                        # drops the repeat. So the relay's writes skip the fsync.
                        durable = _synchronous(conn, full=False)
                    try:
                        result = item.fn(conn)
                    except Exception as exc:
                        self._resolve(item.future, error=exc)
                    else:
                        self._resolve(item.future, result)
        finally:
            conn.close()
            self._fail_queued()

    def _group(self, first: Appended) -> tuple[list[Appended], object | None]:
        """The appends to commit with `first`, and the next other item if one came.

        Takes what is queued, then, once the queue is empty, sleeps out `linger_s`
        and takes what came meanwhile. Below capacity appends come one at a time, and
        a commit each (its fsync, a thread wake-up, a hand-back to the loop) was most
        of the journal's CPU per inquiry at a steady 1,000/s; a couple of ms gathers
        several. Sleeping rather than waiting on the queue matters: a `put` that
        wakes a waiting thread costs the loop's thread tens of µs here."""
        group = [first]
        deadline = time.monotonic() + self._linger_s
        while len(group) < MAX_GROUP:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                time.sleep(left)
                continue
            if not isinstance(nxt, Appended):
                return group, nxt
            group.append(nxt)
        return group, None

    def _commit(self, conn: sqlite3.Connection, group: list[Appended]) -> None:
        try:
            with transaction(conn):
                for a in group:
                    cur = conn.execute(
                        "INSERT OR IGNORE INTO entry "
                        "(idempotency_key, kafka_key, value, size, appended_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (a.key, a.kafka_key, a.value, len(a.value), a.at),
                    )
                    a.added = cur.rowcount == 1
        except Exception as exc:
            log.exception("the edge journal could not commit %d entries", len(group))
            failure = WriteFailed(f"the edge journal could not commit: {exc}")
            for a in group:
                self._resolve(a.future, error=failure)
            return
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(self._committed, group)

    def _committed(self, group: list[Appended]) -> None:
        self._on_commit(group)
        for a in group:
            if not a.future.done():
                a.future.set_result(a.added)

    def _resolve(
        self, future: asyncio.Future[Any], result: Any = None, *, error: BaseException | None = None
    ) -> None:
        def settle() -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(settle)

    def _fail_queued(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, Appended | _Call):
                self._resolve(item.future, error=WriteFailed("the journal is closed"))


def connect(path: Path) -> sqlite3.Connection:
    # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: the WAL is fsynced at every commit, so an acknowledged entry survives a power cut.
    conn.execute("PRAGMA synchronous=FULL")
    # Statement journals in memory: a statement changing many rows (confirmations,
    # publications) spilled its journal past 64 KiB to a new file (issue 11).
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.executescript(SCHEMA)
    return conn


def _synchronous(conn: sqlite3.Connection, *, full: bool) -> bool:
    # In WAL mode NORMAL commits without an fsync; the next FULL commit syncs the WAL,
    # frames of earlier NORMAL commits included.
    conn.execute(f"PRAGMA synchronous={'FULL' if full else 'NORMAL'}")
    return full


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def depth(conn: sqlite3.Connection) -> tuple[int, int, float | None]:
    """(entries, bytes, appended_at of the oldest) as the file holds them now."""
    count, total = conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM entry").fetchone()
    return int(count), int(total), oldest(conn)


def oldest(conn: sqlite3.Connection) -> float | None:
    # The first by seq: appends are stamped in queue order, so it is the oldest.
    row = conn.execute("SELECT appended_at FROM entry ORDER BY seq LIMIT 1").fetchone()
    return None if row is None else float(row[0])


def chunks(items: Sequence[T]) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def marks(chunk: Sequence[object]) -> str:
    return ",".join("?" * len(chunk))


def _consume_outcome(future: asyncio.Future[bool]) -> None:
    if not future.cancelled():
        future.exception()
