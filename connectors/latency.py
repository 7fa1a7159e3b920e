"""How long entries took to reach a stage, counted in fixed buckets (a histogram's data).

The edge journal counts the seconds from an append to its fsynced commit, the relay
from an append to the broker's acknowledgement of its first publication. Connectors
may not import the metrics registry, so they count here and `leadflow.edge_journal`
exports the counts as Prometheus histograms at each scrape. Imports only
`ingest.contract` of ours (the bounds, shared with the consumer's histograms).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from ingest.contract.latency import LATENCY_BOUNDS as BOUNDS


class LatencyBuckets:
    """Counts per bucket (the last is +Inf) and the sum, as a Prometheus histogram has."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.counts[bisect.bisect_left(BOUNDS, seconds)] += 1
        self.total += seconds

    def observe_since(self, now: float, starts: Iterable[float]) -> None:
        for start in starts:
            self.observe(now - start)

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, count at or under it) pairs, ending with "+Inf"."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip((*map(str, BOUNDS), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out
