"""The fault trials. Each returns one or more result rows (dicts) for the report.

Every trial runs in its own work directory with its own store (a SQLite file, or a
PostgreSQL database it creates and drops), its own data_dir and its own broker, sends
unique web-form posts through `FormLoad`, injects its fault, stops the load, waits a
bounded time for every accepted post to become a lead, and counts by SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bench.chaos.faults import (
    ADMIN_TOKEN,
    Proxy,
    Role,
    Tansu,
    leadflow_env,
    refuse_connections,
    run_leadflow,
)
from bench.chaos.load import FormLoad, StoreReader, in_window, summarize
from bench.e2e import Store, free_port, log, postgres_store

# Post this long before the first fault and after the last, so both edges carry load.
LEAD_IN_S = 5.0
LEAD_OUT_S = 10.0


@dataclass(slots=True)
class Config:
    rate: float
    kills: int
    kill_gap_s: tuple[float, float]
    broker_outage_s: float
    db_outage_s: float
    settle_s: float
    poison_normal: int
    pg_admin_dsn: str
    logs_dir: Path
    seed: int
    keep_workspaces: bool = False
    log_level: str = "WARNING"  # LeadFlow's own, in each trial's process logs


@dataclass(slots=True)
class Workspace:
    name: str
    dir: Path
    logs_dir: Path
    keep_all: bool = False
    log_level: str = "WARNING"

    def keep_logs(self) -> None:
        """Copy this trial's process logs next to the results; with `keep_all`, the
        whole workspace too (the SQLite store, the edge journal): which inquiries came
        late, and where they waited, is only in those."""
        dest = self.logs_dir / self.name
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True, exist_ok=True)
        for path in self.dir.glob("*.log"):
            shutil.copyfile(path, dest / path.name)
        if self.keep_all:
            shutil.copytree(self.dir, dest / "workspace", dirs_exist_ok=True)


def _prefix(name: str) -> str:
    return f"{name.replace('-', '')}{int(time.time() * 1000)}"


async def _finish(
    name: str,
    store: Store,
    load: FormLoad,
    roles: list[Role],
    cfg: Config,
    started: float,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Stop the load, settle, count; the trial's row."""
    await load.stop()
    notes: list[str] = []
    reader = StoreReader(store.url)
    try:
        tally, settle = await reader.settle(load.prefix, load.posts, cfg.settle_s)
    finally:
        await reader.close()
    # After the settle: a role that died (or stopped being ready) while we waited counts.
    for role in roles:
        code = role.note_exit()
        if code is not None or role.exits:
            notes.append(f"leadflow {role.name} exited by itself (codes {role.exits})")
    ready = {role.name: await _ready(role) for role in roles}
    row: dict[str, Any] = {
        "trial": name,
        "store": store.name,
        **summarize(load.posts, tally),
        "settle_s": settle,
        "settled": settle is not None,
        "settle_bound_s": cfg.settle_s,
        "load_rate_per_s": load.rate,
        "load_seconds": round(load.stopped_at - load.started_at, 1),
        "wall_seconds": round(time.monotonic() - started, 1),
        "ready_after": ready,
        **extra,
        "notes": notes,
    }
    if settle is None:
        notes.append(f"not settled within {cfg.settle_s:g} s")
    return row


@contextlib.asynccontextmanager
async def _sqlite(ws: Workspace) -> AsyncIterator[Store]:
    yield Store("sqlite", f"sqlite+aiosqlite:///{ws.dir / 'chaos.db'}")


def _workspace(cfg: Config, name: str, base: Path) -> Workspace:
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    return Workspace(name, path, cfg.logs_dir, cfg.keep_workspaces, cfg.log_level)


def _up(ws: Workspace, store: Store, bootstrap: str | None = None) -> Role:
    port = free_port()
    env = leadflow_env(
        database_url=store.url,
        port=port,
        data_dir=ws.dir / "data",
        bootstrap=bootstrap,
        log_level=ws.log_level,
    )
    return Role(["up"], env, port, ws.dir / "leadflow-up.log")


# --------------------------------------------------------------------------- 1. up killed


