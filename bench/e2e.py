"""End-to-end benchmark: web-form POST → HTTP → Tansu → consumer → committed, assigned lead.

Run `python -m bench.e2e` (`make bench`), or `--quick` for a small run. For each store
(SQLite in a temp file; PostgreSQL in a fresh database it creates and drops) it:

1. starts `leadflow up --demo` as a subprocess (settings through LEADFLOW_* env vars,
   a free loopback port, the real embedded Tansu broker), sends a warm-up;
2. throughput: `wrk` (one thread, bench/wrk_post.lua) sends exactly N POSTs with
   unique emails as fast as the server answers; the clock stops when the store holds
   N committed leads with an assignee created since the start (polled every 50 ms on
   a separate connection, so only committed rows count). inquiries/s = N / that time;
3. latency: `bench.loadgen` (a separate process) sends POSTs open-loop at a steady
   rate (default 1,000/s), each with the email `{prefix}-{i}@bench.test`. Every lead
   is matched to its request by that email. Two measures of "committed" are given:
   `lead.created_at` minus the intended send time (the consumer stamps created_at in
   the batch's transaction just before it writes and commits: a lower bound), and the
   time the bench saw the lead's `lead.assigned` event on `leadflow.lead-events`
   minus the intended send time (published only after the commit: an upper bound).
   The HTTP acknowledgement (202 after the broker's ack) latency is shown too;
4. reads VmHWM (peak RSS) of the LeadFlow process and, separately, its Tansu child;
5. the naive alternative (bench/naive.py: aiohttp + one ORM transaction per request)
   gets the same throughput and latency load; the ratio is printed;
6. preloads the store with bulk Core inserts (bench/preload.py) to 100k and, unless
   --quick, 1,000,000 leads, restarts LeadFlow and re-measures throughput and CPU per
   inquiry.

CPU seconds per phase come from /proc/PID/stat (LeadFlow, Tansu, all `postgres`
processes) and the load generator's rusage. Results: a table on stdout and JSON in
bench/results/e2e.json. Only loopback addresses; every wait is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.loadgen import client_address
from bench.preload import count_leads, preload
from crm_store.database import create_engine
from crm_store.models import Contact, Lead
from leadflow.broker_cpu import cpu_seconds as process_cpu_seconds
from leadflow.seed import DEMO_FORM

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WRK_SCRIPT = BENCH_DIR / "wrk_post.lua"
DEFAULT_OUT = BENCH_DIR / "results" / "e2e.json"
TARGETS = {
    "throughput_per_s": 6000.0,  # issue 11
    "p99_ms_at_1000_per_s": 50.0,
    "per_inquiry_cost_growth_at_1m": "none (within noise, ~15%)",
}
BENCH_TEAM = {
    "name": "Sales",
    "members": [
        {"email": f"{who}@demo.leadflow.test", "name": name, "capacity": 1_000_000_000}
        for who, name in (
            ("anna.ivanova", "Anna Ivanova"),
            ("boris.petrov", "Boris Petrov"),
            ("sofia.sidorova", "Sofia Sidorova"),
        )
    ],
}
POLL_S = 0.05


# --------------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "loadavg_at_start": list(os.getloadavg()),
        "wrk": shutil.which("wrk") is not None,
    }


# --------------------------------------------------------------------------- /proc


def _stat_fields(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid`; 0 once it is gone (the bench sums over processes)."""
    return process_cpu_seconds(pid) or 0.0


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    out.append(int(entry.name))
    return out


def comm_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def listening_ports(pid: int) -> list[int]:
    """The loopback/any TCP ports this process listens on (IPv4), from /proc."""
    inodes: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports = []
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            # st 0A is LISTEN; the local address is HEXIP:HEXPORT.
            if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:
                ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(set(ports))


