"""The `Inquiry`: one inbound message from one channel, normalized and immutable.

This is the Kafka contract of topic `leadflow.inquiries`: any client in any language
that writes this JSON gets a lead. Bump `SCHEMA_VERSION` on any incompatible change.
Imports nothing of ours but `identity`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ingest.contract.identity import identity_key

SCHEMA_VERSION: Literal[1] = 1

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
LongText = Annotated[str, StringConstraints(max_length=100_000)]


class Channel(StrEnum):
    WEB_FORM = "web_form"
    EMAIL = "email"
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    PHONE = "phone"
    IMPORT = "import"
    MANUAL = "manual"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Sender(_Frozen):
    """Who wrote. `email` and `phone` are already normalized (lower-case, E.164)."""

    name: ShortText | None = None
    email: ShortText | None = None
    phone: ShortText | None = None
    company: ShortText | None = None
    messenger_ids: dict[str, ShortText] = Field(
        default_factory=dict,
        description="Per messenger, the sender's id there, e.g. {'telegram': '123456'}.",
    )

    @property
    def user_id(self) -> str | None:
        return next(iter(self.messenger_ids.values()), None)


class Source(_Frozen):
    """Where the inquiry came from: UTM tags, referrer and landing page."""

    utm_source: ShortText | None = None
    utm_medium: ShortText | None = None
    utm_campaign: ShortText | None = None
    utm_term: ShortText | None = None
    utm_content: ShortText | None = None
    referrer: Annotated[str, StringConstraints(max_length=2000)] | None = None
    landing_url: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ClientInfo(_Frozen):
    """What the edge saw of the submitting client; used by spam scoring."""

    ip: ShortText | None = None
    user_agent: ShortText | None = None


class Routing(_Frozen):
    """Hints from the connector's configuration: which team, which form/connector."""

    team: ShortText | None = None
    form: ShortText | None = None
    connector: ShortText | None = None


class Inquiry(_Frozen):
    """One inbound message, as published to `leadflow.inquiries`."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    key: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        default="",
        description="Partition key; derived from the sender when left empty.",
    )
    channel: Channel
    received_at: AwareDatetime
    sender: Sender = Field(default_factory=Sender)
    subject: ShortText | None = None
    text: LongText | None = None
    source: Source = Field(default_factory=Source)
    routing: Routing = Field(default_factory=Routing)
    client: ClientInfo = Field(default_factory=ClientInfo)
    channel_ids: dict[str, ShortText] = Field(
        default_factory=dict,
        description="The channel's own ids: message id, mailbox, update id, call id ...",
    )
    fields: dict[str, Annotated[str, StringConstraints(max_length=10_000)]] = Field(
        default_factory=dict, description="Extra form fields, as submitted."
    )
    honeypot: bool = Field(default=False, description="The form's hidden trap field was filled in.")
    not_a_lead: ShortText | None = Field(
        default=None,
        description="Record the inquiry but make no lead, for this reason "
        "(auto-reply, bounce, list mail ...).",
    )

    @field_validator("received_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="before")
    @classmethod
    def _derive_key(cls, data: object) -> object:
        if isinstance(data, dict) and not data.get("key"):
            sender = data.get("sender") or {}
            if isinstance(sender, Sender):
                sender = sender.model_dump()
            messenger = (sender.get("messenger_ids") or {}) if isinstance(sender, dict) else {}
            data = dict(data)
            data["key"] = identity_key(
                email=sender.get("email") if isinstance(sender, dict) else None,
                phone=sender.get("phone") if isinstance(sender, dict) else None,
                channel=str(data.get("channel", "")),
                user_id=next(iter(messenger.values()), None),
            )
        return data

    def to_kafka(self) -> tuple[bytes, bytes]:
        """Key and value bytes for the producer."""
        return self.key.encode(), self.model_dump_json().encode()

    @classmethod
    def from_kafka(cls, value: bytes) -> Self:
        return cls.model_validate_json(value)


def inquiry_json_schema() -> dict[str, object]:
    return Inquiry.model_json_schema(mode="serialization")