async def up_kill(cfg: Config, base: Path) -> list[dict[str, Any]]:
    """`leadflow up` (SQLite, embedded Tansu) killed -9 as a group `kills` times under load."""

    async def kill(role: Role) -> float:
        if role.note_exit() is not None:
            log("up-kill: leadflow had exited by itself before this kill")
        await role.kill9()
        return round(await role.start(), 1)

    fault = f"{cfg.kills} x kill -9 of the process group"
    return await _kills_under_load(cfg, base, "up-kill", cfg.kills, kill, fault, "restart_s")


async def embedded_broker_kill(cfg: Config, base: Path) -> list[dict[str, Any]]:
    """`leadflow up` (SQLite, embedded Tansu) whose Tansu is killed -9 `BROKER_KILLS`
    times under load: `leadflow up` starts a new, empty one on the same port, and the
    edge journal republishes what the store had not confirmed."""

    async def kill(role: Role) -> float:
        return round(await _kill_embedded_broker(role), 2)

    fault = f"{BROKER_KILLS} x kill -9 of the embedded Tansu"
    name = "embedded-broker-kill"
    return await _kills_under_load(cfg, base, name, BROKER_KILLS, kill, fault, "back_after_s")


async def _kills_under_load(
    cfg: Config,
    base: Path,
    name: str,
    kills: int,
    kill: Callable[[Role], Awaitable[float]],
    fault: str,
    times_key: str,
) -> list[dict[str, Any]]:
    """`leadflow up` (SQLite, embedded Tansu) under load, `kill` applied `kills` times
    (each returns the seconds until what it killed was back); the trial's row."""
    ws = _workspace(cfg, name, base)
    rng = random.Random(cfg.seed)
    started = time.monotonic()
    async with _sqlite(ws) as store:
        role = _up(ws, store)
        await role.start()
        back: list[float] = []
        try:
            load = FormLoad(role.url + "/forms/chaos", _prefix(name), cfg.rate)
            async with load:
                await asyncio.sleep(LEAD_IN_S)
                for k in range(kills):
                    await asyncio.sleep(rng.uniform(*cfg.kill_gap_s))
                    back.append(await kill(role))
                    log(f"{name}: kill {k + 1}/{kills}, back in {back[-1]:g} s")
                await asyncio.sleep(LEAD_OUT_S)
                extra = {"faults": fault, times_key: back}
                row = await _finish(name, store, load, [role], cfg, started, extra)
        finally:
            await role.stop()
            ws.keep_logs()
    return [row]


BROKER_KILLS = 3


async def _kill_embedded_broker(role: Role) -> float:
    """Kill -9 the Tansu that `role` (`leadflow up`) started; the seconds until a new
    one runs in its place."""
    assert role.process is not None
    parent = role.process.pid
    old = await _broker_child(parent)
    if old is None:
        raise RuntimeError(f"no Tansu child of leadflow up (pid {parent})")
    os.kill(old, signal.SIGKILL)
    t0 = time.monotonic()
    while time.monotonic() - t0 < READY_WAIT_S:
        if (await _broker_child(parent)) not in (None, old):
            return time.monotonic() - t0
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no new Tansu within {READY_WAIT_S:g} s of the kill")


READY_WAIT_S = 60.0


