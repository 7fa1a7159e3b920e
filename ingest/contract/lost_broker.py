"""Signs that the broker lost its state, as the relay and the outbox publisher read
them: pure functions over offsets. Imports nothing of ours."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

# A partition, or a (topic, partition) for a writer to several topics.
P = TypeVar("P", bound=Hashable)


def replaced_logs(
    expected: Mapping[int, int],
    positions: Mapping[int, int],
    highwaters: Mapping[int, int | None],
    first: Mapping[int, int],
) -> set[int]:
    """The partitions whose log is not the one we were reading.

    `expected`: where our reading stood; `positions`: the consumer's position now;
    `highwaters`: the log's end from the last fetch answer (`end_offsets` is wrong on
    Tansu); `first`: the offset of the first record just fetched. A log that ends before
    our position is an empty log in place of ours. A position or a record behind where
    we stood is the same thing seen later: the broker answered "offset out of range"
    and the client went back to the new log's start on its own (`auto_offset_reset`),
    silently, so the log's end no longer shows it.
    """
    lost = set()
    for partition, position in positions.items():
        stood = expected.get(partition, 0)
        high = highwaters.get(partition)
        ended_before = high is not None and high < position
        went_back = position < stood or first.get(partition, stood) < stood
        if ended_before or went_back:
            lost.add(partition)
    return lost


def started_again(acked_end: dict[P, int], spans: Mapping[P, tuple[int, int]]) -> list[P]:
    """The partitions whose new acknowledgements (`spans`: first and end offset per
    partition) start below the end of what was acknowledged before (`acked_end`,
    updated here): an append-only log never does that unless it was replaced.

    A broker that lost one log lost them all, and the caller publishes everything
    unconfirmed again: so the count restarts for every partition, not only those seen
    replaced, or the others' first acknowledgements in the new logs would report the
    same loss a second time and send everything a second time."""
    replaced = [p for p, (first, _) in spans.items() if first < acked_end.get(p, 0)]
    if replaced:
        acked_end.clear()
    for p, (_, end) in spans.items():
        acked_end[p] = max(end, acked_end.get(p, 0))
    return replaced
