"""Where a lead's latency goes, stage by stage, at steady open-loop rates.

`python -m bench.latency_stages --code before=/path/to/other/checkout --rates 100,300`
runs `leadflow up --demo` (SQLite, then PostgreSQL) once per code tree given (this
one is `after`), interleaved A B A B (`--rounds`), and at each rate sends bench.loadgen's
open-loop POSTs for `--seconds`. Each inquiry's path is then read from outside the
process, so the same figures exist for any version of the code:

- intended: when bench.loadgen meant to send the POST;
- accepted: its 202 (the entry is fsynced in the edge journal by then);
- relayed: the record's timestamp on `leadflow.inquiries`, stamped by the relay's
  producer when it built the batch (read back from the topic after the run);
- committed: the lead's `created_at`, stamped in the transaction just before COMMIT;
- event sent: the `lead.assigned` record's timestamp on `leadflow.lead-events`,
  stamped by the consumer's producer after the commit;
- event seen: when this bench's consumer read that event.

It prints p50/p99 of each step (the difference of consecutive stamps) and of each
stamp since `intended`. Kafka timestamps have millisecond resolution; every stamp
is wall clock on this machine. Where the code exports them, the stage histograms of
/metrics (`leadflow_journal_latency_seconds`: append → fsynced, append → relay acked;
`leadflow_ingest_latency_seconds`: relay send → fetched, committed, events published)
are read before and after each rate, and their quantiles interpolated within buckets
are printed too. Imports only bench helpers; timings are never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.e2e import (
    REPO,
    LeadCounter,
    Server,
    Store,
    _percentiles,
    log,
    now_utc,
    postgres_store,
    sqlite_store,
    start_leadflow,
    start_loadgen,
    warm_up,
)

STAMPS = ("intended", "accepted", "relayed", "committed", "event_sent", "event_seen")


@dataclass(frozen=True, slots=True)
class Code:
    name: str
    root: Path
    processes: str | None = None  # `leadflow up`'s, when not --processes

    @property
    def python(self) -> str:
        venv = self.root / ".venv" / "bin" / "python"
        return str(venv) if venv.exists() else sys.executable


class _Events:
    """Notes each `lead.assigned` event's record timestamp and when it was read."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(
            "leadflow.lead-events",
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="latest",
            fetch_max_wait_ms=5,
        )
        self.seen: dict[str, tuple[float, float]] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _Events:
        await self._consumer.start()
        await self._consumer.getmany(timeout_ms=500)  # resolve positions before the load
        self._task = asyncio.create_task(self._run(), name="stage-events")
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
                        self.seen.setdefault(str(payload.get("lead_id")), (r.timestamp / 1e3, now))