async def _broker_child(parent: int) -> int | None:
    out = await asyncio.create_subprocess_exec(
        "ps", "--ppid", str(parent), "-o", "pid=,args=", stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await out.communicate()
    for line in stdout.decode().splitlines():
        pid, _, args = line.strip().partition(" ")
        if "tansu" in args:
            return int(pid)
    return None


# --------------------------------------------------------------------------- 2. serve roles


async def serve_kill(cfg: Config, base: Path) -> list[dict[str, Any]]:
    """Production layout: external Tansu, PostgreSQL, three `serve` roles; kill -9 each once."""
    name = "serve-kill"
    ws = _workspace(cfg, name, base)
    started = time.monotonic()
    tansu = Tansu(free_port())
    await tansu.start()
    bootstrap = f"127.0.0.1:{tansu.port}"
    roles: list[Role] = []
    try:
        async with postgres_store(cfg.pg_admin_dsn) as store:
            env = leadflow_env(
                database_url=store.url,
                port=0,
                data_dir=ws.dir / "data",
                bootstrap=bootstrap,
                log_level=ws.log_level,
            )
            for args in (["migrate"], ["topics", "create"]):
                code = await run_leadflow(args, env, ws.dir / "setup.log")
                if code != 0:
                    raise RuntimeError(f"leadflow {' '.join(args)} exited {code}")
            for role_name in ("ingest", "connectors", "console"):
                port = free_port()
                # Each role keeps its own data_dir (an edge journal is per process).
                role_env = {
                    **env,
                    "LEADFLOW_DATA_DIR": str(ws.dir / f"data-{role_name}"),
                    "LEADFLOW_HTTP__PORT": str(port),
                    "LEADFLOW_DATABASE__AUTO_MIGRATE": "false",
                }
                role = Role(["serve", role_name], role_env, port, ws.dir / f"{role_name}.log")
                await role.start()
                roles.append(role)
            connectors = roles[1]
            restarts: dict[str, float] = {}
            load = FormLoad(connectors.url + "/forms/chaos", _prefix(name), cfg.rate)
            async with load:
                await asyncio.sleep(LEAD_IN_S)
                for role in roles:
                    await role.kill9()
                    restarts[role.name] = round(await role.start(), 1)
                    log(f"{name}: killed {role.name}, back in {restarts[role.name]:.1f} s")
                    await asyncio.sleep(LEAD_IN_S)
                await asyncio.sleep(LEAD_OUT_S - LEAD_IN_S)
                row = await _finish(
                    name,
                    store,
                    load,
                    roles,
                    cfg,
                    started,
                    {"faults": "kill -9 of ingest, connectors, console", "restart_s": restarts},
                )
            for role in roles:
                await role.stop()
    finally:
        for role in roles:
            await role.stop()
        await tansu.stop()
        ws.keep_logs()
    return [row]


# --------------------------------------------------------------------------- 3. broker


async def _fault_under_load(
    name: str,
    store: Store,
    role: Role,
    cfg: Config,
    started: float,
    fault: contextlib.AbstractAsyncContextManager[None],
    hold_s: float,
    description: str,
) -> dict[str, Any]:
    """Load, then `fault` held for `hold_s`, then load again; the row, with the window."""
    load = FormLoad(role.url + "/forms/chaos", _prefix(name), cfg.rate)
    async with load:
        await asyncio.sleep(LEAD_IN_S)
        t0 = time.time()
        async with fault:
            await asyncio.sleep(hold_s)
        t1 = time.time()
        log(f"{name}: fault over after {t1 - t0:.0f} s")
        await asyncio.sleep(LEAD_OUT_S)
        return await _finish(
            name,
            store,
            load,
            [role],
            cfg,
            started,
            {"faults": description, "during_fault": in_window(load.posts, t0, t1)},
        )


BrokerFault = Callable[[Tansu, Proxy], contextlib.AbstractAsyncContextManager[None]]


async def _broker_fault(
    cfg: Config, base: Path, name: str, fault: BrokerFault, description: str
) -> dict[str, Any]:
    """`leadflow up` (SQLite) on an external Tansu reached through a proxy; one fault."""
    ws = _workspace(cfg, name, base)
    started = time.monotonic()
    tansu_port, proxy_port = free_port(), free_port()
    tansu = Tansu(tansu_port, advertised_port=proxy_port)
    proxy = Proxy(proxy_port, tansu_port)
    await tansu.start()
    await proxy.restore()
    role: Role | None = None
    try:
        async with _sqlite(ws) as store:
            role = _up(ws, store, bootstrap=f"127.0.0.1:{proxy_port}")
            await role.start()
            return await _fault_under_load(
                name,
                store,
                role,
                cfg,
                started,
                fault(tansu, proxy),
                cfg.broker_outage_s,
                description,
            )
    finally:
        if role is not None:
            await role.stop()
        await proxy.close()
        await tansu.stop()
        ws.keep_logs()


async def _ready(role: Role) -> int | None:
    """/readyz status at the end (None: no answer)."""
    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.get(role.url + "/readyz") as resp,
        ):
            return resp.status
    return None


@contextlib.asynccontextmanager
async def _frozen(tansu: Tansu, _proxy: Proxy) -> AsyncIterator[None]:
    tansu.freeze()
    try:
        yield
    finally:
        tansu.thaw()


