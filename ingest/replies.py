"""Which messages a decision sends: the customer's acknowledgement, a link's answer.

Pure: a decision and plain data in, `OutboundMessage`s out. An acknowledgement goes
once per new lead, never for junk or what was only recorded (auto-replies, bounces,
list mail), never to a no-reply address, and at most once per recipient within
the window. The sending connector renders the named template. Managers' notices are
not made here: `ingest.notifier` makes them from `leadflow.lead-events`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Set
from datetime import datetime

from ingest.contract import Channel, Inquiry, OutboundMessage
from ingest.contract.outbound import OutboundChannel
from ingest.decisions import Decision, LinkTelegram, NewLead
from ingest.routing import detect_language
from ingest.row_ids import row_id

NO_REPLY = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon|postmaster|bounces?|notifications?)"
    r"([-+_.].*)?@",
    re.IGNORECASE,
)
ACK_MESSAGE_DOMAIN = "leadflow.invalid"
LINKED_TEXT = "Linked: you will get LeadFlow notifications here."
LINK_FAILED_TEXT = (
    "This code is not valid or expired. Make a new one in the LeadFlow console "
    "(Notifications) and send /link CODE again."
)


def ack_message_id(lead_id: uuid.UUID | str) -> str:
    """The Message-ID of a lead's acknowledgement email, known before it is sent,
    so the customer's reply to it threads onto the lead. Bare, without <>, like
    every message id LeadFlow stores. `lead_id` may be the id's text already."""
    return f"ack-{lead_id}@{ACK_MESSAGE_DOMAIN}"


def bare_message_id(value: str) -> str:
    return value.strip().removeprefix("<").removesuffix(">").strip()


def header_message_id(value: str) -> str:
    return f"<{bare_message_id(value)}>"


def is_no_reply(address: str) -> bool:
    return bool(NO_REPLY.match(address))


def ack_recipient(inquiry: Inquiry) -> tuple[OutboundChannel, str] | None:
    """(channel, address) where the customer gets the acknowledgement, if anywhere."""
    if inquiry.channel == Channel.TELEGRAM and inquiry.channel_ids.get("chat_id"):
        return "telegram", inquiry.channel_ids["chat_id"]
    if inquiry.channel in (Channel.EMAIL, Channel.WEB_FORM):
        address = inquiry.channel_ids.get("reply_to") or inquiry.sender.email
        if address and not is_no_reply(address):
            return "email", address
    return None


def outbound_for(
    decision: Decision,
    *,
    now: datetime,
    recently_acknowledged: Set[tuple[str, str]],
    channels: Set[str] = frozenset({"email", "telegram"}),
) -> list[OutboundMessage]:
    """`channels`: where something can be delivered at all (no SMTP, no email)."""
    if isinstance(decision, NewLead):
        return _acknowledgement(decision, now, recently_acknowledged, channels)
    return []


def link_reply(decision: LinkTelegram, *, linked: bool, now: datetime) -> OutboundMessage:
    """The bot's answer to `/link CODE`: linked, or why not."""
    return OutboundMessage(
        id=row_id(decision.inquiry.id, "link-reply"),
        channel="telegram",
        purpose="manager_notification",
        connector=decision.bot,
        to=decision.chat_id,
        text=LINKED_TEXT if linked else LINK_FAILED_TEXT,
        inquiry_id=decision.inquiry.id,
        created_at=now,
    )


def _context(inquiry: Inquiry, lead_id: str) -> dict[str, str]:
    sender = inquiry.sender
    values = {
        "lead_id": lead_id,
        "name": sender.name or "",
        "email": sender.email or "",
        "phone": sender.phone or "",
        "subject": inquiry.subject or "",
        "text": (inquiry.text or "")[:2000],
        "channel": inquiry.channel.value,
        # The acknowledgement answers in the language the customer wrote in.
        "language": detect_language(f"{inquiry.subject or ''} {inquiry.text or ''}") or "",
    }
    return {k: v for k, v in values.items() if v}


def _acknowledgement(
    d: NewLead, now: datetime, recently: Set[tuple[str, str]], channels: Set[str]
) -> list[OutboundMessage]:
    if d.status != "new" or d.inquiry.honeypot:
        return []
    target = ack_recipient(d.inquiry)
    # Checked before the message is built: without SMTP every web form's email
    # acknowledgement was composed and then dropped (issue 11).
    if target is None or target in recently or target[0] not in channels:
        return []
    channel, address = target
    inquiry = d.inquiry
    # The lead id's text once: the Message-ID and the template's context carry it.
    lead_id = str(d.lead_id)
    headers: dict[str, str] = {}
    connector = inquiry.routing.connector
    if channel == "email":
        headers = {
            "Auto-Submitted": "auto-replied",
            "Message-ID": header_message_id(ack_message_id(lead_id)),
        }
        original = inquiry.channel_ids.get("message_id")
        if original:
            refs = inquiry.channel_ids.get("references", "").split()
            headers["In-Reply-To"] = header_message_id(original)
            headers["References"] = " ".join(header_message_id(r) for r in [*refs, original])
        if inquiry.channel == Channel.WEB_FORM:
            connector = f"form:{inquiry.routing.form}"
    return [
        OutboundMessage(
            id=row_id(inquiry.id, "ack"),
            channel=channel,
            purpose="acknowledgement",
            connector=connector,
            to=address,
            subject=f"Re: {inquiry.subject}" if inquiry.subject else None,
            template="ack",
            context=_context(inquiry, lead_id),
            headers=headers,
            lead_id=d.lead_id,
            inquiry_id=inquiry.id,
            created_at=now,
        )
    ]
