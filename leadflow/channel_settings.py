"""Channel connectors as settings: Telegram bots, WhatsApp apps, Twilio, phone webhooks.

These pydantic models are what an admin writes in the TOML file (`[[telegram_bots]]`,
`[[whatsapp]]`, `[[twilio]]`, `[[phone_webhooks]]`) and what a `connector_config` row
in the store holds: `split` divides one into plain settings JSON and the secrets
(stored encrypted), `from_store` validates a row back the same way, and `to_config`
makes the typed dataclass a connector receives. Secrets are `SecretStr`, never logged.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from connectors.config import (
    DEFAULT_TELEGRAM_ACK,
    ChannelConfig,
    PhoneWebhookConfig,
    TelegramBotConfig,
    TwilioConfig,
    WhatsAppConfig,
)
from ingest.contract.i18n import N_

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
URL_PATTERN = r"^https?://"


class ChannelSettings(BaseModel):
    """What every connector has: a unique name (its URL path), a team, an on/off switch."""

    model_config = ConfigDict(extra="forbid")
    KIND: ClassVar[str]
    SECRET_FIELDS: ClassVar[tuple[str, ...]]

    name: str = Field(pattern=NAME_PATTERN)
    team: str | None = None
    active: bool = True

    def split(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(plain settings for the JSON column, clear secrets to encrypt)."""
        plain = self.model_dump(
            mode="json", exclude={"name", "team", "active", *self.SECRET_FIELDS}
        )
        secrets: dict[str, str] = {}
        for field in self.SECRET_FIELDS:
            value = getattr(self, field)
            if isinstance(value, SecretStr):
                secrets[field] = value.get_secret_value()
        return plain, secrets

    @classmethod
    def from_store(
        cls, *, name: str, team: str | None, settings: dict[str, Any], secrets: dict[str, str]
    ) -> Self:
        return cls.model_validate({**settings, **secrets, "name": name, "team": team})

    def to_config(self, default_public_url: str | None) -> ChannelConfig:
        raise NotImplementedError


class TelegramBotSettings(ChannelSettings):
    KIND: ClassVar[str] = "telegram"
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("token", "webhook_secret")

    token: SecretStr = Field(description=N_("The token @BotFather gave, 123456:ABC..."))
    mode: Literal["polling", "webhook"] = Field(
        default="polling",
        description=N_("Polling needs no public address; a webhook needs the public URL."),
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description=N_("Webhook mode only: Telegram sends it with every update (A-Z, 0-9, _, -)."),
    )
    public_url: str | None = Field(
        default=None,
        pattern=URL_PATTERN,
        description=N_("Where the provider reaches this server; empty: the server's own."),
    )
    ack_template: str | None = Field(
        default=DEFAULT_TELEGRAM_ACK, description=N_("The bot's answer to a new inquiry.")
    )
    api_base_url: str | None = Field(
        default=None,
        pattern=URL_PATTERN,
        description=N_("Only for a Telegram Bot API server of your own; empty: Telegram's."),
    )
    poll_timeout_s: int = Field(
        default=30, ge=0, le=50, description=N_("How long one long-poll request waits, 0-50.")
    )

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Self:
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        if self.mode == "webhook" and not secret:
            raise ValueError(N_("A Telegram bot in webhook mode needs a webhook_secret."))
        allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
        if secret and (len(secret) > 256 or not set(secret) <= allowed):
            raise ValueError(
                N_("The webhook_secret must be 1-256 characters of A-Z, a-z, 0-9, _ and -.")
            )
        return self

    def to_config(self, default_public_url: str | None) -> TelegramBotConfig:
        return TelegramBotConfig(
            name=self.name,
            token=self.token.get_secret_value(),
            team=self.team,
            mode=self.mode,
            webhook_secret=_clear(self.webhook_secret),
            public_url=self.public_url or default_public_url,
            ack_template=self.ack_template,
            api_base_url=self.api_base_url,
            poll_timeout_s=self.poll_timeout_s,
        )


class WhatsAppSettings(ChannelSettings):
    KIND: ClassVar[str] = "whatsapp"
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("verify_token", "app_secret")

    verify_token: SecretStr = Field(description=N_("The Verify token entered in Meta's dashboard."))
    app_secret: SecretStr = Field(description=N_("The app's App Secret: signs every POST."))

    def to_config(self, default_public_url: str | None) -> WhatsAppConfig:  # noqa: ARG002
        return WhatsAppConfig(
            name=self.name,
            verify_token=self.verify_token.get_secret_value(),
            app_secret=self.app_secret.get_secret_value(),
            team=self.team,
        )


class TwilioSettings(ChannelSettings):
    KIND: ClassVar[str] = "twilio"
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("auth_token",)

    auth_token: SecretStr = Field(description=N_("The account's Auth Token: signs every callback."))
    public_url: str | None = Field(
        default=None,
        pattern=URL_PATTERN,
        description=N_("Where the provider reaches this server; empty: the server's own."),
    )

    def to_config(self, default_public_url: str | None) -> TwilioConfig:
        return TwilioConfig(
            name=self.name,
            auth_token=self.auth_token.get_secret_value(),
            team=self.team,
            public_url=self.public_url or default_public_url,
        )


class PhoneWebhookSettings(ChannelSettings):
    KIND: ClassVar[str] = "phone_webhook"
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("secret",)

    provider: str = Field(
        default="generic",
        pattern=r"^[a-z0-9_-]{1,50}$",
        description=N_("A short name of the telephony provider: a-z, 0-9, _ and -."),
    )
    secret: SecretStr = Field(description=N_("Shared HMAC-SHA256 key of X-LeadFlow-Signature."))

    def to_config(self, default_public_url: str | None) -> PhoneWebhookConfig:  # noqa: ARG002
        return PhoneWebhookConfig(
            name=self.name,
            provider=self.provider,
            secret=self.secret.get_secret_value(),
            team=self.team,
        )


KINDS: dict[str, type[ChannelSettings]] = {
    cls.KIND: cls
    for cls in (TelegramBotSettings, WhatsAppSettings, TwilioSettings, PhoneWebhookSettings)
}


def _clear(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
