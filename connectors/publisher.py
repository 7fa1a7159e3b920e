"""Publishes inquiries to Kafka and reports whether the broker acknowledged them.

`InquirySink` is what every connector is handed: something with `publish(inquiry)`
that returns once the inquiry is durable, or raises `PublishFailed` (the HTTP edge
answers 503) when nothing was recorded. In the runtime that is the edge journal
(`connectors.journal`); `Publisher` here sends straight to the broker (the relay, tools).
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Protocol, Self

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from ingest.contract import METADATA_MAX_AGE_MS, PRODUCER_COMPRESSION, Inquiry, Topics

log = logging.getLogger(__name__)


class PublishFailed(RuntimeError):
    """The inquiry was not recorded (broker or journal); the sender should retry."""


class InquirySink(Protocol):
    """Where a connector puts an inquiry before it acknowledges the source."""

    async def publish(self, inquiry: Inquiry) -> None: ...


class Publisher:
    """An aiokafka producer with a deadline per publish and lazy (re)connection."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: Topics,
        *,
        timeout_s: float = 5.0,
        linger_ms: int = 0,
        client_id: str = "leadflow-connectors",
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = topics
        self._timeout = timeout_s
        self._linger_ms = linger_ms
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._start_lock = asyncio.Lock()
        self._closed = False

    async def __aenter__(self) -> Self:
        try:
            await self._ensure_started()
        except PublishFailed:
            # Start anyway: the HTTP edge must answer 503, not refuse to boot.
            log.warning("broker %s not reachable at start; will retry on publish", self._bootstrap)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed = True
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def _ensure_started(self) -> AIOKafkaProducer:
        if self._closed:
            raise RuntimeError("Publisher is closed")
        async with self._start_lock:
            if self._producer is not None:
                return self._producer
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                client_id=self._client_id,
                acks="all",
                linger_ms=self._linger_ms,
                enable_idempotence=False,
                request_timeout_ms=int(self._timeout * 1000),
                metadata_max_age_ms=METADATA_MAX_AGE_MS,
                compression_type=PRODUCER_COMPRESSION,
            )
            try:
                await asyncio.wait_for(producer.start(), self._timeout)
            except (TimeoutError, KafkaError, OSError) as exc:
                await producer.stop()
                raise PublishFailed(f"the broker is not reachable: {exc!r}") from exc
            self._producer = producer
            return producer

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        producer = await self._ensure_started()
        try:
            await asyncio.wait_for(producer.send_and_wait(topic, value, key=key), self._timeout)
        except (TimeoutError, KafkaError) as exc:
            raise PublishFailed(
                f"the broker did not acknowledge within {self._timeout:g} s"
            ) from exc

    async def publish(self, inquiry: Inquiry) -> None:
        key, value = inquiry.to_kafka()
        await self.send(self._topics.inquiries, key, value)

    async def ping(self) -> bool:
        """True when the broker answers a metadata request."""
        try:
            producer = await self._ensure_started()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), self._timeout)
        except (PublishFailed, TimeoutError, KafkaError, OSError):
            return False
        return True
