"""Under `leadflow up` a failing task is restarted while the HTTP edge keeps answering."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
import pytest

from leadflow import runtime
from leadflow.seed import Started
from leadflow.settings import Settings

from ..conftest import BrokerProcess

pytestmark = pytest.mark.integration


async def test_a_failing_task_is_restarted_and_the_http_edge_keeps_answering(
    broker: BrokerProcess, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database={"url": f"sqlite+aiosqlite:///{tmp_path}/leadflow.db"},
        http={"port": 0},
        kafka={
            "bootstrap_servers": broker.bootstrap_servers,
            "topic_prefix": f"s{uuid.uuid4().hex[:8]}.",
            "partitions": 1,
            "session_timeout_ms": 2000,
            "heartbeat_interval_ms": 500,
        },
    )
    stop = asyncio.Event()
    ready: asyncio.Future[Started] = asyncio.get_running_loop().create_future()
    failures = 0

    async def flaky() -> None:
        nonlocal failures
        failures += 1
        raise RuntimeError(f"role failure {failures}")

    task = asyncio.create_task(
        runtime.run(settings, stop=stop, on_started=ready.set_result, extra_tasks={"flaky": flaky}),
        name="leadflow",
    )
    try:
        started = await asyncio.wait_for(asyncio.shield(ready), 60)
        async with aiohttp.ClientSession(started.http_url) as http:
            restarts = 0.0
            async with asyncio.timeout(60):
                while restarts < 3:
                    async with http.get("/healthz") as resp:
                        assert resp.status == 200
                    async with http.get("/metrics") as resp:
                        assert resp.status == 200
                        restarts = _restarts(await resp.text(), "flaky")
                    await asyncio.sleep(0.1)
            assert not task.done(), "the process keeps running"
            async with http.get("/readyz") as resp:
                body = await resp.json()
            assert body["stalled"] == []
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def _restarts(metrics: str, name: str) -> float:
    prefix = f'leadflow_task_restarts_total{{task="{name}"}} '
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0
