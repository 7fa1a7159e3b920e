"""Which messages a decision sends: the customer's acknowledgement, the manager's notice.

Pure: a decision and plain data in, `OutboundMessage`s out. An acknowledgement goes
once per new lead, never for junk or what was only recorded (auto-replies, bounces,
list mail), never to a no-reply address, and at most once per recipient within
the window. The sending connector renders the named template.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Set
from datetime import UTC, datetime

from ingest.contract import Channel, Inquiry, OutboundMessage
from ingest.contract.outbound import OutboundChannel
from ingest.pipeline import AppendToLead, Decision, NewLead, derived_id

NO_REPLY = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon|postmaster|bounces?|notifications?)"
    r"([-+_.].*)?@",
    re.IGNORECASE,
)
ACK_MESSAGE_DOMAIN = "leadflow.invalid"


def ack_message_id(lead_id: uuid.UUID) -> str:
    """The Message-ID of a lead's acknowledgement email, known before it is sent,
    so the customer's reply to it threads onto the lead. Bare, without <>, like
    every message id LeadFlow stores."""
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
    manager_emails: Mapping[int, str],
    recently_acknowledged: Set[tuple[str, str]],
) -> list[OutboundMessage]:
    if isinstance(decision, NewLead):
        return [
            *_acknowledgement(decision, now, recently_acknowledged),
            *_notice(
                decision.inquiry,
                decision.lead_id,
                decision.assignee_id,
                "manager_new_lead",
                now,
                manager_emails,
                deadline=decision.first_contact.due_at if decision.first_contact else None,
            ),
        ]
    if isinstance(decision, AppendToLead):
        return _notice(
            decision.inquiry,
            decision.lead_id,
            decision.assignee_id,
            "manager_lead_updated",
            now,
            manager_emails,
        )
    return []


def _context(inquiry: Inquiry, lead_id: uuid.UUID) -> dict[str, str]:
    sender = inquiry.sender
    values = {
        "lead_id": str(lead_id),
        "name": sender.name or "",
        "email": sender.email or "",
        "phone": sender.phone or "",
        "subject": inquiry.subject or "",
        "text": (inquiry.text or "")[:2000],
        "channel": inquiry.channel.value,
    }
    return {k: v for k, v in values.items() if v}


def _acknowledgement(
    d: NewLead, now: datetime, recently: Set[tuple[str, str]]
) -> list[OutboundMessage]:
    if d.status != "new" or d.inquiry.honeypot:
        return []
    target = ack_recipient(d.inquiry)
    if target is None or target in recently:
        return []
    channel, address = target
    inquiry = d.inquiry
    headers: dict[str, str] = {}
    connector = inquiry.routing.connector
    if channel == "email":
        headers = {
            "Auto-Submitted": "auto-replied",
            "Message-ID": header_message_id(ack_message_id(d.lead_id)),
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
            id=derived_id(inquiry.id, "ack"),
            channel=channel,
            purpose="acknowledgement",
            connector=connector,
            to=address,
            subject=f"Re: {inquiry.subject}" if inquiry.subject else None,
            template="ack",
            context=_context(inquiry, d.lead_id),
            headers=headers,
            lead_id=d.lead_id,
            inquiry_id=inquiry.id,
            created_at=now,
        )
    ]


def _notice(
    inquiry: Inquiry,
    lead_id: uuid.UUID,
    assignee_id: int | None,
    template: str,
    now: datetime,
    manager_emails: Mapping[int, str],
    *,
    deadline: datetime | None = None,
) -> list[OutboundMessage]:
    address = manager_emails.get(assignee_id) if assignee_id is not None else None
    if not address:
        return []
    context = _context(inquiry, lead_id)
    if deadline is not None:
        context["deadline"] = deadline.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        OutboundMessage(
            id=derived_id(inquiry.id, f"notice:{template}"),
            channel="email",
            purpose="manager_notification",
            to=address,
            template=template,
            context=context,
            lead_id=lead_id,
            inquiry_id=inquiry.id,
            created_at=now,
        )
    ]
