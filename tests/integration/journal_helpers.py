"""Wiring for tests of the edge journal: a relay to run, confirmations to send, a form edge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaProducer

from connectors.journal import EdgeJournal, JournalBound
from connectors.relay import Relay, RelayConfig
from connectors.webform import WebFormConnector
from ingest.contract import Topics
from ingest.contract.confirm import encode_confirmation
from ingest.contract.problem import problem_middleware

from ..factories import make_form


def relay_config(bootstrap: str, topics: Topics, **overrides: object) -> RelayConfig:
    """Short deadlines and backoffs, so a test sees a broker come back within seconds."""
    values: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "topics": topics,
        "timeout_s": 1.0,
        "max_backoff_s": 0.5,
        "partition_check_s": 0.5,
        "partitions": 3,
    }
    values.update(overrides)
    return RelayConfig(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def relaying(journal: EdgeJournal, config: RelayConfig) -> AsyncIterator[Relay]:
    relay = Relay(journal, config)
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(relay.run(stop), name="relay-under-test")
        try:
            yield relay
        finally:
            stop.set()


async def confirm(bootstrap: str, topics: Topics, keys: list[str]) -> None:
    """What the ingest consumer does after its store commit."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.stored, encode_confirmation(keys))
    finally:
        await producer.stop()


@asynccontextmanager
async def journal_form_client(
    journal: EdgeJournal,
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The web-form edge writing to `journal`, as the runtime wires it."""
    form = make_form()
    connector = WebFormConnector(journal, {form.slug: form}.get)
    app = web.Application(middlewares=[problem_middleware])
    app.add_routes(connector.routes())
    async with TestClient(TestServer(app)) as client:
        yield client


def open_journal(tmp_path: Path, **bound: float) -> EdgeJournal:
    return EdgeJournal(tmp_path / "journal.sqlite3", bound=JournalBound(**bound))  # type: ignore[arg-type]
