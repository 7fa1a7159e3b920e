"""A long steady load, window by window: does a rate that holds for 15 s hold for minutes?

`python -m bench.steady --rate 100 --seconds 300 --window 30` runs `leadflow up --demo`
(SQLite by default) and sends bench.loadgen's open-loop POSTs at `--rate` for
`--seconds`; every `--window` seconds it prints each process's CPU over that window
(`app_edge`, `app_ingest`, `tansu`, as a share of one core) and the consumer's own
latency quantiles over the window (`leadflow_ingest_latency_seconds`: the relay's send →
committed and → lead events published, read from /metrics). Nothing reads the broker's
topics while it runs: a bench reader polling `leadflow.lead-events` makes the embedded
broker scan that topic's batches on every poll too (see README, "2026-12-07
(afternoon)"). `--env KEY=VALUE` (repeatable) sets a setting for one run, and
`--compare KEY=VALUE` runs again with it: interleaved A B per `--rounds`. Timings
are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.e2e import (
    Server,
    Store,
    postgres_store,
    sqlite_store,
    start_leadflow,
    start_loadgen,
)
from bench.latency_stages import histogram_quantiles, scrape


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _pairs(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"not KEY=VALUE: {item!r}")
        out[key] = value
    return out


async def _start(
    a: argparse.Namespace, store: Store, workdir: Path, label: str, env: dict[str, str]
) -> Server:
    """`leadflow up --demo` from this tree, or from `--code` (another checkout)."""
    import bench.e2e as e2e

    saved = e2e.REPO
    if a.code is not None:
        e2e.REPO = a.code
    try:
        return await start_leadflow(store, workdir, label, extra_env=env)
    finally:
        e2e.REPO = saved


async def one_run(a: argparse.Namespace, env: dict[str, str], label: str) -> list[dict[str, Any]]:
    windows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="leadflow-steady-") as tmp:
        factory = sqlite_store(Path(tmp)) if a.store == "sqlite" else postgres_store(a.pg_admin_dsn)
        async with factory as store:
            server = await _start(a, store, Path(tmp), label, env)
            try:
                count = int(a.rate * a.seconds)
                out = Path(tmp) / "loadgen.json"
                prefix = f"sd{int(time.time() * 1000)}"
                gen = await start_loadgen(server.port, a.rate, count, prefix, out, 512)
                started = last = time.monotonic()
                cpu, hist = server.cpu(), await scrape(server)
                n = 0
                while gen.returncode is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(gen.wait(), a.window)
                    cpu2, hist2 = server.cpu(), await scrape(server)
                    span, last = time.monotonic() - last, time.monotonic()
                    n += 1
                    q = histogram_quantiles(hist, hist2)
                    row = {
                        "label": label,
                        "window": n,
                        "at_s": round(time.monotonic() - started),
                        # A process started again meanwhile (the broker past its
                        # bound) counts from zero: its share is unknown, say so.
                        "cpu_share": {
                            k: round(d / span, 2) if d >= 0 else "restarted"
                            for k in ("app_edge", "app_ingest", "tansu")
                            if k in cpu and k in cpu2
                            for d in (cpu2[k] - cpu[k],)
                        },
                        "latency_ms": {
                            stage: [round(q[stage]["p50_ms"], 1), round(q[stage]["p99_ms"], 1)]
                            for stage in ("ingest.committed", "ingest.published")
                            if stage in q
                        },
                    }
                    windows.append(row)
                    log(f"{label} {json.dumps(row, ensure_ascii=False)}")
                    cpu, hist = cpu2, hist2
            finally:
                await server.stop()
    return windows


async def amain(a: argparse.Namespace) -> list[dict[str, Any]]:
    base = _pairs(a.env)
    runs = [("A", base)]
    if a.compare:
        runs.append(("B", {**base, **_pairs(a.compare)}))
    results: list[dict[str, Any]] = []
    for rnd in range(a.rounds):
        for name, env in runs:
            label = f"{name}{rnd}"
            log(f"{label}: {env or 'defaults'}")
            results.extend(await one_run(a, env, label))
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=300.0)
    p.add_argument("--window", type=float, default=30.0)
    p.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--pg-admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for every run")
    p.add_argument("--compare", action="append", default=[], help="KEY=VALUE for run B")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--code", type=Path, help="run `leadflow up` from this checkout instead")
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    results = asyncio.run(amain(a))
    if a.out:
        a.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
