"""The edge journal as the runtime wires it: /readyz, /metrics and the form past the bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from ingest.contract import Topics
from leadflow import runtime
from leadflow.roles import Role
from leadflow.seed import Started
from leadflow.settings import Settings

from ..conftest import BrokerProcess

pytestmark = pytest.mark.integration

# Any outcome: the lead itself is not the point here, its confirmation is.
STORED = "leadflow_ingest_messages_total{outcome="
FORM = {"name": "Ivan", "email": "ivan@example.com", "message": "hello"}


@asynccontextmanager
async def connectors_role(settings: Settings) -> AsyncIterator[str]:
    stop = asyncio.Event()
    ready: asyncio.Future[Started] = asyncio.get_running_loop().create_future()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(
            runtime.run(
                settings,
                frozenset({Role.CONNECTORS}),
                stop=stop,
                on_started=ready.set_result,
            ),
            name="connectors-role",
        )
        try:
            started = await asyncio.wait_for(asyncio.shield(ready), 60)
            yield started.http_url
        finally:
            stop.set()


def settings_for(
    broker: BrokerProcess, topics: Topics, tmp_path: Path, **journal: object
) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database={"url": f"sqlite+aiosqlite:///{tmp_path}/leadflow.db"},
        http={"port": 0},
        kafka={"bootstrap_servers": broker.bootstrap_servers, "topic_prefix": topics.prefix},
        forms=[
            {
                "slug": "contact",
                "name": "Contact",
                "fields": [
                    {"name": "name", "label": "Name", "maps_to": "name"},
                    {"name": "email", "label": "Email", "maps_to": "email", "kind": "email"},
                    {"name": "message", "label": "Message", "maps_to": "message"},
                ],
            }
        ],
        journal=journal,
    )


async def test_past_the_bound_the_form_and_readyz_answer_503(
    broker: BrokerProcess, topics: Topics, tmp_path: Path
) -> None:
    settings = settings_for(broker, topics, tmp_path, max_bytes=1)
    async with connectors_role(settings) as url, aiohttp.ClientSession() as http:
        post = await http.post(f"{url}/forms/contact", json=FORM)
        assert post.status == 503
        ready = await http.get(f"{url}/readyz")
        body = await ready.json()
        assert ready.status == 503
        assert body["journal"]["accepting"] is False
        metrics = await (await http.get(f"{url}/metrics")).text()
    assert 'leadflow_journal_events_total{event="refused"} 1.0' in metrics
    assert "leadflow_journal_full 1.0" in metrics


async def test_within_the_bound_the_form_is_journalled_and_relayed(
    broker: BrokerProcess, topics: Topics, tmp_path: Path
) -> None:
    settings = settings_for(broker, topics, tmp_path)
    async with connectors_role(settings) as url, aiohttp.ClientSession() as http:
        post = await http.post(f"{url}/forms/contact", json=FORM)
        assert post.status == 202
        async with asyncio.timeout(10):
            while True:
                metrics = await (await http.get(f"{url}/metrics")).text()
                if 'leadflow_journal_events_total{event="published"} 1.0' in metrics:
                    break
                await asyncio.sleep(0.05)
        ready = await (await http.get(f"{url}/readyz")).json()
    assert ready["journal"]["entries"] == 1, "held until the store confirms it"
    assert ready["status"] == "ready"


async def test_the_store_confirmation_empties_the_journal(
    broker: BrokerProcess, topics: Topics, tmp_path: Path
) -> None:
    """The whole spine in one process: the entry leaves the journal only once the
    consumer has stored the lead and said so on the confirmation topic."""
    settings = settings_for(broker, topics, tmp_path)
    stop = asyncio.Event()
    ready: asyncio.Future[Started] = asyncio.get_running_loop().create_future()
    roles = frozenset({Role.CONNECTORS, Role.INGEST})
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(
            runtime.run(settings, roles, stop=stop, on_started=ready.set_result), name="spine"
        )
        try:
            started = await asyncio.wait_for(asyncio.shield(ready), 60)
            async with aiohttp.ClientSession() as http:
                post = await http.post(f"{started.http_url}/forms/contact", json=FORM)
                assert post.status == 202
                async with asyncio.timeout(30):
                    while True:
                        body = await (await http.get(f"{started.http_url}/readyz")).json()
                        metrics = await (await http.get(f"{started.http_url}/metrics")).text()
                        if body["journal"]["entries"] == 0 and STORED in metrics:
                            break
                        await asyncio.sleep(0.1)
        finally:
            stop.set()
    assert 'leadflow_journal_events_total{event="confirmed"} 1.0' in metrics
