"""The ingest role's loops configured from the settings: the consumer and the notifier.

Pure: settings in, config objects out (the runtime opens the loops).
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from ingest.consumer_config import ConsumerConfig
from ingest.contract import Topics
from ingest.notifier import NotifierConfig
from leadflow.settings import Settings

# On SQLite a batch's fixed cost is small next to its inquiries', and gathering only
# delayed them: at 1,000/s the lead's p50 / p99 went 80 / 130 -> 58 / 107 ms without it
# (capacity unchanged). On PostgreSQL each batch costs round trips, and gathering for
# 25 ms cost no latency there and saved 11-13 % of the consumer's CPU (issue 11).
SQLITE_BATCH_LINGER_MS = 0
POSTGRESQL_BATCH_LINGER_MS = 25


def batch_linger_ms(settings: Settings) -> int:
    """`kafka.batch_linger_ms`, or the store's default when it is not set."""
    if settings.kafka.batch_linger_ms is not None:
        return settings.kafka.batch_linger_ms
    if make_url(settings.database.url).get_backend_name() == "sqlite":
        return SQLITE_BATCH_LINGER_MS
    return POSTGRESQL_BATCH_LINGER_MS


def consumer_config(settings: Settings, bootstrap: str, topics: Topics) -> ConsumerConfig:
    k = settings.kafka
    return ConsumerConfig(
        bootstrap_servers=bootstrap,
        topics=topics,
        group_id=k.consumer_group,
        max_batch=k.max_batch,
        linger_max_ms=batch_linger_ms(settings),
        fetch_max_wait_ms=k.fetch_max_wait_ms,
        session_timeout_ms=k.session_timeout_ms,
        heartbeat_interval_ms=k.heartbeat_interval_ms,
        default_region=settings.ingest.default_region,
        default_team=settings.ingest.default_team,
        partitions=k.partitions,
        replication_factor=k.replication_factor,
        outbound_channels=frozenset({"telegram"} | ({"email"} if settings.smtp else set())),
    )


def notifier_config(settings: Settings, bootstrap: str, topics: Topics) -> NotifierConfig:
    k = settings.kafka
    return NotifierConfig(
        bootstrap_servers=bootstrap,
        topics=topics,
        group_id=f"{topics.prefix}leadflow-notifier",
        fetch_max_wait_ms=k.background_fetch_max_wait_ms,
        session_timeout_ms=k.session_timeout_ms,
        heartbeat_interval_ms=k.heartbeat_interval_ms,
        partitions=k.partitions,
        replication_factor=k.replication_factor,
        console_url=(settings.smtp.console_url if settings.smtp else None)
        or settings.http.public_url,
        email=settings.smtp is not None,
        default_language=settings.ingest.default_language,
    )
