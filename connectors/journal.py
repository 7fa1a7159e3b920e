"""The edge journal: every accepted inquiry is on local disk before its source is acknowledged.

`EdgeJournal` is a SQLite file in WAL mode with `synchronous=FULL`, written by one
dedicated thread. Appends that arrive while the thread is committing are taken
together into the next transaction (group commit), so throughput grows with
concurrency while each caller still returns only after ITS entry is committed and
fsynced. It has the `publish(inquiry)` of `Publisher`, so any connector may be handed
it (`InquirySink`). The `Relay` (connectors/relay.py) publishes the entries to Kafka
and deletes them when the store confirms them.

A bound (bytes held, age of the oldest unconfirmed entry) makes `publish` raise
`JournalFull` at once, before anything is written; every other failure also raises
before the commit. Both subclass `PublishFailed`, so the edges answer 503, which
then always means nothing was recorded. Imports nothing of ours but the contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from ingest.contract import Inquiry

from .publisher import PublishFailed

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_GROUP = 2000  # appends per transaction; bounds the latency of the first in a group
_CHUNK = 500  # keys per IN (...) list, under SQLite's variable limit

_SCHEMA = """
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


class JournalFull(PublishFailed):
    """The journal is past its bound (bytes or age); nothing was written."""


class JournalUnavailable(PublishFailed):
    """The journal could not commit the entry (disk, closed); nothing was recorded."""


@dataclass(frozen=True, slots=True)
class JournalBound:
    """Past either limit `publish` refuses at once; 0 means no limit of that kind."""

    max_bytes: int = 512 * 1024 * 1024
    max_age_s: float = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    idempotency_key: str
    kafka_key: bytes | None
    value: bytes
    publish_count: int


@dataclass(frozen=True, slots=True)
class JournalStats:
    entries: int
    bytes: int
    oldest_age_s: float
    full: bool
    appended: int
    duplicates: int
    refused: int
    published: int
    republished: int
    confirmed: int


@dataclass(slots=True)
class _Append:
    key: str
    kafka_key: bytes | None
    value: bytes
    at: float
    future: asyncio.Future[bool]


@dataclass(slots=True)
class _Call:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]


_STOP = object()


