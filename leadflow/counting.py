"""Counting outcomes into a labelled Prometheus counter from a hot path.

`counter.labels(...)` takes the metric's lock and builds a key on every call: 4 us
where the child's own `inc()` is 1 (issue 11), paid by every request an edge
answers. `outcome_counter` looks each child up once and keeps it; the runtime never
removes a child, so the kept one is the one `labels` would return.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter


def outcome_counter(counter: Counter, *labels: str) -> Callable[[str], None]:
    """`lambda outcome: counter.labels(*labels, outcome).inc()`, each child looked up once."""
    children: dict[str, Counter] = {}

    def count(outcome: str) -> None:
        child = children.get(outcome)
        if child is None:
            child = children[outcome] = counter.labels(*labels, outcome)
        child.inc()

    return count
