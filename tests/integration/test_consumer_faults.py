"""The consumer and the notifier survive their surroundings: a database that refuses
connections for a while, a broker restarted empty on the same port. Nothing is lost
and neither loop exits. Real Tansu processes of our own, real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import func, select

from crm_store.database import Database, open_database
from crm_store.migrate import upgrade
from crm_store.models import Contact, Lead, LeadEvent, OutboundRecord
from ingest.consumer import InquiryConsumer
from ingest.contract import Inquiry, Sender, Topics
from ingest.kafka_pair import KafkaPair, PairConfig
from ingest.resilience import Backoff, retry_transient
from leadflow import runtime
from leadflow.broker import create_topics
from leadflow.seed import Started
from leadflow.settings import Settings

from ..conftest import BrokerProcess, _psql, start_tansu, stop_tansu
from ..factories import make_inquiry
from .helpers import consumer_for, lead_count, notifier_for, seed_team

pytestmark = pytest.mark.integration

FAST: dict[str, Any] = {
    "backoff": Backoff(first=0.05, cap=0.5),
    "heal_interval_s": 0.5,
    "broker_deadline_s": 3.0,
}


def customers(n: int, prefix: str) -> list[Inquiry]:
    return [
        make_inquiry(
            idempotency_key=f"{prefix}:{i}",
            sender=Sender(name=f"Customer {i}", email=f"{prefix}{i}@example.com"),
        )
        for i in range(n)
    ]


class _Publishable(Protocol):
    def to_kafka(self) -> tuple[bytes, bytes]: ...


async def produce(bootstrap: str, topic: str, records: Sequence[_Publishable]) -> None:
    """Publish each (an inquiry, an outbound message) as its producer would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for record in records:
            key, value = record.to_kafka()
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def until(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 (polling the store is the point)
            await asyncio.sleep(0.1)


@pytest.fixture
def own_pg() -> Iterator[str]:
    """A PostgreSQL database of this test alone, so it may refuse connections."""
    name = f"leadflow_outage_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _psql(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    upgrade(url)
    yield name
    _psql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def own_db(own_pg: str) -> AsyncIterator[Database]:
    async with open_database(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{own_pg}") as db:
        yield db


async def test_database_refusing_connections_loses_nothing_and_the_consumer_waits(
    broker: BrokerProcess, topics: Topics, own_pg: str, own_db: Database
) -> None:
    await seed_team(own_db)
    stop = asyncio.Event()
    consumer = consumer_for(broker.bootstrap_servers, topics, own_db, **FAST)
    notifier = notifier_for(broker.bootstrap_servers, topics, own_db, **FAST)
    async with consumer, notifier:
        task = asyncio.create_task(consumer.run(stop), name="consumer")
        await produce(broker.bootstrap_servers, topics.inquiries, customers(5, "before"))
        await until(lambda: _count_is(own_db, 5))
        # Their lead events too (a moment after the commit), or the notifier would
        # have nothing that needs the store during the outage.
        await until(lambda: _events_all_published(own_db))

        _refuse_connections(own_pg)
        await produce(broker.bootstrap_servers, topics.inquiries, customers(5, "during"))
        # The notifier starts now: the lead events of the first five wait for the store.
        notifying = asyncio.create_task(notifier.run(stop), name="notifier")

        async def failing() -> bool:
            return all(
                (loop.health.trouble or "").startswith("store:") for loop in (consumer, notifier)
            )

        await until(failing)
        assert not task.done(), "the consumer keeps waiting for the store"
        assert not notifying.done(), "so does the notifier"
        assert consumer.health.stalled(0) is not None

        _psql(f'ALTER DATABASE "{own_pg}" ALLOW_CONNECTIONS true')
        await until(lambda: _count_is(own_db, 10))
        await until(lambda: _notices_at_least(own_db, "before", 5))
        await until(lambda: _notices_at_least(own_db, "during", 5))
        assert not task.done()
        assert not notifying.done()
        stop.set()
        assert await task >= 10
        assert await notifying >= 5
    assert consumer.health.trouble is None
    assert notifier.health.trouble is None


async def test_connections_the_server_dropped_cost_no_inquiry_without_a_pre_ping(
    broker: BrokerProcess, topics: Topics, own_pg: str, own_db: Database
) -> None:
    """`serve ingest` opens its store without the pool's pre-ping (three round trips
    a checkout): after PostgreSQL dropped its connections (a restart, an admin's
    pg_terminate_backend), the next batch fails on a dead one and is retried on a
    fresh one, neither lost nor dead-lettered."""
    await seed_team(own_db)
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{own_pg}"
    stop = asyncio.Event()
    async with open_database(url, pre_ping=False) as db:
        consumer = consumer_for(broker.bootstrap_servers, topics, db, **FAST)
        async with consumer:
            task = asyncio.create_task(consumer.run(stop), name="consumer")
            await produce(broker.bootstrap_servers, topics.inquiries, customers(5, "before"))
            await until(lambda: _count_is(own_db, 5))
            _psql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{own_pg}' AND pid <> pg_backend_pid()"
            )
            await produce(broker.bootstrap_servers, topics.inquiries, customers(5, "after"))
            await until(lambda: _count_is(own_db, 10))
            assert not task.done()
            stop.set()
            assert await task == 10


async def _count_is(db: Database, n: int) -> bool:
    return await lead_count(db) == n


async def _events_all_published(db: Database) -> bool:
    async with db.sessions() as session:
        waiting = await session.scalar(
            select(func.count()).select_from(LeadEvent).where(LeadEvent.published_at.is_(None))
        )
    return waiting == 0


async def test_a_database_outage_interrupted_by_stop_commits_nothing(
    broker: BrokerProcess, topics: Topics, own_pg: str, own_db: Database
) -> None:
    await seed_team(own_db)
    group = f"g-{uuid.uuid4().hex[:8]}"
    _psql(f'ALTER DATABASE "{own_pg}" ALLOW_CONNECTIONS false')
    _psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{own_pg}' AND pid <> pg_backend_pid()"
    )
    await produce(broker.bootstrap_servers, topics.inquiries, customers(3, "x"))
    stop = asyncio.Event()
    async with consumer_for(
        broker.bootstrap_servers, topics, own_db, group=group, **FAST
    ) as consumer:
        task = asyncio.create_task(consumer.run(stop), name="consumer")

        async def failing() -> bool:
            return (consumer.health.trouble or "").startswith("store:")

        await until(failing)
        stop.set()
        await asyncio.wait_for(task, 10)
    _psql(f'ALTER DATABASE "{own_pg}" ALLOW_CONNECTIONS true')
    # Nothing was committed: the same group reads the batch again and stores it.
    async with consumer_for(broker.bootstrap_servers, topics, own_db, group=group) as consumer:
        assert await consumer.run(until_idle=True) == 3
    assert await lead_count(own_db) == 3


