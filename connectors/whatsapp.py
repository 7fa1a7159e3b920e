"""The WhatsApp Business Cloud API channel's pure core: webhook checks and payloads.

`verify_subscription` answers Meta's GET handshake, `verify_signature` checks the
`X-Hub-Signature-256` HMAC of the raw body, and `normalize_whatsapp_payload` turns one
webhook body (object `whatsapp_business_account`, entry[].changes[].value) into one
`Inquiry` per customer message; delivery statuses are not inquiries. No I/O and no
clock (each message carries its own timestamp); imports only `ingest.contract` of ours.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from ingest.contract import (
    Channel,
    Inquiry,
    InvalidIdentity,
    Routing,
    Sender,
    Source,
    normalize_email,
    normalize_phone,
)

from .outcome import Ignored, SignatureError

WEBHOOK_OBJECT = "whatsapp_business_account"
SIGNATURE_HEADER = "X-Hub-Signature-256"
_MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
_NAME_LIMIT = 200


def verify_subscription(params: Mapping[str, str], verify_token: str) -> str:
    """Answer Meta's webhook verification GET: return `hub.challenge` to echo back.

    Raises `ValueError` when the request is not a subscription handshake and
    `SignatureError` when its `hub.verify_token` is not ours.
    """
    if params.get("hub.mode") != "subscribe":
        raise ValueError("This is not a webhook subscription request (hub.mode=subscribe).")
    challenge = params.get("hub.challenge")
    if not challenge:
        raise ValueError("The subscription request has no hub.challenge to echo.")
    offered = params.get("hub.verify_token") or ""
    if not hmac.compare_digest(offered.encode(), verify_token.encode()):
        raise SignatureError("The hub.verify_token does not match this connector's token.")
    return challenge


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> None:
    """Check `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body, app secret>`.

    Must run on the exact bytes received: re-serialized JSON never verifies.
    """
    if not header:
        raise SignatureError(f"The request has no {SIGNATURE_HEADER} header.")
    scheme, _, received = header.strip().partition("=")
    if scheme.lower() != "sha256" or not received:
        raise SignatureError(f"The {SIGNATURE_HEADER} header is not of the form sha256=<hex>.")
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(received.lower().encode(), expected.encode()):
        raise SignatureError(
            f"The {SIGNATURE_HEADER} signature does not match the body and the app secret."
        )


def normalize_whatsapp_payload(
    payload: dict[str, Any], *, connector: str, team: str | None, default_region: str = "RU"
) -> list[Inquiry]:
    """One Inquiry per customer message in the webhook body; statuses give none."""
    events = classify_whatsapp_payload(
        payload, connector=connector, team=team, default_region=default_region
    )
    return [event for event in events if isinstance(event, Inquiry)]


def classify_whatsapp_payload(
    payload: dict[str, Any], *, connector: str, team: str | None, default_region: str = "RU"
) -> list[Inquiry | Ignored]:
    """Every event in the body, as an Inquiry or an `Ignored` with its reason.

    The edge uses this form to count what it drops (statuses, reactions, unsupported
    message types). Raises `ValueError` when the body is not a WhatsApp webhook.
    """
    if payload.get("object") != WEBHOOK_OBJECT:
        raise ValueError(f"The webhook body's object is not {WEBHOOK_OBJECT!r}.")
    events: list[Inquiry | Ignored] = []
    for entry_id, value in _message_values(payload):
        names = _profile_names(value)
        for message in value.get("messages") or []:
            events.append(
                _normalize_message(
                    message,
                    entry_id=entry_id,
                    metadata=value.get("metadata") or {},
                    profile_name=names.get(str(message.get("from"))),
                    connector=connector,
                    team=team,
                    default_region=default_region,
                )
            )
        events.extend(Ignored("status") for _ in value.get("statuses") or [])
    return events


def _message_values(payload: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            # Other fields (account_update, templates ...) are account admin, not people.
            if change.get("field") == "messages" and isinstance(change.get("value"), dict):
                yield str(entry.get("id", "")), change["value"]


def _profile_names(value: Mapping[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for contact in value.get("contacts") or []:
        name = ((contact.get("profile") or {}).get("name") or "").strip()
        if contact.get("wa_id") and name:
            names[str(contact["wa_id"])] = name[:_NAME_LIMIT]
    return names


def _normalize_message(
    message: Mapping[str, Any],
    *,
    entry_id: str,
    metadata: Mapping[str, Any],
    profile_name: str | None,
    connector: str,
    team: str | None,
    default_region: str,
) -> Inquiry | Ignored:
    kind = str(message.get("type", ""))
    fields: dict[str, str] = {"message_type": kind}
    text = _message_text(kind, message, fields, default_region)
    if text is None:
        return Ignored("reaction" if kind == "reaction" else f"unsupported_type:{kind}")
    wa_id = str(message.get("from", ""))
    message_id = str(message.get("id", ""))
    if not wa_id or not message_id:
        raise ValueError("A WhatsApp message must carry `from` and `id`.")
    channel_ids = {
        "message_id": message_id,
        "wa_id": wa_id,
        "phone_number_id": str(metadata.get("phone_number_id", "")),
        "display_phone_number": str(metadata.get("display_phone_number", "")),
        "waba_id": entry_id,
    }
    return Inquiry(
        idempotency_key=f"whatsapp:{message_id}",
        channel=Channel.WHATSAPP,
        received_at=_sent_at(message),
        sender=Sender(
            name=profile_name,
            phone=_phone_or_none("+" + wa_id, default_region),
            messenger_ids={"whatsapp": wa_id},
        ),
        text=text or None,
        source=_referral_source(message.get("referral"), fields),
        routing=Routing(team=team, connector=connector),
        channel_ids={k: v for k, v in channel_ids.items() if v},
        fields=fields,
    )


def _message_text(
    kind: str, message: Mapping[str, Any], fields: dict[str, str], default_region: str
) -> str | None:
    """The message as a manager reads it; None when this type is not an inquiry."""
    body = message.get(kind) or {}
    if kind == "text":
        return str(body.get("body", ""))
    if kind == "button":
        # A quick-reply button under a template message the business sent.
        fields["button_payload"] = str(body.get("payload", ""))
        return str(body.get("text", ""))
    if kind == "interactive":
        return _interactive_text(body, fields)
    if kind == "location":
        return _location_text(body, fields)
    if kind == "contacts":
        return "\n".join(
            _shared_contact_line(i, card, fields, default_region)
            for i, card in enumerate(body if isinstance(body, list) else [], start=1)
        )
    if kind in _MEDIA_TYPES:
        fields["media_id"] = str(body.get("id", ""))
        for key in ("mime_type", "filename", "sha256"):
            if body.get(key):
                fields[f"media_{key}"] = str(body[key])
        label = f"[{kind} {body['filename']}]" if body.get("filename") else f"[{kind}]"
        return "\n".join(p for p in (str(body.get("caption") or ""), label) if p)
    return None


def _interactive_text(body: Mapping[str, Any], fields: dict[str, str]) -> str | None:
    reply_kind = str(body.get("type", ""))
    reply = body.get(reply_kind)
    if reply_kind not in ("button_reply", "list_reply") or not isinstance(reply, dict):
        return None
    fields["reply_type"] = reply_kind
    fields["reply_id"] = str(reply.get("id", ""))
    fields["reply_title"] = str(reply.get("title", ""))
    if reply.get("description"):
        fields["reply_description"] = str(reply["description"])
    return str(reply.get("title", ""))


def _location_text(body: Mapping[str, Any], fields: dict[str, str]) -> str:
    latitude, longitude = body.get("latitude"), body.get("longitude")
    fields["latitude"], fields["longitude"] = str(latitude), str(longitude)
    place = ", ".join(str(body[k]) for k in ("name", "address") if body.get(k))
    for key in ("name", "address", "url"):
        if body.get(key):
            fields[f"location_{key}"] = str(body[key])
    return f"Location: {place + ' ' if place else ''}({latitude}, {longitude})"


def _shared_contact_line(
    index: int, card: Mapping[str, Any], fields: dict[str, str], default_region: str
) -> str:
    """A contact card the customer forwarded: kept in fields, never the sender."""
    prefix = f"contact_{index}"
    name = str((card.get("name") or {}).get("formatted_name") or "").strip()
    phones = [
        _phone_or_none(str(p.get("phone", "")), default_region) or str(p.get("phone", ""))
        for p in card.get("phones") or []
        if p.get("phone")
    ]
    emails = [_email_or_raw(str(e["email"])) for e in card.get("emails") or [] if e.get("email")]
    company = str((card.get("org") or {}).get("company") or "")
    for key, value in (
        ("name", name),
        ("phone", ", ".join(phones)),
        ("email", ", ".join(emails)),
        ("company", company),
    ):
        if value:
            fields[f"{prefix}_{key}"] = value
    details = ", ".join(v for v in (*phones, *emails, company) if v)
    return f"Shared contact: {name or 'unnamed'}" + (f" ({details})" if details else "")


def _referral_source(referral: object, fields: dict[str, str]) -> Source:
    """Click-to-WhatsApp ads and posts tell where the customer came from.

    Meta names the ad or post, not a utm_source, so none is invented here.
    """
    if not isinstance(referral, dict):
        return Source()
    if referral.get("headline"):
        fields["referral_headline"] = str(referral["headline"])
    if referral.get("ctwa_clid"):
        fields["ctwa_clid"] = str(referral["ctwa_clid"])
    return Source(
        utm_medium=str(referral.get("source_type") or "") or None,
        utm_content=str(referral.get("source_id") or "") or None,
        referrer=str(referral.get("source_url") or "") or None,
    )


def _sent_at(message: Mapping[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(message["timestamp"]), tz=UTC)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("A WhatsApp message must carry a unix `timestamp`.") from exc


def _phone_or_none(raw: str, default_region: str) -> str | None:
    try:
        return normalize_phone(raw, default_region)
    except InvalidIdentity:
        return None


def _email_or_raw(raw: str) -> str:
    try:
        return normalize_email(raw)
    except InvalidIdentity:
        return raw