class EdgeJournal:
    """An async context manager over `<path>`; `publish` returns once the entry is durable."""

    def __init__(
        self,
        path: Path,
        *,
        bound: JournalBound = JournalBound(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.bound = bound
        self._clock = clock
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # Depth as this process knows it; `resync` re-reads it (another process may share
        # the file, e.g. `leadflow import` beside `leadflow up`).
        self._entries = 0
        self._bytes = 0
        self._reserved = 0
        self._oldest_at: float | None = None
        self._last_size = 1
        self._counts = dict.fromkeys(
            ("appended", "duplicates", "refused", "published", "republished", "confirmed"), 0
        )
        self.appended = asyncio.Event()  # set after each commit that added entries

    async def __aenter__(self) -> Self:
        if self._thread is not None or self._closed:
            raise RuntimeError("an EdgeJournal is entered once")
        self.path.parent.mkdir(parents=True, exist_ok=True)
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
            self._closed = True
            raise
        await self.resync()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Commit what is queued, then close the file; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(thread.join)

    # ---- appending -------------------------------------------------------------------

    async def publish(self, inquiry: Inquiry) -> None:
        """Journal the inquiry; returns once committed. `PublishFailed` means not recorded."""
        key, value = inquiry.to_kafka()
        await self.append(inquiry.idempotency_key, key, value)

    async def append(self, key: str, kafka_key: bytes | None, value: bytes) -> bool:
        """True when added, False when an entry with this key is already held."""
        if self._closed or self._loop is None:
            raise JournalUnavailable("the journal is closed")
        self._last_size = len(value)
        reason = self.refusal(len(value))
        if reason is not None:
            self._counts["refused"] += 1
            raise JournalFull(reason)
        future: asyncio.Future[bool] = self._loop.create_future()
        size = len(value)
        self._reserved += size
        try:
            self._queue.put(_Append(key, kafka_key, value, self._clock(), future))
            return await asyncio.shield(future)
        finally:
            self._reserved -= size

    def refusal(self, size: int = 0) -> str | None:
        """Why an entry of `size` bytes would be refused now, or None."""
        b = self.bound
        if b.max_bytes and self._bytes + self._reserved + size > b.max_bytes:
            return f"the edge journal holds {self._bytes} bytes, its bound is {b.max_bytes}"
        if b.max_age_s and self._oldest_at is not None:
            age = self._clock() - self._oldest_at
            if age > b.max_age_s:
                return (
                    f"the oldest unconfirmed entry is {age:.0f} s old, "
                    f"the bound is {b.max_age_s:g} s"
                )
        return None

    # ---- what the relay uses ---------------------------------------------------------

    async def due(self, limit: int, *, republish_before: float) -> list[Entry]:
        """Entries never published, then those published before `republish_before`, in order."""

        def read(conn: sqlite3.Connection) -> list[Entry]:
            rows = conn.execute(
                "SELECT seq, idempotency_key, kafka_key, value, publish_count FROM entry "
                "WHERE published_at IS NULL ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
            if len(rows) < limit:
                rows += conn.execute(
                    "SELECT seq, idempotency_key, kafka_key, value, publish_count FROM entry "
                    "WHERE published_at < ? ORDER BY seq LIMIT ?",
                    (republish_before, limit - len(rows)),
                ).fetchall()
                rows.sort(key=lambda r: int(r[0]))
            return [Entry(*r) for r in rows]

        return await self._call(read)

    async def mark_published(self, entries: Sequence[Entry]) -> None:
        at = self._clock()

        def write(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                for chunk in _chunks([e.seq for e in entries]):
                    conn.execute(
                        "UPDATE entry SET published_at = ?, publish_count = publish_count + 1 "
                        f"WHERE seq IN ({_marks(chunk)})",
                        (at, *chunk),
                    )

        await self._call(write)
        self._counts["published"] += len(entries)
        self._counts["republished"] += sum(1 for e in entries if e.publish_count > 0)

    async def unpublish(self, keys: Iterable[str]) -> None:
        """Make these entries due now (a re-run of `leadflow import` publishes its rows)."""
        wanted = list(set(keys))

        def write(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                for chunk in _chunks(wanted):
                    conn.execute(
                        "UPDATE entry SET published_at = NULL "
                        f"WHERE idempotency_key IN ({_marks(chunk)})",
                        chunk,
                    )

        await self._call(write)

    async def unpublish_all(self) -> None:
        """After a restart nothing is known about what reached the broker: publish it all."""

        def write(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.execute("UPDATE entry SET published_at = NULL WHERE published_at IS NOT NULL")

        await self._call(write)

    async def confirm(
        self, keys: Iterable[str], *, topic: str = "", offsets: Mapping[int, int] | None = None
    ) -> int:
        """Delete the entries with these keys (and save the confirmation cursor); how many."""
        wanted = list(set(keys))
        cursor = dict(offsets or {})

        def write(conn: sqlite3.Connection) -> tuple[int, int, int, float | None]:
            removed = removed_bytes = 0
            with _transaction(conn):
                for chunk in _chunks(wanted):
                    for (size,) in conn.execute(
                        f"DELETE FROM entry WHERE idempotency_key IN ({_marks(chunk)}) "
                        "RETURNING size",
                        chunk,
                    ).fetchall():
                        removed += 1
                        removed_bytes += int(size)
                conn.executemany(
                    "INSERT INTO confirm_cursor (topic, partition, next_offset) "
                    "VALUES (?, ?, ?) ON CONFLICT (topic, partition) "
                    "DO UPDATE SET next_offset = excluded.next_offset",
                    [(topic, p, o) for p, o in cursor.items()],
                )
            count, total, oldest = _depth(conn)
            return removed, count, total, oldest

        removed, count, total, oldest = await self._call(write)
        self._counts["confirmed"] += removed
        self._set_depth(count, total, oldest)
        return removed

    async def cursor(self, topic: str) -> dict[int, int]:
        """The next confirmation offset of each partition of `topic` already applied."""

        def read(conn: sqlite3.Connection) -> dict[int, int]:
            rows = conn.execute(
                "SELECT partition, next_offset FROM confirm_cursor WHERE topic = ?", (topic,)
            ).fetchall()
            return {int(p): int(o) for p, o in rows}

        return await self._call(read)

    async def forget_cursor(self, topic: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.execute("DELETE FROM confirm_cursor WHERE topic = ?", (topic,))

        await self._call(write)

    async def resync(self) -> None:
        """Re-read the depth from the file (another process may write to it too)."""
        count, total, oldest = await self._call(_depth)
        self._set_depth(count, total, oldest)

    def stats(self) -> JournalStats:
        c = self._counts
        return JournalStats(
            entries=self._entries,
            bytes=self._bytes,
            oldest_age_s=self.oldest_age_s(),
            # Full: the next entry, if like the last one offered, would be refused.
            full=self.refusal(self._last_size) is not None,
            appended=c["appended"],
            duplicates=c["duplicates"],
            refused=c["refused"],
            published=c["published"],
            republished=c["republished"],
            confirmed=c["confirmed"],
        )

    def oldest_age_s(self) -> float:
        if self._oldest_at is None:
            return 0.0
        return max(0.0, self._clock() - self._oldest_at)

    # ---- the writer thread -----------------------------------------------------------

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed or self._loop is None:
            raise RuntimeError("the journal is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put(_Call(fn, future))
        return await future

    def _run(self, ready: asyncio.Future[None]) -> None:
        try:
            conn = _connect(self.path)
        except Exception as exc:  # report to __aenter__, which raises it
            self._resolve(ready, error=exc)
            return
        self._resolve(ready, None)
        try:
            pending: object | None = None
            while True:
                item = pending if pending is not None else self._queue.get()
                pending = None
                if item is _STOP:
                    break
                if isinstance(item, _Append):
                    group = [item]
                    while len(group) < MAX_GROUP:
                        try:
                            nxt = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if isinstance(nxt, _Append):
                            group.append(nxt)
                        else:
                            pending = nxt
                            break
                    self._commit(conn, group)
                elif isinstance(item, _Call):
                    try:
                        result = item.fn(conn)
                    except Exception as exc:
                        self._resolve(item.future, error=exc)
                    else:
                        self._resolve(item.future, result)
        finally:
            conn.close()
            self._fail_queued()

    def _commit(self, conn: sqlite3.Connection, group: list[_Append]) -> None:
        added: list[bool] = []
        try:
            with _transaction(conn):
                for a in group:
                    cur = conn.execute(
                        "INSERT OR IGNORE INTO entry "
                        "(idempotency_key, kafka_key, value, size, appended_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (a.key, a.kafka_key, a.value, len(a.value), a.at),
                    )
                    added.append(cur.rowcount == 1)
        except Exception as exc:
            log.exception("the edge journal could not commit %d entries", len(group))
            failure = JournalUnavailable(f"the edge journal could not commit: {exc}")
            for a in group:
                self._resolve(a.future, error=failure)
            return
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._after_commit, group, added)

    def _after_commit(self, group: list[_Append], added: list[bool]) -> None:
        for a, new in zip(group, added, strict=True):
            if new:
                self._entries += 1
                self._bytes += len(a.value)
                if self._oldest_at is None or a.at < self._oldest_at:
                    self._oldest_at = a.at
            if not a.future.done():
                a.future.set_result(new)
        new_count = sum(added)
        self._counts["appended"] += new_count
        self._counts["duplicates"] += len(added) - new_count
        if new_count:
            self.appended.set()

    def _set_depth(self, count: int, total: int, oldest: float | None) -> None:
        self._entries, self._bytes, self._oldest_at = count, total, oldest

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
            if isinstance(item, _Append | _Call):
                self._resolve(item.future, error=JournalUnavailable("the journal is closed"))


def _connect(path: Path) -> sqlite3.Connection:
    # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: the WAL is fsynced at every commit, so an acknowledged entry survives a power cut.
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(_SCHEMA)
    return conn


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Any:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _depth(conn: sqlite3.Connection) -> tuple[int, int, float | None]:
    count, total, oldest = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(appended_at) FROM entry"
    ).fetchone()
    return int(count), int(total), None if oldest is None else float(oldest)


def _chunks(items: Sequence[T]) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _marks(chunk: Sequence[object]) -> str:
    return ",".join("?" * len(chunk))
