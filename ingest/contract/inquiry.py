"""The `Inquiry`: one inbound message from one channel, normalized and immutable.

This is the Kafka contract of topic `leadflow.inquiries`: any client in any language
that writes this JSON gets a lead. Bump `SCHEMA_VERSION` on any incompatible change.
Every string is bounded and cleaned by the types in `limits` (the one place the
limits are defined). Imports nothing of ours but `identity` and `limits`.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Self, cast

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import SchemaValidator

from ingest.contract import limits
from ingest.contract.identity import identity_key
from ingest.contract.limits import (
    ChannelId,
    ChannelIdName,
    ClientIp,
    Company,
    Email,
    FieldName,
    FieldValue,
    IdempotencyKey,
    Message,
    MessengerId,
    MessengerKind,
    Name,
    NotALeadReason,
    PartitionKey,
    Phone,
    RoutingName,
    Subject,
    Url,
    UserAgent,
    Utm,
)

SCHEMA_VERSION: Literal[1] = 1


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

    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    company: Company | None = None
    messenger_ids: dict[MessengerKind, MessengerId] = Field(
        default_factory=dict,
        max_length=limits.MESSENGER_IDS_MAX,
        description="Per messenger, the sender's id there, e.g. {'telegram': '123456'}.",
    )

    @property
    def user_id(self) -> str | None:
        return next(iter(self.messenger_ids.values()), None)


class Source(_Frozen):
    """Where the inquiry came from: UTM tags, referrer and landing page."""

    utm_source: Utm | None = None
    utm_medium: Utm | None = None
    utm_campaign: Utm | None = None
    utm_term: Utm | None = None
    utm_content: Utm | None = None
    referrer: Url | None = None
    landing_url: Url | None = None


class ClientInfo(_Frozen):
    """What the edge saw of the submitting client; used by spam scoring."""

    ip: ClientIp = Field(default=None, description="A valid IP address; anything else is None.")
    user_agent: UserAgent | None = None


class Routing(_Frozen):
    """Hints from the connector's configuration: which team, which form/connector."""

    team: RoutingName | None = None
    form: RoutingName | None = None
    connector: RoutingName | None = None


class Review(_Frozen):
    """A head or admin said that a recorded inquiry (an auto-reply, a repeat, a loop-guard
    stop ...) is a real inquiry: this one republishes it to make a lead."""

    of_inquiry: uuid.UUID = Field(description="The id of the recorded inquiry.")
    by_user: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="The user who said so."
    )


# RFC 9562 version and variant bits, set on a 128-bit integer (Python 3.11's
# `uuid.UUID(version=...)` knows only versions 1 to 5).
_VERSION_CLEAR = ~(0xC000 << 48) & ~(0xF000 << 64)
_VARIANT = 0x8000 << 48


def new_inquiry_id() -> uuid.UUID:
    """A new inquiry id, time-ordered (RFC 9562 version 7: 48 bits of Unix
    milliseconds, then 74 random bits).

    The store's indexes keyed by row ids then take new rows at their end instead of
    at random leaf pages: at 1M stored leads random (version 4) ids made the
    consumer's inserts dirty a different page per row, and its CPU per inquiry
    doubled (issue 11). The consumer's row ids keep this prefix (`row_ids.row_id`).
    """
    millis = time.time_ns() // 1_000_000
    value = int.from_bytes(millis.to_bytes(6) + os.urandom(10))
    return uuid.UUID(int=value & _VERSION_CLEAR | _VARIANT | (7 << 76))


