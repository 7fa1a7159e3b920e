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
            "Time to decide and store one batch.",
            registry=registry,
        )
        self.retries = Counter(
            "leadflow_ingest_store_retries_total",
            "Batches retried after a transient store error.",
            registry=registry,
        )
