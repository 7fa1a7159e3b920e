"""The edge journal on a real SQLite file: group commit, durability, the bound, kill -9."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest

from connectors.journal import EdgeJournal, JournalBound, JournalFull, JournalUnavailable
from connectors.publisher import PublishFailed
from tests.factories import make_inquiry


def rows(path: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(path) as conn:
        return [
            (str(k), int(n))
            for k, n in conn.execute("SELECT idempotency_key, size FROM entry ORDER BY seq")
        ]


async def test_many_concurrent_appends_are_committed_in_groups(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    inquiries = [make_inquiry() for _ in range(500)]
    async with EdgeJournal(path) as journal:
        await asyncio.gather(*(journal.publish(i) for i in inquiries))
        stats = journal.stats()
    assert stats.entries == 500
    assert stats.appended == 500
    assert stats.bytes == sum(len(i.to_kafka()[1]) for i in inquiries)
    assert sorted(k for k, _ in rows(path)) == sorted(i.idempotency_key for i in inquiries)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_group_commit_takes_what_queued_meanwhile(tmp_path: Path) -> None:
    """256 callers at once need far fewer than 256 transactions: count them in the WAL."""
    path = tmp_path / "journal.sqlite3"
    async with EdgeJournal(path) as journal:
        await asyncio.gather(*(journal.publish(make_inquiry()) for _ in range(256)))
        with sqlite3.connect(path) as conn:
            # The WAL's frame count: every commit writes at least one frame (page).
            frames = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    # Each row is ~500 bytes: 256 single-row commits would write >= 256 frames of 4 KiB.
    assert frames < 256, f"{frames} WAL frames for 256 appends: no grouping happened"


async def test_appends_within_the_linger_share_one_commit(tmp_path: Path) -> None:
    """Appends a few ms apart (a steady rate below capacity) are still grouped."""
    path = tmp_path / "journal.sqlite3"

    async def publish_later(delay: float) -> None:
        await asyncio.sleep(delay)
        await journal.publish(make_inquiry())

    async with EdgeJournal(path, group_linger_s=0.5) as journal:
        await asyncio.gather(*(publish_later(i * 0.01) for i in range(10)))
        with sqlite3.connect(path) as conn:
            frames = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    # Each commit writes the pages it changed (the table's, two indexes', the sequence):
    # ten commits 50 frames or so, one commit (and the schema's) about 16.
    assert frames < 25, f"{frames} WAL frames for 10 appends 10 ms apart: no grouping"
    assert journal.stats().appended == 10


async def test_entries_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    inquiries = [make_inquiry() for _ in range(20)]
    async with EdgeJournal(path) as journal:
        for inquiry in inquiries:
            await journal.publish(inquiry)
    async with EdgeJournal(path) as journal:
        stats = journal.stats()
        entries = await journal.due(100, republish_before=0.0)
    assert stats.entries == 20
    assert stats.appended == 0, "counters are per process; depth comes from the file"
    assert [e.idempotency_key for e in entries] == [i.idempotency_key for i in inquiries]
    assert entries[0].value == inquiries[0].to_kafka()[1]


async def test_a_second_append_of_a_key_is_a_no_op(tmp_path: Path) -> None:
    inquiry = make_inquiry()
    async with EdgeJournal(tmp_path / "j.sqlite3") as journal:
        await journal.publish(inquiry)
        await journal.publish(inquiry)
        stats = journal.stats()
    assert (stats.entries, stats.appended, stats.duplicates) == (1, 1, 1)


async def test_past_the_byte_bound_publish_refuses_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    first, second = make_inquiry(), make_inquiry()
    size = len(first.to_kafka()[1])
    async with EdgeJournal(path, bound=JournalBound(max_bytes=size)) as journal:
        await journal.publish(first)
        with pytest.raises(JournalFull) as refused:
            await journal.publish(second)
        assert isinstance(refused.value, PublishFailed), "the edges turn it into a 503"
        assert journal.stats().full
        assert journal.stats().refused == 1
    assert [k for k, _ in rows(path)] == [first.idempotency_key]


async def test_past_the_age_bound_publish_refuses_until_confirmed(tmp_path: Path) -> None:
    now = [1000.0]
    path = tmp_path / "j.sqlite3"
    bound = JournalBound(max_bytes=0, max_age_s=60)
    old, new = make_inquiry(), make_inquiry()
    async with EdgeJournal(path, bound=bound, clock=lambda: now[0]) as journal:
        await journal.publish(old)
        now[0] += 61
        assert journal.stats().oldest_age_s == pytest.approx(61)
        with pytest.raises(JournalFull, match="61 s old"):
            await journal.publish(new)
        assert await journal.confirm([old.idempotency_key]) == 1
        await journal.publish(new)
        stats = journal.stats()
    assert (stats.entries, stats.confirmed, stats.oldest_age_s) == (1, 1, 0.0)
    assert [k for k, _ in rows(path)] == [new.idempotency_key]


async def test_due_gives_new_entries_then_unconfirmed_ones_to_republish(tmp_path: Path) -> None:
    now = [1000.0]
    a, b, c = make_inquiry(), make_inquiry(), make_inquiry()
    async with EdgeJournal(tmp_path / "j.sqlite3", clock=lambda: now[0]) as journal:
        for i in (a, b):
            await journal.publish(i)
        await journal.mark_published(await journal.due(10, republish_before=0.0))
        await journal.publish(c)
        assert [e.idempotency_key for e in await journal.due(10, republish_before=999)] == [
            c.idempotency_key
        ]
        now[0] += 100
        due = await journal.due(10, republish_before=now[0] - 50)
        assert [e.idempotency_key for e in due] == [i.idempotency_key for i in (a, b, c)]
        await journal.mark_published(due)
        stats = journal.stats()
        await journal.unpublish_all()
        assert len(await journal.due(10, republish_before=0.0)) == 3
    assert (stats.published, stats.republished) == (5, 2)


async def test_an_entry_is_due_again_only_once_published_strictly_before(
    tmp_path: Path,
) -> None:
    # `due` skips its republish query when no entry was published before the cut-off:
    # the boundary is the query's own (strictly before).
    now = [1000.0]
    a, b = make_inquiry(), make_inquiry()
    async with EdgeJournal(tmp_path / "j.sqlite3", clock=lambda: now[0]) as journal:
        await journal.publish(a)
        await journal.mark_published(await journal.due(10, republish_before=0.0))
        now[0] = 1010.0
        await journal.publish(b)
        await journal.mark_published(await journal.due(10, republish_before=0.0))
        assert await journal.due(10, republish_before=1000.0) == []
        assert [e.idempotency_key for e in await journal.due(10, republish_before=1000.5)] == [
            a.idempotency_key
        ]
        assert [e.idempotency_key for e in await journal.due(1, republish_before=2000.0)] == [
            a.idempotency_key
        ]


async def test_a_failed_commit_raises_and_records_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    async with EdgeJournal(path) as journal:
        # Another connection holds the write lock past the busy timeout... too slow for a
        # unit test; instead make the table refuse writes with a trigger.
        with sqlite3.connect(path) as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON entry "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        with pytest.raises(JournalUnavailable, match="disk full"):
            await journal.publish(make_inquiry())
        assert journal.stats().entries == 0
    assert rows(path) == []


async def test_closed_journal_refuses(tmp_path: Path) -> None:
    journal = EdgeJournal(tmp_path / "j.sqlite3")
    async with journal:
        pass
    await journal.close()  # twice is harmless
    with pytest.raises(JournalUnavailable):
        await journal.publish(make_inquiry())
    with pytest.raises(RuntimeError):
        async with journal:
            pass


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from connectors.journal import EdgeJournal

    async def main() -> None:
        async with EdgeJournal(Path(sys.argv[1])) as journal:
            async def writer(w: int) -> None:
                n = 0
                while True:
                    key = f"k{w}-{n}"
                    await journal.append(key, None, b"x" * 300)
                    # Acknowledged: only now may the "source" hear of it.
                    sys.stdout.write(key + "\\n")
                    sys.stdout.flush()
                    n += 1
            await asyncio.gather(*(writer(w) for w in range(16)))

    asyncio.run(main())
    """
)


async def test_every_acknowledged_entry_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    root = Path(__file__).parents[2]
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(path),
        stdout=asyncio.subprocess.PIPE,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert child.stdout is not None
    acknowledged: list[str] = []
    try:
        while len(acknowledged) < 2000:
            line = await child.stdout.readline()
            assert line, "the child stopped before it acknowledged 2000 entries"
            acknowledged.append(line.decode().strip())
        child.send_signal(signal.SIGKILL)
        # Whatever it printed between our last read and the kill counts as acknowledged too.
        rest = await child.stdout.read()
    finally:
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()
    acknowledged.extend(k for k in rest.decode().split("\n") if k)
    async with EdgeJournal(path) as journal:
        held = {e.idempotency_key for e in await journal.due(1_000_000, republish_before=0.0)}
    missing = [k for k in acknowledged if k not in held]
    assert not missing, f"{len(missing)} acknowledged entries lost, e.g. {missing[:3]}"
