"""The parts a decision is built from, each a pure function of one inquiry and what
the snapshot knows: the sender's identities and contact (and company), the thread and
the open lead it continues, the inbound activity and a lead's title, and who a
hand-made lead is for. Imports the contract, `ingest.matching`, `ingest.decisions`
and `ingest.row_ids`; no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from ingest.contract import Channel, Inquiry
from ingest.decisions import CompanyChoice, ContactChoice, DoneActivity, LeadRef, NewContact
from ingest.matching import company_from_email
from ingest.row_ids import row_id

INBOUND_KIND: Mapping[str, str] = {
    Channel.PHONE: "call",
    Channel.EMAIL: "email",
    Channel.TELEGRAM: "message",
    Channel.WHATSAPP: "message",
}

OPEN_STATUSES = frozenset({"new", "in_progress"})


def identities_of(inquiry: Inquiry) -> tuple[tuple[str, str], ...]:
    """The sender's strong keys, strongest first."""
    keys: list[tuple[str, str]] = []
    if inquiry.sender.email:
        keys.append(("email", inquiry.sender.email))
    if inquiry.sender.phone:
        keys.append(("phone", inquiry.sender.phone))
    keys.extend((kind, value) for kind, value in sorted(inquiry.sender.messenger_ids.items()))
    return tuple(keys)


def thread_ids_of(inquiry: Inquiry) -> tuple[str, ...]:
    """Message ids this inquiry replies to (email In-Reply-To and References)."""
    ids = inquiry.channel_ids
    if "in_reply_to" not in ids and "references" not in ids:
        return ()  # a form, a call, a chat: asked twice per inquiry (issue 11)
    refs = [ids.get("in_reply_to", ""), *ids.get("references", "").split()]
    # Stored bare (without <>), whichever way a producer wrote them.
    bare = (r.strip().removeprefix("<").removesuffix(">").strip() for r in refs)
    return tuple(dict.fromkeys(r for r in bare if r))


def title_for(inquiry: Inquiry) -> str:
    who = inquiry.sender.name or inquiry.sender.email or inquiry.sender.phone or "unknown sender"
    what = inquiry.subject or (inquiry.text or "").strip().split("\n", 1)[0]
    if not what and inquiry.channel == Channel.PHONE:
        what = f"{inquiry.fields.get('call_status', 'phone')} call"
    title = f"{who}: {what}" if what else f"Inquiry from {who}"
    return title[:500]


def choose_contact(
    inquiry: Inquiry,
    known: Mapping[tuple[str, str], uuid.UUID],
    companies: Mapping[str, uuid.UUID] | None = None,
    not_duplicates: frozenset[frozenset[uuid.UUID]] = frozenset(),
) -> ContactChoice:
    """Match by any strong key; when keys point at different contacts, keep the
    strongest key's contact and record the conflict (never merge silently)."""
    identities = identities_of(inquiry)
    matches = [(key, known[key]) for key in identities if key in known]
    if matches:
        chosen = matches[0][1]
        conflict = tuple(
            f"{kind} {value} belongs to another contact"
            for (kind, value), cid in matches
            if cid != chosen and frozenset({cid, chosen}) not in not_duplicates
        )
        return ContactChoice(chosen, None, conflict)
    new_id = row_id(inquiry.id, "contact")
    return ContactChoice(
        new_id,
        NewContact(
            id=new_id,
            name=inquiry.sender.name,
            email=inquiry.sender.email,
            phone=inquiry.sender.phone,
            identities=identities,
            company=choose_company(inquiry, companies or {}),
        ),
    )


def choose_company(inquiry: Inquiry, companies: Mapping[str, uuid.UUID]) -> CompanyChoice | None:
    """A business email domain makes (or finds) the company; free mail never does."""
    domain = company_from_email(inquiry.sender.email)
    if domain is None:
        return None
    name = inquiry.sender.company or domain
    if domain in companies:
        return CompanyChoice(companies[domain], domain, name, new=False)
    return CompanyChoice(row_id(inquiry.id, "company"), domain, name, new=True)


def open_lead(leads: Sequence[LeadRef], now: datetime, window: timedelta) -> LeadRef | None:
    """The newest open lead created inside the window, if any."""
    candidates = [
        lead for lead in leads if lead.status in OPEN_STATUSES and now - lead.created_at <= window
    ]
    return max(candidates, key=lambda lead: lead.created_at, default=None)


def previous_manager(leads: Sequence[LeadRef]) -> int | None:
    closed = [lead for lead in leads if lead.assignee_id is not None]
    latest = max(closed, key=lambda lead: lead.created_at, default=None)
    return latest.assignee_id if latest else None


def inbound_activity(inquiry: Inquiry, now: datetime) -> DoneActivity:
    kind = INBOUND_KIND.get(inquiry.channel, "task")
    status = inquiry.fields.get("call_status")
    result: str | None
    if inquiry.channel == Channel.PHONE:
        subject = (
            f"{(status or 'phone').capitalize()} call from {inquiry.sender.phone or 'unknown'}"
        )
        result = _call_result(inquiry)
    else:
        first_line = (inquiry.text or "").strip().split("\n", 1)[0]
        subject = (inquiry.subject or first_line or "Message")[:500]
        result = inquiry.text
    return DoneActivity(
        id=row_id(inquiry.id, "inbound"),
        kind=kind,
        direction="inbound",
        subject=subject,
        done_at=inquiry.received_at if inquiry.received_at <= now else now,
        result=result,
    )


def _call_result(inquiry: Inquiry) -> str:
    ids = inquiry.channel_ids
    parts = [f"status {inquiry.fields.get('call_status', 'unknown')}"]
    if ids.get("duration_s"):
        parts.append(f"duration {ids['duration_s']} s")
    if ids.get("recording_url"):
        parts.append(f"recording {ids['recording_url']}")
    return ", ".join(parts)


# A lead made by hand carries who made it and who it goes to (see `manual_owner`).
CREATED_BY, ASSIGN_TO, ASSIGN_TO_NAME = "created_by", "assign_to", "assign_to_name"


def manual_ids(creator: int, owner: tuple[int, str] | None) -> dict[str, str]:
    """The `channel_ids` of a hand-made inquiry: its creator, and the person it goes to
    (None: routed like any inquiry)."""
    ids = {CREATED_BY: str(creator)}
    if owner is not None:
        ids[ASSIGN_TO], ids[ASSIGN_TO_NAME] = str(owner[0]), owner[1]
    return ids


def manual_owner(inquiry: Inquiry) -> tuple[int, str] | None:
    """Who a hand-made lead was made for: its creator, or the person they chose.
    Only the console's `manual` channel carries it; anything unreadable is routed."""
    if inquiry.channel != Channel.MANUAL:
        return None
    raw = inquiry.channel_ids.get(ASSIGN_TO, "")
    if not raw.isdigit():
        return None
    user_id = int(raw)
    return user_id, inquiry.channel_ids.get(ASSIGN_TO_NAME) or f"user {user_id}"
