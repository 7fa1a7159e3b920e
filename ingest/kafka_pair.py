"""A group consumer and a producer that start and stop together.

The ingest consumer and the notifier both read one topic in a consumer group with
manual offset commits from the earliest offset, and produce to others; this is
that setup once. Idempotence stays off: Tansu does not support it, and the
idempotency keys in the store make replays harmless anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ingest.errors import ConsumerStopped


@dataclass(frozen=True, slots=True)
class PairConfig:
    bootstrap_servers: str
    topic: str
    group_id: str
    client_id: str
    fetch_max_wait_ms: int
    session_timeout_ms: int
    heartbeat_interval_ms: int
    max_partition_fetch_bytes: int = 1_048_576


class KafkaPair:
    def __init__(self, config: PairConfig, owner: str) -> None:
        self._config = config
        self._owner = owner
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._closed = False

    async def start(self) -> None:
        if self._closed or self._consumer is not None:
            raise ConsumerStopped(f"a {self._owner} is entered once; make a new one")
        c = self._config
        self._producer = AIOKafkaProducer(
            bootstrap_servers=c.bootstrap_servers,
            client_id=c.client_id,
            acks="all",
            enable_idempotence=False,
        )
        self._consumer = AIOKafkaConsumer(
            c.topic,
            bootstrap_servers=c.bootstrap_servers,
            group_id=c.group_id,
            client_id=c.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=c.fetch_max_wait_ms,
            max_partition_fetch_bytes=c.max_partition_fetch_bytes,
            session_timeout_ms=c.session_timeout_ms,
            heartbeat_interval_ms=c.heartbeat_interval_ms,
        )
        try:
            await self._producer.start()
            await self._consumer.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop both clients; harmless when already stopped. Offsets are not committed."""
        self._closed = True
        consumer, self._consumer = self._consumer, None
        producer, self._producer = self._producer, None
        if consumer is not None:
            await consumer.stop()
        if producer is not None:
            await producer.stop()

    def clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaProducer]:
        if self._consumer is None or self._producer is None:
            raise ConsumerStopped(f"use the {self._owner} inside 'async with'")
        return self._consumer, self._producer
