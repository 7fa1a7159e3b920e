"""Prometheus metrics of the ingest consumer, on a registry the caller owns."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from ingest.contract.latency import LATENCY_BOUNDS


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "leadflow_ingest_messages_total",
            "Messages read from the inquiries topic, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "leadflow_ingest_batch_seconds",
            "Time to handle one batch: decode, store, confirm, publish, commit.",
            registry=registry,
        )
        self.batch_size = Histogram(
            "leadflow_ingest_batch_size",
            "Messages in one batch.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
            registry=registry,
        )
        self.latency = Histogram(
            "leadflow_ingest_latency_seconds",
            "Seconds from an inquiry's publication to Kafka (its record timestamp) until "
            "the consumer fetched it (stage=fetched), committed its batch (committed), "
            "and published the batch's lead events (published).",
            ["stage"],
            buckets=LATENCY_BOUNDS,
            registry=registry,
        )
        self.fetched = self.latency.labels("fetched")
        self.committed = self.latency.labels("committed")
        self.published = self.latency.labels("published")
        self.retries = Counter(
            "leadflow_ingest_store_retries_total",
            "Batches retried after a transient store error.",
            registry=registry,
        )
        self.lost_logs = Counter(
            "leadflow_ingest_broker_lost_logs_total",
            "Times the outbox publisher saw the broker start its logs again below offsets "
            "it had acknowledged (an embedded broker restarted empty) and marked the lead "
            "events and outbound messages of the minute before unpublished, to send again.",
            registry=registry,
        )