class Inquiry(_Frozen):
    """One inbound message, as published to `leadflow.inquiries`."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: uuid.UUID = Field(default_factory=new_inquiry_id)
    idempotency_key: IdempotencyKey
    key: PartitionKey = Field(
        default="",
        description="Partition key; derived from the sender when left empty.",
    )
    channel: Channel
    received_at: AwareDatetime
    sender: Sender = Field(default_factory=Sender)
    subject: Subject | None = None
    text: Message | None = None
    source: Source = Field(default_factory=Source)
    routing: Routing = Field(default_factory=Routing)
    client: ClientInfo = Field(default_factory=ClientInfo)
    channel_ids: dict[ChannelIdName, ChannelId] = Field(
        default_factory=dict,
        max_length=limits.CHANNEL_IDS_MAX,
        description="The channel's own ids: message id, mailbox, update id, call id ...",
    )
    fields: dict[FieldName, FieldValue] = Field(
        default_factory=dict,
        max_length=limits.FIELDS_MAX,
        description="Extra form fields, as submitted.",
    )
    honeypot: bool = Field(default=False, description="The form's hidden trap field was filled in.")
    not_a_lead: NotALeadReason | None = Field(
        default=None,
        description="Record the inquiry but make no lead, for this reason "
        "(auto-reply, bounce, list mail ...).",
    )
    review: Review | None = Field(
        default=None,
        description="A person confirmed this as a real inquiry: make a new lead whatever "
        "the repeat, loop-guard and spam rules say, and teach the spam model not-junk.",
    )

    @field_validator("received_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="before")
    @classmethod
    def _derive_key(cls, data: object) -> object:
        if isinstance(data, dict) and not data.get("key"):
            email, phone, messenger = _identities(data.get("sender") or {})
            data = dict(data)
            data["key"] = identity_key(
                email=email,
                phone=phone,
                channel=str(data.get("channel", "")),
                user_id=next(iter(messenger.values()), None),
            )
        return data

    def to_kafka(self) -> tuple[bytes, bytes]:
        """Key and value bytes for the producer."""
        return self.key.encode(), self.model_dump_json().encode()

    @classmethod
    def from_kafka(cls, value: bytes) -> Self:
        """`model_validate_json(value)`, cheaper for a record that carries its key.

        `_derive_key` runs before validation, so pydantic first turns the whole JSON
        into Python objects for it, then validates those: a third of the cost (issue
        11). Every producer of ours writes the key, and then `_derive_key` changes
        nothing; so the record is first validated straight from JSON without that
        step (`_keyed_fields`), and kept when that succeeds with a key. Anything else
        (no key, an empty one, any error) is validated the usual way, so a refused
        record fails with the usual errors.
        """
        fields = _keyed_fields() if cls is Inquiry else None
        if fields is not None:
            try:
                values, extra, fields_set = fields.validate_json(value)
            except ValidationError:
                pass
            else:
                if values["key"]:
                    return cast(Self, _inquiry_of(values, extra, fields_set))
        return cls.model_validate_json(value)


def _identities(sender: object) -> tuple[Any, Any, Any]:
    """(email, phone, messenger ids) of a `Sender` or of the mapping it is made from.

    A `Sender` is read by attribute: the values `model_dump()` would give, without
    copying every field first (a quarter of the edge's `Inquiry` construction,
    issue 11).
    """
    if isinstance(sender, Sender):
        return sender.email, sender.phone, sender.messenger_ids or {}
    if isinstance(sender, dict):
        return sender.get("email"), sender.get("phone"), sender.get("messenger_ids") or {}
    return None, None, {}


# What pydantic-core's model validator sets on an instance it makes (`BaseModel`'s
# slots); `_keyed_fields` checks that this is still the list, and more.
_MODEL_SLOTS = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")


def _inquiry_of(values: dict[str, Any], extra: Any, fields_set: set[str]) -> Inquiry:
    """The `Inquiry` pydantic-core's model validator makes from validated fields: a
    bare instance and its four slots (`Inquiry` has no private attributes, no
    `model_post_init` and no custom `__init__`, so nothing else runs)."""
    inquiry = object.__new__(Inquiry)
    for name, slot_value in zip(_MODEL_SLOTS, (values, fields_set, extra, None), strict=True):
        object.__setattr__(inquiry, name, slot_value)
    return inquiry


@functools.cache
def _keyed_fields() -> SchemaValidator | None:
    """`Inquiry`'s fields validator (under the model and its `_derive_key` step), or
    None when pydantic no longer builds the model as this expects: then every record
    takes the usual way.

    pydantic builds the model's schema as `model` → `function-before` (the model
    validator) → `model-fields`; this validates the last with the model's config.
    A probe record must then make an instance equal, slot for slot, to the one
    `model_validate_json` makes.
    """
    schema: Any = Inquiry.__pydantic_core_schema__
    before = schema.get("schema", {})
    function = before.get("function", {}).get("function")
    if (
        schema.get("type") != "model"
        or schema.get("custom_init")
        or schema.get("root_model")
        or schema.get("post_init")
        or Inquiry.__private_attributes__
        or BaseModel.__slots__ != _MODEL_SLOTS
        or before.get("type") != "function-before"
        or getattr(function, "__func__", None) is not Inquiry._derive_key.__func__
        or before.get("schema", {}).get("type") != "model-fields"
    ):
        return None
    fields = SchemaValidator(before["schema"], schema.get("config"))
    return fields if _same_on_probe(fields) else None


def _same_on_probe(fields: SchemaValidator) -> bool:
    probe = Inquiry(
        idempotency_key="probe",
        channel=Channel.WEB_FORM,
        received_at=datetime(2026, 12, 3, 7, 30, tzinfo=UTC),
        sender=Sender(email="probe@example.com", phone="+79123456789"),
        text="probe",
        fields={"a": "b"},
    ).model_dump_json(exclude={"routing"})
    usual = Inquiry.model_validate_json(probe)
    fast = _inquiry_of(*fields.validate_json(probe))
    return all(getattr(fast, slot) == getattr(usual, slot) for slot in _MODEL_SLOTS)


def inquiry_json_schema() -> dict[str, object]:
    return Inquiry.model_json_schema(mode="serialization")
