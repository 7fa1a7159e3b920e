"""The channel connectors of the connectors role, built from configuration in the store.

`ChannelSet` upserts the connectors declared in settings (`telegram_bots`,
`whatsapp`, `twilio`, `phone_webhooks`) into `connector_config`, with their secrets
encrypted, then loads every active connector FROM the store, so one an admin created
there runs too. It gives the runtime aiohttp routes (`routes()`) and one coroutine to
run in its TaskGroup (`run(stop)`): the Telegram bots, the outbound dispatcher that
sends acknowledgements, and a reload every few seconds, so a changed, added or
deactivated connector takes effect without a restart. Other senders (email) register
with `channels.outbound.register(channel, sender)` before `run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Self, TypeVar

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from connectors.config import (
    ChannelConfig,
    PhoneWebhookConfig,
    TelegramBotConfig,
    TwilioConfig,
    WhatsAppConfig,
)
from connectors.outbound import SEND_LANES, OutboundConfig, OutboundDispatcher
from connectors.phone_webhook import GenericPhoneWebhook, TwilioWebhook
from connectors.publisher import InquirySink
from connectors.telegram_bot import TelegramBots, TelegramCounters, TelegramSender
from connectors.whatsapp_webhook import WhatsAppWebhook
from crm_store import connectors as store
from crm_store.database import Database
from ingest.contract import Topics
from leadflow.channel_settings import KINDS, ChannelSettings
from leadflow.counting import outcome_counter
from leadflow.secrets import SecretBox, SecretsUnreadable, load_secret_box
from leadflow.settings import Settings

log = logging.getLogger(__name__)

_C = TypeVar("_C", TelegramBotConfig, WhatsAppConfig, TwilioConfig, PhoneWebhookConfig)

RELOAD_S = 10.0
HEALTH_SUCCESS_EVERY_S = 60.0


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "leadflow_webhook_requests_total",
            "Channel webhook requests, by channel and outcome.",
            ["channel", "outcome"],
            registry=registry,
        )
        self.events = Counter(
            "leadflow_channel_events_total",
            "Channel events (messages, updates, calls): published, or ignored and why.",
            ["channel", "outcome"],
            registry=registry,
        )
        self.outbound = Counter(
            "leadflow_outbound_messages_total",
            "Outbound messages, by channel and outcome "
            "(sent, retried, dead_lettered, already_sent).",
            ["channel", "outcome"],
            registry=registry,
        )

    def request_counter(self, channel: str) -> Callable[[str], None]:
        return outcome_counter(self.requests, channel)

    def event_counter(self, channel: str) -> Callable[[str], None]:
        return outcome_counter(self.events, channel)


class ChannelSet:
    """Every channel connector of this process; an async context manager."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        publisher: InquirySink,
        topics: Topics,
        bootstrap: str,
        registry: CollectorRegistry,
        *,
        reload_s: float = RELOAD_S,
    ) -> None:
        self._settings = settings
        self._db = db
        self._reload_s = reload_s
        self._box: SecretBox | None = None
        self._configs: dict[str, ChannelConfig] = {}
        self._last_success: dict[str, float] = {}
        self._entered = False
        metrics = _Metrics(registry)
        region = settings.ingest.default_region
        self.telegram = TelegramBots(
            publisher,
            default_region=region,
            counters=TelegramCounters(
                metrics.request_counter("telegram"), metrics.event_counter("telegram")
            ),
            health=self._record_health,
        )
        self.whatsapp = WhatsAppWebhook(
            publisher,
            lambda name: self._find(name, WhatsAppConfig),
            default_region=region,
            count_request=metrics.request_counter("whatsapp"),
            count_event=metrics.event_counter("whatsapp"),
        )
        self.twilio = TwilioWebhook(
            publisher,
            lambda name: self._find(name, TwilioConfig),
            default_region=region,
            count_request=metrics.request_counter("twilio"),
            count_event=metrics.event_counter("twilio"),
        )
        self.phone = GenericPhoneWebhook(
            publisher,
            lambda name: self._find(name, PhoneWebhookConfig),
            default_region=region,
            count_request=metrics.request_counter("phone"),
            count_event=metrics.event_counter("phone"),
        )
        k = settings.kafka
        self.outbound = OutboundDispatcher(
            OutboundConfig(
                bootstrap_servers=bootstrap,
                topics=topics,
                group_id=f"{topics.prefix}leadflow-outbound",
                fetch_max_wait_ms=k.background_fetch_max_wait_ms,
                session_timeout_ms=k.session_timeout_ms,
                heartbeat_interval_ms=k.heartbeat_interval_ms,
                # As many at once as the SMTP server takes connections, four at least.
                send_lanes=max(SEND_LANES, settings.smtp.max_connections)
                if settings.smtp
                else SEND_LANES,
            ),
            on_outcome=lambda channel, outcome: metrics.outbound.labels(channel, outcome).inc(),
        )
        self.outbound.register("telegram", TelegramSender(self.telegram))

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a ChannelSet is entered once")
        self._entered = True
        self._box = load_secret_box(self._settings.secret_key, self._settings.data_dir)
        await self._upsert_declared()
        await self.reload()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._configs = {}

    @property
    def names(self) -> list[str]:
        return sorted(self._configs)

    def routes(self) -> list[web.RouteDef]:
        return [
            *self.telegram.routes(),
            *self.whatsapp.routes(),
            *self.twilio.routes(),
            *self.phone.routes(),
        ]

    async def run(self, stop: asyncio.Event) -> None:
        """Run the bots, the outbound dispatcher and the reload loop until `stop` is set."""
        async with self.outbound, asyncio.TaskGroup() as tasks:
            bots = tasks.create_task(self.telegram.run(), name="telegram-bots")
            tasks.create_task(self.outbound.run(stop), name="outbound-dispatcher")
            tasks.create_task(self._reload_until(stop), name="reload-channels")
            await stop.wait()
            bots.cancel()

    async def reload(self) -> None:
        """Load every active connector from the store and hand the new set to the edges."""
        async with self._db.sessions() as session:
            rows = await store.list_connectors(session, kinds=list(KINDS))
        configs: dict[str, ChannelConfig] = {}
        for row in rows:
            config = await self._config_for(row)
            if config is not None:
                configs[row.name] = config
        self._configs = configs
        self.telegram.update({n: c for n, c in configs.items() if isinstance(c, TelegramBotConfig)})

    async def _config_for(self, row: store.ConnectorRow) -> ChannelConfig | None:
        assert self._box is not None
        try:
            secrets = self._box.decrypt(row.secrets)
            model = KINDS[row.kind].from_store(
                name=row.name, team=row.team, settings=row.settings, secrets=secrets
            )
        except (SecretsUnreadable, ValidationError) as exc:
            reason = f"{row.kind} connector {row.name!r} is not loaded: {_first_line(exc)}"
            log.error("%s", reason)
            await self._record_health(row.name, reason)
            return None
        return model.to_config(self._settings.http.public_url)

    async def _upsert_declared(self) -> None:
        assert self._box is not None
        declared: list[ChannelSettings] = [
            *self._settings.telegram_bots,
            *self._settings.whatsapp,
            *self._settings.twilio,
            *self._settings.phone_webhooks,
        ]
        now = datetime.now(UTC)
        async with self._db.sessions() as session, session.begin():
            for item in declared:
                plain, secrets = item.split()
                await store.upsert_connector(
                    session,
                    kind=item.KIND,
                    name=item.name,
                    team=item.team,
                    settings=plain,
                    secrets=self._box.encrypt(secrets),
                    active=item.active,
                    now=now,
                )

    def _find(self, name: str, kind: type[_C]) -> _C | None:
        config = self._configs.get(name)
        return config if isinstance(config, kind) else None

    async def _reload_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._reload_s)
            if stop.is_set():
                return
            try:
                await self.reload()
            except Exception:  # the store may blip; keep the connectors we have
                log.exception("could not reload channel connectors")

    async def _record_health(self, name: str, error: str | None) -> None:
        """Store a connector's health; successes at most once a minute per connector."""
        now = time.monotonic()
        if error is None:
            if now - self._last_success.get(name, -HEALTH_SUCCESS_EVERY_S) < HEALTH_SUCCESS_EVERY_S:
                return
            self._last_success[name] = now
        else:
            self._last_success.pop(name, None)
        at = datetime.now(UTC)
        try:
            async with self._db.sessions() as session, session.begin():
                if error is None:
                    await store.record_health(session, name, success_at=at)
                else:
                    await store.record_health(session, name, error=error, error_at=at)
        except Exception:  # health is advisory; never let it stop a connector
            log.warning("could not record the health of connector %s", name, exc_info=True)


def _first_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
    return str(exc) or type(exc).__name__
