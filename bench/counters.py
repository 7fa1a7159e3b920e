"""How fast the counters answer with 1,000,000 activities, on SQLite and PostgreSQL.

Fills a fresh database (200k leads, 1M activities over 50 managers: done, planned
in the future, overdue, due soon) with one set-based INSERT per table, ANALYZEs it,
then times, for one manager and for the head of sales (all 50 managers):

- before: the straight recount, `GROUP BY` over activities and leads at read time
  (`crm_store.counters.recount`, what `crm_store.queue.counters` did until issue 11);
- after: `crm_store.queue.counters`, which counts the covering indexes of migration 0014.

It also checks that both give the same numbers. Each call takes a session from the
pool, as the console does, so from the sixth call on PostgreSQL may run the prepared
statement's generic plan: the figures are those of a console that has been up a
while, not of its first five calls. The fill is followed by `VACUUM ANALYZE`, as
autovacuum would do, since index-only scans need the visibility map. On a local
PostgreSQL it also reports the server's CPU per call (the backend's utime + stime
from /proc, 10 ms ticks, so a mean over the calls; parallel workers, which the
recount may use, are not counted). Run:
`.venv/bin/python -m bench.counters [--store sqlite|postgresql|both] [--activities N]`.
Targets (issue 11): head ≤ 50 ms, one manager ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.counters import recount
from crm_store.database import open_database
from crm_store.migrate import upgrade_async
from crm_store.queue import CountersView, counters
from leadflow.broker_cpu import cpu_seconds

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MANAGERS = 50
TARGETS_MS = {"manager": 20.0, "head": 50.0}
WHO = {
    # Manager 2 has the most planned activities on open leads in this fill (manager 7,
    # timed until issue 11, has none: odd rows are all done).
    "manager": Principal(user_id=2, name="Manager 2", role="manager"),
    "head": Principal(user_id=1, name="Head", role="admin"),
}

Counting = Callable[[AsyncSession, Principal, datetime], Awaitable[CountersView]]


def _psql(sql: str, db: str = "postgres") -> None:
    subprocess.run(
        ["psql", f"postgresql://postgres@127.0.0.1:5432/{db}", "-qc", sql],
        check=True,
        capture_output=True,
    )


PG_FILL = """
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
"""

# The same rows as PG_FILL. SQLite stores uuids as 32 hex digits and UTC times as
# naive text that must sort like the bound parameters, hence `_at`.
SQLITE_FILL = [
    """INSERT INTO app_user (id, email, name, role, active, timezone, created_at)
    WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {managers})
    SELECT n, 'm' || n || '@bench.test', 'Manager ' || n, 'manager', 1, 'UTC', {now} FROM g""",
    """INSERT INTO team (id, name, strategy, rotation_state, escalation,
    escalation_grace_minutes, escalation_max_hops, created_at)
    VALUES (1, 'Sales', 'round_robin', '{{}}', 'reassign', 15, 2, {now})""",
    """INSERT INTO lead (id, status, channel, title, team_id, assignee_id, spam_score,
    spam_reasons, source, needs_review, decision, escalation_hops, created_at, updated_at,
    assigned_at, first_contact_due_at)
    WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {leads})
    SELECT printf('%032x', n),
           CASE n % 5 WHEN 2 THEN 'in_progress' WHEN 3 THEN 'converted'
                      WHEN 4 THEN 'junk' ELSE 'new' END,
           'web_form', 'Lead ' || n, 1, 1 + n % {managers}, 0, '[]', '{{}}', 0, '{{}}', 0,
           {days_ago}, {now}, {days_ago},
           strftime('%Y-%m-%d %H:%M:%S.000000', {now}, -(n % 90) || ' days', '+30 minutes')
    FROM g""",
    """INSERT INTO activity (id, lead_id, assignee_id, kind, direction, status, subject,
    is_first_contact, due_at, done_at, created_at)
    WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {activities})
    SELECT printf('%032x', 1000000000000 + n), printf('%032x', 1 + n % {leads}),
           1 + (1 + n % {leads}) % {managers}, 'call', 'outbound',
           CASE WHEN n % 4 = 0 THEN 'planned' ELSE 'done' END,
           'Activity ' || n, n % 5 = 0,
           strftime('%Y-%m-%d %H:%M:%S.000000', {now}, ((n % 200) - 100) || ' hours'),
           CASE WHEN n % 4 = 0 THEN NULL
                ELSE strftime('%Y-%m-%d %H:%M:%S.000000', {now}, -(n % 100) || ' hours') END,
           {days_ago}
    FROM g""",
    "ANALYZE",
]


def _sqlite_fill(activities: int) -> list[str]:
    now = "'" + datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.000000") + "'"
    days_ago = f"strftime('%Y-%m-%d %H:%M:%S.000000', {now}, -(n % 90) || ' days')"
    values = {
        "managers": MANAGERS,
        "leads": activities // 5,
        "activities": activities,
        "now": now,
        "days_ago": days_ago,
    }
    return [sql.format(**values) for sql in SQLITE_FILL]


async def _fill(url: str, store: str, name: str, activities: int) -> None:
    if store == "postgresql":
        _psql(PG_FILL.format(managers=MANAGERS, leads=activities // 5, activities=activities), name)
        # Outside the fill's transaction; sets the visibility map as autovacuum would.
        _psql("VACUUM ANALYZE", name)
        return
    async with open_database(url) as db, db.sessions() as session:
        for sql in _sqlite_fill(activities):
            await session.execute(text(sql))
        await session.commit()


Timings = tuple[list[float], list[float], list[float]]


def _backend_cpu_s(pid: int | None) -> float:
    """CPU seconds used so far by the PostgreSQL backend `pid`, if it runs on this host."""
    cpu = None if pid is None else cpu_seconds(pid)
    return math.nan if cpu is None else cpu


async def _time(
    db_sessions: Callable[[], AsyncSession], how: Counting, who: Principal, runs: int
) -> Timings:
    """Wall, in-process CPU and server CPU milliseconds of each call."""
    wall, cpu, server = [], [], []
    for _ in range(runs):
        async with db_sessions() as session:
            pid = None
            if session.get_bind().dialect.name == "postgresql":
                pid = await session.scalar(text("SELECT pg_backend_pid()"))
            started_server = _backend_cpu_s(pid)
            started, started_cpu = time.perf_counter(), time.process_time()
            await how(session, who, datetime.now(UTC))
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            server.append((_backend_cpu_s(pid) - started_server) * 1000)
    return wall, cpu, server


def _figures(timings: Timings) -> dict[str, float | None]:
    wall, cpu, server = timings
    quantiles = statistics.quantiles(wall, n=100, method="inclusive")
    server_mean = statistics.fmean(server)
    return {
        "p50_ms": round(statistics.median(wall), 2),
        "p95_ms": round(quantiles[94], 2),
        "p99_ms": round(quantiles[98], 2),
        "cpu_p50_ms": round(statistics.median(cpu), 2),
        "server_cpu_mean_ms": None if math.isnan(server_mean) else round(server_mean, 2),
    }


async def _measure_store(url: str, runs: int, before_runs: int) -> dict[str, object]:
    results: dict[str, object] = {}
    async with open_database(url) as db:
        for label, who in WHO.items():
            async with db.sessions() as session:
                now = datetime.now(UTC)
                fast, straight = await counters(session, who, now), await recount(session, who, now)
            if fast != straight:
                raise SystemExit(f"{label}: fast counters {fast} differ from a recount {straight}")
            after = await _time(db.sessions, counters, who, runs)
            before = await _time(db.sessions, recount, who, before_runs)
            results[label] = {
                "before": _figures(before),
                "after": _figures(after),
                "total": fast.total.model_dump(),
            }
    return results


async def measure(store: str, activities: int, runs: int, before_runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        name = f"leadflow_bench_counters_{uuid.uuid4().hex[:6]}"
        if store == "postgresql":
            _psql(f'CREATE DATABASE "{name}"')
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        else:
            url = f"sqlite+aiosqlite:///{tmp}/counters.db"
        try:
            await upgrade_async(url)
            started = time.perf_counter()
            await _fill(url, store, name, activities)
            fill_s = round(time.perf_counter() - started, 1)
            results = await _measure_store(url, runs, before_runs)
            return {"store": store, "activities": activities, "fill_seconds": fill_s, **results}
        finally:
            if store == "postgresql":
                _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _report(results: dict[str, object]) -> None:
    store = results["store"]
    print(
        f"counters with {results['activities']:,} activities in {store} "
        f"(filled in {results['fill_seconds']} s); wall p50/p95/p99, in-process CPU p50"
        + (" (client only), server CPU mean" if store == "postgresql" else "")
    )
    for label, target in TARGETS_MS.items():
        r = results[label]
        assert isinstance(r, dict)
        b, a = r["before"], r["after"]
        print(
            f"  {label:8} before {b['p50_ms']:8.1f} / {b['p95_ms']:8.1f} / {b['p99_ms']:8.1f} ms"
            f" (cpu {b['cpu_p50_ms']:7.1f}{_server(b)})"
            f"   after {a['p50_ms']:6.1f} / {a['p95_ms']:6.1f} / {a['p99_ms']:6.1f} ms"
            f" (cpu {a['cpu_p50_ms']:5.1f}{_server(a)})   target p50 <= {target:g} ms"
        )


def _server(figures: dict[str, float | None]) -> str:
    server = figures["server_cpu_mean_ms"]
    return "" if server is None else f", server {server:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--before-runs", type=int, default=10, help="the slow recount's runs")
    args = parser.parse_args()
    stores = ["sqlite", "postgresql"] if args.store == "both" else [args.store]
    all_results = []
    for store in stores:
        results = asyncio.run(measure(store, args.activities, args.runs, args.before_runs))
        _report(results)
        all_results.append(results)
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "counters.json").write_text(json.dumps(all_results, indent=2))


if __name__ == "__main__":
    main()
