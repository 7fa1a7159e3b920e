"""Kafka topic names and their creation. A prefix lets several deployments share a broker.

`ensure_topics` lives here, beside the names, because every role that talks to Kafka
(the connectors' relay, the consumer, the CLI) must be able to recreate the topics of
a broker that came back empty, and connectors may import only the contract.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

# How old every client's metadata may grow (aiokafka's default is 5 minutes). A broker
# restarted empty recreates topics with another partition count (Tansu makes 4 on the
# first request that names a topic, and takes records for partitions it does not
# list), so a client with the old metadata writes where no consumer reads, or a
# consumer reads only some partitions, until its metadata is refreshed.
METADATA_MAX_AGE_MS = 10_000

# How every producer of ours compresses its record batches. The embedded broker
# (Tansu, memory only) keeps every record for as long as it runs: it has no retention
# and no DeleteRecords, so its memory grows with all the traffic it has taken. It
# keeps a batch as it was sent, and LZ4 batches of our JSON take about a third of the
# memory (issue 11). What it costs in CPU is in the README (issue 11, 2026-12-06).
PRODUCER_COMPRESSION = "lz4"


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = ""

    @property
    def inquiries(self) -> str:
        return f"{self.prefix}leadflow.inquiries"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}leadflow.inquiries.dlq"

    @property
    def stored(self) -> str:
        """Store confirmations: the consumer names the idempotency keys it has handled,
        so every edge journal can drop its copies (see `ingest.contract.confirm`)."""
        return f"{self.prefix}leadflow.inquiries.stored"

    @property
    def lead_events(self) -> str:
        return f"{self.prefix}leadflow.lead-events"

    @property
    def outbound(self) -> str:
        return f"{self.prefix}leadflow.outbound"

    def all(self) -> tuple[str, ...]:
        return (self.inquiries, self.dlq, self.stored, self.lead_events, self.outbound)


async def ensure_topics(
    bootstrap_servers: str, topics: Topics, *, partitions: int = 6, replication_factor: int = 1
) -> list[str]:
    """Create LeadFlow's topics that are missing; returns the ones that did not exist yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in topics.all() if t not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            t, num_partitions=partitions, replication_factor=replication_factor
                        )
                        for t in wanted
                    ]
                )
        return wanted
    finally:
        await admin.close()
