"""`leadflow up` in split mode: the HTTP edge and the consumer in separate processes.

With `processes = "split"` (or `"auto"`, the default, on two cores or more: see
`wants_split`) the `leadflow up` process keeps what is shared (the
embedded broker, the topics, migrations, the start-up configuration and the demo
seed), then runs two children, each a `leadflow serve` of its own: the **edge**
(connectors and console: HTTP, edge journal, relay) on the configured port, and
**ingest** (consumer, notifier, SLA watcher) with its HTTP endpoints on a free port.
Each child runs under the existing `Supervisor`: a child that exits while LeadFlow
is not stopping (a crash, a kill -9) is logged, counted and started again with
backoff. SIGTERM or SIGINT is passed on to both children, which drain as they do
alone; a child still running after `CHILD_STOP_S` is killed. The kernel stops a
child whose parent was killed (`PR_SET_PDEATHSIG`). Two event loops on two cores:
the edge's requests no longer wait behind the consumer's batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from crm_store.database import open_database
from crm_store.migrate import upgrade_async
from ingest.contract import Topics
from leadflow.broker import EmbeddedBroker, create_topics, die_with_parent
from leadflow.importer import advertised_broker
from leadflow.runtime import Role, Started, write_passwords, write_token
from leadflow.seed import apply_configuration
from leadflow.settings import Settings
from leadflow.supervisor import Supervisor

log = logging.getLogger(__name__)

ProcessMode = Literal["auto", "one", "split"]


def wants_split(mode: ProcessMode, cpus: int) -> bool:
    """Whether `leadflow up` splits the edge and the consumer into two processes.

    `auto` splits when this process may run on two cores or more: on the 2-core
    bench machine, idle but for the bench, split mode took 1.5x the inquiries a
    second of one process (1,508 and 1,601 against 1,020 and 1,136/s) for no more
    CPU per inquiry, and a 202's p99 at 500/s fell from 19-110 to 5-9 ms (issue 11).
    With one core the second process only adds its own event loop and clients.
    """
    if mode == "auto":
        return cpus >= 2
    return mode == "split"


def available_cpus() -> int:
    """The cores this process may run on (its affinity mask, as a container's
    cpuset limits it), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


CHILD_STOP_S = 30.0


@dataclass(frozen=True, slots=True)
class Child:
    """One `leadflow serve` child: its name, roles and extra environment."""

    name: str
    roles: tuple[Role, ...]
    env: dict[str, str]
    config: Path | None = None

    def argv(self) -> list[str]:
        config = ["--config", str(self.config)] if self.config else []
        roles = [r.value for r in self.roles]
        return [sys.executable, "-m", "leadflow", *config, "serve", *roles, "--no-seed"]

    async def run(self, stop: asyncio.Event) -> None:
        """Run the child until it exits or `stop` is set (then SIGTERM, and wait)."""
        process = await asyncio.create_subprocess_exec(
            *self.argv(),
            env={**os.environ, **self.env},
            stdin=asyncio.subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        log.info("started %s (pid %d)", self.name, process.pid)
        exited = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((exited, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(asyncio.shield(exited), CHILD_STOP_S)
                except TimeoutError:
                    log.error("%s did not stop within %g s; killing it", self.name, CHILD_STOP_S)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await exited
        if not stop.is_set():
            raise RuntimeError(f"{self.name} (pid {process.pid}) exited with {process.returncode}")


def children(bootstrap: str, config: Path | None, extra: dict[str, str]) -> list[Child]:
    env = {
        **extra,
        "LEADFLOW_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        # Migrated once, here; two children migrating at once would race.
        "LEADFLOW_DATABASE__AUTO_MIGRATE": "false",
        "LEADFLOW_PROCESSES": "one",
    }
    return [
        Child("edge", (Role.CONNECTORS, Role.CONSOLE), env, config),
        # Its /healthz, /readyz and /metrics on a free port: the configured one is the edge's.
        Child("ingest", (Role.INGEST,), {**env, "LEADFLOW_HTTP__PORT": "0"}, config),
    ]


async def run_split(
    settings: Settings,
    *,
    config: Path | None = None,
    demo: bool = False,
    stop: asyncio.Event | None = None,
    on_started: Callable[[Started], None] | None = None,
) -> None:
    """Prepare what the roles share, then supervise the edge and ingest children."""
    stop = stop or asyncio.Event()
    started = Started()
    supervisor = Supervisor()
    async with AsyncExitStack() as stack:
        bootstrap = settings.kafka.bootstrap_servers
        extra: dict[str, str] = {}
        if not bootstrap:
            broker = await stack.enter_async_context(EmbeddedBroker())
            bootstrap = broker.bootstrap_servers
            stack.enter_context(advertised_broker(settings.data_dir, bootstrap))
            started.embedded_broker = True
            # As in one process: Tansu holds a group join for half the session timeout.
            extra = {
                "LEADFLOW_KAFKA__SESSION_TIMEOUT_MS": "2000",
                "LEADFLOW_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
            }
            log.warning(
                "using the embedded Tansu broker on %s: it keeps messages in memory only; "
                "accepted inquiries are safe in the edge journal (%s) until the store "
                "confirms them, and are published again after a restart",
                bootstrap,
                settings.journal.file(settings.data_dir),
            )
        started.bootstrap_servers = bootstrap
        await create_topics(
            bootstrap,
            Topics(settings.kafka.topic_prefix),
            partitions=settings.kafka.partitions,
            replication_factor=settings.kafka.replication_factor,
        )
        if settings.database.auto_migrate:
            await upgrade_async(settings.database.url)
        async with open_database(settings.database.url, pool_size=1) as db:
            started.seed = await apply_configuration(db, settings, demo=demo)
        if started.seed.admin_token:
            write_token(settings.data_dir, started.seed.admin_token)
        if started.seed.passwords:
            started.seed.password_file = write_passwords(settings.data_dir, started.seed.passwords)
        started.http_url = f"http://{settings.http.host}:{settings.http.port}"
        async with asyncio.TaskGroup() as tasks:
            for child in children(bootstrap, config, extra):
                tasks.create_task(
                    supervisor.supervise(child.name, functools.partial(child.run, stop), stop),
                    name=child.name,
                )
            if on_started:
                on_started(started)
            await stop.wait()
        log.info("stopped")
