"""The edge journal: every accepted inquiry is on local disk before its source is acknowledged.

`EdgeJournal` is a SQLite file in WAL mode with `synchronous=FULL`, written by one
dedicated thread (`journal_writer`). Appends that arrive while the thread is
committing are taken together into the next transaction (group commit), so
throughput grows with concurrency while each caller still returns only after ITS
entry is committed and fsynced. It has the `publish(inquiry)` of `Publisher`, so
any connector may be handed it (`InquirySink`). The `Relay` (connectors/relay.py)
publishes the entries to Kafka and deletes them when the store confirms them.

A bound (bytes held, age of the oldest unconfirmed entry) makes `publish` raise
`JournalFull` at once, before anything is written; every other failure also raises
before the commit. Both subclass `PublishFailed`, so the edges answer 503, which
then always means nothing was recorded. Imports nothing of ours but the contract.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from ingest.contract import Inquiry

from .journal_writer import (
    GROUP_LINGER_S,
    Appended,
    JournalWriter,
    WriteFailed,
    chunks,
    depth,
    marks,
    oldest,
    transaction,
)
from .latency import LatencyBuckets
from .publisher import PublishFailed

T = TypeVar("T")


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
    appended_at: float


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


class EdgeJournal:
    """An async context manager over `<path>`; `publish` returns once the entry is durable."""

    def __init__(
        self,
        path: Path,
        *,
        bound: JournalBound = JournalBound(),
        clock: Callable[[], float] = time.time,
        group_linger_s: float = GROUP_LINGER_S,
    ) -> None:
        self.path = path
        self.bound = bound
        self._clock = clock
        self._writer = JournalWriter(path, self._after_commit, linger_s=group_linger_s)
        self._entered = False
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
        # Seconds from each append to the moment its caller wakes after the fsynced commit.
        self.fsynced = LatencyBuckets()

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("an EdgeJournal is entered once")
        self._entered = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            await self._writer.start()
        except BaseException:
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
        await self._writer.close()

    # ---- appending -------------------------------------------------------------------

    async def publish(self, inquiry: Inquiry) -> None:
        """Journal the inquiry; returns once committed. `PublishFailed` means not recorded."""
        key, value = inquiry.to_kafka()
        await self.append(inquiry.idempotency_key, key, value)

    async def append(self, key: str, kafka_key: bytes | None, value: bytes) -> bool:
        """True when added, False when an entry with this key is already held."""
        if self._closed or not self._entered:
            raise JournalUnavailable("the journal is closed")
        self._last_size = len(value)
        reason = self.refusal(len(value))
        if reason is not None:
            self._counts["refused"] += 1
            raise JournalFull(reason)
        size = len(value)
        self._reserved += size
        try:
            queued = self._writer.append(key, kafka_key, value, self._clock())
            # Shielded: a caller that goes away does not undo a commit under way.
            return await asyncio.shield(queued.future)
        except WriteFailed as exc:
            raise JournalUnavailable(str(exc)) from exc
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
                "SELECT seq, idempotency_key, kafka_key, value, publish_count, appended_at "
                "FROM entry "
                "WHERE published_at IS NULL ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
            if len(rows) < limit and _published_before(conn, republish_before):
                rows += conn.execute(
                    "SELECT seq, idempotency_key, kafka_key, value, publish_count, appended_at "
                    "FROM entry "
                    "WHERE published_at < ? ORDER BY seq LIMIT ?",
                    (republish_before, limit - len(rows)),
                ).fetchall()
                rows.sort(key=lambda r: int(r[0]))
            return [Entry(*r) for r in rows]

        return await self._call(read)

    async def mark_published(self, entries: Sequence[Entry]) -> None:
        at = self._clock()

        def write(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                for chunk in chunks([e.seq for e in entries]):
                    conn.execute(
                        "UPDATE entry SET published_at = ?, publish_count = publish_count + 1 "
                        f"WHERE seq IN ({marks(chunk)})",
                        (at, *chunk),
                    )

        await self._call(write)
        self._counts["published"] += len(entries)
        self._counts["republished"] += sum(1 for e in entries if e.publish_count > 0)

    async def unpublish(self, keys: Iterable[str]) -> None:
        """Make these entries due now (a re-run of `leadflow import` publishes its rows)."""
        wanted = list(set(keys))

        def write(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                for chunk in chunks(wanted):
                    conn.execute(
                        "UPDATE entry SET published_at = NULL "
                        f"WHERE idempotency_key IN ({marks(chunk)})",
                        chunk,
                    )

        await self._call(write)

    async def unpublish_all(self) -> int:
        """After a restart nothing is known about what reached the broker: publish it
        all; how many entries had been published."""

        def write(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                return conn.execute(
                    "UPDATE entry SET published_at = NULL WHERE published_at IS NOT NULL"
                ).rowcount

        return await self._call(write)

    async def confirm(
        self, keys: Iterable[str], *, topic: str = "", offsets: Mapping[int, int] | None = None
    ) -> int:
        """Delete the entries with these keys (and save the confirmation cursor); how many."""
        wanted = list(set(keys))
        cursor = dict(offsets or {})

        def write(conn: sqlite3.Connection) -> tuple[int, int, float | None]:
            removed = removed_bytes = 0
            with transaction(conn):
                for chunk in chunks(wanted):
                    for (size,) in conn.execute(
                        f"DELETE FROM entry WHERE idempotency_key IN ({marks(chunk)}) "
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
            return removed, removed_bytes, oldest(conn)

        removed, removed_bytes, first = await self._call(write)
        self._counts["confirmed"] += removed
        self._set_depth(max(0, self._entries - removed), max(0, self._bytes - removed_bytes), first)
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
            with transaction(conn):
                conn.execute("DELETE FROM confirm_cursor WHERE topic = ?", (topic,))

        await self._call(write)

    async def resync(self) -> None:
        """Re-read the depth from the file (another process may write to it too)."""
        self._set_depth(*await self._call(depth))

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

    # ---- the writer thread's side -----------------------------------------------------

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise RuntimeError("the journal is closed")
        return await self._writer.call(fn)

    def _after_commit(self, group: list[Appended]) -> None:
        self.fsynced.observe_since(self._clock(), (a.at for a in group))
        added = [a for a in group if a.added]
        for a in added:
            self._entries += 1
            self._bytes += len(a.value)
            if self._oldest_at is None or a.at < self._oldest_at:
                self._oldest_at = a.at
        self._counts["appended"] += len(added)
        self._counts["duplicates"] += len(group) - len(added)
        if added:
            self.appended.set()

    def _set_depth(self, count: int, total: int, first: float | None) -> None:
        self._entries, self._bytes, self._oldest_at = count, total, first


def _published_before(conn: sqlite3.Connection, at: float) -> bool:
    """Whether any entry was last published before `at` (read off the index's end).

    The republish query orders by seq, so SQLite plans it as a scan of the whole
    table in seq order, and when nothing is due (nearly always) it reads every
    entry held, values included, in every relay round: at a depth of 8,000 entries
    1.2 ms a round, growing with the depth (issue 11). The minimum is found through
    `entry_published` at once; the scan then runs only when something is due.
    """
    (first,) = conn.execute("SELECT MIN(published_at) FROM entry").fetchone()
    return first is not None and float(first) < at
