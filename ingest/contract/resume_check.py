"""Where a consumer resumes a partition after its group's assignment changed: at its
own committed offset only once the record before it is the one it committed there.
The outbound dispatcher (`connectors.outbound`) and both consumers of
`ingest.kafka_pair` (inquiries, lead events) use it.

aiokafka retries a commit that was in flight when the broker went, on the broker
that answers next and under the group generation it has there by then
(`commit_offsets` reads it again at each attempt). An embedded broker that restarted
empty can so end up holding an offset of the lost log. The publishers refill the new
log (`ingest.outbox_publisher.LOST_LOG_WINDOW`), and once it has grown past that
offset the consumer reads it from there: every message before it was skipped (the
embedded-broker-kill fault trial: 140 mails never sent, once in 10 runs).

So when a newly assigned partition's first record comes right after the consumer's
own last commit on it, the partition is read once more from the record before, and
that record must be the one committed (same value, same timestamp: a message
published again carries a new one). Then it is the same log, read on after that
record (handled before, it is not handed over again); otherwise it is a new log,
read from its beginning, where what was handled already is harmless again (the
dispatcher's sent-id memory, the store's idempotency keys, the notifier's plans). A fetch
that starts anywhere else, another member's commit or the client's own reset after
"offset out of range", is trusted as it is. Pure but for the consumer's `seek`;
imports nothing of ours.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Mark:
    """A committed offset and the record just before it."""

    end: int
    value: bytes | None
    timestamp: int


class ResumeCheck(ConsumerRebalanceListener):  # type: ignore[misc]
    """A consumer's rebalance listener; kept across its clients (a restart on new
    clients is a change of assignment too)."""

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._marks: dict[TopicPartition, _Mark] = {}
        # Assigned since their first fetch: where the consumer resumed is not seen yet.
        self._fresh: set[TopicPartition] = set()
        # Read again from the record before our mark, which must be the marked one.
        self._stepped_back: dict[TopicPartition, _Mark] = {}

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        for tp in revoked:
            self._fresh.discard(tp)
            self._stepped_back.pop(tp, None)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._fresh.update(assigned)

    def committed(self, tp: TopicPartition, end: int, last: Any) -> None:
        """`end` was committed for `tp`; `last` is the record at `end - 1`."""
        self._marks[tp] = _Mark(end, last.value, last.timestamp)

    async def checked(
        self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, Sequence[Any]]
    ) -> dict[TopicPartition, Sequence[Any]]:
        """`batches` less the partitions read again from elsewhere (`consumer` is
        sought there; their records come in a later fetch)."""
        kept = dict(batches)
        for tp, records in batches.items():
            if not records:
                continue
            first = records[0]
            stepped = self._stepped_back.pop(tp, None)
            if stepped is not None:
                if _is_marked(stepped, first):
                    kept[tp] = records[1:]
                else:
                    await self._read_from_beginning(consumer, tp, stepped, first)
                    del kept[tp]
                continue
            if tp not in self._fresh:
                continue
            self._fresh.discard(tp)
            mark = self._marks.get(tp)
            if mark is not None and mark.end > 0 and first.offset == mark.end:
                consumer.seek(tp, mark.end - 1)
                self._stepped_back[tp] = mark
                del kept[tp]
        return {tp: records for tp, records in kept.items() if records}

    async def _read_from_beginning(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, mark: _Mark, found: Any
    ) -> None:
        log.warning(
            "%s: %s[%d] is not the log whose offset %d we committed (found offset "
            "%d, another record): the broker lost it; reading the new log from its "
            "beginning",
            self._owner,
            tp.topic,
            tp.partition,
            mark.end,
            found.offset,
        )
        await consumer.seek_to_beginning(tp)


def _is_marked(mark: _Mark, record: Any) -> bool:
    return bool(
        record.offset == mark.end - 1
        and record.value == mark.value
        and record.timestamp == mark.timestamp
    )
