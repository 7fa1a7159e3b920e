"""Keeps a long-running task alive: log its failure, count it, restart it with backoff.

Under `leadflow up` every role runs in one process. A task that raises (a bug, a
fault nobody retried) must not take the HTTP edge and the other roles down with
it, so each runs under `supervise`: the exception is logged with its traceback,
counted in `leadflow_task_restarts_total{task}`, and the task is started again
after a capped exponential delay (reset once it has run well for a while). A task
that returns while the stop event is not set is restarted too. Imports nothing of
ours beyond what it is handed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    first_delay_s: float = 0.5
    max_delay_s: float = 30.0
    # A run this long counts as healthy: the next failure starts from `first_delay_s`.
    healthy_after_s: float = 60.0


class Supervisor:
    """Runs factories of coroutines under restart-with-backoff; one per task name."""

    def __init__(
        self, registry: CollectorRegistry | None = None, policy: RestartPolicy = RestartPolicy()
    ) -> None:
        self._policy = policy
        self._restarts = Counter(
            "leadflow_task_restarts_total",
            "Long-running tasks restarted after they failed or ended early, by task.",
            ["task"],
            registry=registry,
        )
        self.failures: dict[str, int] = {}

    async def supervise(
        self, name: str, start: Callable[[], Awaitable[None]], stop: asyncio.Event
    ) -> None:
        """Run `start()` until `stop` is set, restarting it whenever it ends."""
        loop = asyncio.get_running_loop()
        delay = self._policy.first_delay_s
        while not stop.is_set():
            began = loop.time()
            try:
                await start()
            except Exception:
                log.exception("task %s failed; restarting it", name)
            else:
                if stop.is_set():
                    return
                log.error("task %s ended on its own; restarting it", name)
            self.failures[name] = self.failures.get(name, 0) + 1
            self._restarts.labels(name).inc()
            if loop.time() - began >= self._policy.healthy_after_s:
                delay = self._policy.first_delay_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, self._policy.max_delay_s)
