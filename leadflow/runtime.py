"""Starts LeadFlow's roles (connectors, ingest, console) in one process, in order.

Every resource is entered in an `AsyncExitStack` and left in reverse on stop:
broker → topics → database → configuration → publisher → edge journal → HTTP → consumer →
notifier. SIGINT and SIGTERM set the stop event; the consumer finishes and commits its
batch in hand. Connectors and the console write inquiries to the edge journal, whose
relay publishes them. Each long-running task runs under a `Supervisor`: one that fails
is logged, counted and restarted with backoff while the HTTP edge and the other roles
keep serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from sqlalchemy import text

from connectors.publisher import InquirySink, Publisher
from connectors.webform import FormConfig, FormField, WebFormConnector
from console.api import ConsoleApi
from crm_store import accounts
from crm_store.database import Database, open_database
from ingest.consumer import InquiryConsumer
from ingest.contract import Topics
from ingest.contract.problem import BODY_TIMEOUT, problem_middleware
from ingest.decisions import Policy
from ingest.health import LoopHealth
from ingest.metrics import IngestMetrics
from ingest.notifier import LeadNotifier
from ingest.watcher import SlaWatcher
from leadflow.broker import (
    EmbeddedBroker,
    create_topics,
    start_embedded,
    topic_maker,
    with_embedded_partitions,
)
from leadflow.channels import ChannelSet
from leadflow.connection_tests import test_connection
from leadflow.connector_kinds import CONNECTOR_KINDS
from leadflow.counting import outcome_counter
from leadflow.edge_journal import EdgeJournalRole
from leadflow.ingest_configs import consumer_config, notifier_config
from leadflow.mailboxes import MailChannel
from leadflow.roles import ALL_ROLES, JOURNAL_ROLES, Role
from leadflow.secrets import derived_key, load_secret_box
from leadflow.seed import Started, apply_configuration, write_passwords, write_token
from leadflow.settings import Settings
from leadflow.supervisor import Supervisor

log = logging.getLogger(__name__)

FORM_REFRESH_S = 5.0
RENDER_PURPOSE = "form-render-token"


class FormRegistry:
    """The forms the web-form connector serves, refreshed from the store.

    Refreshing (rather than loading once) is what lets an admin's change take
    effect without a restart.
    """

    def __init__(self) -> None:
        self._forms: dict[str, FormConfig] = {}

    def get(self, slug: str) -> FormConfig | None:
        return self._forms.get(slug)

    async def refresh(self, db: Database) -> None:
        async with db.sessions() as session:
            rows = await accounts.list_forms(session)
        self._forms = {
            r.slug: FormConfig(
                slug=r.slug,
                name=r.name,
                team=r.team,
                fields=tuple(FormField(**f) for f in r.fields),
                honeypot_field=r.honeypot_field,
                allowed_origins=tuple(r.allowed_origins),
                redirect_url=r.redirect_url,
                language=r.language,
            )
            for r in rows
        }


async def run(
    settings: Settings,
    roles: frozenset[Role] = ALL_ROLES,
    *,
    demo: bool = False,
    stop: asyncio.Event | None = None,
    on_started: Callable[[Started], None] | None = None,
    extra_tasks: Mapping[str, Callable[[], Awaitable[None]]] | None = None,
    seed: bool = True,
) -> None:
    """Run the given roles until `stop` is set. `extra_tasks` are more long-running
    tasks to supervise beside the roles (tests inject one that fails). `seed=False`:
    the start-up configuration was applied by a parent (`leadflow.processes`)."""
    stop = stop or asyncio.Event()
    started = Started()
    registry = CollectorRegistry()
    supervisor = Supervisor(registry)
    loops: list[LoopHealth] = []
    async with AsyncExitStack() as stack:
        bootstrap = settings.kafka.bootstrap_servers
        embedded: EmbeddedBroker | None = None
        if not bootstrap:
            if roles != ALL_ROLES:
                raise RuntimeError(
                    "set LEADFLOW_KAFKA__BOOTSTRAP_SERVERS: only 'leadflow up' starts a broker"
                )
            embedded = await start_embedded(settings, stack)
            bootstrap = embedded.bootstrap_servers
            started.embedded_broker = True
            # Tansu holds a group join for half the session timeout; keep start-up quick.
            settings = with_embedded_partitions(settings)
            settings = settings.model_copy(
                update={
                    "kafka": settings.kafka.model_copy(
                        update={"session_timeout_ms": 2000, "heartbeat_interval_ms": 500}
                    )
                }
            )
        started.bootstrap_servers = bootstrap
        topics = Topics(settings.kafka.topic_prefix)
        await create_topics(
            bootstrap,
            topics,
            partitions=settings.kafka.partitions,
            replication_factor=settings.kafka.replication_factor,
        )
        if settings.database.auto_migrate:
            # Alembic is imported only where it runs: `leadflow up`'s children never migrate.
            from crm_store.migrate import upgrade_async

            await upgrade_async(settings.database.url)
        db = await stack.enter_async_context(
            open_database(
                settings.database.url,
                pool_size=settings.database.pool_size,
                echo=settings.database.echo,
                # Its consumer, notifier and watcher retry a failed transaction anyway;
                # where the console answers people, a dropped connection is replaced
                # before their request fails on it.
                pre_ping=roles != {Role.INGEST},
            )
        )
        if seed:
            started.seed = await apply_configuration(db, settings, demo=demo)
        if started.seed.admin_token:
            write_token(settings.data_dir, started.seed.admin_token)
        if started.seed.passwords:
            started.seed.password_file = write_passwords(settings.data_dir, started.seed.passwords)
        publisher = await stack.enter_async_context(
            Publisher(
                bootstrap,
                topics,
                timeout_s=settings.kafka.produce_timeout_s,
                linger_ms=settings.kafka.linger_ms,
            )
        )
        # Connectors and the console acknowledge an inquiry once it is in the journal.
        edge: EdgeJournalRole | None = None
        sink: InquirySink = publisher
        if roles & JOURNAL_ROLES:
            edge = await stack.enter_async_context(
                EdgeJournalRole(settings, bootstrap, topics, registry)
            )
            sink = edge.journal
        render_secret = derived_key(settings.secret_key, settings.data_dir, RENDER_PURPOSE)
        forms = FormRegistry()
        await forms.refresh(db)
        channels = ChannelSet(settings, db, sink, topics, bootstrap, registry)
        await stack.enter_async_context(channels)
        mail = await stack.enter_async_context(MailChannel(settings, db, sink, registry))
        channels.outbound.register("email", mail.sender)
        app = _http_app(
            settings, roles, db, publisher, forms, registry, loops, sink=sink, edge=edge
        )
        if Role.CONNECTORS in roles:
            app.add_routes(channels.routes())
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            # aiohttp closes a connection whose request headers are not complete by then.
            keepalive_timeout=settings.http.header_timeout_s,
        )
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.http.host, settings.http.port)
        await site.start()
        port = _bound_port(site)
        started.http_url = f"http://{settings.http.host}:{port}"

        async with asyncio.TaskGroup() as tasks:

            def keep(name: str, start: Callable[[], Awaitable[None]]) -> None:
                tasks.create_task(supervisor.supervise(name, start, stop), name=name)

            if embedded is not None:
                broker = embedded
                limit = settings.kafka.embedded_max_memory_mib
                make_topics = topic_maker(settings, bootstrap)
                keep(
                    "embedded-broker",
                    lambda: broker.keep_running(
                        stop,
                        max_memory_mib=limit,
                        max_cpu_share=settings.kafka.embedded_max_cpu_share,
                        create_topics=make_topics,
                    ),
                )
            if edge is not None:
                relay = edge.relay
                keep("edge-relay", lambda: relay.run(stop))
            if Role.CONNECTORS in roles:
                keep("refresh-forms", lambda: _refresh_forms(forms, db, stop))
                keep("channels", lambda: channels.run(stop))
                keep("mail", lambda: mail.run(stop))
            if Role.INGEST in roles:
                consumer = await stack.enter_async_context(
                    InquiryConsumer(
                        consumer_config(settings, bootstrap, topics),
                        await _consumer_database(settings, roles, db, stack),
                        policy=Policy(
                            sla_minutes=dict(settings.ingest.sla_minutes),
                            render_secret=render_secret,
                        ),
                        metrics=IngestMetrics(registry),
                    )
                )
                loops.append(consumer.health)
                keep("ingest-consumer", lambda: _handled(consumer.run(stop)))
                notifier = await stack.enter_async_context(
                    LeadNotifier(notifier_config(settings, bootstrap, topics), db)
                )
                loops.append(notifier.health)
                keep("lead-notifier", lambda: _handled(notifier.run(stop)))

                async def after_watch() -> None:
                    consumer.outbox_changed()
                    await consumer.publish_outbox()

                watcher = SlaWatcher(
                    db, sla_minutes=settings.ingest.sla_minutes, on_changes=after_watch
                )
                keep("sla-watcher", lambda: watcher.run(stop, settings.ingest.watch_interval_s))
            for name, start in (extra_tasks or {}).items():
                keep(name, start)
            if on_started:
                on_started(started)
            await stop.wait()
        log.info("stopping")


async def _consumer_database(
    settings: Settings, roles: frozenset[Role], db: Database, stack: AsyncExitStack
) -> Database:
    """The consumer's own SQLite engine, its calls made on the loop's thread
    (`crm_store.inline_sqlite`), in a process that only ingests: no request there waits
    on the loop. The notifier and the watcher keep `db`, whose calls run on threads
    beside the consumer's batches."""
    if roles != {Role.INGEST} or db.dialect != "sqlite":
        return db
    return await stack.enter_async_context(
        open_database(
            settings.database.url,
            pool_size=settings.database.pool_size,
            echo=settings.database.echo,
            inline=True,
        )
    )