@contextlib.asynccontextmanager
async def _cut(_tansu: Tansu, proxy: Proxy) -> AsyncIterator[None]:
    await proxy.cut()
    try:
        yield
    finally:
        await proxy.restore()


@contextlib.asynccontextmanager
async def _restarted_empty(tansu: Tansu, _proxy: Proxy) -> AsyncIterator[None]:
    # The fault is the lost state: the new broker has no topics and no offsets. It is up
    # at once; the window that follows is when the spine must cope with it.
    await tansu.kill9()
    await tansu.start()
    yield


async def broker_frozen(cfg: Config, base: Path) -> list[dict[str, Any]]:
    return [
        await _broker_fault(
            cfg, base, "broker-frozen", _frozen, f"Tansu SIGSTOP for {cfg.broker_outage_s:g} s"
        )
    ]


async def broker_unreachable(cfg: Config, base: Path) -> list[dict[str, Any]]:
    return [
        await _broker_fault(
            cfg,
            base,
            "broker-unreachable",
            _cut,
            f"proxy drops and refuses connections for {cfg.broker_outage_s:g} s",
        )
    ]


async def broker_empty(cfg: Config, base: Path) -> list[dict[str, Any]]:
    return [
        await _broker_fault(
            cfg,
            base,
            "broker-empty",
            _restarted_empty,
            f"Tansu kill -9, a new empty one on the same port, {cfg.broker_outage_s:g} s watched",
        )
    ]


# --------------------------------------------------------------------------- 4. database


async def db_refusing(cfg: Config, base: Path) -> list[dict[str, Any]]:
    """`leadflow up` (embedded Tansu) on PostgreSQL that refuses connections for a while."""
    name = "db-refusing"
    ws = _workspace(cfg, name, base)
    started = time.monotonic()
    async with postgres_store(cfg.pg_admin_dsn) as store:
        database = store.url.rsplit("/", 1)[1]
        role = _up(ws, store)
        await role.start()
        try:
            row = await _fault_under_load(
                name,
                store,
                role,
                cfg,
                started,
                refuse_connections(cfg.pg_admin_dsn, database),
                cfg.db_outage_s,
                f"ALLOW_CONNECTIONS false for {cfg.db_outage_s:g} s",
            )
        finally:
            await role.stop()
            ws.keep_logs()
    return [row]


# --------------------------------------------------------------------------- 5. poison


def _hostile_posts(prefix: str) -> list[tuple[str, dict[str, str], bytes, str]]:
    """(kind, headers, body, content type) for each hostile web-form post."""

    def form(i: int, **fields: str) -> bytes:
        body = {"name": "Poison", "email": f"{prefix}-p{i}@chaos.test", "message": "poison"}
        body.update(fields)
        return urlencode(body).encode()

    urlenc = "application/x-www-form-urlencoded"
    deep = b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    long = "x" * 5000
    return [
        ("name=a%00b", {}, form(1, name="a\x00b"), urlenc),
        ("name of 501 chars", {}, form(2, name="n" * 501), urlenc),
        ("Referer of 5,000 chars", {"Referer": "https://e.test/" + long}, form(3), urlenc),
        ("User-Agent of 5,000 chars", {"User-Agent": long}, form(4), urlenc),
        ("utm_source of 5,000 chars", {}, form(5, utm_source=long), urlenc),
        ("Idempotency-Key of 5,000 chars", {"Idempotency-Key": long}, form(6), urlenc),
        ("JSON nested 100,000 deep", {}, deep, "application/json"),
        (
            "invalid UTF-8 (JSON)",
            {},
            b'{"name": "\xff\xfe", "email": "a@b.test"}',
            "application/json",
        ),
        (
            "invalid UTF-8 (form)",
            {},
            b"name=\xff\xfe&email=" + prefix.encode() + b"-p9%40chaos.test",
            urlenc,
        ),
        ("X-Forwarded-For entry of 80 chars", {"X-Forwarded-For": "f" * 80}, form(10), urlenc),
    ]


async def _call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    json_body: Any = None,
) -> tuple[int, Any]:
    """(status, parsed JSON or text); status 0 when there was no answer."""
    try:
        async with http.request(method, url, headers=headers, data=data, json=json_body) as resp:
            text = await resp.text(errors="replace")
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text[:300]
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return 0, repr(exc)


