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
import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

from leadflow.orphans import die_with_parent
from leadflow.roles import Role
from leadflow.settings import Settings
from leadflow.supervisor import Supervisor

if TYPE_CHECKING:
    from leadflow.seed import Started

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
SPAWN_WAIT_S = 5.0
# What the parent hands a child once what they share runs: its broker's address.
HANDOVER_KEYS = frozenset(
    {
        "LEADFLOW_KAFKA__BOOTSTRAP_SERVERS",
        "LEADFLOW_KAFKA__PARTITIONS",
        "LEADFLOW_KAFKA__RELAY_PARTITIONING",
    }
)

Handover = asyncio.Future[dict[str, str]]


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
        return [
            *[sys.executable, "-m", "leadflow", *config, "serve", *roles],
            *["--no-seed", "--after-parent"],
        ]

    async def run(self, stop: asyncio.Event, handover: Handover, spawned: asyncio.Event) -> None:
        """Run the child until it exits or `stop` is set (then SIGTERM, and wait).

        The child starts at once (`spawned` is set then) and imports its code while
        the parent prepares what they share; it goes on when `handover` gives it the
        broker's address (on its stdin: `take_handover`)."""
        process = await asyncio.create_subprocess_exec(
            *self.argv(),
            env={**os.environ, **self.env},
            stdin=asyncio.subprocess.PIPE,
            preexec_fn=die_with_parent,
        )
        spawned.set()
        log.info("started %s (pid %d)", self.name, process.pid)
        exited = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((handover, exited, stopping), return_when=asyncio.FIRST_COMPLETED)
            if handover.done() and not handover.cancelled() and not stop.is_set():
                await _hand_over(process, handover.result())
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


async def _hand_over(process: asyncio.subprocess.Process, env: dict[str, str]) -> None:
    stdin = process.stdin
    if stdin is None:
        return
    # A child that died meanwhile closed the pipe: its exit is what the caller sees.
    with contextlib.suppress(ConnectionError):
        stdin.write(json.dumps(env).encode() + b"\n")
        await stdin.drain()
        stdin.close()


def take_handover(stdin: TextIO) -> bool:
    """In a child: import the roles' code, then wait for the parent's handover and put
    it in this process's environment; False when the parent closed the pipe first (it
    is stopping). Raises `ValueError` for anything but the handover's keys."""
    # Seconds of imports, done while the parent prepares, not after the handover.
    importlib.import_module("leadflow.runtime")
    line = stdin.readline()
    if not line:
        return False
    env = json.loads(line)
    if not isinstance(env, dict) or not env.keys() <= HANDOVER_KEYS:
        raise ValueError(f"not a handover from leadflow up: {line[:200]!r}")
    os.environ.update({str(k): str(v) for k, v in env.items()})
    return True


async def _spawned(events: list[asyncio.Event]) -> None:
    """Wait until the children's processes exist, for `SPAWN_WAIT_S` at most: starting
    them first only saves time (a child that cannot start is the supervisor's)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SPAWN_WAIT_S):
            for event in events:
                await event.wait()


def children(config: Path | None, extra: dict[str, str]) -> list[Child]:
    env = {
        **extra,
        # Migrated once, in the parent; two children migrating at once would race.
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
    """Start the edge and ingest children, prepare what they share, hand it over, and
    supervise them until `stop`."""
    stop = stop or asyncio.Event()
    supervisor = Supervisor()
    handover: Handover = asyncio.get_running_loop().create_future()
    extra: dict[str, str] = {}
    if not settings.kafka.bootstrap_servers:
        # As in one process: Tansu holds a group join for half the session timeout.
        extra = {
            "LEADFLOW_KAFKA__SESSION_TIMEOUT_MS": "2000",
            "LEADFLOW_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
        }
    async with AsyncExitStack() as shared:
        kids = children(config, extra)
        spawned = [asyncio.Event() for _ in kids]
        runs = [
            asyncio.create_task(
                supervisor.supervise(child.name, partial(child.run, stop, handover, event), stop),
                name=child.name,
            )
            for child, event in zip(kids, spawned, strict=True)
        ]
        try:
            await _spawned(spawned)
            # Imported once the children run: their imports and these overlap.
            from leadflow import split_setup
            from leadflow.broker import (
                EMBEDDED_PARTITIONS,
                topic_maker,
                with_embedded_partitions,
            )

            started, embedded = await split_setup.prepare(settings, shared, demo=demo)
            if embedded is not None:
                limit = settings.kafka.embedded_max_memory_mib
                runs.append(
                    asyncio.create_task(
                        supervisor.supervise(
                            "embedded-broker",
                            partial(
                                embedded.keep_running,
                                stop,
                                max_memory_mib=limit,
                                max_cpu_share=settings.kafka.embedded_max_cpu_share,
                                create_topics=topic_maker(
                                    with_embedded_partitions(settings), started.bootstrap_servers
                                ),
                            ),
                            stop,
                        ),
                        name="embedded-broker",
                    )
                )
            shared_env = {"LEADFLOW_KAFKA__BOOTSTRAP_SERVERS": started.bootstrap_servers}
            if embedded is not None:
                shared_env["LEADFLOW_KAFKA__PARTITIONS"] = str(EMBEDDED_PARTITIONS)
                partitioning = with_embedded_partitions(settings).kafka.relay_partitioning
                shared_env["LEADFLOW_KAFKA__RELAY_PARTITIONING"] = str(partitioning)
            handover.set_result(shared_env)
            if on_started:
                on_started(started)
            await stop.wait()
        finally:
            stop.set()  # the children stop before what they share does
            await asyncio.gather(*runs, return_exceptions=True)
    log.info("stopped")
