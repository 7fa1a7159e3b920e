"""The ingest consumer alone: CPU µs per inquiry, split by component.

Run `python -m bench.consumer_cpu [--store sqlite|postgresql] [--n 5000]`. It starts
the embedded broker, migrates a fresh store (a temp SQLite file, or a PostgreSQL
database it creates and drops), seeds one team of three managers without a cap,
with `--preload N` fills it with N old leads (`bench.preload`), produces N web-form
inquiries with unique senders, then runs one `InquiryConsumer` until the topic is
drained, under cProfile (or pyinstrument with `--pyinstrument FILE.html`).
`--sql-times` times every SQL statement the consumer runs (cursor events) and prints
the costliest ones per inquiry, to compare a fresh store with a preloaded one. The
garbage collector is set as `leadflow serve` sets it (`leadflow.collector`);
`--default-gc` keeps CPython's defaults, to measure what that saves. SQLite is
opened as `leadflow serve ingest` opens it, its calls made on the loop's thread
(`crm_store.inline_sqlite`); `--threaded-sqlite` uses aiosqlite's worker thread. It
prints the process CPU seconds per inquiry (this process only: the broker and
PostgreSQL are other processes) and the cumulative CPU of the consumer's components
(cProfile's overhead inflates them by roughly the same factor, so read them as
shares). The HTTP edge is not in this run;
`bench.e2e` measures the whole path.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import re
import shutil
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.preload import preload
from crm_store import accounts
from crm_store.database import Database, open_database
from crm_store.migrate import upgrade_async
from ingest.consumer import InquiryConsumer
from ingest.consumer_config import ConsumerConfig
from ingest.contract import Channel, ClientInfo, Inquiry, Routing, Sender, Topics
from leadflow import collector
from leadflow.broker import EmbeddedBroker, create_topics

# (label, file suffix, function name): cumulative CPU of each component.
COMPONENTS = (
    ("decoding", "ingest/decoding.py", "decode"),
    ("snapshot reads", "ingest/batch_store.py", "_snapshot"),
    ("deciding", "ingest/pipeline.py", "plan_batch"),
    ("building rows", "ingest/records.py", "rows_for"),
    ("inserts", "crm_store/intake_write.py", "write_intake"),
    ("whole store transaction", "ingest/batch_store.py", "write"),
    ("confirmations", "ingest/consumer.py", "_confirm"),
    ("outbox", "ingest/outbox_publisher.py", "publish_outbox"),
    ("offset commit", "ingest/kafka_pair.py", "commit"),
)


def inquiry(i: int, run: str) -> Inquiry:
    # The id is the contract's own (time-ordered, as the edge makes it).
    return Inquiry(
        idempotency_key=f"bench:{run}:{i}",
        channel=Channel.WEB_FORM,
        received_at=datetime.now(UTC),
        sender=Sender(
            name=f"Client {i}",
            email=f"client{i}-{run}@example.com",
            phone=f"+7912{i % 10_000_000:07d}",
        ),
        text=f"Hello, we need {i % 50 + 2} licenses for our office, please call back.",
        routing=Routing(team="Sales", form="contact"),
        client=ClientInfo(ip=f"10.{i % 250}.{i // 250 % 250}.1", user_agent="bench"),
    )


async def seed(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        team = await accounts.upsert_team(session, name="Sales", strategy="round_robin", now=now)
        for m in range(3):
            user = await accounts.upsert_user(
                session, email=f"m{m}@sales.test", name=f"Manager {m}", role="manager", now=now
            )
            await accounts.upsert_member(
                session, team_id=team, user_id=user, capacity=1_000_000_000, active=True
            )


async def produce(bootstrap: str, topic: str, n: int, run: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for i in range(n):
            key, value = inquiry(i, run).to_kafka()
            futures.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class SqlTimes:
    """Wall time and count per SQL statement (numbers and bind lists folded away)."""

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)
        self._started: list[float] = []
        self.on = False

    def attach(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, *_: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        took = time.perf_counter() - self._started.pop()
        if self.on:
            key = re.sub(r"\s+", " ", statement)
            key = re.sub(r"(\$\d+|\?|%\(\w+\)s)(, (\$\d+|\?|%\(\w+\)s))+", "…", key)
            key = re.sub(r"\(\?\)(, \(\?\))+|\(…\)(, \(…\))+", "(…)…", key)
            self.total[key] += took
            self.count[key] += 1

    def report(self, n: int, top: int = 25) -> list[str]:
        rows = sorted(self.total.items(), key=lambda kv: -kv[1])[:top]
        out = [f"  {'µs/inq':>8} {'calls':>6} {'µs/call':>8}  statement"]
        for key, total in rows:
            calls = self.count[key]
            out.append(
                f"  {total / n * 1e6:8,.1f} {calls:6} {total / calls * 1e6:8,.0f}  {key[:150]}"
            )
        out.append(f"  {sum(self.total.values()) / n * 1e6:8,.1f} in all SQL (wall)")
        return out


@dataclass
class Run:
    """What one run measures beside CPU: the optional profilers and the preload."""

    profile: cProfile.Profile | None = None
    pyinstrument: Any = None
    sql: SqlTimes | None = None
    preload: int = 0
    closed_share: float = 0.0
    sqlite_copy: Path | None = None
    default_gc: bool = False
    threaded_sqlite: bool = False


async def consume(
    url: str,
    n: int,
    profile: cProfile.Profile | None,
    max_batch: int = 500,
    run_: Run | None = None,
) -> tuple[float, float]:
    run_ = run_ or Run(profile=profile)
    run = uuid.uuid4().hex[:8]
    async with EmbeddedBroker() as broker:
        topics = Topics(prefix=f"bench{run}")
        await create_topics(broker.bootstrap_servers, topics)
        await upgrade_async(url)
        async with open_database(url, inline=not run_.threaded_sqlite, pre_ping=False) as db:
            await seed(db)
            if run_.preload:
                done = await preload(url, run_.preload, closed_share=run_.closed_share)
                print(f"preloaded {done['added']:,.0f} leads in {done['seconds']:,.0f} s")
            if run_.sql:
                run_.sql.attach(db.engine)
            await produce(broker.bootstrap_servers, topics.inquiries, n, run)
            config = ConsumerConfig(
                bootstrap_servers=broker.bootstrap_servers, topics=topics, max_batch=max_batch
            )
            async with InquiryConsumer(config, db) as consumer:
                if not run_.default_gc:
                    collector.settle()
                cpu0, wall0 = time.process_time(), time.monotonic()
                if run_.sql:
                    run_.sql.on = True
                if run_.pyinstrument:
                    run_.pyinstrument.start()
                if profile:
                    profile.enable()
                handled = await consumer.run(until_idle=True, max_messages=n)
                if profile:
                    profile.disable()
                if run_.pyinstrument:
                    run_.pyinstrument.stop()
                if run_.sql:
                    run_.sql.on = False
                cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    if handled != n:
        raise RuntimeError(f"handled {handled} of {n}")
    return cpu, wall


async def with_store(
    store: str,
    n: int,
    profile: cProfile.Profile | None,
    max_batch: int = 500,
    run_: Run | None = None,
) -> tuple[float, float]:
    if store == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'b.db'}"
            if run_ and run_.sqlite_copy:
                await _copy_store(run_, Path(tmp) / "b.db")
            return await consume(url, n, profile, max_batch, run_)
    name = f"bench_consumer_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
            return await consume(url, n, profile, max_batch, run_)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _copy_store(run_: Run, to: Path) -> None:
    """Start from a copy of `run_.sqlite_copy`, built (seeded, preloaded) if missing, so
    a store preloaded once serves many runs; the copy gets any newer migration."""
    assert run_.sqlite_copy is not None
    if not run_.sqlite_copy.exists():
        url = f"sqlite+aiosqlite:///{run_.sqlite_copy}"
        await upgrade_async(url)
        async with open_database(url) as db:
            await seed(db)
        await preload(url, run_.preload, closed_share=run_.closed_share)
    shutil.copyfile(run_.sqlite_copy, to)
    wal = run_.sqlite_copy.with_name(run_.sqlite_copy.name + "-wal")
    if wal.exists():  # committed pages not yet checkpointed into the file
        shutil.copyfile(wal, to.with_name(to.name + "-wal"))


def components(profile: cProfile.Profile, n: int) -> list[tuple[str, float]]:
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    out = []
    for label, suffix, func in COMPONENTS:
        cum = sum(v[3] for (f, _, name), v in stats.items() if f.endswith(suffix) and name == func)
        out.append((label, cum / n * 1e6))
    return out


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.consumer_cpu")
    p.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--n", type=int, default=5000)
    p.add_argument(
        "--max-batch", type=int, default=500, help="records per batch at most (small: fixed costs)"
    )
    p.add_argument("--no-profile", action="store_true", help="CPU only, no cProfile")
    p.add_argument("--dump", type=Path, help="write the cProfile stats here")
    p.add_argument("--preload", type=int, default=0, help="old leads in the store first")
    p.add_argument("--closed-share", type=float, default=0.0, help="share of them closed")
    p.add_argument(
        "--sqlite-copy",
        type=Path,
        help="run on a copy of this SQLite file (built with --preload's leads if missing)",
    )
    p.add_argument("--sql-times", action="store_true", help="time each SQL statement")
    p.add_argument(
        "--pyinstrument", type=Path, help="profile with pyinstrument (not cProfile), HTML here"
    )
    p.add_argument(
        "--default-gc", action="store_true", help="CPython's collector thresholds, no freeze"
    )
    p.add_argument(
        "--threaded-sqlite",
        action="store_true",
        help="SQLite calls on aiosqlite's worker thread, not inline as in `serve ingest`",
    )
    a = p.parse_args()
    profile = None if a.no_profile or a.pyinstrument else cProfile.Profile()
    run_ = Run(
        profile=profile,
        preload=a.preload,
        closed_share=a.closed_share,
        sqlite_copy=a.sqlite_copy,
        default_gc=a.default_gc,
        threaded_sqlite=a.threaded_sqlite,
    )
    if not a.default_gc:
        collector.tune()
    if a.sql_times:
        run_.sql = SqlTimes()
    if a.pyinstrument:
        from pyinstrument import Profiler  # a bench-only tool, not a dependency

        run_.pyinstrument = Profiler(async_mode="disabled")
    cpu, wall = asyncio.run(with_store(a.store, a.n, profile, a.max_batch, run_))
    print(
        f"{a.store} ({a.preload:,} preloaded): {a.n} inquiries, batches of ≤ {a.max_batch}, "
        f"{cpu / a.n * 1e6:,.0f} µs CPU each, {a.n / wall:,.0f}/s"
        + (" (CPython's default collector)" if a.default_gc else "")
        + (" (SQLite on a worker thread)" if a.threaded_sqlite and a.store == "sqlite" else "")
    )
    if profile:
        for label, us in components(profile, a.n):
            print(f"  {label:<24} {us:7,.0f} µs (under cProfile)")
        if a.dump:
            profile.dump_stats(a.dump)
    if run_.sql:
        print("\n".join(run_.sql.report(a.n)))
    if run_.pyinstrument:
        a.pyinstrument.write_text(run_.pyinstrument.output_html())
        print(run_.pyinstrument.output_text(show_all=False)[:20000])


if __name__ == "__main__":
    main()
