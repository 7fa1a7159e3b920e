"""The ingest consumer's settings (`ConsumerConfig`) and when it lets a small batch
grow before handling it (`linger_s`, pure). Split out of `ingest.consumer`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from ingest.contract import Topics
from ingest.resilience import Backoff


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    bootstrap_servers: str
    topics: Topics
    group_id: str = "leadflow-ingest"
    max_batch: int = 500
    fetch_max_wait_ms: int = 20
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    default_region: str = "RU"
    default_team: str | None = None
    max_message_bytes: int = 1_048_576
    # A batch that keeps conflicting with concurrent writers after this many fresh
    # snapshots is split like poison; alone, the inquiry is dead-lettered.
    conflict_attempts: int = 4
    backoff: Backoff = field(default_factory=Backoff)
    # Deadline of an offset commit, a topic check, a client restart (seconds).
    broker_deadline_s: float = 10.0
    # While idle, check this often that the broker still has our topics.
    heal_interval_s: float = 5.0
    partitions: int = 6
    replication_factor: int = 1
    ack_window: timedelta = timedelta(hours=24)
    # Where messages can be delivered; without SMTP settings there is no email to queue.
    outbound_channels: frozenset[str] = frozenset({"email", "telegram"})
    # Under load, gather a small batch for at most this long (see `linger_s`); 0: never.
    linger_max_ms: int = 25


def linger_s(fetched: int, limit: int, last_batch: int, last_batch_s: float, cap_s: float) -> float:
    """How long to keep gathering records before handling the `fetched` in hand.

    Every batch pays fixed costs (a transaction with a dozen reads and writes, a
    confirmation, an outbox claim, an offset commit), so under load a stream of small
    back-to-back batches costs several times the CPU per inquiry of larger ones.
    Two or more records in this fetch or the last batch mean records queue while a
    batch runs (a fetch can bring only what the client had prefetched, one record
    while more wait on the broker): wait up to as long as the last batch took
    (capped), so the next one is about twice as large. One record after one record
    (a low rate) or a batch already half full goes at once, so a quiet system gains
    no latency.
    """
    if cap_s <= 0 or max(fetched, last_batch) < 2 or fetched * 2 >= limit:
        return 0.0
    return min(last_batch_s, cap_s)
