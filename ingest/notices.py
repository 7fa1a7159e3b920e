"""Which notices a lead event sends to its manager, and on which channels. Pure.

`read_event` turns one `leadflow.lead-events` message into a `LeadEventView` (or None
for the types nobody is told about); `notices_for` turns the event, the lead's facts
and the manager's chosen channels into `OutboundMessage`s: an email naming a
template (the SMTP sender renders `connectors/mail_templates/<template>`) when the
manager has an address and wants email, and a ready text through the bot the manager
linked in Telegram. Ids derive from the event id and the channel, so a replayed
event plans exactly the same messages. A notice for a lead that has moved on to
someone else since the event is not sent. Each notice speaks the manager's language
(their console setting, else the deployment's default): the Telegram text is
translated here, and the email's context names the language its renderer uses. The
catalogs are an argument, loaded once by the caller. No I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_store.notifications import LeadFacts, Recipient
from ingest.contract import OutboundMessage
from ingest.contract.i18n import N_, Catalogs, format_moment
from ingest.row_ids import derived_id

TEMPLATES: Mapping[str, str] = {
    "lead.assigned": "manager_new_lead",
    "lead.reassigned": "manager_lead_reassigned",
    "lead.inquiry_appended": "manager_lead_updated",
}
HEADLINES: Mapping[str, str] = {
    "lead.assigned": N_("New lead"),
    "lead.reassigned": N_("Lead reassigned to you"),
    "lead.inquiry_appended": N_("Lead updated"),
}
_EVENT_NAMESPACE = uuid.UUID("0b5e6f3c-2d47-4f0e-9a54-3f1b7c9d8e21")
_TEXT_LIMIT = 600


@dataclass(frozen=True, slots=True)
class LeadEventView:
    """What a notice needs from one lead event."""

    id: uuid.UUID
    type: str
    lead_id: uuid.UUID
    assignee_id: int | None
    reason: str | None = None
    due_at: datetime | None = None
    inquiry_id: uuid.UUID | None = None


def read_event(value: bytes) -> LeadEventView | None:
    """The event, or None when its type sends no notice; `ValueError` if it is not one.

    The event id is the outbox row's (`event_id`); an event published without one
    is identified by a hash of its bytes, which a replay repeats exactly.
    """
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ValueError("a lead event is a JSON object with a 'type'")
    if data["type"] not in TEMPLATES:
        return None
    try:
        event_id = (
            uuid.UUID(str(data["event_id"]))
            if data.get("event_id")
            else uuid.uuid5(_EVENT_NAMESPACE, hashlib.sha256(value).hexdigest())
        )
        return LeadEventView(
            id=event_id,
            type=data["type"],
            lead_id=uuid.UUID(str(data["lead_id"])),
            assignee_id=_int_or_none(data.get("assignee_id")),
            reason=str(data["reason"]) if data.get("reason") else None,
            due_at=_time_or_none(data.get("first_contact_due_at")),
            inquiry_id=uuid.UUID(str(data["inquiry_id"])) if data.get("inquiry_id") else None,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"not a valid {data['type']} event: {exc!r}") from exc


def notices_for(
    event: LeadEventView,
    lead: LeadFacts | None,
    recipient: Recipient | None,
    now: datetime,
    *,
    inquiry: Mapping[str, Any] | None = None,
    console_url: str | None = None,
    email: bool = True,
    catalogs: Catalogs | None = None,
) -> list[OutboundMessage]:
    """The notices for one event; in the recipient's language when `catalogs` are
    given (their setting, else the catalogs' default), else in English."""
    if lead is None or recipient is None or event.assignee_id is None:
        return []
    if lead.assignee_id != event.assignee_id:
        return []  # the lead has moved on since; its new manager hears of that event
    if not reachable(recipient, email=email):
        return []
    language = catalogs.choose(recipient.language, None) if catalogs else "en"
    gettext = catalogs.get(language).gettext if catalogs else _same
    context = _context(event, lead, inquiry, recipient.timezone, language)
    messages: list[OutboundMessage] = []
    if recipient.email and email:
        messages.append(
            OutboundMessage(
                id=derived_id(event.id, "notice:email"),
                channel="email",
                purpose="manager_notification",
                to=recipient.email,
                template=TEMPLATES[event.type],
                context=context,
                lead_id=lead.id,
                inquiry_id=event.inquiry_id,
                created_at=now,
            )
        )
    if recipient.telegram_chat_id:
        messages.append(
            OutboundMessage(
                id=derived_id(event.id, "notice:telegram"),
                channel="telegram",
                purpose="manager_notification",
                connector=recipient.telegram_bot,
                to=recipient.telegram_chat_id,
                text=telegram_text(event.type, context, console_url, gettext),
                lead_id=lead.id,
                inquiry_id=event.inquiry_id,
                created_at=now,
            )
        )
    return messages


def reachable(recipient: Recipient, *, email: bool = True) -> bool:
    """Whether `notices_for` can send this manager anything: an address and email
    configured, or a linked Telegram chat. The notifier reads nothing more about an
    event whose manager is not (the lead, the inquiry's text)."""
    return bool(recipient.email and email) or bool(recipient.telegram_chat_id)


def _same(text: str) -> str:
    return text


def telegram_text(
    event_type: str,
    context: Mapping[str, str],
    console_url: str | None,
    gettext: Callable[[str], str] = _same,
) -> str:
    """A short plain-text notice (no markup: customer text stays text)."""
    lines = [f"{gettext(HEADLINES[event_type])}: {context.get('title', '')}".strip()]
    contact = ", ".join(context[k] for k in ("name", "email", "phone") if context.get(k))
    if contact:
        lines.append(gettext(N_("Contact: %(contact)s")) % {"contact": contact})
    lines.append(gettext(N_("Channel: %(channel)s")) % {"channel": context.get("channel", "-")})
    if context.get("deadline"):
        lines.append(gettext(N_("First contact by %(when)s")) % {"when": context["deadline"]})
    if context.get("reason"):
        lines.append(gettext(N_("Why: %(reason)s")) % {"reason": context["reason"]})
    if context.get("text"):
        lines.extend(["", context["text"][:_TEXT_LIMIT]])
    if console_url:
        lines.extend(["", f"{console_url.rstrip('/')}/leads/{context['lead_id']}"])
    return "\n".join(lines)


def local_time(moment: datetime, zone: str, language: str = "en") -> str:
    """`Nov 27, 2026, 1:30 PM MSK` (in Russian: day, month, year, 13:30): the moment in the
    reader's zone (UTC if unknown here), as their language writes it."""
    try:
        where: tzinfo = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        where = UTC
    return format_moment(moment, where, language)


def _context(
    event: LeadEventView,
    lead: LeadFacts,
    inquiry: Mapping[str, Any] | None,
    zone: str,
    language: str,
) -> dict[str, str]:
    due = event.due_at or (
        lead.first_contact_due_at if event.type != "lead.inquiry_appended" else None
    )
    values = {
        "lead_id": str(lead.id),
        "title": lead.title,
        "name": lead.name or "",
        "email": lead.email or "",
        "phone": lead.phone or "",
        "channel": lead.channel,
        "deadline": local_time(due, zone, language) if due else "",
        "reason": event.reason or "",
        "language": language,
    }
    if inquiry is not None:
        values["subject"] = str(inquiry.get("subject") or "")
        values["text"] = str(inquiry.get("text") or "")[:2000]
    return {k: v for k, v in values.items() if v}


def _int_or_none(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{value!r} is not a user id")
    return int(value)


def _time_or_none(value: object) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed
