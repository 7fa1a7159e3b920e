"""The ingest process's CPU per inquiry under `leadflow up`, at a steady rate, A/B.

Run `python -m bench.consumer_load [--tree NAME=PATH ...] [--rate 300] [--seconds 15]
[--rounds 2] [--store sqlite|postgresql] [--profile DIR]`. For each round and each
tree (default: this one) it starts `leadflow up --demo` in split mode from that tree's
sources (`PYTHONPATH`, this interpreter), so the consumer has a process of its own,
posts `rate * seconds` web-form inquiries open-loop with `bench.loadgen`, waits for
every lead to be committed and assigned, and prints the ingest process's CPU µs per
inquiry (consumer, notifier and SLA watcher; the edge, Tansu and PostgreSQL are other
processes), with the batch sizes the consumer took: one confirmation message per
batch on `leadflow.inquiries.stored`, read back after the run. Trees run interleaved
(A B A B ...), so a machine shared with other jobs loads both alike. With `--profile`
it records the ingest process with `py-spy` (when installed) during the load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.e2e import (
    REPO,
    LeadCounter,
    Server,
    comm_of,
    cpu_seconds,
    now_utc,
    postgres_store,
    sqlite_store,
    start_leadflow,
    warm_up,
)
from ingest.contract import Topics
from ingest.contract.confirm import decode_confirmation


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def ingest_pid(server: Server) -> int:
    for pid in server.app_pids():
        if comm_of(pid) != "tansu" and "serve ingest" in _cmdline(pid):
            return pid
    raise RuntimeError("no `serve ingest` child: is leadflow up in split mode?")


async def _ends(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        return dict(await consumer.end_offsets(tps)) if tps else {}
    finally:
        await consumer.stop()


async def batch_sizes(bootstrap: str, topic: str, since: dict[TopicPartition, int]) -> list[int]:
    """The size of every confirmation published after `since`: one per batch."""
    ends = await _ends(bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    sizes: list[int] = []
    try:
        consumer.assign(list(ends))
        for tp in ends:
            consumer.seek(tp, since.get(tp, 0))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in ends}
            if all(positions[tp] >= end for tp, end in ends.items()):
                break
            for records in (await consumer.getmany(timeout_ms=500)).values():
                sizes.extend(len(decode_confirmation(r.value)) for r in records)
    finally:
        await consumer.stop()
    return sizes


def describe_sizes(sizes: list[int]) -> dict[str, Any]:
    if not sizes:
        return {"batches": 0}
    ordered = sorted(sizes)
    buckets = {"1": 0, "2-4": 0, "5-16": 0, "17-64": 0, "65-256": 0, ">256": 0}
    for s in sizes:
        key = (
            "1"
            if s == 1
            else "2-4"
            if s <= 4
            else "5-16"
            if s <= 16
            else "17-64"
            if s <= 64
            else "65-256"
            if s <= 256
            else ">256"
        )
        buckets[key] += 1
    return {
        "batches": len(sizes),
        "mean": round(statistics.fmean(sizes), 1),
        "p50": ordered[len(ordered) // 2],
        "p90": ordered[int(len(ordered) * 0.9)],
        "max": ordered[-1],
        "buckets": buckets,
    }


async def one_run(
    tree: str, path: Path, store_kind: str, rate: float, seconds: float, profile: Path | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"consumer-load-{tree}-") as tmp:
        workdir = Path(tmp)
        store_cm = (
            sqlite_store(workdir)
            if store_kind == "sqlite"
            else postgres_store("postgresql://postgres@127.0.0.1:5432/postgres")
        )
        async with store_cm as store:
            server = await start_leadflow(store, workdir, tree, "split", {"PYTHONPATH": str(path)})
            counter = LeadCounter(store.url)
            try:
                await warm_up(server, counter)
                assert server.bootstrap
                pid = ingest_pid(server)
                stored = Topics("").stored
                since = await _ends(server.bootstrap, stored)
                spy = None
                spy_bin = shutil.which("py-spy") or shutil.which(
                    "py-spy", path=str(Path(sys.executable).parent)
                )
                if profile is not None and spy_bin:
                    await asyncio.to_thread(profile.mkdir, parents=True, exist_ok=True)
                    spy = await asyncio.create_subprocess_exec(
                        spy_bin, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "200",
                        "-f", "raw", "-o", str(profile / f"{tree}-{int(time.time())}.txt"),
                        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                    )  # fmt: skip
                count = int(rate * seconds)
                cpu0, t0 = cpu_seconds(pid), now_utc()
                out = workdir / "loadgen.json"
                gen = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.loadgen", "--port", str(server.port),
                    "--rate", str(rate), "--count", str(count),
                    "--prefix", f"cl{int(time.time() * 1000)}", "--out", str(out),
                    cwd=REPO,
                )  # fmt: skip
                await asyncio.wait_for(gen.wait(), seconds + 120)
                sent = json.loads(out.read_text())
                accepted = sum(1 for s in sent["status"] if s == 202)
                committed, _ = await counter.wait_for(t0, accepted, 120)
                cpu = cpu_seconds(pid) - cpu0
                if spy is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(spy.wait(), 30)
                sizes = await batch_sizes(server.bootstrap, stored, since)
            finally:
                await counter.close()
                await server.stop()
    return {
        "tree": tree,
        "rate": rate,
        "accepted": accepted,
        "committed": committed,
        "ingest_cpu_us_per_inquiry": round(cpu / max(committed, 1) * 1e6),
        "batch_sizes": describe_sizes(sizes),
        "loadavg": os.getloadavg()[0],
    }


async def amain(a: argparse.Namespace) -> None:
    trees = [t.split("=", 1) for t in (a.tree or [f"this={REPO}"])]
    results = []
    for rnd in range(a.rounds):
        order = trees if rnd % 2 == 0 or not a.alternate else list(reversed(trees))
        for name, path in order:
            r = await one_run(name, Path(path), a.store, a.rate, a.seconds, a.profile)
            print(json.dumps(r), flush=True)
            results.append(r)
    for name, _ in trees:
        mine = [r["ingest_cpu_us_per_inquiry"] for r in results if r["tree"] == name]
        print(f"{name}: ingest CPU µs per inquiry {mine}, median {statistics.median(mine):,.0f}")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.consumer_load")
    p.add_argument("--tree", action="append", help="NAME=PATH of a source tree (repeatable)")
    p.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--rate", type=float, default=300.0)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--alternate", action="store_true", help="reverse the order every other round")
    p.add_argument("--profile", type=Path, help="py-spy raw stacks of the ingest process here")
    asyncio.run(amain(p.parse_args()))


if __name__ == "__main__":
    main()