async def _admin_poison(http: aiohttp.ClientSession, url: str, prefix: str) -> list[dict[str, Any]]:
    """A 400-char company on a manual lead; a manager given `Europe/Moskow` and `25:00`."""
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    out: list[dict[str, Any]] = []
    status, _ = await _call(
        http,
        "POST",
        url + "/api/v1/leads",
        headers=auth,
        json_body={"name": "Poison", "email": f"{prefix}-p11@chaos.test", "company": "c" * 400},
    )
    out.append({"kind": "manual lead, company of 400 chars", "status": status})
    status, user = await _call(
        http,
        "POST",
        url + "/api/v1/admin/users",
        headers=auth,
        json_body={"email": f"{prefix}-moskow@chaos.test", "name": "Moskow Manager"},
    )
    user_id = user.get("id") if isinstance(user, dict) else None
    _, teams = await _call(http, "GET", url + "/api/v1/admin/teams", headers=auth)
    team_id = (
        next((t["id"] for t in (teams or {}).get("items", []) if t.get("name") == "Sales"), None)
        if isinstance(teams, dict)
        else None
    )
    if user_id is None or team_id is None:
        out.append({"kind": "manager setup", "status": status, "error": f"{user} {teams}"})
        return out
    status, _ = await _call(
        http,
        "PUT",
        f"{url}/api/v1/admin/teams/{team_id}/members/{user_id}",
        headers=auth,
        json_body={"capacity": 100_000},
    )
    if status >= 300:
        out.append({"kind": "manager joins Sales", "status": status})
    week = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    for kind, patch in (
        ("manager time zone Europe/Moskow", {"timezone": "Europe/Moskow"}),
        ("manager hours 09:00-25:00", {"working_hours": {d: [["09:00", "25:00"]] for d in week}}),
    ):
        status, _ = await _call(
            http, "PATCH", f"{url}/api/v1/admin/users/{user_id}", headers=auth, json_body=patch
        )
        out.append({"kind": kind, "status": status})
    return out


async def poison(cfg: Config, base: Path) -> list[dict[str, Any]]:
    """One hostile input of each kind, then normal posts that must all become leads."""
    name = "poison"
    ws = _workspace(cfg, name, base)
    started = time.monotonic()
    async with postgres_store(cfg.pg_admin_dsn) as store:
        role = _up(ws, store)
        await role.start()
        try:
            prefix = _prefix(name)
            items: list[dict[str, Any]] = []
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
                for kind, headers, body, ctype in _hostile_posts(prefix):
                    status, _ = await _call(
                        http,
                        "POST",
                        role.url + "/forms/chaos",
                        headers={**headers, "Content-Type": ctype},
                        data=body,
                    )
                    items.append({"kind": kind, "status": status})
                items.extend(await _admin_poison(http, role.url, prefix))
            for item in items:
                log(f"{name}: {item['kind']}: {item['status']}")
            # The normal posts follow, at the trial rate, as many as asked.
            load = FormLoad(
                role.url + "/forms/chaos", prefix + "n", cfg.rate, count=cfg.poison_normal
            )
            async with load:
                await load.finished()
            hostile_5xx = sum(1 for i in items if i["status"] >= 500)
            row = await _finish(
                name,
                store,
                load,
                [role],
                cfg,
                started,
                {
                    "faults": f"{len(items)} hostile inputs, then {cfg.poison_normal} normal posts",
                    "hostile": items,
                    "hostile_5xx": hostile_5xx,
                    "hostile_unanswered": sum(1 for i in items if i["status"] == 0),
                },
            )
            row["server_errors_5xx"] += hostile_5xx
        finally:
            await role.stop()
            ws.keep_logs()
    return [row]


TRIALS: dict[str, Callable[[Config, Path], Awaitable[list[dict[str, Any]]]]] = {
    "up-kill": up_kill,
    "embedded-broker-kill": embedded_broker_kill,
    "serve-kill": serve_kill,
    "broker-frozen": broker_frozen,
    "broker-unreachable": broker_unreachable,
    "broker-empty": broker_empty,
    "db-refusing": db_refusing,
    "poison": poison,
}