def _split_role(pid: int) -> str | None:
    """The role of a child `leadflow up` started (edge or ingest), from its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if b"serve" not in argv:
        return None
    return "ingest" if b"ingest" in argv else "edge"


def postgres_cpu_seconds() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and comm_of(int(entry.name)).startswith("postgres"):
            total += cpu_seconds(int(entry.name))
    return total


def memory_kib(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmHWM:", "VmRSS:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --------------------------------------------------------------------------- stores


@dataclass(slots=True)
class Store:
    name: str
    url: str


@contextlib.asynccontextmanager
async def sqlite_store(workdir: Path) -> AsyncIterator[Store]:
    # The caller's temporary directory (and so the database file) is removed after.
    yield Store("sqlite", f"sqlite+aiosqlite:///{workdir / 'bench.db'}")


@contextlib.asynccontextmanager
async def postgres_store(admin_dsn: str) -> AsyncIterator[Store]:
    if not re.search(r"@(127\.0\.0\.1|localhost|\[::1\])[:/]", admin_dsn):
        raise SystemExit("--pg-admin-dsn must point at a loopback address")
    name = f"leadflow_bench_{os.getpid()}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    base = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    store = Store("postgresql", f"{base}/{name}")
    try:
        yield store
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        log(f"dropped database {name} (PostgreSQL {version})")


_WAL_SQL = (
    "SELECT w.wal_records, w.wal_fpi, w.wal_bytes,"
    " b.checkpoints_timed + b.checkpoints_req FROM pg_stat_wal w, pg_stat_bgwriter b"
)


class LeadCounter:
    """Counts committed, assigned leads created since a moment, on its own engine."""

    def __init__(self, url: str) -> None:
        self._engine: AsyncEngine = create_engine(url, pool_size=2)

    async def since(self, t0: datetime) -> int:
        async with self._engine.connect() as conn:
            stmt = (
                select(func.count())
                .select_from(Lead)
                .where(Lead.created_at >= t0, Lead.assignee_id.is_not(None))
            )
            return int(await conn.scalar(stmt) or 0)

    async def wal(self) -> dict[str, float]:
        """PostgreSQL's WAL and checkpoint counters so far (cluster-wide; nothing on
        SQLite): full-page images are what a first write to a page after a
        checkpoint's start costs, and they grow with the pages a batch touches."""
        if self._engine.dialect.name != "postgresql":
            return {}
        async with self._engine.connect() as conn:
            wal = (await conn.execute(text(_WAL_SQL))).one()
        names = ("wal_records", "wal_fpi", "wal_bytes", "checkpoints")
        return dict(zip(names, map(float, wal), strict=True))

    async def wait_for(self, t0: datetime, want: int, timeout_s: float) -> tuple[int, float]:
        """Poll until `want` leads exist; returns (count, wall time it was first seen)."""
        deadline = time.monotonic() + timeout_s
        count = 0
        while time.monotonic() < deadline:
            count = await self.since(t0)
            if count >= want:
                break
            await asyncio.sleep(POLL_S)
        return count, time.time()

    async def created(self, t0: datetime, prefix: str) -> dict[int, tuple[str, float]]:
        """index → (lead id, created_at epoch) for leads whose email has `prefix`."""
        pattern = re.compile(rf"^{re.escape(prefix)}-(\d+)@bench\.test$")
        out: dict[int, tuple[str, float]] = {}
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(Contact.email, Lead.id, Lead.created_at)
                .join(Contact, Contact.id == Lead.contact_id)
                .where(Lead.created_at >= t0, Lead.assignee_id.is_not(None))
            )
            for email, lead_id, created_at in rows:
                m = pattern.match(email or "")
                if m:
                    out[int(m.group(1))] = (str(lead_id), created_at.timestamp())
        return out

    async def close(self) -> None:
        await self._engine.dispose()


# --------------------------------------------------------------------------- processes


@dataclass(slots=True)
class Server:
    """A server under test (LeadFlow or the naive app) running as a subprocess."""

    kind: str
    process: asyncio.subprocess.Process
    port: int
    log_path: Path
    bootstrap: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tansu_pid(self) -> int | None:
        return next((p for p in children_of(self.process.pid) if comm_of(p) == "tansu"), None)

    def app_pids(self) -> list[int]:
        """LeadFlow's processes: the one started, and in split mode its edge and ingest."""
        pids = [self.process.pid]
        for pid in pids:
            pids.extend(p for p in children_of(pid) if comm_of(p) != "tansu")
        return pids

    def metrics_urls(self) -> list[str]:
        """Every /metrics of LeadFlow's processes: the served port's, and in split
        mode the ingest child's, which listens on a port of its own."""
        ports = {self.port}
        for pid in self.app_pids()[1:]:
            ports.update(listening_ports(pid))
        return [f"http://127.0.0.1:{port}/metrics" for port in sorted(ports)]

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: LeadFlow's processes together ("app") and, under the
        split processes, the edge's and the ingest child's apart; Tansu, PostgreSQL,
        and this process's children (the load generators)."""
        tansu = self.tansu_pid()
        pids = self.app_pids()
        by_role: dict[str, float] = {}
        for pid in pids[1:]:
            role = _split_role(pid)
            if role is not None:
                by_role[f"app_{role}"] = by_role.get(f"app_{role}", 0.0) + cpu_seconds(pid)
        return {
            "app": sum(cpu_seconds(p) for p in pids),
            **by_role,
            "tansu": cpu_seconds(tansu) if tansu else 0.0,
            "postgres": postgres_cpu_seconds(),
            "loadgen": children_cpu_seconds(),
        }

    def memory(self) -> dict[str, float]:
        app = memory_kib(self.process.pid)
        tansu_pid = self.tansu_pid()
        tansu = memory_kib(tansu_pid) if tansu_pid else {}
        return {
            "app_peak_rss_mib": round(app.get("VmHWM", 0) / 1024, 1),
            "app_rss_mib": round(app.get("VmRSS", 0) / 1024, 1),
            "tansu_peak_rss_mib": round(tansu.get("VmHWM", 0) / 1024, 1),
            "tansu_rss_mib": round(tansu.get("VmRSS", 0) / 1024, 1),
        }

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await asyncio.wait_for(self.process.wait(), 10)


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLOW_")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)  # bench.consumer_load runs another tree's sources
    return env


