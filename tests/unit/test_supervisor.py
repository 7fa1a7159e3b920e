"""The supervisor restarts a failing task with backoff and stops when told."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from leadflow.supervisor import RestartPolicy, Supervisor

QUICK = RestartPolicy(first_delay_s=0.001, max_delay_s=0.01)


async def test_a_failing_task_is_logged_counted_and_restarted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    supervisor = Supervisor(registry, QUICK)
    stop = asyncio.Event()
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise RuntimeError(f"failure {runs}")
        await stop.wait()

    task = asyncio.create_task(supervisor.supervise("flaky", flaky, stop))
    async with asyncio.timeout(10):
        while runs < 4:  # noqa: ASYNC110 (waiting for the fourth start is the point)
            await asyncio.sleep(0.001)
    stop.set()
    await asyncio.wait_for(task, 5)

    assert runs == 4
    assert supervisor.failures == {"flaky": 3}
    assert registry.get_sample_value("leadflow_task_restarts_total", {"task": "flaky"}) == 3
    failures = [r for r in caplog.records if r.getMessage() == "task flaky failed; restarting it"]
    assert len(failures) == 3
    assert all(r.exc_info is not None for r in failures), "the traceback is logged"


async def test_a_task_that_ends_on_its_own_is_restarted_until_stop() -> None:
    supervisor = Supervisor(None, QUICK)
    stop = asyncio.Event()
    runs = 0

    async def short() -> None:
        nonlocal runs
        runs += 1
        if runs == 5:
            stop.set()

    await asyncio.wait_for(supervisor.supervise("short", short, stop), 10)
    assert runs == 5
    assert supervisor.failures == {"short": 4}


async def test_stop_interrupts_the_backoff() -> None:
    supervisor = Supervisor(None, RestartPolicy(first_delay_s=3600, max_delay_s=3600))
    stop = asyncio.Event()
    failed = asyncio.Event()

    async def broken() -> None:
        failed.set()
        raise RuntimeError("always")

    task = asyncio.create_task(supervisor.supervise("broken", broken, stop))
    await asyncio.wait_for(failed.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert supervisor.failures == {"broken": 1}
