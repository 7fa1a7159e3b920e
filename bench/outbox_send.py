"""The outbox's send alone: CPU µs per message, record batches against one `send` each.

Run `python -m bench.outbox_send [--messages 1000] [--rounds 5]`. It starts the
embedded broker and hands it, round after round, `--messages` lead-event-like
messages (three per lead, keyed by the lead id, ~300 bytes) through the consumer's
`send_all` (record batches, `ingest.contract.record_batches`) and through the former
way (one `producer.send` per message, then gathering the futures), alternating the
two, each with its deadline and every acknowledgement awaited. It prints the process
CPU per message of each (this process only; the broker is another) and their medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from ingest.contract import Topics
from ingest.contract.record_batches import SEND_BATCH_BYTES
from ingest.outbox_publisher import Message, send_all
from leadflow.broker import EmbeddedBroker, create_topics


async def send_each(
    producer: AIOKafkaProducer, messages: Sequence[Message], deadline_s: float
) -> None:
    """The former `send_all`: one `send` per message, then every future."""
    async with asyncio.timeout(deadline_s):
        futures = [await producer.send(topic, value, key=key) for topic, value, key in messages]
        await asyncio.gather(*futures)


def outbox(topics: Topics, n: int) -> list[Message]:
    messages: list[Message] = []
    while len(messages) < n:
        lead_id = str(uuid.uuid4())
        for type_ in ("lead.created", "lead.assigned", "activity.scheduled"):
            body = {
                "event_id": str(uuid.uuid4()),
                "type": type_,
                "lead_id": lead_id,
                "inquiry_id": str(uuid.uuid4()),
                "channel": "webform",
                "status": "new",
                "team": "Sales",
                "at": "2026-12-02T21:00:00+00:00",
            }
            messages.append((topics.lead_events, json.dumps(body).encode(), lead_id.encode()))
    return messages[:n]


async def started_producer(bootstrap: str, batch_bytes: int) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        max_batch_size=batch_bytes,
    )
    await producer.start()
    return producer


async def run(n: int, rounds: int) -> None:
    topics = Topics(prefix="bench.")
    async with EmbeddedBroker() as broker:
        await create_topics(broker.bootstrap_servers, topics)
        # Each way on the producer the consumer had for it: aiokafka's default batch
        # size before, `SEND_BATCH_BYTES` now.
        producers = {
            "per-message send": await started_producer(broker.bootstrap_servers, 16384),
            "record batches": await started_producer(broker.bootstrap_servers, SEND_BATCH_BYTES),
        }
        ways = {"per-message send": send_each, "record batches": send_all}
        try:
            for name, way in ways.items():  # warm up: metadata, connections
                await way(producers[name], outbox(topics, n), 30)
            cpu: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(rounds):
                for name, way in ways.items():
                    messages = outbox(topics, n)
                    started = time.process_time()
                    await way(producers[name], messages, 30)
                    cpu[name].append((time.process_time() - started) / n * 1e6)
        finally:
            for producer in producers.values():
                await producer.stop()
    for name, values in cpu.items():
        shown = " ".join(f"{v:.1f}" for v in values)
        print(f"{name:>17}: median {statistics.median(values):5.1f} µs/message  ({shown})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    asyncio.run(run(a.messages, a.rounds))


if __name__ == "__main__":
    main()
