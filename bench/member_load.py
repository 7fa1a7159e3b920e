"""What reading the members' load costs as the store fills, before and after 0019.

Run `python -m bench.member_load [--store sqlite|postgresql] [--leads 1000000]`. It
migrates a fresh store to 0018 (a temp SQLite file, or a PostgreSQL database it
creates and drops), seeds one team of three managers, preloads N old leads with
bench.preload (all open, as the growth run leaves them, unless `--closed-share`),
then upgrades to head (0019's backfill, timed) and checks the kept rows against the
GROUP BY. Then it times `team_reads.load_teams` (what every consumer batch and watcher
pass runs, with the team lock on PostgreSQL), alternately: A with the GROUP BY over
leads and activities that it ran before 0019 (`member_load.recount_loads`, the same
statements), B as it is now (the kept rows); A B A B, and prints the medians. Wall
time per call: the work is in the database (on PostgreSQL another process).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bench.consumer_cpu import seed
from bench.e2e import postgres_store
from bench.preload import preload
from crm_store import member_load, team_reads
from crm_store.database import Database, open_database
from crm_store.migrate import upgrade_async

Loads = Callable[
    [AsyncSession, Sequence[int], datetime], Coroutine[Any, Any, dict[int, tuple[int, int, int]]]
]


async def _load_teams(db: Database, loads: Loads) -> float:
    """One `load_teams` in its own transaction, with `loads` as its member-load read."""
    kept = member_load.loads
    member_load.loads = loads  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        async with db.sessions() as session, session.begin():
            await team_reads.load_teams(
                session, lock=db.dialect == "postgresql", now=datetime.now(UTC)
            )
        return time.perf_counter() - started
    finally:
        member_load.loads = kept


async def measure(url: str, leads: int, reps: int, closed_share: float) -> dict[str, float]:
    await upgrade_async(url, "0018")
    async with open_database(url) as db:
        await seed(db)
    started = time.perf_counter()
    await preload(url, leads, closed_share=closed_share)
    preload_s = time.perf_counter() - started
    started = time.perf_counter()
    await upgrade_async(url)
    backfill_s = time.perf_counter() - started
    async with open_database(url) as db:
        async with db.sessions() as session:
            wrong = await member_load.drift(session)
        if any(wrong.values()):
            raise RuntimeError(f"kept rows disagree with the GROUP BY: {wrong}")
        before: list[float] = []
        after: list[float] = []
        for _ in range(reps):
            before.append(await _load_teams(db, member_load.recount_loads))
            after.append(await _load_teams(db, member_load.loads))
    return {
        "preload_s": preload_s,
        "backfill_s": backfill_s,
        "before_ms": statistics.median(before) * 1e3,
        "after_ms": statistics.median(after) * 1e3,
    }


async def with_store(store: str, leads: int, reps: int, closed_share: float) -> dict[str, float]:
    if store == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'b.db'}"
            return await measure(url, leads, reps, closed_share)
    async with postgres_store("postgresql://postgres@127.0.0.1:5432/postgres") as pg:
        return await measure(pg.url, leads, reps, closed_share)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.member_load")
    p.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--leads", type=int, default=1_000_000)
    p.add_argument("--reps", type=int, default=21)
    p.add_argument("--closed-share", type=float, default=0.0, help="preloaded leads closed")
    a = p.parse_args()
    r = asyncio.run(with_store(a.store, a.leads, a.reps, a.closed_share))
    print(
        f"{a.store}: {a.leads:,} leads ({a.closed_share:.0%} closed),"
        f" preload {r['preload_s']:.0f} s, 0019 backfill {r['backfill_s']:.1f} s;"
        f" load_teams median of {a.reps}:"
        f" GROUP BY {r['before_ms']:.2f} ms, kept rows {r['after_ms']:.2f} ms"
    )


if __name__ == "__main__":
    main()
