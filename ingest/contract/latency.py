"""The bucket bounds of every latency histogram, from the edge to the stored lead.

One set, so the edge journal's stages (counted in `connectors.latency`) and the
consumer's (`ingest.metrics`) can be read against each other and against the
issue-11 targets. Imports nothing.
"""

from __future__ import annotations

# Upper bounds in seconds: fine where the targets are (POST ≤ 20 ms, lead ≤ 50 ms),
# coarse where a broker outage puts a backlog.
LATENCY_BOUNDS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    0.75,
    1.0,
    2.0,
    5.0,
    10.0,
    30.0,
    60.0,
)
