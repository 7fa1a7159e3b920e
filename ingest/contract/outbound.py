"""`OutboundMessage`: something to send to a person, on topic `leadflow.outbound`.

Ingest and the console publish these; the connectors role sends them (SMTP, a
Telegram bot, ...) with retries, so no database transaction ever waits on a mail
server. An acknowledgement names a `template` that the sending connector renders
from its own configuration (its per-mailbox, per-form or per-bot template), with
`context` as the values; a manager's reply carries its `text` directly.
"""

from __future__ import annotations

import uuid
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

OUTBOUND_SCHEMA_VERSION: Literal[1] = 1

Purpose = Literal["acknowledgement", "manager_notification", "reply"]
OutboundChannel = Literal["email", "telegram", "whatsapp"]


class OutboundMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = OUTBOUND_SCHEMA_VERSION
    id: uuid.UUID = Field(description="Stable per message: the sender's idempotency key.")
    channel: OutboundChannel
    purpose: Purpose
    connector: str | None = Field(
        default=None, description="Which mailbox, bot or account sends it; None = the default."
    )
    to: str = Field(description="Email address, Telegram chat id, WhatsApp wa_id ...")
    subject: str | None = None
    text: str | None = Field(default=None, description="Ready text (replies).")
    template: str | None = Field(default=None, description="Template name to render.")
    context: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(
        default_factory=dict, description="e.g. In-Reply-To, References for email threading."
    )
    lead_id: uuid.UUID | None = None
    inquiry_id: uuid.UUID | None = None
    created_at: AwareDatetime

    def to_kafka(self) -> tuple[bytes, bytes]:
        return self.to.encode(), self.model_dump_json().encode()

    @classmethod
    def from_kafka(cls, value: bytes) -> Self:
        return cls.model_validate_json(value)
