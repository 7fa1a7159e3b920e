"""The Telegram channel's I/O: polling, the webhook route, and sending acknowledgements.

`TelegramBots` runs any number of bots (python-telegram-bot's `Bot`, one per
configured token, in `connectors.telegram_client`, imported with the first bot: a
process with no bot configured starts half a second sooner, issue 11). In polling
mode each bot long-polls `getUpdates` and advances its offset past an update only
once the inquiry is durable in the edge journal, so nothing is lost when the broker
is down. In webhook mode `POST /webhooks/telegram/{name}` checks
`X-Telegram-Bot-Api-Secret-Token` and answers 200 only once the inquiry is journalled
(503 otherwise, so Telegram retries); with a public URL the bot calls `setWebhook` at
start. `TelegramSender` is the `OutboundDispatcher`'s sender for channel "telegram".
The set of bots can change while running (`update`). Imports only `ingest.contract`
of ours; bots reach it as `TelegramBotConfig`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from ingest.contract import Inquiry, OutboundMessage

from .config import TelegramBotConfig
from .edge import (
    Count,
    ReportHealth,
    WebhookProblem,
    broker_unavailable,
    no_count,
    no_health,
    parse_json_object,
    read_body,
    reads_own_body,
    unknown_connector,
)
from .outbound import PermanentSendError
from .publisher import InquirySink, PublishFailed
from .telegram import render_ack_context

if TYPE_CHECKING:
    from .telegram_client import TelegramBot

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)


@dataclass(frozen=True, slots=True)
class TelegramCounters:
    """Where outcomes are counted: webhook requests, and updates by what became of them."""

    requests: Count = no_count
    updates: Count = no_count


@dataclass(slots=True)
class _Running:
    bot: TelegramBot
    task: asyncio.Task[None]


class TelegramBots:
    """Every configured bot: webhook routes, polling tasks, and the bots to send with."""

    def __init__(
        self,
        publisher: InquirySink,
        *,
        default_region: str = "RU",
        counters: TelegramCounters = TelegramCounters(),
        health: ReportHealth = no_health,
    ) -> None:
        self._publisher = publisher
        self._region = default_region
        self._counters = counters
        self._health = health
        self._configs: dict[str, TelegramBotConfig] = {}
        self._running: dict[str, _Running] = {}
        self._changed = asyncio.Event()

    def update(self, configs: Mapping[str, TelegramBotConfig]) -> None:
        """Make `configs` the bots to run; `run` starts, restarts and stops bots to match."""
        self._configs = dict(configs)
        self._changed.set()

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/webhooks/telegram/{name}", self.webhook)]

    def bot(self, connector: str | None) -> TelegramBot:
        """The running bot named `connector` (or by its numeric id; None = the only bot)."""
        if connector is None and len(self._running) == 1:
            return next(iter(self._running.values())).bot
        for running in self._running.values():
            if connector in (running.bot.config.name, running.bot.config.bot_id):
                return running.bot
        if connector in self._configs:
            raise RuntimeError(f"telegram bot {connector} is not running yet")
        raise PermanentSendError(f"there is no Telegram bot called {connector!r}")

    async def run(self) -> None:
        """Keep the running bots equal to the configured ones until cancelled."""
        async with asyncio.TaskGroup() as group:
            try:
                while True:
                    await self._reconcile(group)
                    await self._changed.wait()
                    self._changed.clear()
            finally:
                for name in list(self._running):
                    await self._stop(name)

    async def _reconcile(self, group: asyncio.TaskGroup) -> None:
        for name, running in list(self._running.items()):
            if self._configs.get(name) != running.bot.config:
                await self._stop(name)
        for name, config in self._configs.items():
            if name not in self._running:
                from .telegram_client import TelegramBot, run_bot  # see the module's docstring

                bot = TelegramBot(
                    config,
                    self._publisher,
                    default_region=self._region,
                    counters=self._counters,
                    health=self._health,
                )
                task = group.create_task(run_bot(bot), name=f"telegram-bot-{name}")
                self._running[name] = _Running(bot, task)

    async def _stop(self, name: str) -> None:
        running = self._running.pop(name)
        running.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running.task

    @reads_own_body
    async def webhook(self, request: web.Request) -> web.StreamResponse:
        try:
            answer = await self._receive(request)
        except WebhookProblem as p:
            self._counters.requests(p.outcome)
            return p.response()
        self._counters.requests(answer)
        return web.json_response({"status": answer})

    async def _receive(self, request: web.Request) -> str:
        name = request.match_info["name"]
        config = self._configs.get(name)
        if config is None or config.mode != "webhook":
            raise unknown_connector("Telegram webhook", name)
        _check_secret(request.headers.get(SECRET_HEADER), config)
        raw = parse_json_object(await read_body(request))
        running = self._running.get(name)
        bot = running.bot if running else self._idle_bot(config)
        try:
            outcome = await bot.handle(raw)
        except PublishFailed as exc:
            log.warning("telegram webhook %s: publish failed: %s", name, exc)
            raise broker_unavailable() from exc
        return "accepted" if isinstance(outcome, Inquiry) else "ignored"

    def _idle_bot(self, config: TelegramBotConfig) -> TelegramBot:
        from .telegram_client import TelegramBot

        # A bot added a moment ago may receive before its task connected it.
        return TelegramBot(
            config, self._publisher, default_region=self._region, counters=self._counters
        )


def _check_secret(offered: str | None, config: TelegramBotConfig) -> None:
    expected = config.webhook_secret
    if not offered:
        raise WebhookProblem(403, f"The request has no {SECRET_HEADER} header.", "bad_secret")
    if not expected or not hmac.compare_digest(offered.encode(), expected.encode()):
        raise WebhookProblem(
            403, f"The {SECRET_HEADER} does not match this bot's secret.", "bad_secret"
        )


class TelegramSender:
    """Sends `OutboundMessage`s for channel "telegram": the bot's ack template or the text."""

    def __init__(self, bots: TelegramBots) -> None:
        self._bots = bots

    async def send(self, message: OutboundMessage) -> None:
        bot = self._bots.bot(message.connector)
        text = self._text(message, bot.config)
        if not text:
            log.info("telegram bot %s has no acknowledgement template; not sent", bot.config.name)
            return
        await bot.send_text(message.to, text)

    @staticmethod
    def _text(message: OutboundMessage, config: TelegramBotConfig) -> str:
        if message.text:
            return message.text
        if message.purpose == "acknowledgement":
            return render_ack_context(config.ack_template or "", message.context).strip()
        raise PermanentSendError(
            f"a Telegram {message.purpose} needs a text; template {message.template!r} is unknown"
        )
