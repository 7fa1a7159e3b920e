"""Wires the edge journal into a process: the journal, its relay, metrics and readiness.

`EdgeJournalRole` is entered by the runtime in every process that accepts inquiries
(the connectors or console role): it opens `connectors.journal.EdgeJournal` from
the `journal` settings, builds the `connectors.relay.Relay` to run in the runtime's
TaskGroup, and registers a Prometheus collector that reads the journal's numbers at
each scrape. Connectors may not import the metrics registry, so the collector
lives here, in the layer that owns the registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Self

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from connectors.journal import EdgeJournal, JournalBound
from connectors.relay import Relay, RelayConfig
from ingest.contract import Topics
from leadflow.settings import Settings


class EdgeJournalRole:
    """The journal and relay of one process; an async context manager."""

    def __init__(
        self, settings: Settings, bootstrap: str, topics: Topics, registry: CollectorRegistry
    ) -> None:
        j = settings.journal
        self.journal = EdgeJournal(
            j.file(settings.data_dir),
            bound=JournalBound(max_bytes=j.max_bytes, max_age_s=j.max_age_s),
            group_linger_s=j.group_linger_ms / 1000,
        )
        self.relay = Relay(
            self.journal,
            RelayConfig(
                bootstrap_servers=bootstrap,
                topics=topics,
                batch=j.relay_batch,
                linger_s=j.relay_linger_ms / 1000,
                republish_after_s=j.republish_after_s,
                timeout_s=settings.kafka.produce_timeout_s,
                fetch_max_wait_ms=settings.kafka.background_fetch_max_wait_ms,
                partitions=settings.kafka.partitions,
                replication_factor=settings.kafka.replication_factor,
                one_partition_per_round=settings.kafka.relay_partitioning == "round",
            ),
        )
        self._registry = registry
        self._collector = JournalCollector(self.journal, self.relay)
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Self:
        await self._stack.enter_async_context(self.journal)
        self._registry.register(self._collector)
        self._stack.callback(self._registry.unregister, self._collector)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    def readiness(self) -> dict[str, Any]:
        """What `/readyz` shows; `accepting` is False past the bound (then 503)."""
        s = self.journal.stats()
        return {
            "accepting": not s.full,
            "entries": s.entries,
            "bytes": s.bytes,
            "oldest_age_s": round(s.oldest_age_s, 3),
            "relay_connected": self.relay.connected,
        }


class JournalCollector(Collector):
    """Reads the journal's stats at each scrape (gauges for depth, counters for events)."""

    def __init__(self, journal: EdgeJournal, relay: Relay) -> None:
        self._journal = journal
        self._relay = relay

    def collect(self) -> Iterator[Metric]:
        s = self._journal.stats()
        latency = HistogramMetricFamily(
            "leadflow_journal_latency_seconds",
            "Seconds from an inquiry's append to the edge journal until it was fsynced "
            "(stage=fsynced: the caller may answer) and until the broker acknowledged "
            "its first publication (stage=relayed).",
            labels=["stage"],
        )
        for stage, buckets in (("fsynced", self._journal.fsynced), ("relayed", self._relay.acked)):
            latency.add_metric([stage], buckets.cumulative(), buckets.total)
        yield latency
        yield GaugeMetricFamily(
            "leadflow_journal_entries", "Inquiries held in the edge journal.", value=s.entries
        )
        yield GaugeMetricFamily(
            "leadflow_journal_bytes", "Bytes of inquiries held in the edge journal.", value=s.bytes
        )
        yield GaugeMetricFamily(
            "leadflow_journal_oldest_age_seconds",
            "Age of the oldest unconfirmed entry (0 when empty).",
            value=s.oldest_age_s,
        )
        yield GaugeMetricFamily(
            "leadflow_journal_full",
            "1 while the journal is past its bound and connectors answer 503.",
            value=1.0 if s.full else 0.0,
        )
        events = CounterMetricFamily(
            "leadflow_journal_events",
            "Edge journal events since start: appended, duplicate, refused (bound), "
            "published, republished, confirmed.",
            labels=["event"],
        )
        for event, value in (
            ("appended", s.appended),
            ("duplicate", s.duplicates),
            ("refused", s.refused),
            ("published", s.published),
            ("republished", s.republished),
            ("confirmed", s.confirmed),
        ):
            events.add_metric([event], value)
        yield events
        yield CounterMetricFamily(
            "leadflow_relay_broker_errors",
            "Broker errors met by the relay (each is retried with backoff).",
            value=self._relay.errors,
        )
        yield CounterMetricFamily(
            "leadflow_relay_publish_rounds",
            "Rounds in which the relay published journal entries (one produce request "
            "each; published entries over rounds is the batch it sends).",
            value=self._relay.rounds,
        )
