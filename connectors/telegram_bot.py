"""The Telegram channel's I/O: polling, the webhook route, and sending acknowledgements.

`TelegramBots` runs any number of bots (python-telegram-bot's `Bot`, one per
configured token). In polling mode each bot long-polls `getUpdates` and advances its
offset past an update only once the inquiry is durable in the edge journal, so
nothing is lost when the broker is down. In webhook mode `POST /webhooks/telegram/{name}` checks
`X-Telegram-Bot-Api-Secret-Token` and answers 200 only once the inquiry is journalled (503
otherwise, so Telegram retries); with a public URL the bot calls `setWebhook` at
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
from typing import Any

from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, Forbidden, InvalidToken, TelegramError

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
from .outcome import Ignored
from .publisher import InquirySink, PublishFailed
from .telegram import normalize_telegram_update, render_ack_context

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
ALLOWED_UPDATES = ("message", "edited_message")
_MAX_BACKOFF_S = 60.0


@dataclass(frozen=True, slots=True)
class TelegramCounters:
    """Where outcomes are counted: webhook requests, and updates by what became of them."""

    requests: Count = no_count
    updates: Count = no_count


class TelegramBot:
    """One bot: an async context manager around a PTB `Bot` and its polling loop."""

    def __init__(
        self,
        config: TelegramBotConfig,
        publisher: InquirySink,
        *,
        default_region: str = "RU",
        counters: TelegramCounters = TelegramCounters(),
        health: ReportHealth = no_health,
    ) -> None:
        self.config = config
        self._publisher = publisher
        self._region = default_region
        self._counters = counters
        self._health = health
        self._bot = _make_bot(config)
        self._ready = asyncio.Event()
        self.username: str | None = None

    async def __aenter__(self) -> TelegramBot:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._ready.clear()
        with contextlib.suppress(TelegramError):
            await self._bot.shutdown()  # harmless when never initialized or already shut

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def run(self) -> None:
        """Connect (retrying), register or remove the webhook, then poll if in polling mode.

        Runs until cancelled; every failure is logged, reported and retried.
        """
        await self._connect()
        if self.config.mode == "polling":
            await self._poll()
        else:
            await asyncio.Event().wait()  # webhook mode: requests arrive over HTTP

    async def _connect(self) -> None:
        failures = 0
        while True:
            try:
                await self._bot.initialize()
                self.username = self._bot.username
                await self._prepare_delivery()
            except TelegramError as exc:
                failures += 1
                await self._report_failure("could not connect to Telegram", exc, failures)
                continue
            self._ready.set()
            await self._health(self.config.name, None)
            log.info("telegram bot %s (@%s) is %s", self.config.name, self.username, self.mode)
            return

    @property
    def mode(self) -> str:
        return "polling" if self.config.mode == "polling" else "receiving webhooks"

    async def _prepare_delivery(self) -> None:
        if self.config.mode == "polling":
            # getUpdates is refused while a webhook is set.
            await self._bot.delete_webhook(drop_pending_updates=False)
            return
        url = self.config.webhook_url()
        if url is not None:
            await self._bot.set_webhook(
                url=url,
                secret_token=self.config.webhook_secret,
                allowed_updates=list(ALLOWED_UPDATES),
            )

    async def _poll(self) -> None:
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self._bot.get_updates(
                    offset=offset,
                    timeout=self.config.poll_timeout_s,
                    allowed_updates=list(ALLOWED_UPDATES),
                )
                for update in updates:
                    await self.handle(update.to_dict())
                    # Only now, with the update durable (journal commit), may Telegram forget it.
                    offset = update.update_id + 1
            except (TelegramError, PublishFailed) as exc:
                failures += 1
                await self._report_failure("polling failed", exc, failures)
                continue
            if failures:
                failures = 0
                await self._health(self.config.name, None)

    async def handle(self, raw: dict[str, Any]) -> Inquiry | Ignored:
        """Normalize one raw Update and publish it; raises `PublishFailed` without an ack."""
        try:
            outcome = normalize_telegram_update(
                raw,
                bot_id=self.config.name,
                bot_username=self.username,
                team=self.config.team,
                default_region=self._region,
            )
        except ValueError as exc:
            log.warning("telegram bot %s: update dropped, not an Update: %s", self.config.name, exc)
            self._counters.updates("invalid")
            return Ignored("invalid")
        if isinstance(outcome, Ignored):
            self._counters.updates(f"ignored_{outcome.reason}")
            return outcome
        await self._publisher.publish(outcome)
        self._counters.updates("published")
        return outcome

    async def send_text(self, chat_id: str, text: str) -> None:
        if not self._ready.is_set():
            raise RuntimeError(f"telegram bot {self.config.name} is not connected yet")
        try:
            target = int(chat_id)
        except ValueError as exc:
            raise PermanentSendError(f"{chat_id!r} is not a Telegram chat id") from exc
        try:
            await self._bot.send_message(chat_id=target, text=text)
        except (Forbidden, BadRequest, InvalidToken) as exc:
            raise PermanentSendError(f"Telegram refused the message: {_safe(exc)}") from exc

    async def _report_failure(self, what: str, exc: BaseException, failures: int) -> None:
        sentence = f"{what}: {_safe(exc)}"
        log.warning("telegram bot %s: %s (attempt %d)", self.config.name, sentence, failures)
        await self._health(self.config.name, sentence)
        await asyncio.sleep(min(2.0 ** (failures - 1), _MAX_BACKOFF_S))


def _make_bot(config: TelegramBotConfig) -> Bot:
    if config.api_base_url:
        root = config.api_base_url.rstrip("/")
        return Bot(config.token, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot")
    return Bot(config.token)


def _safe(exc: BaseException) -> str:
    """The error as a sentence that never contains the token (PTB puts it in some)."""
    if isinstance(exc, InvalidToken):
        return "Telegram rejected the bot token"
    return str(exc) or type(exc).__name__


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
                bot = TelegramBot(
                    config,
                    self._publisher,
                    default_region=self._region,
                    counters=self._counters,
                    health=self._health,
                )
                task = group.create_task(_run_bot(bot), name=f"telegram-bot-{name}")
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
        # A bot added a moment ago may receive before its task connected it.
        return TelegramBot(
            config, self._publisher, default_region=self._region, counters=self._counters
        )


async def _run_bot(bot: TelegramBot) -> None:
    async with bot:
        await bot.run()


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
