"""Typed channel configurations, handed to the connectors by the runtime.

A connector never opens the database: `leadflow` loads each connector's row from the
store, decrypts its secrets and builds one of these frozen dataclasses. Secrets are
plain strings here (the connector must use them) but are kept out of `repr`, so a
logged config never shows a token. Imports nothing of ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

TelegramMode = Literal["polling", "webhook"]

DEFAULT_TELEGRAM_ACK = "Thank you! We have received your message; a manager will reply shortly."


@dataclass(frozen=True, slots=True)
class TelegramBotConfig:
    """One Telegram bot. `public_url` is LeadFlow's own base URL (for `setWebhook`)."""

    name: str
    token: str = field(repr=False)
    team: str | None = None
    mode: TelegramMode = "polling"
    webhook_secret: str | None = field(default=None, repr=False)
    public_url: str | None = None
    ack_template: str | None = DEFAULT_TELEGRAM_ACK
    api_base_url: str | None = None
    poll_timeout_s: int = 30

    @property
    def bot_id(self) -> str:
        """Telegram's numeric id of the bot: the part of the token before the colon."""
        return self.token.split(":", 1)[0]

    def webhook_url(self) -> str | None:
        if not self.public_url:
            return None
        return f"{self.public_url.rstrip('/')}/webhooks/telegram/{self.name}"


@dataclass(frozen=True, slots=True)
class WhatsAppConfig:
    """One WhatsApp Business Cloud API app (webhook receiver)."""

    name: str
    verify_token: str = field(repr=False)
    app_secret: str = field(repr=False)
    team: str | None = None


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    """One Twilio account's voice status callbacks.

    `public_url` is LeadFlow's base URL as Twilio calls it; the signature covers the
    full URL, so behind a proxy it must be set (else the request's own URL is used).
    """

    name: str
    auth_token: str = field(repr=False)
    team: str | None = None
    public_url: str | None = None


@dataclass(frozen=True, slots=True)
class PhoneWebhookConfig:
    """One provider or PBX posting the generic signed JSON `CallEvent`."""

    name: str
    provider: str
    secret: str = field(repr=False)
    team: str | None = None


ChannelConfig = TelegramBotConfig | WhatsAppConfig | TwilioConfig | PhoneWebhookConfig
