"""One Telegram bot: python-telegram-bot's `Bot`, its connection, polling loop and
sending. `connectors.telegram_bot.TelegramBots` imports this module when it starts its
first bot, so a process with no bot configured never imports python-telegram-bot.
Imports only `ingest.contract` of ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from telegram import Bot
from telegram.error import BadRequest, Forbidden, InvalidToken, TelegramError

from ingest.contract import Inquiry

from .config import TelegramBotConfig
from .edge import ReportHealth, no_health
from .outbound import PermanentSendError
from .outcome import Ignored
from .publisher import InquirySink, PublishFailed
from .telegram import normalize_telegram_update

if TYPE_CHECKING:
    from .telegram_bot import TelegramCounters

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ("message", "edited_message")
_MAX_BACKOFF_S = 60.0


class TelegramBot:
    """One bot: an async context manager around a PTB `Bot` and its polling loop."""

    def __init__(
        self,
        config: TelegramBotConfig,
        publisher: InquirySink,
        *,
        default_region: str = "RU",
        counters: TelegramCounters,
        health: ReportHealth = no_health,
    ) -> None:
        self.config = config
        self._publisher = publisher
        self._region = default_region
        self._counters = counters
        self._health = health
        self._bot = make_bot(config)
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
            raise PermanentSendError(f"Telegram refused the message: {safe_reason(exc)}") from exc

    async def _report_failure(self, what: str, exc: BaseException, failures: int) -> None:
        sentence = f"{what}: {safe_reason(exc)}"
        log.warning("telegram bot %s: %s (attempt %d)", self.config.name, sentence, failures)
        await self._health(self.config.name, sentence)
        await asyncio.sleep(min(2.0 ** (failures - 1), _MAX_BACKOFF_S))


def make_bot(config: TelegramBotConfig) -> Bot:
    if config.api_base_url:
        root = config.api_base_url.rstrip("/")
        return Bot(config.token, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot")
    return Bot(config.token)


def safe_reason(exc: BaseException) -> str:
    """The error as a sentence that never contains the token (PTB puts it in some)."""
    if isinstance(exc, InvalidToken):
        return "Telegram rejected the bot token"
    return str(exc) or type(exc).__name__


async def run_bot(bot: TelegramBot) -> None:
    async with bot:
        await bot.run()
