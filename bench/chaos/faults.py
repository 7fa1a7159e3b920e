"""The things a fault trial breaks: LeadFlow roles, Tansu, a TCP proxy, a database.

- `Role`: one `leadflow up` / `leadflow serve ROLE` process in its own session
  (setsid), so `kill9()` takes the whole process group, the embedded Tansu with it.
- `Tansu`: an external broker process; freeze/thaw with SIGSTOP/SIGCONT, kill -9, and
  start again (empty: Tansu here keeps nothing on disk) on the same port.
- `Proxy`: an asyncio TCP forwarder between the clients and Tansu. `cut()` aborts every
  connection and stops listening (new ones are refused); `restore()` listens again.
- `refuse_connections`: `ALTER DATABASE d ALLOW_CONNECTIONS false` and terminate its
  backends, then allow again. Only ever on the trial's own database.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg

from bench.e2e import BENCH_TEAM, REPO
from leadflow.broker import tansu_binary

ADMIN_TOKEN = "chaos-admin-token-0123456789abcdef"  # a throwaway value for throwaway stores
# One Fernet key for every process of a trial, as a deployment of several roles has.
SECRET_KEY = base64.urlsafe_b64encode(b"leadflow-fault-trials-throwaway!").decode()
READY_TIMEOUT_S = 90.0
# What `leadflow up|serve` prints once every role has started (/readyz answers earlier,
# while the consumer may still be joining its group).
STARTED_LINE = b"LeadFlow is running"
CHAOS_FORM = {
    "slug": "chaos",
    "name": "Fault trials",
    "team": "Sales",
    "fields": [
        {"name": "name", "label": "Name", "maps_to": "name"},
        {"name": "email", "label": "Email", "maps_to": "email", "kind": "email"},
        {"name": "company", "label": "Company", "maps_to": "company"},
        {"name": "message", "label": "Message", "maps_to": "message", "kind": "textarea"},
    ],
    # An acknowledgement to each customer, so that a trial with a mail sink
    # (`bench.chaos.mail`) counts what the outbound dispatcher sends.
    "ack_subject": "Мы получили вашу заявку",
    "ack_body": "Здравствуйте, {{ name }}! Менеджер свяжется с вами в течение 15 минут.",  # noqa: RUF001
}


def leadflow_env(
    *,
    database_url: str,
    port: int,
    data_dir: Path,
    bootstrap: str | None = None,
    log_level: str = "WARNING",
) -> dict[str, str]:
    """Settings for one LeadFlow process (env vars only; nothing of the caller's leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLOW_")}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "LEADFLOW_DATABASE__URL": database_url,
            "LEADFLOW_HTTP__HOST": "127.0.0.1",
            "LEADFLOW_HTTP__PORT": str(port),
            "LEADFLOW_HTTP__TRUSTED_PROXIES": json.dumps(["127.0.0.1/32"]),
            "LEADFLOW_DATA_DIR": str(data_dir),
            "LEADFLOW_LOG_LEVEL": log_level,
            "LEADFLOW_ADMIN_TOKEN": ADMIN_TOKEN,
            "LEADFLOW_SECRET_KEY": SECRET_KEY,
            "LEADFLOW_TEAMS": json.dumps([BENCH_TEAM]),
            "LEADFLOW_FORMS": json.dumps([CHAOS_FORM]),
        }
    )
    if bootstrap:
        env["LEADFLOW_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap
    return env


async def run_leadflow(args: list[str], env: dict[str, str], log_path: Path) -> int:
    """A one-shot command (`migrate`, `topics create`); its exit code."""
    with log_path.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "leadflow", *args, env=env, stdout=out, stderr=out
        )
        return await asyncio.wait_for(proc.wait(), 120)


class Role:
    """A LeadFlow process (`up` or `serve ROLE`) that can be killed and started again."""

    def __init__(self, args: list[str], env: dict[str, str], port: int, log_path: Path) -> None:
        self.args = args
        self.env = env
        self.port = port
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._log_offset = 0
        self.exits: list[int] = []  # exit codes the process chose itself (not our kills)

    @property
    def name(self) -> str:
        return " ".join(self.args)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Start and wait until every role runs and /readyz is 200; the seconds it took."""
        t0 = time.monotonic()
        self.starts += 1
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as out:
            out.write(f"\n==== start {self.starts} at {time.strftime('%H:%M:%S')}\n".encode())
            out.flush()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "leadflow",
                *self.args,
                env=self.env,
                cwd=str(self.log_path.parent),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # setsid: kill9() reaches its children too
            )
        await self.wait_ready(timeout_s)
        return time.monotonic() - t0

    async def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if not self.alive:
                    raise RuntimeError(
                        f"leadflow {self.name} exited with {self.returncode()} at start; "
                        f"see {self.log_path}"
                    )
                if self._announced():
                    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                        async with http.get(self.url + "/readyz") as resp:
                            if resp.status == 200:
                                return
                await asyncio.sleep(0.2)
        raise TimeoutError(
            f"leadflow {self.name} not ready in {timeout_s:g} s; see {self.log_path}"
        )

    def _announced(self) -> bool:
        with self.log_path.open("rb") as f:
            f.seek(self._log_offset)
            return STARTED_LINE in f.read()

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def note_exit(self) -> int | None:
        """If the process died by itself since the last look, remember and return its code."""
        if self.process is not None and self.process.returncode is not None:
            code = self.process.returncode
            self.exits.append(code)
            self.process = None
            return code
        return None

    async def kill9(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), 30)
        self.process = None

    async def stop(self) -> None:
        if self.process is None:
            return
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                await self.kill9()
                return
        self.note_exit()
        self.process = None


async def wait_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:g} s")


class Tansu:
    """An external, memory-only Tansu on `port`, advertising `advertised_port`."""

    def __init__(self, port: int, advertised_port: int | None = None) -> None:
        self.port = port
        self.advertised_port = advertised_port or port
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            str(tansu_binary()),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{self.port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{self.advertised_port}",
            "--storage-engine",
            "memory://tansu/",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await wait_port(self.port, 15)

    def freeze(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    async def kill9(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 15)
        self.process = None

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a frozen process cannot exit
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                await self.kill9()
        self.process = None


class Proxy:
    """Forwards 127.0.0.1:listen_port to 127.0.0.1:target_port; can cut everything."""

    def __init__(self, listen_port: int, target_port: int) -> None:
        self.listen_port = listen_port
        self.target_port = target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def restore(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._accept, "127.0.0.1", self.listen_port, reuse_address=True
            )

    async def cut(self) -> None:
        """Drop every connection now and refuse new ones until `restore()`."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(dst)
            dst.transport.abort()


@contextlib.asynccontextmanager
async def refuse_connections(admin_dsn: str, database: str) -> AsyncIterator[None]:
    """The database refuses connections (and has dropped its sessions) inside the block."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
            yield
        finally:
            await conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    finally:
        await conn.close()
