"""How fast a manager's counters answer with 1,000,000 activities in PostgreSQL.

Fills a fresh database with `generate_series` (200k leads, 1M activities over 50
managers: done, planned in the future, overdue, due soon), ANALYZEs it, then
times `crm_store.queue.counters` for one manager and for the head of sales.
Run: `.venv/bin/python -m bench.counters [--activities N]`. Target: < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from crm_store.accounts import Principal
from crm_store.database import open_database
from crm_store.migrate import upgrade_async
from crm_store.queue import counters

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MANAGERS = 50
TARGET_MS = 50.0


def _psql(sql: str, db: str = "postgres") -> None:
    subprocess.run(
        ["psql", f"postgresql://postgres@127.0.0.1:5432/{db}", "-qc", sql],
        check=True,
        capture_output=True,
    )


FILL = """
INSERT INTO app_user (id, email, name, role, active, timezone, created_at)
SELECT g, 'm' || g || '@bench.test', 'Manager ' || g, 'manager', true, 'UTC', now()
FROM generate_series(1, {managers}) g;
INSERT INTO team (id, name, strategy, rotation_state, escalation, escalation_grace_minutes,
                  escalation_max_hops, created_at)
VALUES (1, 'Sales', 'round_robin', '{{}}', 'reassign', 15, 2, now());
INSERT INTO lead (id, status, channel, title, team_id, assignee_id, spam_score, spam_reasons,
                  source, needs_review, decision, escalation_hops, created_at, updated_at,
                  assigned_at, first_contact_due_at)
SELECT md5('lead' || g)::uuid,
       (ARRAY['new','new','in_progress','converted','junk'])[1 + g % 5],
       'web_form', 'Lead ' || g, 1, 1 + g % {managers}, 0, '[]', '{{}}', false, '{{}}', 0,
       now() - (g % 90) * interval '1 day', now(), now() - (g % 90) * interval '1 day',
       now() - (g % 90) * interval '1 day' + interval '30 minutes'
FROM generate_series(1, {leads}) g;
INSERT INTO activity (id, lead_id, assignee_id, kind, direction, status, subject,
                      is_first_contact, due_at, done_at, created_at)
SELECT md5('act' || g)::uuid, md5('lead' || (1 + g % {leads}))::uuid,
       1 + (1 + g % {leads}) % {managers},
       'call', 'outbound',
       CASE WHEN g % 4 = 0 THEN 'planned' ELSE 'done' END,
       'Activity ' || g, g % 5 = 0,
       now() + ((g % 200) - 100) * interval '1 hour',
       CASE WHEN g % 4 = 0 THEN NULL ELSE now() - (g % 100) * interval '1 hour' END,
       now() - (g % 90) * interval '1 day'
FROM generate_series(1, {activities}) g;
ANALYZE;
"""


async def measure(activities: int, runs: int) -> dict[str, object]:
    name = f"leadflow_bench_counters_{uuid.uuid4().hex[:6]}"
    _psql(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        await upgrade_async(url)
        started = time.perf_counter()
        _psql(FILL.format(managers=MANAGERS, leads=activities // 5, activities=activities), name)
        fill_s = time.perf_counter() - started
        results: dict[str, object] = {"activities": activities, "fill_seconds": round(fill_s, 1)}
        async with open_database(url) as db:
            for label, who in (
                ("manager", Principal(user_id=7, name="Manager 7", role="manager")),
                ("head (all managers)", Principal(user_id=1, name="Head", role="admin")),
            ):
                timings = []
                for _ in range(runs):
                    async with db.sessions() as session:
                        t = time.perf_counter()
                        view = await counters(session, who, datetime.now(UTC))
                        timings.append((time.perf_counter() - t) * 1000)
                    assert view.total is not None
                async with db.sessions() as session:
                    rows = (await session.execute(text("SELECT count(*) FROM activity"))).scalar()
                results[label] = {
                    "p50_ms": round(statistics.median(timings), 2),
                    "max_ms": round(max(timings), 2),
                    "rows": rows,
                }
        return results
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    results = asyncio.run(measure(args.activities, args.runs))
    print(f"counters with {args.activities:,} activities in PostgreSQL (target < {TARGET_MS:g} ms)")
    for label in ("manager", "head (all managers)"):
        r = results[label]
        assert isinstance(r, dict)
        print(f"  {label:22} p50 {r['p50_ms']:8.2f} ms   max {r['max_ms']:8.2f} ms")
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "counters.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
