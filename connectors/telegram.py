"""The Telegram bot channel's pure core: a raw Bot API `Update` in, an `Inquiry` out.

`normalize_telegram_update` reads the Update JSON as Telegram sends it (webhook body or
one item of `getUpdates`), so it works with or without python-telegram-bot's objects;
`conversation_key` names the identity a reply goes back to; `render_ack` fills an
admin's acknowledgement template. No I/O and no clock (the message's own `date` is the
time); imports only `ingest.contract` of ours, never the bot library or the store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ingest.contract import (
    Channel,
    Inquiry,
    InvalidIdentity,
    Routing,
    Sender,
    Source,
    first_phone,
    normalize_phone,
    phone_fields,
)

from .outcome import Ignored

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# Deep-link payloads are limited to [A-Za-z0-9_-]{1,64}, so marketers abbreviate keys.
_UTM_ALIASES: dict[str, str] = {
    **{key: key for key in UTM_KEYS},
    "source": "utm_source",
    "src": "utm_source",
    "medium": "utm_medium",
    "med": "utm_medium",
    "campaign": "utm_campaign",
    "cmp": "utm_campaign",
    "term": "utm_term",
    "content": "utm_content",
}
_NOT_PRIVATE_KINDS = ("channel_post",)
_EDITED_KINDS = ("edited_message", "edited_channel_post", "edited_business_message")
_OTHER_MEDIA = ("voice", "audio", "video", "video_note", "animation", "sticker")
_NAME_LIMIT = 200
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def conversation_key(bot_id: str, chat_id: int | str) -> str:
    """The identity a conversation is kept under: one bot, one private chat."""
    return f"telegram:{bot_id}:{chat_id}"


def normalize_telegram_update(
    update: dict[str, Any],
    *,
    bot_id: str,
    bot_username: str | None,
    team: str | None,
    default_region: str = "RU",
) -> Inquiry | Ignored:
    """Turn one Bot API Update into an Inquiry, or say why it is not one.

    Edits (`edited_message`) are ignored: the original message already made the
    inquiry under its own update_id, and a second inquiry for a typo fix would show
    the manager the same request twice. Only private chats are inquiries; groups and
    channels are conversations among people, not requests to the business.
    Raises `ValueError` only when the JSON is not an Update at all.
    """
    update_id = update.get("update_id")
    if not isinstance(update_id, int):
        raise ValueError("A Telegram update must carry an integer update_id.")
    message = _private_message(update)
    if isinstance(message, Ignored):
        return message
    chat = message["chat"]
    user = message.get("from") or chat
    fields = _user_fields(user)
    text_parts: list[str] = []
    source = Source()
    phone: str | None = None

    command, payload = _start_command(message.get("text"), bot_username)
    if command:
        fields["command"] = "start"
        if payload:
            fields["start_payload"] = payload
            source = Source(**parse_start_payload(payload))
    elif message.get("text"):
        text_parts.append(str(message["text"]))
    if message.get("caption"):
        text_parts.append(str(message["caption"]))
    text_parts.extend(_attachment_lines(message, fields))
    if text_parts:
        phone = _written_phone(text_parts, fields, default_region)
    contact = message.get("contact")
    if isinstance(contact, dict):
        phone = _contact_phone(contact, user, fields, default_region) or phone
        text_parts.append(_contact_line(contact))
    if not text_parts and not command:
        return Ignored("no_content")

    chat_id = str(chat.get("id"))
    return Inquiry(
        idempotency_key=f"telegram:{bot_id}:{update_id}",
        channel=Channel.TELEGRAM,
        received_at=_sent_at(message),
        sender=Sender(name=_full_name(user), phone=phone, messenger_ids={"telegram": chat_id}),
        text="\n".join(text_parts) or None,
        source=source,
        routing=Routing(team=team, connector=bot_id),
        channel_ids={
            "bot_id": bot_id,
            "chat_id": chat_id,
            "update_id": str(update_id),
            "message_id": str(message.get("message_id")),
        },
        fields=fields,
    )


def _private_message(update: Mapping[str, Any]) -> dict[str, Any] | Ignored:
    if any(kind in update for kind in _EDITED_KINDS):
        return Ignored("edited")
    if any(kind in update for kind in _NOT_PRIVATE_KINDS):
        return Ignored("not_private")
    message = update.get("message")
    if not isinstance(message, dict):
        return Ignored("not_a_message")
    chat = message.get("chat")
    if not isinstance(chat, dict) or chat.get("type") != "private":
        return Ignored("not_private")
    return message


def _sent_at(message: Mapping[str, Any]) -> datetime:
    date = message.get("date")
    if not isinstance(date, int):
        raise ValueError("A Telegram message must carry its unix `date`.")
    return datetime.fromtimestamp(date, tz=UTC)


def parse_start_payload(payload: str) -> dict[str, str]:
    """Read a `/start` deep-link payload as UTM tags.

    `utm_source-google__utm_campaign-spring` (pairs joined by `__`, key and value by
    `-` or `_`, short keys like `src`/`cmp` allowed) gives each tag; anything that does
    not parse that way as a whole, e.g. `instagram`, is the utm_source itself, so no
    link an admin made is silently lost.
    """
    tags: dict[str, str] = {}
    for segment in payload.split("__"):
        pair = _utm_pair(segment)
        if pair is None:
            return {"utm_source": payload}
        tags[pair[0]] = pair[1]
    return tags


def _utm_pair(segment: str) -> tuple[str, str] | None:
    for alias, key in _UTM_ALIASES.items():
        for separator in ("-", "_"):
            prefix = alias + separator
            if segment.lower().startswith(prefix) and len(segment) > len(prefix):
                return key, segment[len(prefix) :]
    return None


def _start_command(text: object, bot_username: str | None) -> tuple[bool, str | None]:
    if not isinstance(text, str) or not text.startswith("/start"):
        return False, None
    head, _, rest = text.partition(" ")
    addressed = {"/start"} | ({f"/start@{bot_username}".lower()} if bot_username else set())
    if head.lower() not in addressed:
        return False, None
    return True, rest.strip() or None


def _user_fields(user: Mapping[str, Any]) -> dict[str, str]:
    fields: dict[str, str] = {}
    if user.get("username"):
        fields["telegram_username"] = str(user["username"])
    if user.get("language_code"):
        fields["language_code"] = str(user["language_code"])
    return fields


def _full_name(user: Mapping[str, Any]) -> str | None:
    parts = [str(user[key]).strip() for key in ("first_name", "last_name") if user.get(key)]
    return " ".join(p for p in parts if p)[:_NAME_LIMIT] or None


def _attachment_lines(message: Mapping[str, Any], fields: dict[str, str]) -> list[str]:
    lines: list[str] = []
    photos = message.get("photo")
    if isinstance(photos, list) and photos:
        # Telegram sends every thumbnail size; the manager wants the original.
        largest = max(photos, key=lambda p: p.get("width", 0) * p.get("height", 0))
        size = f"{largest.get('width')}x{largest.get('height')}"
        fields["photo_file_id"] = str(largest.get("file_id"))
        fields["photo_size"] = size
        if largest.get("file_size") is not None:
            fields["photo_file_size"] = str(largest["file_size"])
        lines.append(f"[photo {size}]")
    document = message.get("document")
    if isinstance(document, dict):
        fields["document_file_id"] = str(document.get("file_id"))
        for key in ("file_name", "mime_type", "file_size"):
            if document.get(key) is not None:
                fields[f"document_{key}"] = str(document[key])
        described = ", ".join(
            str(document[k]) for k in ("file_name", "mime_type") if document.get(k)
        )
        lines.append(f"[document {described}]" if described else "[document]")
    for kind in _OTHER_MEDIA:
        media = message.get(kind)
        if isinstance(media, dict):
            fields["media_type"] = kind
            fields["media_file_id"] = str(media.get("file_id"))
            lines.append(f"[{kind}]")
    location = message.get("location")
    if isinstance(location, dict):
        lines.append(f"[location {location.get('latitude')}, {location.get('longitude')}]")
    return lines


def _written_phone(texts: list[str], fields: dict[str, str], default_region: str) -> str | None:
    """A phone the customer typed ("звоните 8 903 555-12-34 после 18"), with its extension.

    Only their own words count: a shared card is someone else's unless it is theirs.
    """
    found = first_phone("\n".join(texts), default_region)
    if found is None:
        return None
    fields.update(phone_fields(found.extension, None))
    return found.e164


def _contact_phone(
    contact: Mapping[str, Any],
    user: Mapping[str, Any],
    fields: dict[str, str],
    default_region: str,
) -> str | None:
    """The sender's phone, but only when they shared their own contact.

    A contact whose user_id is not the sender's is someone else's card (a friend
    recommended to the business): it goes to `fields`, never becomes the sender.
    Invalid numbers are kept raw in `fields` so the manager can still read them.
    """
    raw = str(contact.get("phone_number") or "")
    try:
        phone = normalize_phone(raw, default_region) if raw else None
    except InvalidIdentity:
        phone = None
    is_own = contact.get("user_id") is not None and contact.get("user_id") == user.get("id")
    if is_own and phone:
        return phone
    if raw:
        fields["contact_phone"] = phone or raw
    name = _full_name(contact)
    if name and not is_own:
        fields["contact_name"] = name
    return None


def _contact_line(contact: Mapping[str, Any]) -> str:
    parts = [str(p) for p in (_full_name(contact), contact.get("phone_number")) if p]
    return f"[contact {' '.join(parts)}]" if parts else "[contact]"


def render_ack(template: str, inquiry: Inquiry) -> str:
    """Fill `{name}`, `{first_name}`, `{phone}`, `{email}`, `{utm_source}` in a template.

    Admins write the template, so it is not a format string: unknown placeholders
    stay as written instead of raising, and no attribute lookups are possible. The
    result is plain text; send it without a parse_mode.
    """
    name = inquiry.sender.name or ""
    values = {
        "name": name,
        "first_name": name.split(" ", 1)[0] if name else "",
        "phone": inquiry.sender.phone or "",
        "email": inquiry.sender.email or "",
        "utm_source": inquiry.source.utm_source or "",
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def render_ack_context(template: str, context: Mapping[str, str]) -> str:
    """Fill an acknowledgement template from an `OutboundMessage`'s `context`.

    The same placeholders as `render_ack` (plus any other key the context carries);
    `first_name` is derived from `name` when absent, known but missing values are
    empty, and unknown placeholders stay as written.
    """
    name = context.get("name") or ""
    values = dict.fromkeys(("name", "phone", "email", "utm_source"), "")
    values["first_name"] = name.split(" ", 1)[0] if name else ""
    values.update(context)
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
