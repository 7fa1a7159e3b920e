"""How many appends per second the edge journal commits, at concurrency 1, 16 and 256.

Each append is one inquiry-sized entry (the JSON of a typical web-form inquiry,
~700 bytes) into a fresh `EdgeJournal` on local disk with `synchronous=FULL`, so
every acknowledged append has been fsynced. Concurrency is the number of callers
awaiting at once (requests in flight at the HTTP edge); group commit is what lets
the rate grow with it. Prints one JSON line per level, then a table.
Run: `.venv/bin/python -m bench.journal [--seconds S] [--dir DIR]`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from pathlib import Path

from connectors.journal import EdgeJournal, JournalBound
from tests.factories import make_inquiry

LEVELS = (1, 16, 256)


async def measure(path: Path, concurrency: int, seconds: float) -> dict[str, float]:
    _, value = make_inquiry().to_kafka()
    counter = itertools.count()
    latencies: list[float] = []
    async with EdgeJournal(path, bound=JournalBound(max_bytes=0, max_age_s=0)) as journal:
        deadline = time.perf_counter() + seconds

        async def caller() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                await journal.append(f"bench:{next(counter)}", b"sender-key", value)
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        entries = journal.stats().entries
    latencies.sort()
    return {
        "concurrency": concurrency,
        "appends": entries,
        "appends_per_s": round(entries / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "entry_bytes": len(value),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--dir", type=Path, default=None, help="where the journal files go")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for level in LEVELS:
            result = await measure(Path(tmp) / f"journal-{level}.sqlite3", level, args.seconds)
            print(json.dumps(result), flush=True)
            results.append(result)
    print(f"{'concurrency':>12} {'appends/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(f"{r['concurrency']:>12} {r['appends_per_s']:>10} {r['p50_ms']:>8} {r['p99_ms']:>8}")


if __name__ == "__main__":
    asyncio.run(main())
