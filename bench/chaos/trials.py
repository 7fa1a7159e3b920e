"""The fault trials. Each returns one or more result rows (dicts) for the report.

Every trial runs in its own work directory with its own store (a SQLite file, or a
PostgreSQL database it creates and drops), its own data_dir and its own broker, sends
unique web-form posts through `FormLoad`, injects its fault, stops the load, waits a
bounded time for every accepted post to become a lead, and counts by SQL. What they
share is in `bench.chaos.common`; the poison trial is in `bench.chaos.poison`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.chaos.common import (
    LEAD_IN_S,
    LEAD_OUT_S,
    Config,
    finish,
    prefix_for,
    sqlite_store,
    up_role,
    workspace,
)
from bench.chaos.faults import (
    Proxy,
    Role,
    Tansu,
    leadflow_env,
    refuse_connections,
    run_leadflow,
)
from bench.chaos.load import FormLoad, in_window
from bench.chaos.mail import MailSink, count_mail
from bench.chaos.poison import poison
from bench.e2e import Store, free_port, log, postgres_store

# --------------------------------------------------------------------------- 1. up killed


async def up_kill(cfg: Config, base: Path) -> list[dict[str, Any]]:
    """`leadflow up` (SQLite, embedded Tansu) killed -9 as a group `kills` times under load."""

    async def kill(role: Role) -> float:
        if role.note_exit() is not None:
            log("up-kill: leadflow had exited by itself before this kill")
        await role.kill9()
        return round(await role.start(), 1)

    fault = f"{cfg.kills} x kill -9 of the process group"
    return await _kills_under_load(
        cfg, base, "up-kill", cfg.kills, kill, fault, "restart_s", with_mail=False
    )


async def embedded_broker_kill(cfg: Config, base: Path) -> list[dict[str, Any]]:
    """`leadflow up` (SQLite, embedded Tansu) whose Tansu is killed -9 `BROKER_KILLS`
    times under load: `leadflow up` starts a new, empty one on the same port, and the
    edge journal republishes what the store had not confirmed. It sends its
    acknowledgements and notices through an SMTP sink, which counts them: what the
    lost broker held for the notifier and the dispatcher is published again from the
    outbox (`bench.chaos.mail`)."""

    async def kill(role: Role) -> float:
        return round(await _kill_embedded_broker(role), 2)

    fault = f"{BROKER_KILLS} x kill -9 of the embedded Tansu"
    name = "embedded-broker-kill"
    return await _kills_under_load(
        cfg, base, name, BROKER_KILLS, kill, fault, "back_after_s", with_mail=True
    )


async def _kills_under_load(
    cfg: Config,
    base: Path,
    name: str,
    kills: int,
    kill: Callable[[Role], Awaitable[float]],
    fault: str,
    times_key: str,
    *,
    with_mail: bool,
) -> list[dict[str, Any]]:
    """`leadflow up` (SQLite, embedded Tansu) under load, `kill` applied `kills` times
    (each returns the seconds until what it killed was back); the trial's row. With
    `with_mail`, through an SMTP sink, and the row counts the mail too."""
    ws = workspace(cfg, name, base)
    rng = random.Random(cfg.seed)
    started = time.monotonic()
    with MailSink() if with_mail else contextlib.nullcontext() as sink:
        async with sqlite_store(ws) as store:
            role = up_role(ws, store, extra_env=sink.env() if sink else None)
            await role.start()
            back: list[float] = []
            try:
                load = FormLoad(role.url + "/forms/chaos", prefix_for(name), cfg.rate)
                async with load:
                    await asyncio.sleep(LEAD_IN_S)
                    for k in range(kills):
                        await asyncio.sleep(rng.uniform(*cfg.kill_gap_s))
                        back.append(await kill(role))
                        log(f"{name}: kill {k + 1}/{kills}, back in {back[-1]:g} s")
                    await asyncio.sleep(LEAD_OUT_S)
                    extra = {"faults": fault, times_key: back}
                    row = await finish(name, store, load, [role], cfg, started, extra)
                if sink is not None:
                    row |= await count_mail(store.url, sink, MAIL_WAIT_S)
            finally:
                await role.stop()
                ws.keep_logs()
    return [row]


BROKER_KILLS = 3
# After the leads settled: the acknowledgements and notices still on their way.
MAIL_WAIT_S = 120.0


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
    ws = workspace(cfg, name, base)
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
            load = FormLoad(connectors.url + "/forms/chaos", prefix_for(name), cfg.rate)
            async with load:
                await asyncio.sleep(LEAD_IN_S)
                for role in roles:
                    await role.kill9()
                    restarts[role.name] = round(await role.start(), 1)
                    log(f"{name}: killed {role.name}, back in {restarts[role.name]:.1f} s")
                    await asyncio.sleep(LEAD_IN_S)
                await asyncio.sleep(LEAD_OUT_S - LEAD_IN_S)
                row = await finish(
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
    load = FormLoad(role.url + "/forms/chaos", prefix_for(name), cfg.rate)
    async with load:
        await asyncio.sleep(LEAD_IN_S)
        t0 = time.time()
        async with fault:
            await asyncio.sleep(hold_s)
        t1 = time.time()
        log(f"{name}: fault over after {t1 - t0:.0f} s")
        await asyncio.sleep(LEAD_OUT_S)
        return await finish(
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
    ws = workspace(cfg, name, base)
    started = time.monotonic()
    tansu_port, proxy_port = free_port(), free_port()
    tansu = Tansu(tansu_port, advertised_port=proxy_port)
    proxy = Proxy(proxy_port, tansu_port)
    await tansu.start()
    await proxy.restore()
    role: Role | None = None
    try:
        async with sqlite_store(ws) as store:
            role = up_role(ws, store, bootstrap=f"127.0.0.1:{proxy_port}")
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
    ws = workspace(cfg, name, base)
    started = time.monotonic()
    async with postgres_store(cfg.pg_admin_dsn) as store:
        database = store.url.rsplit("/", 1)[1]
        role = up_role(ws, store)
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


__all__ = ["TRIALS", "Config"]

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
