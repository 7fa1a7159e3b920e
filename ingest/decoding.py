"""Kafka records in, inquiries or dead letters out: the consumer's first step, pure.

A record that is empty, not JSON, or not a valid `Inquiry` becomes a `DeadLetter`
with a sentence saying why; a valid one is renormalized (producers in other
languages may send raw addresses) and kept with its record, so a later failure can
still dead-letter the original bytes. No I/O; must not import the store or a client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from ingest.contract import (
    Inquiry,
    InvalidIdentity,
    PhoneField,
    is_canonical_phone,
    normalize_email,
    read_phone_field,
)
from ingest.resilience import describe

Record: TypeAlias = ConsumerRecord[bytes, bytes]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Record
    reason: str


@dataclass(frozen=True, slots=True)
class Decoded:
    record: Record
    inquiry: Inquiry


def decode(
    records: Sequence[Record], default_region: str
) -> tuple[list[Decoded], list[DeadLetter]]:
    good: list[Decoded] = []
    dead: list[DeadLetter] = []
    for record in records:
        if record.value is None:
            dead.append(DeadLetter(record, "empty message (tombstone)"))
            continue
        try:
            inquiry = Inquiry.from_kafka(record.value)
        except ValidationError as exc:
            dead.append(DeadLetter(record, _validation_reason(exc)))
            continue
        try:
            good.append(Decoded(record, renormalized(inquiry, default_region)))
        except Exception as exc:  # a bug in normalization must not stop the batch
            dead.append(DeadLetter(record, describe(exc)))
    return good, dead


def renormalized(inquiry: Inquiry, default_region: str) -> Inquiry:
    """Producers in other languages may send raw addresses; normalize them here.

    An identity that does not normalize is kept aside in `fields` rather than
    rejecting the inquiry: the customer still asked something.
    """
    sender = inquiry.sender
    if _identities_normal(sender.email, sender.phone, default_region):
        # What every producer of ours sends: a copy would equal the inquiry (issue 11).
        return inquiry
    updates: dict[str, Any] = {}
    fields = dict(inquiry.fields)
    if sender.email:
        try:
            updates["email"] = normalize_email(sender.email)
        except InvalidIdentity:
            updates["email"] = None
            fields["_invalid_email"] = sender.email
    if sender.phone:
        try:
            # The same reading as a form's phone field: words beside the number become a note.
            phone = _read_phone(sender.phone, default_region)
        except InvalidIdentity:
            updates["phone"] = None
            fields["_invalid_phone"] = sender.phone
        else:
            updates["phone"] = phone.phone
            fields = phone.fields() | fields
    if updates == {"email": sender.email, "phone": sender.phone} or not updates:
        return inquiry
    return inquiry.model_copy(
        update={"sender": sender.model_copy(update=updates), "fields": fields}
    )


def _identities_normal(email: str | None, phone: str | None, default_region: str) -> bool:
    """Whether each identity present already reads as itself (an email address that
    normalizes to itself, a phone in canonical E.164); then `renormalized` would
    only make an equal copy."""
    if email:
        try:
            if normalize_email(email) != email:
                return False
        except InvalidIdentity:
            return False
    return not phone or is_canonical_phone(phone, default_region)


def _read_phone(raw: str, default_region: str) -> PhoneField:
    """`read_phone_field`, with a short cut for what every connector of ours sends: a
    valid number already in E.164 reads as itself, with no note or extension. Testing
    one number costs a fraction of searching a text for numbers."""
    if is_canonical_phone(raw, default_region):
        return PhoneField(raw, None, None)
    return read_phone_field(raw, default_region)


def _validation_reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{where}: {err['msg']}")
    return "not a valid Inquiry: " + "; ".join(parts)