async def test_broker_restarted_empty_consumer_and_notifier_recover(
    own_broker: BrokerProcess, db: Database
) -> None:
    await seed_team(db)
    bootstrap = own_broker.bootstrap_servers
    topics = Topics(prefix=f"r{uuid.uuid4().hex[:6]}.")
    await create_topics(bootstrap, topics, partitions=3)
    stop = asyncio.Event()
    consumer = consumer_for(bootstrap, topics, db, partitions=3, **FAST)
    notifier = notifier_for(bootstrap, topics, db, partitions=3, **FAST)
    async with consumer, notifier:
        tasks = [
            asyncio.create_task(consumer.run(stop), name="consumer"),
            asyncio.create_task(notifier.run(stop), name="notifier"),
        ]
        try:
            await _restart_broker_under(tasks, consumer, own_broker, bootstrap, topics, db)
        finally:
            stop.set()
            await asyncio.gather(*tasks)


async def _restart_broker_under(
    tasks: list[asyncio.Task[int]],
    consumer: InquiryConsumer,
    own_broker: BrokerProcess,
    bootstrap: str,
    topics: Topics,
    db: Database,
) -> None:
    await produce(bootstrap, topics.inquiries, customers(4, "before"))
    await until(lambda: _count_is(db, 4))
    await until(lambda: _notices_at_least(db, "before", 4))

    stop_tansu(own_broker)

    async def broker_missed() -> bool:
        return (consumer.health.trouble or "").startswith("broker:")

    await until(broker_missed)  # the broker stays away a while: the loops wait it out
    restarted = start_tansu(own_broker.port)
    own_broker.process = restarted.process

    await until(lambda: _has_topics(bootstrap, topics))
    await produce(bootstrap, topics.inquiries, customers(4, "after"))
    await until(lambda: _count_is(db, 8), within=60)
    await until(lambda: _notices_at_least(db, "after", 4), within=60)
    assert not any(t.done() for t in tasks), "neither loop ever exits"


async def _has_topics(bootstrap: str, topics: Topics) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        return set(topics.all()) <= set(await admin.list_topics())
    except Exception:  # the broker is still starting
        return False
    finally:
        await admin.close()


async def _notices_at_least(db: Database, prefix: str, n: int) -> bool:
    return await _notices_for(db, prefix) >= n


async def _notices_for(db: Database, prefix: str) -> int:
    async with db.sessions() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(OutboundRecord)
                .join(Lead, Lead.id == OutboundRecord.lead_id)
                .join(Contact, Contact.id == Lead.contact_id)
                .where(OutboundRecord.purpose != "acknowledgement")
                .where(Contact.email.like(f"{prefix}%"))
            )
            or 0
        )


