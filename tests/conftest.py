"""Shared fixtures: a real Tansu broker per session, SQLite and PostgreSQL stores.

Nothing here is mocked: the broker is the real binary, both databases are real.
A missing PostgreSQL fails the tests (it never skips them silently).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crm_store.database import Database, open_database
from crm_store.migrate import upgrade
from crm_store.models import Base
from ingest.contract import Topics
from leadflow.broker import create_topics, free_port, tansu_binary

PG_ADMIN_URL = os.environ.get(
    "LEADFLOW_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@dataclass
class BrokerProcess:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_tansu(port: int | None = None) -> BrokerProcess:
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return BrokerProcess(port, process)
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise RuntimeError("Tansu did not start listening within 15 s")


def stop_tansu(broker: BrokerProcess) -> None:
    broker.process.send_signal(signal.SIGTERM)
    try:
        broker.process.wait(5)
    except subprocess.TimeoutExpired:
        broker.process.kill()
        broker.process.wait()


@pytest.fixture
def own_broker() -> Iterator[BrokerProcess]:
    """A Tansu of this test alone, which it may freeze, kill or restart empty."""
    b = start_tansu()
    yield b
    stop_tansu(b)


@pytest.fixture(scope="session")
def broker() -> Iterator[BrokerProcess]:
    b = start_tansu()
    yield b
    stop_tansu(b)


@pytest.fixture
async def topics(broker: BrokerProcess) -> Topics:
    """Fresh topics per test (a unique prefix), so tests never see each other's messages."""
    t = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    await create_topics(broker.bootstrap_servers, t, partitions=3)
    return t


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this session, migrated once."""
    name = f"leadflow_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _psql(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    upgrade(url)
    yield url
    _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _psql(sql: str) -> None:
    result = subprocess.run(
        ["psql", PG_ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-qc", sql],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"PostgreSQL is required for the store tests: {result.stderr.strip()}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session; each test gets a copy (a migration
    from scratch takes about a second, and some 250 tests want a fresh store)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "leadflow.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    if Path(f"{path}-wal").exists():
        pytest.fail(
            "the migrated SQLite template kept a write-ahead log; copying it would lose data"
        )
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs twice: on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp_path / "leadflow.db")
        return f"sqlite+aiosqlite:///{tmp_path}/leadflow.db"
    url: str = request.getfixturevalue("pg_url")
    _truncate_pg(url)
    return url


def _truncate_pg(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    dbname = url.rsplit("/", 1)[1]
    _psql_db(dbname, f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def _psql_db(dbname: str, sql: str) -> None:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    subprocess.run(
        ["psql", f"{base}/{dbname}", "-v", "ON_ERROR_STOP=1", "-qc", sql],
        check=True,
        capture_output=True,
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with open_database(database_url) as database:
        yield database
