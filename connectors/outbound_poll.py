"""One poll of the outbound dispatcher (`connectors.outbound`): its records in send
lanes by recipient, which of them were handled, and the offsets that may be
committed. Pure bookkeeping over aiokafka's records; imports nothing of ours."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import TopicPartition


class Poll:
    """One poll's records: which are handled, and the offsets that may be committed (a
    partition's next offset once every record before it was handled)."""

    def __init__(self, batches: Mapping[TopicPartition, Sequence[Any]]) -> None:
        self._batches = batches
        self._by_offset = {tp: {r.offset: r for r in records} for tp, records in batches.items()}
        self._waiting = {tp: deque(r.offset for r in records) for tp, records in batches.items()}
        self._done: dict[TopicPartition, set[int]] = {tp: set() for tp in batches}
        self._next: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self.handled = 0
        # Set when offsets cannot be committed: the lanes take no further record.
        self.halted = False

    def lanes(self, count: int) -> list[list[Any]]:
        """The records in `count` lanes by key, each lane in the records' order."""
        lanes: list[list[Any]] = [[] for _ in range(count)]
        for records in self._batches.values():
            for record in records:
                lanes[_lane_of(record.key or b"", count)].append(record)
        return [lane for lane in lanes if lane]

    def done(self, tp: TopicPartition, offset: int) -> None:
        done, waiting = self._done[tp], self._waiting[tp]
        done.add(offset)
        while waiting and waiting[0] in done:
            self._next[tp] = waiting.popleft() + 1

    def record_at(self, tp: TopicPartition, offset: int) -> Any:
        return self._by_offset[tp][offset]

    def ends_to_commit(self) -> dict[TopicPartition, int]:
        return {tp: end for tp, end in self._next.items() if end > self._committed.get(tp, -1)}

    def committed(self, ends: Mapping[TopicPartition, int]) -> None:
        self._committed.update(ends)


def _lane_of(key: bytes, count: int) -> int:
    """A stable hash: the same recipient in the same lane, run after run. Not crc32,
    whose low bits put 16 addresses differing in a digit into 4 lanes of 8."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "big") % count
