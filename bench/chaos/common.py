"""What every fault trial shares: its configuration, its work directory, how it
starts `leadflow up`, and how it ends (stop the load, settle, count).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.chaos.faults import Role, leadflow_env
from bench.chaos.load import FormLoad, StoreReader, summarize
from bench.e2e import Store, free_port

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


def prefix_for(name: str) -> str:
    return f"{name.replace('-', '')}{int(time.time() * 1000)}"


async def finish(
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
    ready = {role.name: await ready_status(role) for role in roles}
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
async def sqlite_store(ws: Workspace) -> AsyncIterator[Store]:
    yield Store("sqlite", f"sqlite+aiosqlite:///{ws.dir / 'chaos.db'}")


def workspace(cfg: Config, name: str, base: Path) -> Workspace:
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    return Workspace(name, path, cfg.logs_dir, cfg.keep_workspaces, cfg.log_level)


def up_role(
    ws: Workspace,
    store: Store,
    bootstrap: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Role:
    port = free_port()
    env = leadflow_env(
        database_url=store.url,
        port=port,
        data_dir=ws.dir / "data",
        bootstrap=bootstrap,
        log_level=ws.log_level,
    )
    return Role(["up"], env | (extra_env or {}), port, ws.dir / "leadflow-up.log")


async def ready_status(role: Role) -> int | None:
    """/readyz status at the end (None: no answer)."""
    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.get(role.url + "/readyz") as resp,
        ):
            return resp.status
    return None
