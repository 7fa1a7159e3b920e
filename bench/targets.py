"""Issue 11's remaining targets, each measured in one run and printed beside its target.

Run `python -m bench.targets` (in `make bench`), or `--quick` (~3 minutes) for a
sanity run. Per store (SQLite in a temp file; PostgreSQL in a fresh database it
creates and drops), on `leadflow up --demo` as bench.e2e starts it:

1. capacity: N POSTs through wrk, timed until N committed, assigned leads exist
   (bench.e2e.throughput); the steady capacity the other figures refer to;
2. latency at a steady 1,000/s, or at 80 % of the measured capacity when that is
   below 1,000/s (an open-loop load above capacity measures a growing queue). The
   open-loop bench.loadgen sends each POST at its intended time; every latency is
   from that intended time (so a late sender or a full connection pool counts
   against us, not for us). POST: until its 202. Lead: until the bench sees the lead's
   `lead.assigned` event on `leadflow.lead-events`; the consumer publishes it only
   after the batch's transaction committed, so this is an upper bound of "committed
   and assigned" (the lead's `created_at`, stamped inside the transaction just
   before the commit, gives the lower bound, printed too). Targets: POST p99 ≤ 20 ms,
   lead p99 ≤ 50 ms (judged on the upper bound);
3. burst: 3x capacity for a few seconds, open loop. Refused = every answer that is
   not 202 (connection errors included); target 0. The committed count is polled
   every 50 ms; the backlog is what was accepted but not committed when the last
   POST was answered, the drain rate is that backlog over the time until the last
   lead committed; target ≥ 90 % of the steady capacity;
4. growth: preload the store (bench.preload) to 1,000,000 leads (`--quick`:
   20,000), restart, measure capacity again; target: within 15 % of the fresh one.

Then, on PostgreSQL only, scale-out: `leadflow up --processes split` (the embedded
broker, migrations and seed in the parent; one edge `leadflow serve connectors
console` and one `leadflow serve ingest` as its children), and for N = 2 one more
`leadflow serve ingest` started here against the same broker and database, sharing
the inquiries topic's partitions in one consumer group. Each N gets a fresh
database and the same wrk load; the team's three equal-weight members have a
capacity of ceil(leads / 3), so fair round-robin fills them exactly and any
unfairness either breaks the ±1 check or pushes someone over capacity. After the
run: fairness of per-manager counts, the peak open leads per manager replayed from
the assignment ledger against capacity, and lost/duplicated leads and inquiry
records per request's unique email.

Results: a table on stdout and JSON in bench/results/targets.json. The verdicts are
computed by bench.checks (unit-tested); timings are never asserted by tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import checks
from bench.e2e import (
    BENCH_TEAM,
    REPO,
    EventWatcher,
    LeadCounter,
    Server,
    Store,
    _env,
    _progress_logger,
    comm_of,
    cpu_seconds,
    log,
    machine_info,
    now_utc,
    postgres_store,
    spawn_leadflow,
    sqlite_store,
    start_leadflow,
    start_loadgen,
    throughput,
    warm_up,
    write_report,
)
from bench.preload import count_leads, preload
from crm_store.database import create_engine
from crm_store.models import AssignmentLedger, Contact, InquiryRecord, Lead, TeamMember

DEFAULT_OUT = REPO / "bench" / "results" / "targets.json"
TARGETS = {
    "post_p99_ms": 20.0,
    "lead_p99_ms": 50.0,
    "burst_refused": 0,
    "drain_share_of_capacity": 0.9,
    "growth_ratio_at_least": 0.85,
}
WARM = 50
POLL_S = 0.05


@dataclass(slots=True)
class Options:
    n: int
    latency_s: float
    burst_s: float
    growth_n: int
    scale_n: int
    connections: int
    latency_rate: float | None
    stores: list[str]
    scale_out: bool
    pg_admin_dsn: str
    out: Path
    quick: bool


# --------------------------------------------------------------------------- open loop


@dataclass(slots=True)
class OpenLoop:
    sent: dict[str, Any]
    samples: list[tuple[float, int]]
    leads: dict[int, tuple[str, float]]
    events: dict[str, float]

    @property
    def accepted(self) -> int:
        return sum(1 for s in self.sent["status"] if s == 202)


async def open_loop(
    server: Server, counter: LeadCounter, rate: float, count: int, workdir: Path, tag: str
) -> OpenLoop:
    """bench.loadgen at `rate` for `count` POSTs, with the committed count sampled."""
    prefix = f"{tag}{int(time.time() * 1000)}"
    out = workdir / f"loadgen-{prefix}.json"
    samples: list[tuple[float, int]] = []
    assert server.bootstrap is not None
    async with EventWatcher(server.bootstrap) as watcher:
        t0 = now_utc()
        gen = await start_loadgen(server.port, rate, count, prefix, out, 512)
        waiting = asyncio.create_task(gen.wait(), name="loadgen")
        deadline = time.monotonic() + count / rate + 300
        accepted: int | None = None
        last_change, last = time.monotonic(), -1
        while time.monotonic() < deadline:
            n = await counter.since(t0)
            samples.append((time.time(), n))
            if n != last:
                last_change, last = time.monotonic(), n
            if waiting.done() and accepted is None:
                sent = json.loads(out.read_text())
                accepted = sum(1 for s in sent["status"] if s == 202)
            if accepted is not None and (n >= accepted or time.monotonic() - last_change > 30):
                break
            await asyncio.sleep(POLL_S)
        if not waiting.done():
            gen.kill()
            await waiting
            raise RuntimeError(f"loadgen did not finish {count} POSTs in time")
        sent = json.loads(out.read_text())
        leads = await counter.created(t0, prefix)
        await watcher.wait_for({lead_id for lead_id, _ in leads.values()}, 10)
        events = dict(watcher.seen)
    with contextlib.suppress(OSError):
        out.unlink()
    return OpenLoop(sent, samples, leads, events)


async def latency_run(
    server: Server,
    counter: LeadCounter,
    capacity: float,
    seconds: float,
    workdir: Path,
    rate_override: float | None = None,
) -> dict[str, Any]:
    rate, reduced = checks.latency_rate(capacity)
    if rate_override:
        rate, reduced = rate_override, False
    count = max(1, int(rate * seconds))
    run = await open_loop(server, counter, rate, count, workdir, "lat")
    sent = run.sent
    intended: list[float] = sent["intended"]
    post = [sent["answered"][i] - intended[i] for i in range(count) if sent["status"][i] == 202]
    lower = [at - intended[i] for i, (_, at) in run.leads.items()]
    upper = [
        run.events[lead_id] - intended[i]
        for i, (lead_id, _) in run.leads.items()
        if lead_id in run.events
    ]
    post_s, lead_s = checks.summary_ms(post), checks.summary_ms(upper)
    return {
        "rate_per_s": rate,
        "reduced_to_80_percent_of_capacity": reduced,
        "sent": count,
        "accepted": run.accepted,
        "committed": len(run.leads),
        "lead_events_seen": len(upper),
        "post": post_s,
        "lead_upper_event_seen": lead_s,
        "lead_lower_created_at": checks.summary_ms(lower),
        "post_p99_verdict": checks.verdict(
            post_s.get("p99_ms"), TARGETS["post_p99_ms"], at_most=True
        ),
        "lead_p99_verdict": checks.verdict(
            lead_s.get("p99_ms"), TARGETS["lead_p99_ms"], at_most=True
        ),
    }


async def burst_run(
    server: Server, counter: LeadCounter, capacity: float, seconds: float, workdir: Path
) -> dict[str, Any]:
    rate = round(3 * capacity)
    count = max(1, int(rate * seconds))
    run = await open_loop(server, counter, rate, count, workdir, "burst")
    sent = run.sent
    answered = [a for a in sent["answered"] if a]
    load_end = max(answered) if answered else time.time()
    accepted = run.accepted
    d = checks.drain(run.samples, load_end, accepted)
    first = sent["intended"][0]
    target = TARGETS["drain_share_of_capacity"] * capacity
    return {
        "rate_per_s": rate,
        "seconds": seconds,
        "sent": count,
        "accepted": accepted,
        "refused": count - accepted,
        "statuses": {str(s): sent["status"].count(s) for s in set(sent["status"])},
        "committed": len(run.leads),
        "http_accept_per_s": round(accepted / max(1e-9, load_end - first), 1),
        "backlog_at_load_end": d.backlog,
        "drain_per_s": d.rate_per_s,
        "seconds_to_empty": d.seconds_to_empty,
        "drain_share_of_capacity": round(d.rate_per_s / capacity, 2)
        if d.rate_per_s and capacity
        else None,
        "refused_verdict": "met" if count - accepted == 0 else "missed",
        "drain_verdict": checks.verdict(d.rate_per_s, target, at_most=False),
    }


# --------------------------------------------------------------------------- one store


async def measure_capacity(
    server: Server, counter: LeadCounter, n: int, connections: int
) -> dict[str, Any]:
    await warm_up(server, counter, timeout_s=180)
    return await throughput(server, counter, n, connections, 300)


async def run_store(store: Store, opts: Options, workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    counter = LeadCounter(store.url)
    try:
        log(f"{store.name}: starting LeadFlow (fresh store)")
        server = await start_leadflow(store, workdir, "targets-fresh")
        try:
            cap = await measure_capacity(server, counter, opts.n, opts.connections)
            capacity = cap["e2e_per_s"]
            result["capacity"] = cap
            log(f"{store.name}: capacity {capacity:,.0f}/s")
            result["latency"] = await latency_run(
                server, counter, capacity, opts.latency_s, workdir, opts.latency_rate
            )
            lat = result["latency"]
            log(
                f"{store.name}: at {lat['rate_per_s']:g}/s POST p99 {lat['post'].get('p99_ms')} ms,"
                f" lead p99 {lat['lead_upper_event_seen'].get('p99_ms')} ms"
            )
            result["burst"] = await burst_run(server, counter, capacity, opts.burst_s, workdir)
            b = result["burst"]
            log(f"{store.name}: burst refused {b['refused']}, drain {b['drain_per_s']}/s")
        finally:
            await server.stop()
        have = await count_leads(store.url)
        log(f"{store.name}: preloading {have:,} → {opts.growth_n:,} leads")
        loaded = await preload(store.url, opts.growth_n, progress=_progress_logger(have))
        server = await start_leadflow(store, workdir, "targets-grown")
        try:
            grown = await measure_capacity(server, counter, opts.n, opts.connections)
        finally:
            await server.stop()
        ratio = grown["e2e_per_s"] / capacity if capacity else 0.0
        result["growth"] = {
            "leads_in_store": await count_leads(store.url) - opts.n - WARM,
            "preload_seconds": round(loaded["seconds"], 1),
            "capacity_fresh_per_s": capacity,
            "capacity_grown_per_s": grown["e2e_per_s"],
            "ratio": round(ratio, 3),
            "grown_run": grown,
            "verdict": checks.verdict(ratio, TARGETS["growth_ratio_at_least"], at_most=False),
        }
        log(f"{store.name}: grown {grown['e2e_per_s']:,.0f}/s, ratio {ratio:.2f}")
    finally:
        await counter.close()
    return result


# --------------------------------------------------------------------------- scale-out


@contextlib.asynccontextmanager
async def extra_ingest(
    server: Server, store: Store, workdir: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """One more `leadflow serve ingest` beside the split mode's own, same broker and store."""
    log_path = workdir / "ingest-2.log"
    env = _env(
        {
            "LEADFLOW_DATABASE__URL": store.url,
            "LEADFLOW_DATABASE__AUTO_MIGRATE": "false",
            "LEADFLOW_KAFKA__BOOTSTRAP_SERVERS": server.bootstrap or "",
            "LEADFLOW_KAFKA__SESSION_TIMEOUT_MS": "2000",
            "LEADFLOW_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
            "LEADFLOW_HTTP__HOST": "127.0.0.1",
            "LEADFLOW_HTTP__PORT": "0",
            "LEADFLOW_DATA_DIR": str(workdir / "leadflow-data"),
            "LEADFLOW_LOG_LEVEL": "WARNING",
            "LEADFLOW_PROCESSES": "one",
        }
    )
    process = await spawn_leadflow(["serve", "ingest", "--no-seed"], env, log_path, workdir)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        if process.returncode not in (0, -15):
            log(f"second ingest exited with {process.returncode}; see {log_path}")