async def relayed_at(bootstrap: str, prefix: str, want: int) -> dict[int, float]:
    """index → timestamp of its first record on `leadflow.inquiries`."""
    pattern = re.compile(rb"\b" + re.escape(prefix.encode()) + rb"-(\d+)@bench\.test")
    out: dict[int, float] = {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic("leadflow.inquiries") or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic("leadflow.inquiries") or set()
        consumer.assign([TopicPartition("leadflow.inquiries", p) for p in parts])
        await consumer.seek_to_beginning()
        idle_since = time.monotonic()
        while len(out) < want and time.monotonic() - idle_since < 3:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            if any(batches.values()):
                idle_since = time.monotonic()
            for records in batches.values():
                for r in records:
                    m = pattern.search(r.value or b"")
                    if m:
                        out.setdefault(int(m.group(1)), r.timestamp / 1e3)
    finally:
        await consumer.stop()
    return out


async def run_rate(
    server: Server, counter: LeadCounter, code: Code, rate: float, seconds: float, workdir: Path
) -> dict[str, Any]:
    count = max(1, int(rate * seconds))
    prefix = f"st{int(time.time() * 1000)}"
    out = workdir / f"loadgen-{prefix}.json"
    assert server.bootstrap is not None
    async with _Events(server.bootstrap) as events:
        t0 = now_utc()
        gen = await start_loadgen(server.port, rate, count, prefix, out, 512)
        before = await scrape(server)
        cpu_before = server.cpu()
        await asyncio.wait_for(gen.wait(), seconds + 120)
        sent: dict[str, Any] = json.loads(out.read_text())
        accepted = sum(1 for s in sent["status"] if s == 202)
        await counter.wait_for(t0, accepted, 120)
        leads = await counter.created(t0, prefix)
        wanted = {lead_id for lead_id, _ in leads.values()}
        deadline = time.monotonic() + 10
        # Polling is the point: the event task fills `seen` as events arrive.
        while time.monotonic() < deadline and not wanted <= events.seen.keys():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        seen = dict(events.seen)
        after = await scrape(server)
        cpu_after = server.cpu()
    relayed = await relayed_at(server.bootstrap, prefix, accepted)
    with contextlib.suppress(OSError):
        out.unlink()
    rows: list[dict[str, float]] = []
    for i, (lead_id, created) in leads.items():
        if i not in relayed or lead_id not in seen or sent["status"][i] != 202:
            continue
        ev_sent, ev_seen = seen[lead_id]
        rows.append(
            {
                "intended": sent["intended"][i],
                "accepted": sent["answered"][i],
                "relayed": relayed[i],
                "committed": created,
                "event_sent": ev_sent,
                "event_seen": ev_seen,
            }
        )
    steps = {
        f"{a}->{b}": _percentiles([r[b] - r[a] for r in rows])
        for a, b in itertools.pairwise(STAMPS)
    }
    since = {
        f"intended->{s}": _percentiles([r[s] - r["intended"] for r in rows]) for s in STAMPS[1:]
    }
    return {
        "code": code.name,
        "rate_per_s": rate,
        "sent": count,
        "accepted": accepted,
        "committed": len(leads),
        "traced": len(rows),
        "steps": steps,
        "since_intended": since,
        "metrics": histogram_quantiles(before, after),
        "cpu_us_per_inquiry": {
            k: round((cpu_after[k] - cpu_before[k]) / max(len(leads), 1) * 1e6)
            for k in cpu_before
            if k in cpu_after and (k.startswith("app") or k == "tansu")
        },
    }


_BUCKET = re.compile(r"^(leadflow_\w+_latency_seconds)_bucket\{([^}]*)\} (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


async def scrape(server: Server) -> dict[tuple[str, str], dict[float, float]]:
    """(family, stage) → {upper bound: cumulative count} from every process's /metrics
    (the edge's journal stages, and the ingest child's in split mode; empty if absent)."""
    out: dict[tuple[str, str], dict[float, float]] = {}
    async with aiohttp.ClientSession() as http:
        for url in server.metrics_urls():
            try:
                async with http.get(url) as resp:
                    if resp.status != 200:
                        continue
                    text = await resp.text()
            except aiohttp.ClientError:
                continue  # a port that is not ours to scrape (e.g. a debug listener)
            for family, labels, value in _BUCKET.findall(text):
                lab = dict(_LABEL.findall(labels))
                out.setdefault((family, lab["stage"]), {})[float(lab["le"])] = float(value)
    return out


def histogram_quantiles(
    before: dict[tuple[str, str], dict[float, float]],
    after: dict[tuple[str, str], dict[float, float]],
) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) of what each histogram counted between two scrapes."""
    out: dict[str, dict[str, float]] = {}
    for (family, stage), buckets in after.items():
        old = before.get((family, stage), {})
        bounds = sorted(buckets)
        counts = [buckets[b] - old.get(b, 0.0) for b in bounds]
        total = counts[-1] if counts else 0.0
        if total <= 0:
            continue
        short = family.removeprefix("leadflow_").removesuffix("_latency_seconds")
        out[f"{short}.{stage}"] = {
            "n": total,
            "p50_ms": _quantile(bounds, counts, 0.5),
            "p99_ms": _quantile(bounds, counts, 0.99),
        }
    return out


def _quantile(bounds: list[float], cumulative: list[float], q: float) -> float:
    want = q * cumulative[-1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in zip(bounds, cumulative, strict=True):
        if count >= want:
            if bound == float("inf"):
                return round(lower_bound * 1000, 1)
            share = (want - lower_count) / max(count - lower_count, 1e-9)
            return round((lower_bound + share * (bound - lower_bound)) * 1000, 1)
        lower_bound, lower_count = bound, count
    return round(lower_bound * 1000, 1)


@contextlib.asynccontextmanager
async def running(
    store: Store, code: Code, workdir: Path, tag: str, processes: str | None
) -> AsyncIterator[Server]:
    # bench.e2e starts `sys.executable` with PYTHONPATH=REPO: point both at `code`.
    import bench.e2e as e2e

    saved_exe, saved_repo = sys.executable, e2e.REPO
    sys.executable, e2e.REPO = code.python, code.root
    try:
        server = await start_leadflow(store, workdir, tag, processes)
    finally:
        sys.executable, e2e.REPO = saved_exe, saved_repo
    try:
        yield server
    finally:
        await server.stop()


async def amain(a: argparse.Namespace, codes: list[Code]) -> list[dict[str, Any]]:
    rates = [float(r) for r in a.rates.split(",")]
    results: list[dict[str, Any]] = []
    for store_name in a.stores.split(","):
        for rnd in range(a.rounds):
            for code in codes:
                with tempfile.TemporaryDirectory(prefix=f"leadflow-stages-{store_name}-") as tmp:
                    factory = (
                        sqlite_store(Path(tmp))
                        if store_name == "sqlite"
                        else postgres_store(a.pg_admin_dsn)
                    )
                    async with factory as store:
                        counter = LeadCounter(store.url)
                        try:
                            async with running(
                                store, code, Path(tmp), code.name, a.processes
                            ) as server:
                                await warm_up(server, counter, timeout_s=180)
                                for rate in rates:
                                    r = await run_rate(
                                        server, counter, code, rate, a.seconds, Path(tmp)
                                    )
                                    r["store"], r["round"] = store_name, rnd
                                    results.append(r)
                                    log(_line(r))
                        finally:
                            await counter.close()
    return results


def _line(r: dict[str, Any]) -> str:
    parts = [f"{r['store']} r{r['round']} {r['code']:<6} {r['rate_per_s']:g}/s n={r['traced']}"]
    for k, v in r["steps"].items():
        parts.append(f"{k.split('->')[1]} {v.get('p50_ms', '-')}/{v.get('p99_ms', '-')}")
    tot = r["since_intended"]
    c, e = tot["intended->committed"], tot["intended->event_seen"]
    parts.append(
        f"| total committed {c.get('p50_ms')}/{c.get('p99_ms')}, "
        f"seen {e.get('p50_ms')}/{e.get('p99_ms')}"
    )
    for k, v in r["metrics"].items():
        parts.append(f"[{k} {v['p50_ms']}/{v['p99_ms']}]")
    parts.append(f"cpu µs/inquiry {r['cpu_us_per_inquiry']}")
    return "  ".join(parts)


def summary(results: list[dict[str, Any]]) -> list[str]:
    """Per store, rate and code: the median over rounds of each figure's p50 / p99."""
    lines = []
    keys = sorted({(r["store"], r["rate_per_s"]) for r in results})
    codes = list(dict.fromkeys(r["code"] for r in results))
    for store, rate in keys:
        lines.append(f"{store} at {rate:g}/s (p50 / p99 ms, median of rounds)")
        for code in codes:
            runs = [
                r
                for r in results
                if (r["store"], r["rate_per_s"], r["code"]) == (store, rate, code)
            ]
            if not runs:
                continue
            figures: dict[str, list[tuple[float, float]]] = {}
            for r in runs:
                for k, v in {**r["steps"], **r["since_intended"], **r["metrics"]}.items():
                    if "p50_ms" in v:
                        figures.setdefault(k, []).append((v["p50_ms"], v["p99_ms"]))
            cells = [
                f"{k} {statistics.median(p50 for p50, _ in v):.1f}"
                f" / {statistics.median(p99 for _, p99 in v):.1f}"
                for k, v in figures.items()
            ]
            cpu = {
                k: statistics.median(r["cpu_us_per_inquiry"][k] for r in runs)
                for k in runs[0]["cpu_us_per_inquiry"]
                if all(k in r["cpu_us_per_inquiry"] for r in runs)
            }
            lines.append(f"  {code} ({len(runs)} rounds): " + "; ".join(cells))
            lines.append(f"    CPU µs per inquiry: {cpu}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.latency_stages", description=__doc__)
    p.add_argument(
        "--code",
        action="append",
        default=[],
        help="NAME=DIR[:one|split]: another checkout (its .venv if any) to run first in "
        "each round, with `leadflow up`'s processes if given",
    )
    p.add_argument("--rates", default="100,300", help="comma list of POSTs per second")
    p.add_argument("--seconds", type=float, default=10.0, help="per rate")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--stores", default="sqlite,postgresql")
    p.add_argument(
        "--processes", choices=("auto", "one", "split"), help="`leadflow up`'s processes"
    )
    p.add_argument("--pg-admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "latency_stages.json")
    a = p.parse_args(argv)
    codes = []
    for spec in a.code:
        name, _, rest = spec.partition("=")
        root, _, processes = rest.partition(":")
        codes.append(Code(name, Path(root).absolute(), processes or None))
    codes.append(Code("after", REPO))
    results = asyncio.run(amain(a, codes))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2))
    print("\n".join(summary(results)))
    print(f"results written to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
