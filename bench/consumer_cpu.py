"""The ingest consumer alone: CPU µs per inquiry, split by component.

Run `python -m bench.consumer_cpu [--store sqlite|postgresql] [--n 5000]`. It starts
the embedded broker, migrates a fresh store (a temp SQLite file, or a PostgreSQL
database it creates and drops), seeds one team of three managers without a cap,
produces N web-form inquiries with unique senders, then runs one `InquiryConsumer`
until the topic is drained, under cProfile. It prints the process CPU seconds per
inquiry (this process only: the broker and PostgreSQL are other processes) and the
cumulative CPU of the consumer's components (cProfile's overhead inflates them by
roughly the same factor, so read them as shares). The HTTP edge is not in this run;
`bench.e2e` measures the whole path.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from crm_store import accounts
from crm_store.database import Database, open_database
from crm_store.migrate import upgrade_async
from ingest.consumer import ConsumerConfig, InquiryConsumer
from ingest.contract import Channel, ClientInfo, Inquiry, Routing, Sender, Topics
from leadflow.broker import EmbeddedBroker, create_topics

# (label, file suffix, function name): cumulative CPU of each component.
COMPONENTS = (
    ("decoding", "ingest/decoding.py", "decode"),
    ("snapshot reads", "ingest/batch_store.py", "_snapshot"),
    ("deciding", "ingest/pipeline.py", "plan_batch"),
    ("building rows", "ingest/records.py", "rows_for"),
    ("inserts", "crm_store/intake.py", "write_intake"),
    ("whole store transaction", "ingest/batch_store.py", "write"),
    ("confirmations", "ingest/consumer.py", "_confirm"),
    ("outbox", "ingest/consumer.py", "publish_outbox"),
    ("offset commit", "ingest/kafka_pair.py", "commit"),
)


def inquiry(i: int, run: str) -> Inquiry:
    return Inquiry(
        id=uuid.uuid4(),
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


async def consume(
    url: str, n: int, profile: cProfile.Profile | None, max_batch: int = 500
) -> tuple[float, float]:
    run = uuid.uuid4().hex[:8]
    async with EmbeddedBroker() as broker:
        topics = Topics(prefix=f"bench{run}")
        await create_topics(broker.bootstrap_servers, topics)
        await upgrade_async(url)
        async with open_database(url) as db:
            await seed(db)
            await produce(broker.bootstrap_servers, topics.inquiries, n, run)
            config = ConsumerConfig(
                bootstrap_servers=broker.bootstrap_servers, topics=topics, max_batch=max_batch
            )
            async with InquiryConsumer(config, db) as consumer:
                cpu0, wall0 = time.process_time(), time.monotonic()
                if profile:
                    profile.enable()
                handled = await consumer.run(until_idle=True, max_messages=n)
                if profile:
                    profile.disable()
                cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    if handled != n:
        raise RuntimeError(f"handled {handled} of {n}")
    return cpu, wall


async def with_store(
    store: str, n: int, profile: cProfile.Profile | None, max_batch: int = 500
) -> tuple[float, float]:
    if store == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'b.db'}"
            return await consume(url, n, profile, max_batch)
    name = f"bench_consumer_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
            return await consume(url, n, profile, max_batch)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


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
    a = p.parse_args()
    profile = None if a.no_profile else cProfile.Profile()
    cpu, wall = asyncio.run(with_store(a.store, a.n, profile, a.max_batch))
    print(
        f"{a.store}: {a.n} inquiries, batches of ≤ {a.max_batch}, "
        f"{cpu / a.n * 1e6:,.0f} µs CPU each, {a.n / wall:,.0f}/s"
    )
    if profile:
        for label, us in components(profile, a.n):
            print(f"  {label:<24} {us:7,.0f} µs (under cProfile)")
        if a.dump:
            profile.dump_stats(a.dump)


if __name__ == "__main__":
    main()