async def test_readyz_turns_503_with_the_reason_while_the_consumer_is_stuck(
    broker: BrokerProcess, own_pg: str, tmp_path: Path
) -> None:
    prefix = f"z{uuid.uuid4().hex[:8]}."
    settings = Settings(
        data_dir=tmp_path / "data",
        database={"url": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{own_pg}"},
        http={"port": 0},
        ingest={"stall_after_s": 0.5},
        kafka={
            "bootstrap_servers": broker.bootstrap_servers,
            "topic_prefix": prefix,
            "partitions": 1,
            "session_timeout_ms": 2000,
            "heartbeat_interval_ms": 500,
        },
    )
    stop = asyncio.Event()
    ready: asyncio.Future[Started] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        runtime.run(settings, stop=stop, on_started=ready.set_result), name="leadflow"
    )
    try:
        started = await asyncio.wait_for(asyncio.shield(ready), 60)
        _refuse_connections(own_pg)
        await produce(broker.bootstrap_servers, Topics(prefix).inquiries, customers(2, "z"))
        async with aiohttp.ClientSession(started.http_url) as http:

            async def readiness(status: int, stalled: bool) -> dict[str, Any]:
                async with asyncio.timeout(60):
                    while True:
                        async with http.get("/readyz") as resp:
                            body: dict[str, Any] = await resp.json()
                            if resp.status == status and bool(body["stalled"]) is stalled:
                                return body
                        await asyncio.sleep(0.1)

            body = await readiness(503, stalled=True)
            assert body["store"] is False
            assert any(
                r.startswith("ingest consumer: no progress for") and "store:" in r
                for r in body["stalled"]
            ), body
            _psql(f'ALTER DATABASE "{own_pg}" ALLOW_CONNECTIONS true')
            await readiness(200, stalled=False)
            assert not task.done(), "the process never exited"
        async with open_database(settings.database.url) as db:
            assert await lead_count(db) == 2
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def _refuse_connections(name: str) -> None:
    _psql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    _psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )


async def test_a_frozen_broker_does_not_hang_the_offset_commit(
    own_broker: BrokerProcess, db: Database
) -> None:
    await seed_team(db)
    bootstrap = own_broker.bootstrap_servers
    topics = Topics(prefix=f"f{uuid.uuid4().hex[:6]}.")
    await create_topics(bootstrap, topics, partitions=1)
    await produce(bootstrap, topics.inquiries, customers(3, "frozen"))
    pid = own_broker.process.pid

    async def freeze(_records: Sequence[Any]) -> None:
        os.kill(pid, signal.SIGSTOP)

    consumer = consumer_for(bootstrap, topics, db, before_offset_commit=freeze, **FAST)
    try:
        async with consumer:
            handled = await asyncio.wait_for(consumer.run(max_messages=3), 25)
            assert handled == 3
            assert await lead_count(db) == 3
    finally:
        os.kill(pid, signal.SIGCONT)


async def test_a_send_to_a_frozen_broker_gives_up_and_the_next_one_gets_through(
    own_broker: BrokerProcess,
) -> None:
    """The consumer's confirmations and dead letters go through `KafkaPair.send`,
    inside a loop that retries: a send left waiting for ever would stop that loop
    without a word. It must fail by the deadline, and once the broker answers again
    the next send must go through on fresh clients."""
    bootstrap = own_broker.bootstrap_servers
    topics = Topics(prefix=f"s{uuid.uuid4().hex[:6]}.")
    await create_topics(bootstrap, topics, partitions=1)
    config = PairConfig(
        bootstrap,
        topics.inquiries,
        f"g-{uuid.uuid4().hex[:8]}",
        "test",
        fetch_max_wait_ms=20,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        request_timeout_ms=120_000,  # aiokafka's own bound is far beyond the guard below
        deadline_s=2.0,  # a restart may take three: Tansu holds a group join for 3 s
    )
    pair = KafkaPair(config, "test pair")
    await pair.start()
    pid = own_broker.process.pid
    try:
        await pair.send(topics.stored, b"before")
        os.kill(pid, signal.SIGSTOP)
        await until(lambda: _is_stopped(pid))  # the signal lands later than kill returns
        async with asyncio.timeout(30):  # guards the test run only
            with pytest.raises(TimeoutError):
                await pair.send(topics.stored, b"frozen")
        assert not pair.is_open, "the clients that hung are let go"
        os.kill(pid, signal.SIGCONT)
        async with asyncio.timeout(60):  # as the consumer's loops call it
            await retry_transient(
                lambda: pair.send(topics.stored, b"after"), what="sending", stop=None
            )
        assert pair.is_open
    finally:
        os.kill(pid, signal.SIGCONT)
        await pair.stop()


async def _is_stopped(pid: int) -> bool:
    return _state_is_stopped(pid)


def _state_is_stopped(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    return any(line.startswith("State:\tT") for line in status.splitlines())
