"""The HTTP edge alone: CPU µs per accepted inquiry, split by component.

Run `python -m bench.edge_cpu [--seconds 8] [--connections 32] [--loop asyncio|uvloop]`.
For each body kind (the web form, urlencoded; the JSON API) it serves one form in this
process and lets `wrk` (another process, bench/wrk_edge.lua) post new inquiries, each
with a unique email and a phone, as fast as they are answered, through four stages
built up one layer at a time:

- `http`: aiohttp alone, a handler that reads the body and answers the same 202 JSON;
- `validate`: the real `WebFormConnector` (body parsing, CORS, normalisation, the
  `Inquiry` model, its JSON bytes), with a sink that keeps nothing;
- `journal`: the same with the edge journal (fsynced group commit) as its sink;
- `full`: the same with the relay publishing the journal to an embedded Tansu
  broker; the clock stops only once the relay has published every entry.

The figure is this process's CPU time (`time.process_time`: every thread, so the
journal's writer thread too; the broker and wrk are other processes) divided by the
inquiries accepted. The garbage collector is set as `leadflow serve` sets it
(`leadflow.collector`); `--default-gc` keeps CPython's defaults. Each component is the
difference between two stages: HTTP (aiohttp) = `http`; validation/normalisation =
`validate` - `http`; journal write = `journal` - `validate`; Kafka produce = `full` -
`journal`. CPU time, unlike the rate, means something on a machine shared with other
work. Results: a table on stdout and bench/results/edge_cpu.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from connectors.journal import EdgeJournal, JournalBound
from connectors.relay import Relay, RelayConfig
from connectors.webform import FormConfig, FormField, WebFormConnector
from ingest.contract import Inquiry, Topics
from ingest.contract.problem import BODY_TIMEOUT, problem_middleware
from leadflow import collector
from leadflow.broker import EmbeddedBroker, create_topics, free_port
from leadflow.counting import outcome_counter

BENCH_DIR = Path(__file__).resolve().parent
WRK_SCRIPT = BENCH_DIR / "wrk_edge.lua"
DEFAULT_OUT = BENCH_DIR / "results" / "edge_cpu.json"
STAGES = ("http", "validate", "journal", "full")
KINDS = ("form", "json")
FORM = FormConfig(
    slug="contact",
    name="Contact",
    team="Sales",
    fields=(
        FormField(name="name", label="Name", maps_to="name"),
        FormField(name="email", label="Email", maps_to="email", kind="email"),
        FormField(name="phone", label="Phone", maps_to="phone", kind="tel"),
        FormField(name="message", label="Message", maps_to="message", kind="textarea"),
    ),
)


class NullSink:
    """Serialises the inquiry as the journal would, and keeps nothing."""

    async def publish(self, inquiry: Inquiry) -> None:
        inquiry.to_kafka()


class Accepted:
    """Counts 202s: the divisor of the CPU time."""

    def __init__(self) -> None:
        self.n = 0

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPSeeOther:
            self.n += 1
            raise
        if response.status == 202:
            self.n += 1
        return response


def make_app(stage: str, sink: Any, accepted: Accepted) -> web.Application:
    """The application as `leadflow.runtime` builds it for the connectors role."""
    app = web.Application(
        client_max_size=256 * 1024, middlewares=[accepted.middleware, problem_middleware]
    )
    app[BODY_TIMEOUT] = 30.0
    if stage == "http":

        async def bare(request: web.Request) -> web.Response:
            await request.read()
            return web.json_response(
                {"status": "accepted", "inquiry_id": str(uuid.uuid4())}, status=202
            )

        app.add_routes([web.post("/forms/{slug}", bare)])
        return app
    outcomes = Counter(
        "leadflow_form_submissions_total",
        "Web-form submissions, by outcome.",
        ["outcome"],
        registry=CollectorRegistry(),
    )
    connector = WebFormConnector(
        sink,
        {FORM.slug: FORM}.get,
        on_outcome=outcome_counter(outcomes),
        render_secret=b"bench-render-secret-of-32-bytes!",
    )
    app.add_routes(connector.routes())
    return app


async def run_wrk(url: str, kind: str, seconds: float, connections: int) -> dict[str, Any]:
    wrk = await asyncio.create_subprocess_exec(
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        kind,
        uuid.uuid4().hex[:10],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await wrk.communicate()
    match = re.search(rb"WRKJSON (\{.*\})", out)
    if match is None:
        raise RuntimeError(f"wrk printed no summary: {out.decode()} {err.decode()}")
    result: dict[str, Any] = json.loads(match.group(1))
    return result


async def measure(
    stage: str,
    kind: str,
    *,
    seconds: float,
    connections: int,
    bootstrap: str,
    tmp: Path,
    default_gc: bool = False,
) -> dict[str, Any]:
    accepted = Accepted()
    async with AsyncExitStack() as stack:
        sink: Any = NullSink()
        relay: Relay | None = None
        journal: EdgeJournal | None = None
        if stage in ("journal", "full"):
            journal = await stack.enter_async_context(
                EdgeJournal(
                    tmp / f"journal-{stage}-{kind}.sqlite3",
                    bound=JournalBound(max_bytes=0, max_age_s=0),
                )
            )
            sink = journal
        stop = asyncio.Event()
        relay_task: asyncio.Task[None] | None = None
        if stage == "full":
            assert journal is not None
            topics = Topics(prefix=f"edge{uuid.uuid4().hex[:8]}.")
            await create_topics(bootstrap, topics, partitions=6)
            relay = Relay(journal, RelayConfig(bootstrap_servers=bootstrap, topics=topics))
            relay_task = asyncio.create_task(relay.run(stop), name="relay")
        runner = web.AppRunner(make_app(stage, sink, accepted), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.sleep(0.5)  # the relay's clients connect before the clock starts
        if not default_gc:
            collector.settle()  # as `leadflow serve` does once its roles are up
        cpu0, wall0 = time.process_time(), time.monotonic()
        wrk = await run_wrk(f"http://127.0.0.1:{port}/forms/contact", kind, seconds, connections)
        if journal is not None and relay_task is not None:
            async with asyncio.timeout(120):
                while journal.stats().published < accepted.n:  # noqa: ASYNC110 (polls a count)
                    await asyncio.sleep(0.01)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        stop.set()
        if relay_task is not None:
            await relay_task
    n = accepted.n
    return {
        "stage": stage,
        "kind": kind,
        "accepted": n,
        "cpu_us_per_inquiry": round(cpu / n * 1e6, 1) if n else None,
        "per_s": round(n / wall),
        "wrk": wrk,
    }


def split(results: list[dict[str, Any]], kind: str) -> dict[str, float]:
    us = {r["stage"]: r["cpu_us_per_inquiry"] for r in results if r["kind"] == kind}
    return {
        "HTTP (aiohttp)": us["http"],
        "validation/normalisation": us["validate"] - us["http"],
        "journal write": us["journal"] - us["validate"],
        "Kafka produce (relay)": us["full"] - us["journal"],
        "total": us["full"],
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    async with EmbeddedBroker() as broker:
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            for kind in args.kinds:
                for stage in args.stages:
                    r = await measure(
                        stage,
                        kind,
                        seconds=args.seconds,
                        connections=args.connections,
                        bootstrap=broker.bootstrap_servers,
                        tmp=Path(tmp),
                        default_gc=args.default_gc,
                    )
                    print(json.dumps(r), flush=True)
                    results.append(r)
    return {
        "loop": args.loop,
        "collector": "CPython's defaults" if args.default_gc else "leadflow.collector",
        "loadavg": list(os.getloadavg()),
        "results": results,
        "split": {
            k: split(results, k)
            for k in args.kinds
            if {r["stage"] for r in results if r["kind"] == k} >= set(STAGES)
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.edge_cpu", description=__doc__)
    p.add_argument("--seconds", type=float, default=8.0, help="wrk run per stage")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    p.add_argument("--dir", type=Path, default=None, help="where the journal files go")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument(
        "--default-gc", action="store_true", help="CPython's collector thresholds, no freeze"
    )
    args = p.parse_args()
    if not args.default_gc:
        collector.tune()
    if args.loop == "uvloop":
        import uvloop

        report = uvloop.run(main_async(args))
    else:
        report = asyncio.run(main_async(args))
    for kind, parts in report["split"].items():
        print(f"{kind}: CPU µs per accepted inquiry ({args.loop})")
        for label, us in parts.items():
            print(f"  {label:<26} {us:7,.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
