"""Prometheus metrics of the ingest consumer, on a registry the caller owns."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


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
        self.retries = Counter(
            "leadflow_ingest_store_retries_total",
            "Batches retried after a transient store error.",
            registry=registry,
        )
