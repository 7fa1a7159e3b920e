"""What `leadflow up` in split mode prepares for its children, in the parent: the
embedded broker (unless one is configured), the topics, the migrations, the start-up
configuration and the demo seed. Imports the store and the broker (seconds of
imports), so `leadflow.processes` imports this module only after its children run.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

from crm_store.database import open_database
from crm_store.migrate import upgrade_async
from ingest.contract import Topics
from leadflow.broker import (
    EmbeddedBroker,
    create_topics,
    start_embedded,
    with_embedded_partitions,
)
from leadflow.seed import Started, apply_configuration, write_passwords, write_token
from leadflow.settings import Settings


async def prepare(
    settings: Settings, stack: AsyncExitStack, *, demo: bool
) -> tuple[Started, EmbeddedBroker | None]:
    """Start what the children share (kept running in `stack`); what to announce, and
    the embedded broker if one was started (the caller supervises it)."""
    started = Started()
    bootstrap = settings.kafka.bootstrap_servers
    embedded = None
    if not bootstrap:
        embedded = await start_embedded(settings, stack)
        bootstrap = embedded.bootstrap_servers
        started.embedded_broker = True
        settings = with_embedded_partitions(settings)
    started.bootstrap_servers = bootstrap
    await create_topics(
        bootstrap,
        Topics(settings.kafka.topic_prefix),
        partitions=settings.kafka.partitions,
        replication_factor=settings.kafka.replication_factor,
    )
    if settings.database.auto_migrate:
        await upgrade_async(settings.database.url)
    async with open_database(settings.database.url, pool_size=1) as db:
        started.seed = await apply_configuration(db, settings, demo=demo)
    if started.seed.admin_token:
        write_token(settings.data_dir, started.seed.admin_token)
    if started.seed.passwords:
        started.seed.password_file = write_passwords(settings.data_dir, started.seed.passwords)
    started.http_url = f"http://{settings.http.host}:{settings.http.port}"
    return started, embedded