async def _wait_http(server: Server, path: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if server.process.returncode is not None:
                raise RuntimeError(
                    f"{server.kind} exited with {server.process.returncode}; "
                    f"see {server.log_path}:\n{server.log_path.read_text()[-3000:]}"
                )
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(server.url + path) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{server.kind} not ready on {server.url}{path} in {timeout_s:g} s")


async def spawn_leadflow(
    args: Sequence[str], env: dict[str, str], log_path: Path, cwd: Path
) -> asyncio.subprocess.Process:
    """`leadflow ARGS` in a subprocess of this interpreter, output to `log_path`."""
    code = "import sys; from leadflow.cli import main; sys.exit(main())"
    with log_path.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            *args,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )


async def start_loadgen(
    port: int, rate: float, count: int, prefix: str, out: Path, max_connections: int | None = None
) -> asyncio.subprocess.Process:
    """`bench.loadgen`: `count` open-loop POSTs at `rate`, the answers written to `out`."""
    extra = ["--max-connections", str(max_connections)] if max_connections else []
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.loadgen",
        "--port",
        str(port),
        "--rate",
        str(rate),
        "--count",
        str(count),
        "--prefix",
        prefix,
        *extra,
        "--out",
        str(out),
        cwd=REPO,
    )


async def start_leadflow(
    store: Store,
    workdir: Path,
    tag: str,
    processes: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Server:
    port = free_port()
    data_dir = workdir / "leadflow-data"
    data_dir.mkdir(exist_ok=True)
    log_path = workdir / f"leadflow-{tag}.log"
    env = _env(
        {
            "LEADFLOW_DATABASE__URL": store.url,
            "LEADFLOW_HTTP__HOST": "127.0.0.1",
            "LEADFLOW_HTTP__PORT": str(port),
            "LEADFLOW_DATA_DIR": str(data_dir),
            "LEADFLOW_LOG_LEVEL": "WARNING",
            # The demo team's members take 50 open leads each, then leads queue
            # unassigned. The benchmark wants every lead assigned: same team, no cap.
            "LEADFLOW_TEAMS": json.dumps([BENCH_TEAM]),
            # The load comes with a distinct X-Forwarded-For per request (see
            # bench.loadgen.client_address): from one address it is a flood, and junk.
            "LEADFLOW_HTTP__TRUSTED_PROXIES": json.dumps(["127.0.0.1/32"]),
            **({"LEADFLOW_PROCESSES": processes} if processes else {}),
            **(extra_env or {}),
        }
    )
    process = await spawn_leadflow(["up", "--demo"], env, log_path, workdir)
    server = Server("leadflow", process, port, log_path)
    await _wait_http(server, "/readyz", 90)
    deadline = time.monotonic() + 30
    while server.bootstrap is None and time.monotonic() < deadline:
        m = re.search(r"kafka:\s+(\S+)", log_path.read_text())
        if m:
            server.bootstrap = m.group(1)
        else:
            await asyncio.sleep(0.1)
    return server


async def start_naive(store: Store, workdir: Path) -> Server:
    port = free_port()
    log_path = workdir / "naive.log"
    with log_path.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.naive",
            "--database-url",
            store.url,
            "--port",
            str(port),
            cwd=REPO,
            env=_env({}),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    server = Server("naive", process, port, log_path)
    await _wait_http(server, "/healthz", 30)
    return server


# --------------------------------------------------------------------------- phases


def now_utc() -> datetime:
    return datetime.now(UTC)


async def warm_up(server: Server, counter: LeadCounter, n: int = 50, timeout_s: float = 60) -> None:
    """A few leads through the whole path: the consumer has joined its group after this."""
    t0 = now_utc()
    tag = f"warm{int(time.time() * 1000)}"
    async with aiohttp.ClientSession() as http:
        for i in range(n):
            body = {"name": "Warm Up", "email": f"{tag}-{i}@bench.test", "message": "warm-up"}
            headers = {"X-Forwarded-For": client_address(1_000_000 + i)}
            async with http.post(server.url + "/forms/contact", data=body, headers=headers) as resp:
                if resp.status != 202:
                    raise RuntimeError(f"warm-up POST answered {resp.status}: {await resp.text()}")
    count, _ = await counter.wait_for(t0, n, timeout_s)
    if count < n:
        raise RuntimeError(f"warm-up: only {count} of {n} leads appeared in {timeout_s:g} s")


def _wal_delta(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    if not before or not after:
        return {}
    out = {
        f"{k}_per_inquiry": round((after[k] - before[k]) / n, 2)
        for k in before
        if k != "checkpoints"
    }
    out["checkpoints_during"] = after["checkpoints"] - before["checkpoints"]
    return out


def _delta(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    return {
        f"cpu_us_per_inquiry_{k}": round((after[k] - before[k]) / n * 1e6, 1) if n else 0.0
        for k in before
        if k in after  # a child that exited since has no figure
    }


async def throughput(
    server: Server,
    counter: LeadCounter,
    n: int,
    connections: int,
    timeout_s: float,
    mail: Mail | None = None,
) -> dict[str, Any]:
    """N POSTs through wrk, timed until N committed, assigned leads exist; with `mail`,
    the CPU is read once every mail the store asked for also arrived."""
    prefix = f"{server.kind[:2]}{int(time.time() * 1000)}"
    before = server.cpu()
    wal_before = await counter.wal()
    t0 = now_utc()
    start = time.time()
    wrk = await asyncio.create_subprocess_exec(
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{int(timeout_s)}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        server.url + "/forms/contact",
        "--",
        prefix,
        str(n),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    wrk_out = asyncio.create_task(wrk.communicate(), name="wrk")
    deadline = time.monotonic() + timeout_s
    http_done: float | None = None
    count = last_count = 0
    last_change = time.monotonic()
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline and not wrk_out.done():
            # The naive app acknowledges after its commit: its HTTP rate is its e2e rate.
            if (
                http_done is None
                and server.kind == "leadflow"
                and await _accepted(http, server) >= n
            ):
                http_done = time.time()
            count = await counter.since(t0)
            if count >= n:
                break
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            elif time.monotonic() - last_change > 20:
                break  # stalled: report what arrived
            await asyncio.sleep(POLL_S)
    end = time.time()
    if wrk.returncode is None:
        wrk.send_signal(signal.SIGINT)  # wrk 4.x waits for -d otherwise
    stdout, stderr = await asyncio.wait_for(wrk_out, 30)
    mailed = await mail.drained(timeout_s) if mail is not None else {}
    after = server.cpu()
    wal_after = await counter.wal()
    summary: dict[str, Any] = {}
    for line in stdout.decode().splitlines():
        if line.startswith("WRKJSON "):
            summary = json.loads(line[len("WRKJSON ") :])
    if not summary:
        raise RuntimeError(f"wrk printed no summary: {stdout.decode()} {stderr.decode()}")
    http_s = (http_done or end) - start
    result = {
        "prefix": prefix,
        "inquiries": n,
        "posts_sent": summary["posts_sent"],
        "accepted": summary["accepted"],
        "failed": summary["failed"] + summary["socket_errors"],
        "committed": count,
        "e2e_seconds": round(end - start, 3),
        "e2e_per_s": round(count / (end - start), 1),
        "http_per_s": round(summary["accepted"] / http_s, 1) if http_s > 0 else 0.0,
        "http_p50_ms": summary["latency_p50_us"] / 1000,
        "http_p99_ms": summary["latency_p99_us"] / 1000,
        "connections": connections,
        **mailed,
        **_delta(before, after, max(count, 1)),
        **_wal_delta(wal_before, wal_after, max(count, 1)),
    }
    if count < n:
        result["warning"] = f"only {count} of {n} leads committed in time"
    return result


async def _accepted(http: aiohttp.ClientSession, server: Server) -> float:
    """LeadFlow's own count of accepted form submissions (from /metrics)."""
    try:
        async with http.get(server.url + "/metrics") as resp:
            text = await resp.text()
    except (aiohttp.ClientError, OSError):
        return 0.0
    m = re.search(r'^leadflow_form_submissions_total\{outcome="accepted"\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


class EventWatcher:
    """Notes when each `lead.assigned` event appears on `leadflow.lead-events`."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(
            "leadflow.lead-events",
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="latest",
            fetch_max_wait_ms=10,
        )
        self.seen: dict[str, float] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventWatcher:
        await self._consumer.start()
        await self._consumer.getmany(timeout_ms=500)  # resolve positions before the load
        self._task = asyncio.create_task(self._run(), name="event-watcher")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        await self._consumer.stop()

    async def _run(self) -> None:
        while not self._stop.is_set():
            batches = await self._consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.time()
            for records in batches.values():
                for r in records:
                    payload = json.loads(r.value or b"{}")
                    if payload.get("type") == "lead.assigned":
                        self.seen.setdefault(str(payload.get("lead_id")), now)

    async def wait_for(self, lead_ids: set[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        # Polling is the point here: the watcher task fills `seen` as events arrive.
        while time.monotonic() < deadline and not lead_ids <= self.seen.keys():  # noqa: ASYNC110
            await asyncio.sleep(POLL_S)


def _percentiles(values_s: list[float]) -> dict[str, float]:
    if not values_s:
        return {"n": 0}
    ms = sorted(v * 1000 for v in values_s)

    def pct(p: float) -> float:
        return round(ms[min(len(ms) - 1, int(p / 100 * len(ms)))], 2)

    return {
        "n": len(ms),
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": round(ms[-1], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


async def latency(
    server: Server, counter: LeadCounter, rate: float, seconds: float, workdir: Path
) -> dict[str, Any]:
    """Open-loop POSTs at `rate`; per-lead latency from intended send to commit."""
    count = max(1, int(rate * seconds))
    prefix = f"lat{server.kind[:2]}{int(time.time() * 1000)}"
    out = workdir / f"loadgen-{prefix}.json"
    watcher = EventWatcher(server.bootstrap) if server.bootstrap else None
    async with contextlib.AsyncExitStack() as stack:
        if watcher is not None:
            await stack.enter_async_context(watcher)
        before = server.cpu()
        t0 = now_utc()
        gen = await start_loadgen(server.port, rate, count, prefix, out)
        await asyncio.wait_for(gen.wait(), seconds + 120)
        sent: dict[str, Any] = json.loads(out.read_text())
        accepted = sum(1 for s in sent["status"] if s == 202)
        committed, _ = await counter.wait_for(t0, accepted, 120)
        after = server.cpu()
        leads = await counter.created(t0, prefix)
        if watcher is not None:
            await watcher.wait_for({lead_id for lead_id, _ in leads.values()}, 10)
    intended: list[float] = sent["intended"]
    created = [at - intended[i] for i, (_, at) in leads.items()]
    http = [sent["answered"][i] - intended[i] for i in range(count) if sent["status"][i] == 202]
    result: dict[str, Any] = {
        "rate_target_per_s": rate,
        "rate_achieved_per_s": round((count - 1) / (intended[-1] - intended[0]), 1)
        if count > 1
        else rate,
        "sent": count,
        "accepted": accepted,
        "committed": committed,
        "commit_created_at": _percentiles(created),
        "http_ack": _percentiles(http),
        **_delta(before, after, max(committed, 1)),
    }
    if watcher is not None:
        events = [
            watcher.seen[lead_id] - intended[i]
            for i, (lead_id, _) in leads.items()
            if lead_id in watcher.seen
        ]
        result["commit_event_seen"] = _percentiles(events)
    with contextlib.suppress(OSError):
        out.unlink()
    return result


# --------------------------------------------------------------------------- runner


@dataclass(slots=True)
class Options:
    n: int
    naive_n: int
    rate: float
    latency_s: float
    naive_latency_s: float
    preload: list[int]
    connections: int
    stores: list[str]
    pg_admin_dsn: str
    out: Path
    naive: bool
    quick: bool
    processes: str | None = None
    smtp: bool = False
    notes: list[str] = field(default_factory=list)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _progress_logger(start: int) -> Callable[[int, int], None]:
    shown = start

    def progress(done: int, goal: int) -> None:
        nonlocal shown
        if done - shown >= 100_000 or done == goal:
            shown = done
            log(f"  {done:,} / {goal:,}")

    return progress


class Mail:
    """`--smtp`: an SMTP sink (`bench.chaos.mail.MailSink`) that `leadflow up` sends
    every acknowledgement and notice to, and the wait until all arrived."""

    def __init__(self, database_url: str) -> None:
        from bench.chaos.mail import MailSink  # it imports this module

        self._database_url = database_url
        self.sink = MailSink().__enter__()

    def env(self) -> dict[str, str]:
        """The sink as `[smtp]`, and the demo's contact form acknowledging each
        inquiry as the fault trials' form does."""
        from bench.chaos.faults import CHAOS_FORM  # it imports this module

        form = DEMO_FORM.model_dump(mode="json") | {
            "team": BENCH_TEAM["name"],
            "ack_subject": CHAOS_FORM["ack_subject"],
            "ack_body": CHAOS_FORM["ack_body"],
        }
        return {**self.sink.env(), "LEADFLOW_FORMS": json.dumps([form])}

    async def drained(self, timeout_s: float) -> dict[str, Any]:
        """Wait until the sink has every mail the store asked for; how many, and the
        seconds waited (the dispatcher's lag behind the leads)."""
        from bench.chaos.mail import expected_mail

        started = time.monotonic()
        while True:
            expected, _ = await expected_mail(self._database_url)
            missing = len(expected - set(self.sink.received()))
            if not missing or time.monotonic() - started > timeout_s:
                break
            await asyncio.sleep(0.5)  # each look reads every outbound row
        return {
            "mails_expected": len(expected),
            "mails_missing": missing,
            "mail_drain_seconds": round(time.monotonic() - started, 2),
        }

    def close(self) -> None:
        self.sink.__exit__()


async def run_store(store: Store, opts: Options, workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"runs": []}
    counter = LeadCounter(store.url)
    mail = Mail(store.url) if opts.smtp else None
    mail_env = mail.env() if mail else None
    try:
        log(f"{store.name}: starting LeadFlow (fresh store)")
        server = await start_leadflow(store, workdir, "fresh", opts.processes, mail_env)
        try:
            await warm_up(server, counter)
            log(f"{store.name}: throughput, {opts.n} inquiries")
            run = await throughput(server, counter, opts.n, opts.connections, 300, mail)
            run["leads_in_store_before"] = 50
            log(f"{store.name}: {run['e2e_per_s']:.0f} inquiries/s end to end")
            log(f"{store.name}: latency at {opts.rate:g}/s for {opts.latency_s:g} s")
            result["latency"] = await latency(server, counter, opts.rate, opts.latency_s, workdir)
            run.update(server.memory())
            result["runs"].append(run)
        finally:
            await server.stop()
        if opts.naive:
            log(f"{store.name}: naive app, {opts.naive_n} requests")
            naive = await start_naive(store, workdir)
            try:
                await warm_up(naive, counter)
                result["naive_throughput"] = await throughput(
                    naive, counter, opts.naive_n, opts.connections, 120
                )
                log(f"{store.name}: naive {result['naive_throughput']['e2e_per_s']:.0f}/s")
                result["naive_latency"] = await latency(
                    naive, counter, opts.rate, opts.naive_latency_s, workdir
                )
                result["naive_memory"] = naive.memory()
            finally:
                await naive.stop()
            lf = result["runs"][0]["e2e_per_s"]
            nv = result["naive_throughput"]["e2e_per_s"]
            result["ratio_leadflow_to_naive"] = round(lf / nv, 2) if nv else None
        for target in opts.preload:
            have = await count_leads(store.url)
            if have >= target:
                continue
            log(f"{store.name}: preloading {have:,} → {target:,} leads")

            loaded = await preload(store.url, target, progress=_progress_logger(have))
            log(f"{store.name}: preloaded in {loaded['seconds']:.0f} s")
            server = await start_leadflow(
                store, workdir, f"preload{target}", opts.processes, mail_env
            )
            try:
                await warm_up(server, counter, timeout_s=180)
                log(f"{store.name}: throughput at {target:,} leads")
                run = await throughput(server, counter, opts.n, opts.connections, 300, mail)
                run["leads_in_store_before"] = await count_leads(store.url) - opts.n
                run["preload_seconds"] = round(loaded["seconds"], 1)
                run.update(server.memory())
                result["runs"].append(run)
                log(f"{store.name}: {run['e2e_per_s']:.0f} inquiries/s end to end")
            except (RuntimeError, TimeoutError) as exc:
                # Keep what was measured; say what broke and keep the server's log.
                kept = opts.out.parent / f"{store.name}-preload{target}-leadflow.log"
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(server.log_path, kept)
                log(f"{store.name}: run at {target:,} leads failed: {exc} (log: {kept})")
                result.setdefault("errors", []).append(
                    {"leads": target, "error": str(exc), "leadflow_log": str(kept)}
                )
                break
            finally:
                await server.stop()
    finally:
        await counter.close()
        if mail is not None:
            mail.close()
    return result


# --------------------------------------------------------------------------- report


def _fmt(v: Any, spec: str = ",.0f") -> str:
    if v is None:
        return "-"
    if isinstance(v, int | float):
        return format(v, spec)
    return str(v)


def _print_wal(report: dict[str, Any]) -> None:
    runs = [
        (name, r)
        for name, res in report["stores"].items()
        for r in res.get("runs", [])
        if "wal_fpi_per_inquiry" in r
    ]
    if runs:
        print("PostgreSQL's WAL per inquiry (cluster-wide): records, full-page images, bytes")
    for name, r in runs:
        print(
            f"{name:<11}{_fmt(r.get('leads_in_store_before')):>13} leads: "
            f"{r['wal_records_per_inquiry']:.1f} records, {r['wal_fpi_per_inquiry']:.2f} FPI, "
            f"{r['wal_bytes_per_inquiry']:,.0f} B; "
            f"{r['checkpoints_during']:.0f} checkpoint(s) began"
        )


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print()
    print(
        f"LeadFlow end-to-end benchmark, {m['nproc']} x {m['cpu_model']}, "
        f"{m['mem_gib']} GiB, Python {m['python']}, SQLite {m['sqlite']}, "
        f"load average at start {m['loadavg_at_start'][0]:.2f}"
    )
    t = report["targets"]
    print(
        f"targets: ≥ {t['throughput_per_s']:,.0f} inquiries/s end to end on each store; "
        f"p99 ≤ {t['p99_ms_at_1000_per_s']:g} ms at 1,000/s; "
        f"per-inquiry cost at 1M leads: {t['per_inquiry_cost_growth_at_1m']}"
    )
    print()
    head = (
        f"{'store':<11}{'system':<10}{'leads before':>13}{'inquiries/s':>13}{'HTTP/s':>9}"
        f"{'app µs':>8}{'tansu µs':>9}{'pg µs':>7}{'wrk µs':>8}{'app peak':>10}{'tansu pk':>10}"
    )
    print("throughput (N POSTs → N committed, assigned leads); CPU µs per inquiry; peak RSS MiB")
    print(head)
    print("-" * len(head))
    for name, res in report["stores"].items():
        rows = [("leadflow", r) for r in res.get("runs", [])]
        if "naive_throughput" in res:
            rows.insert(1, ("naive", {**res["naive_throughput"], **res.get("naive_memory", {})}))
        for system, r in rows:
            print(
                f"{name:<11}{system:<10}{_fmt(r.get('leads_in_store_before')):>13}"
                f"{_fmt(r['e2e_per_s']):>13}{_fmt(r['http_per_s']):>9}"
                f"{_fmt(r['cpu_us_per_inquiry_app']):>8}"
                f"{_fmt(r['cpu_us_per_inquiry_tansu']):>9}"
                f"{_fmt(r['cpu_us_per_inquiry_postgres']):>7}"
                f"{_fmt(r['cpu_us_per_inquiry_loadgen']):>8}"
                f"{_fmt(r.get('app_peak_rss_mib'), '.0f'):>10}"
                f"{_fmt(r.get('tansu_peak_rss_mib'), '.0f'):>10}"
            )
    _print_wal(report)
    print()
    head = (
        f"{'store':<11}{'system':<10}{'rate/s':>8}{'committed':>10}"
        f"{'p50':>8}{'p99':>8}{'max':>8}{'ev p50':>8}{'ev p99':>8}{'ack p50':>8}{'ack p99':>8}"
    )
    print(
        "latency, ms from intended POST time: created_at (≤ commit), ev = lead.assigned event "
        "seen (≥ commit), ack = HTTP 202"
    )
    print(head)
    print("-" * len(head))
    for name, res in report["stores"].items():
        for system, key in (("leadflow", "latency"), ("naive", "naive_latency")):
            r = res.get(key)
            if not r:
                continue
            c, e, a = r["commit_created_at"], r.get("commit_event_seen", {}), r["http_ack"]
            print(
                f"{name:<11}{system:<10}{_fmt(r['rate_achieved_per_s']):>8}"
                f"{_fmt(r['committed']):>10}"
                f"{_fmt(c.get('p50_ms'), '.1f'):>8}{_fmt(c.get('p99_ms'), '.1f'):>8}"
                f"{_fmt(c.get('max_ms'), '.1f'):>8}"
                f"{_fmt(e.get('p50_ms'), '.1f'):>8}{_fmt(e.get('p99_ms'), '.1f'):>8}"
                f"{_fmt(a.get('p50_ms'), '.1f'):>8}{_fmt(a.get('p99_ms'), '.1f'):>8}"
            )
    print()
    for name, res in report["stores"].items():
        runs = res.get("runs", [])
        if runs:
            first = runs[0]
            verdict = "MET" if first["e2e_per_s"] >= t["throughput_per_s"] else "MISSED"
            print(f"{name}: throughput {first['e2e_per_s']:,.0f}/s: target {verdict}", end="")
        lat = res.get("latency", {}).get("commit_event_seen") or res.get("latency", {}).get(
            "commit_created_at", {}
        )
        if lat.get("p99_ms") is not None:
            verdict = "MET" if lat["p99_ms"] <= t["p99_ms_at_1000_per_s"] else "MISSED"
            print(f"; p99 {lat['p99_ms']:.1f} ms: target {verdict}", end="")
        if res.get("ratio_leadflow_to_naive"):
            print(f"; {res['ratio_leadflow_to_naive']:.1f}x the naive design", end="")
        if len(runs) > 1:
            base, last = runs[0], runs[-1]
            growth = (last["cpu_us_per_inquiry_app"] + last["cpu_us_per_inquiry_postgres"]) / max(
                1e-9, base["cpu_us_per_inquiry_app"] + base["cpu_us_per_inquiry_postgres"]
            )
            print(
                f"; CPU per inquiry at {last['leads_in_store_before']:,} leads: "
                f"{(growth - 1) * 100:+.0f}% vs fresh",
                end="",
            )
        print()


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run (~2-3 minutes)")
    p.add_argument("--n", type=int, help="inquiries per throughput run (50,000; quick 5,000)")
    p.add_argument("--naive-n", type=int, help="requests for the naive app (10,000; quick 1,500)")
    p.add_argument("--rate", type=float, default=1000.0, help="latency run rate per second")
    p.add_argument("--latency-seconds", type=float, help="latency run length (20; quick 4)")
    p.add_argument("--stores", default="sqlite,postgresql", help="comma list: sqlite,postgresql")
    p.add_argument(
        "--preload", help="comma list of store sizes in leads (100000,1000000; quick 100000)"
    )
    p.add_argument("--connections", type=int, default=50, help="wrk connections")
    p.add_argument("--no-naive", action="store_true", help="skip the naive comparison")
    p.add_argument(
        "--pg-admin-dsn",
        default=os.environ.get(
            "BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="where to CREATE/DROP the benchmark database (loopback only)",
    )
    p.add_argument(
        "--processes",
        choices=("auto", "one", "split"),
        help="leadflow up's mode (default: its own)",
    )
    p.add_argument(
        "--smtp",
        action="store_true",
        help="send every acknowledgement and notice to an SMTP sink; a throughput run "
        "then ends when all arrived, so its CPU includes mail (make run sends none)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = p.parse_args(argv)
    stores = [s.strip() for s in a.stores.split(",") if s.strip()]
    for s in stores:
        if s not in ("sqlite", "postgresql"):
            p.error(f"unknown store {s!r}")
    if a.preload is None:
        preload_sizes = [100_000] if a.quick else [100_000, 1_000_000]
    else:
        preload_sizes = [int(x) for x in a.preload.split(",") if x.strip()]
    return Options(
        n=a.n or (5_000 if a.quick else 50_000),
        naive_n=a.naive_n or (1_500 if a.quick else 10_000),
        rate=a.rate,
        latency_s=a.latency_seconds or (4.0 if a.quick else 20.0),
        naive_latency_s=min(a.latency_seconds or 10.0, 4.0 if a.quick else 10.0),
        preload=sorted(preload_sizes),
        connections=a.connections,
        stores=stores,
        pg_admin_dsn=a.pg_admin_dsn,
        out=a.out,
        naive=not a.no_naive,
        quick=a.quick,
        processes=a.processes,
        smtp=a.smtp,
    )


async def amain(opts: Options) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    report: dict[str, Any] = {
        "started_at": now_utc().isoformat(),
        "machine": machine_info(),
        "targets": TARGETS,
        "options": {
            "n": opts.n,
            "naive_n": opts.naive_n,
            "rate": opts.rate,
            "latency_seconds": opts.latency_s,
            "naive_latency_seconds": opts.naive_latency_s,
            "preload": opts.preload,
            "connections": opts.connections,
            "smtp": opts.smtp,
            "quick": opts.quick,
            "processes": opts.processes,
        },
        "method": __doc__,
        "stores": {},
    }
    factories: dict[str, Callable[[Path], contextlib.AbstractAsyncContextManager[Store]]] = {
        "sqlite": sqlite_store,
        "postgresql": lambda _w: postgres_store(opts.pg_admin_dsn),
    }
    for name in opts.stores:
        with tempfile.TemporaryDirectory(prefix=f"leadflow-bench-{name}-") as tmp:
            async with factories[name](Path(tmp)) as store:
                report["stores"][name] = await run_store(store, opts, Path(tmp))
        write_report(report, opts.out)  # after each store: a later failure keeps these
    report["finished_at"] = now_utc().isoformat()
    return report


def write_report(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    report = asyncio.run(amain(opts))
    write_report(report, opts.out)
    print_report(report)
    print(f"\nresults written to {opts.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
