"""Two `leadflow serve ingest` processes in one consumer group, on PostgreSQL.

Real processes, the real broker: no lead is made or assigned twice, and the
round-robin stays fair across the processes (max - min <= 1 per manager).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm_store.database import open_database
from crm_store.models import AssignmentLedger, Lead
from ingest.contract import Sender, Topics
from leadflow.broker import free_port

from ..conftest import BrokerProcess, _truncate_pg
from ..factories import make_inquiry
from .helpers import seed_team
from .test_web_to_lead import _produce

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
N = 120  # 40 each: under the seeded capacity of 50 open leads per manager


def start_ingest(
    broker: BrokerProcess, topics: Topics, url: str, tmp: Path, n: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LEADFLOW_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "LEADFLOW_KAFKA__TOPIC_PREFIX": topics.prefix,
        "LEADFLOW_KAFKA__SESSION_TIMEOUT_MS": "2000",
        "LEADFLOW_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
        "LEADFLOW_KAFKA__MAX_BATCH": "20",
        "LEADFLOW_DATABASE__URL": url,
        "LEADFLOW_DATABASE__AUTO_MIGRATE": "false",
        "LEADFLOW_HTTP__PORT": str(free_port()),
        "LEADFLOW_DATA_DIR": str(tmp / f"data{n}"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "leadflow", "serve", "ingest"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_two_ingest_processes_never_assign_twice_and_stay_fair(
    broker: BrokerProcess, topics: Topics, pg_url: str, tmp_path: Path
) -> None:
    _truncate_pg(pg_url)
    async with open_database(pg_url) as db:
        members = await seed_team(db)
        procs = [start_ingest(broker, topics, pg_url, tmp_path, n) for n in range(2)]
        try:
            inquiries = [make_inquiry(sender=Sender(email=f"p{i}@example.com")) for i in range(N)]
            await _produce(
                broker, topics.inquiries, [i.model_dump_json().encode() for i in inquiries]
            )
            async with asyncio.timeout(90):
                while True:
                    async with db.sessions() as session:
                        done = await session.scalar(select(func.count()).select_from(Lead))
                    if done == N:
                        break
                    assert all(p.poll() is None for p in procs), "an ingest process died"
                    await asyncio.sleep(0.2)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            errors = [p.communicate(timeout=30)[1].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0], errors
        async with db.sessions() as session:
            per_manager = Counter(await session.scalars(select(Lead.assignee_id)))
            ledger = Counter(
                await session.scalars(
                    select(AssignmentLedger.lead_id).where(AssignmentLedger.kind == "assigned")
                )
            )
    assert sum(per_manager.values()) == N
    assert set(per_manager) == set(members)
    assert max(per_manager.values()) - min(per_manager.values()) <= 1
    assert len(ledger) == N and set(ledger.values()) == {1}, "each lead assigned exactly once"