async def _handled(run: Awaitable[int]) -> None:
    await run


async def _refresh_forms(forms: FormRegistry, db: Database, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), FORM_REFRESH_S)
        if stop.is_set():
            return
        try:
            await forms.refresh(db)
        except Exception:  # the store may blip; keep serving the forms we have
            log.exception("could not refresh forms")


def _http_app(
    settings: Settings,
    roles: frozenset[Role],
    db: Database,
    publisher: Publisher,
    forms: FormRegistry,
    registry: CollectorRegistry,
    loops: list[LoopHealth],
    *,
    sink: InquirySink,
    edge: EdgeJournalRole | None = None,
) -> web.Application:
    app = web.Application(
        client_max_size=settings.http.max_body_bytes, middlewares=[problem_middleware]
    )
    app[BODY_TIMEOUT] = settings.http.body_timeout_s
    if Role.CONNECTORS in roles:
        outcomes = Counter(
            "leadflow_form_submissions_total",
            "Web-form submissions, by outcome.",
            ["outcome"],
            registry=registry,
        )
        connector = WebFormConnector(
            sink,
            forms.get,
            default_region=settings.ingest.default_region,
            trusted_proxies=settings.http.trusted_proxies,
            on_outcome=outcome_counter(outcomes),
            render_secret=derived_key(settings.secret_key, settings.data_dir, RENDER_PURPOSE),
        )
        app.add_routes(connector.routes())
    if Role.CONSOLE in roles:
        console = ConsoleApi(
            db,
            publish=sink.publish,
            secret_box=load_secret_box(settings.secret_key, settings.data_dir),
            connector_kinds=CONNECTOR_KINDS,
            connection_tester=test_connection,
            forms_base_url=settings.http.public_url,
            sla_defaults=settings.ingest.sla_minutes,
            default_team=settings.ingest.default_team,
            default_region=settings.ingest.default_region,
            default_language=settings.ingest.default_language,
            trusted_proxies=settings.http.trusted_proxies,
        )
        app.add_routes(console.routes())

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_request: web.Request) -> web.Response:
        store_ok = await _store_reachable(db)
        broker_ok = await publisher.ping()
        # A consumer that makes no progress while it has work is not ready either.
        stalled = [r for h in loops if (r := h.stalled(settings.ingest.stall_after_s))]
        body: dict[str, object] = {"store": store_ok, "broker": broker_ok, "stalled": stalled}
        if edge is None:
            ready = store_ok and broker_ok and not stalled
        else:
            # With a journal the edge accepts while the broker is away, up to its bound.
            journal = edge.readiness()
            body["journal"] = journal
            ready = store_ok and bool(journal["accepting"]) and not stalled
        return web.json_response(
            {"status": "ready" if ready else "not ready", **body},
            status=200 if ready else 503,
        )

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app.add_routes(
        [web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)]
    )
    return app


async def _store_reachable(db: Database) -> bool:
    try:
        async with db.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), 2.0)
    except Exception:  # any failure means "not ready"; the reason is logged
        log.warning("store not reachable", exc_info=True)
        return False
    return True


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp exposes the bound socket only here
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    return int(sockets[0].getsockname()[1])