def _argv(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    return " ".join(w for w in words if w in ("up", "serve", "connectors", "console", "ingest"))


async def correctness(url: str, prefix: str, n: int) -> dict[str, Any]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            members = {
                int(u): int(c)
                for u, c in await conn.execute(select(TeamMember.user_id, TeamMember.capacity))
            }
            counts = {
                int(u or 0): int(c)
                for u, c in await conn.execute(
                    select(Lead.assignee_id, func.count())
                    .where(Lead.assignee_id.is_not(None))
                    .group_by(Lead.assignee_id)
                )
            }
            unassigned = int(
                await conn.scalar(
                    select(func.count()).select_from(Lead).where(Lead.assignee_id.is_(None))
                )
                or 0
            )
            ledger = [
                (r[0], r[1])
                for r in await conn.execute(
                    select(AssignmentLedger.from_user_id, AssignmentLedger.to_user_id).order_by(
                        AssignmentLedger.created_at, AssignmentLedger.id
                    )
                )
            ]
            like = f"{prefix}-%@bench.test"
            lead_emails = list(
                await conn.scalars(
                    select(Contact.email)
                    .join(Lead, Lead.contact_id == Contact.id)
                    .where(Contact.email.like(like))
                )
            )
            record_emails = list(
                await conn.scalars(
                    select(Contact.email)
                    .join(InquiryRecord, InquiryRecord.contact_id == Contact.id)
                    .where(Contact.email.like(like))
                )
            )
    finally:
        await engine.dispose()
    expected = [f"{prefix}-{i}@bench.test" for i in range(1, n + 1)]
    fair = checks.fairness(counts, dict.fromkeys(members, 1))
    peaks = checks.peak_open(ledger)
    over = checks.over_capacity(peaks, members)
    lost, dup = checks.lost_and_duplicated(expected, [e or "" for e in lead_emails])
    rec_lost, rec_dup = checks.lost_and_duplicated(expected, [e or "" for e in record_emails])
    return {
        "per_manager": {str(k): v for k, v in fair.counts.items()},
        "capacity": {str(k): v for k, v in members.items()},
        "peak_open": {str(k): v for k, v in peaks.items()},
        "unassigned": unassigned,
        "fair": fair.fair,
        "worst_gap_from_share": fair.worst_gap,
        "over_capacity": {str(k): v for k, v in over.items()},
        "lost_leads": lost,
        "duplicated_leads": dup,
        "lost_records": rec_lost,
        "duplicated_records": rec_dup,
        "verdict": "met"
        if fair.fair and not over and not (lost or dup or rec_lost or rec_dup)
        else "missed",
    }


async def scale_out(opts: Options) -> dict[str, Any]:
    total = WARM + opts.scale_n
    # A deep copy, typed: BENCH_TEAM is shared with bench.e2e.
    members: list[dict[str, Any]] = json.loads(json.dumps(BENCH_TEAM["members"]))
    share = math.ceil(total / len(members))
    team = {"name": BENCH_TEAM["name"], "members": [{**m, "capacity": share} for m in members]}
    extra = {"LEADFLOW_TEAMS": json.dumps([team])}
    result: dict[str, Any] = {"member_capacity": share, "runs": {}}
    for ingests in (1, 2):
        with tempfile.TemporaryDirectory(prefix="leadflow-bench-scale-") as tmp:
            workdir = Path(tmp)
            async with postgres_store(opts.pg_admin_dsn) as store:
                counter = LeadCounter(store.url)
                log(f"scale-out: {ingests} ingest process(es)")
                server = await start_leadflow(store, workdir, f"scale{ingests}", "split", extra)
                try:
                    async with contextlib.AsyncExitStack() as stack:
                        pids = {p: comm_of(p) for p in server.app_pids()}
                        if ingests == 2:
                            second = await stack.enter_async_context(
                                extra_ingest(server, store, workdir)
                            )
                            pids[second.pid] = "ingest-2"
                            # Let it join the group and the partitions be shared out.
                            await asyncio.sleep(8)
                        before = {p: cpu_seconds(p) for p in pids}
                        run = await measure_capacity(
                            server, counter, opts.scale_n, opts.connections
                        )
                        # Each process's CPU in the run: a second ingest that got no
                        # partitions would show next to none.
                        run["cpu_seconds_by_process"] = [
                            {"pid": p, "argv": _argv(p), "cpu_s": round(cpu_seconds(p) - t, 2)}
                            for p, t in before.items()
                        ]
                    run["correctness"] = await correctness(store.url, run["prefix"], opts.scale_n)
                finally:
                    await server.stop()
                    await counter.close()
                result["runs"][str(ingests)] = run
                c = run["correctness"]
                log(
                    f"scale-out {ingests}: {run['e2e_per_s']:,.0f}/s, fair {c['fair']}, "
                    f"over capacity {c['over_capacity']}, lost {c['lost_leads']}, "
                    f"duplicated {c['duplicated_leads']}"
                )
    one, two = result["runs"]["1"]["e2e_per_s"], result["runs"]["2"]["e2e_per_s"]
    result["ratio_2_to_1"] = round(two / one, 2) if one else None
    return result


# --------------------------------------------------------------------------- report


def _ms(s: dict[str, Any], key: str) -> str:
    v = s.get(key)
    return "-" if v is None else f"{v:.1f}"


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print()
    print(
        f"LeadFlow issue-11 targets, {m['nproc']} x {m['cpu_model']}, {m['mem_gib']} GiB, "
        f"load average at start {m['loadavg_at_start'][0]:.2f} (shared machine: rates vary)"
    )
    for name, res in report["stores"].items():
        cap = res["capacity"]["e2e_per_s"]
        print(f"\n{name}: steady capacity {cap:,.0f} inquiries/s (N POSTs → committed leads)")
        lat = res["latency"]
        note = (
            " (80 % of capacity: capacity < 1,000/s)"
            if lat["reduced_to_80_percent_of_capacity"]
            else ""
        )
        print(f"  latency at {lat['rate_per_s']:,.0f}/s{note}, ms from intended send time:")
        for label, key, target, verdict in (
            ("POST → 202", "post", TARGETS["post_p99_ms"], lat["post_p99_verdict"]),
            (
                "POST → lead (event)",
                "lead_upper_event_seen",
                TARGETS["lead_p99_ms"],
                lat["lead_p99_verdict"],
            ),
            ("POST → created_at", "lead_lower_created_at", None, None),
        ):
            s = lat[key]
            tail = (
                f"   target p99 ≤ {target:g}: {verdict}"
                if target is not None
                else "   (lower bound)"
            )
            print(
                f"    {label:<21} p50 {_ms(s, 'p50_ms'):>7} p95 {_ms(s, 'p95_ms'):>7} "
                f"p99 {_ms(s, 'p99_ms'):>7} max {_ms(s, 'max_ms'):>8}{tail}"
            )
        b = res["burst"]
        print(
            f"  burst {b['rate_per_s']:,}/s for {b['seconds']:g} s: {b['sent']:,} sent, "
            f"refused {b['refused']} (target 0: {b['refused_verdict']}); edge accepted "
            f"{b['http_accept_per_s']:,.0f}/s; backlog {b['backlog_at_load_end']:,} drained at "
            f"{b['drain_per_s'] or 0:,.0f}/s = {b['drain_share_of_capacity'] or 0:.2f} x capacity "
            f"in {b['seconds_to_empty'] or 0:.1f} s (target ≥ 0.90: {b['drain_verdict']})"
        )
        g = res["growth"]
        print(
            f"  growth: {g['capacity_grown_per_s']:,.0f}/s with {g['leads_in_store']:,} leads vs "
            f"{g['capacity_fresh_per_s']:,.0f}/s fresh = {g['ratio']:.2f} "
            f"(target ≥ 0.85: {g['verdict']})"
        )
    so = report.get("scale_out")
    if so:
        print(f"\npostgresql scale-out, member capacity {so['member_capacity']}:")
        for k, run in so["runs"].items():
            c = run["correctness"]
            print(
                f"  {k} ingest: {run['e2e_per_s']:,.0f}/s; per manager {c['per_manager']} "
                f"(fair {c['fair']}), peak open {c['peak_open']}, over capacity "
                f"{c['over_capacity'] or 'none'}, lost {c['lost_leads']}/{c['lost_records']}, "
                f"duplicated {c['duplicated_leads']}/{c['duplicated_records']} "
                f"(leads/records): {c['verdict']}"
            )
            cpu = ", ".join(f"{c['argv']} {c['cpu_s']:.1f}" for c in run["cpu_seconds_by_process"])
            print(f"    CPU s by process: {cpu}")
        print(f"  2 vs 1 ingest: {so['ratio_2_to_1']} x")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(
        prog="python -m bench.targets", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--quick", action="store_true", help="a small sanity run (~3 minutes)")
    p.add_argument("--n", type=int, help="POSTs per capacity run (20,000; quick 2,000)")
    p.add_argument("--latency-seconds", type=float, help="steady-rate run (20; quick 3)")
    p.add_argument("--burst-seconds", type=float, help="3x burst (10; quick 3)")
    p.add_argument("--growth", type=int, help="leads to preload (1,000,000; quick 20,000)")
    p.add_argument("--scale-n", type=int, help="POSTs per scale-out run (20,000; quick 2,000)")
    p.add_argument(
        "--latency-rate", type=float, help="a fixed latency rate (to find the floor), not 1,000/s"
    )
    p.add_argument("--connections", type=int, default=50, help="wrk connections")
    p.add_argument("--stores", default="sqlite,postgresql", help="comma list: sqlite,postgresql")
    p.add_argument("--no-scale-out", action="store_true", help="skip the PostgreSQL scale-out")
    p.add_argument(
        "--pg-admin-dsn",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="where to CREATE/DROP the benchmark databases (loopback only)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = p.parse_args(argv)
    stores = [s.strip() for s in a.stores.split(",") if s.strip()]
    for s in stores:
        if s not in ("sqlite", "postgresql"):
            p.error(f"unknown store {s!r}")
    return Options(
        n=a.n or (2_000 if a.quick else 20_000),
        latency_s=a.latency_seconds or (3.0 if a.quick else 20.0),
        burst_s=a.burst_seconds or (3.0 if a.quick else 10.0),
        growth_n=a.growth or (20_000 if a.quick else 1_000_000),
        scale_n=a.scale_n or (2_000 if a.quick else 20_000),
        connections=a.connections,
        latency_rate=a.latency_rate,
        stores=stores,
        scale_out=not a.no_scale_out,
        pg_admin_dsn=a.pg_admin_dsn,
        out=a.out,
        quick=a.quick,
    )


async def amain(opts: Options) -> dict[str, Any]:
    report: dict[str, Any] = {
        "started_at": now_utc().isoformat(),
        "machine": machine_info(),
        "targets": TARGETS,
        "options": {k: str(v) for k, v in dataclasses.asdict(opts).items()},
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
        write_report(report, opts.out)
    if opts.scale_out:
        report["scale_out"] = await scale_out(opts)
    report["finished_at"] = now_utc().isoformat()
    return report


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    report = asyncio.run(amain(opts))
    write_report(report, opts.out)
    print_report(report)
    print(f"\nresults written to {opts.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
