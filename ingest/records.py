"""Turns a batch plan into the rows the store inserts. Pure: no I/O, time passed in."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Set
from datetime import datetime
from typing import Any

from crm_store.intake_write import IntakeRows
from crm_store.types import EncodedJSON
from ingest.contract import Inquiry, OutboundMessage
from ingest.decision_parts import title_for
from ingest.decisions import (
    AppendToLead,
    BatchPlan,
    ContactChoice,
    Decision,
    DoneActivity,
    LinkTelegram,
    LogActivity,
    NewLead,
    PlannedActivity,
    RecordOnly,
)
from ingest.replies import bare_message_id, link_reply, outbound_for
from ingest.row_ids import row_id
from ingest.spam import inquiry_text


def rows_for(
    plan: BatchPlan,
    team_names: Mapping[int, str],
    now: datetime,
    *,
    recently_acknowledged: Set[tuple[str, str]] = frozenset(),
    linked: Set[uuid.UUID] = frozenset(),
    channels: Set[str] = frozenset({"email", "telegram"}),
) -> IntakeRows:
    """`linked`: the inquiry ids of `LinkTelegram` decisions whose code the store
    redeemed in this transaction (the others get the "not valid" answer)."""
    rows = IntakeRows(
        team_cursors=dict(plan.team_cursors),
        team_rotation={k: dict(v) for k, v in plan.team_rotation.items()},
    )
    acknowledged = set(recently_acknowledged)
    for decision in plan.decisions:
        _add(rows, decision, team_names, now, linked)
        for message in outbound_for(
            decision, now=now, recently_acknowledged=acknowledged, channels=channels
        ):
            _add_outbound(rows, message, now)
            if message.purpose == "acknowledgement":
                acknowledged.add((message.channel, message.to))
    return rows


def _add(
    rows: IntakeRows,
    d: Decision,
    team_names: Mapping[int, str],
    now: datetime,
    linked: Set[uuid.UUID],
) -> None:
    if isinstance(d, LinkTelegram):
        _add_link(rows, d, d.inquiry.id in linked, now)
        return
    if isinstance(d, RecordOnly):
        rows.inquiries.append(_inquiry_row(d.inquiry, None, None, "recorded", d.reason, now))
        return
    _add_contact(rows, d.inquiry, d.contact, now)
    if isinstance(d, NewLead):
        _add_new_lead(rows, d, team_names, now)
    elif isinstance(d, AppendToLead):
        _add_activity(rows, d.inbound, d.inquiry, d.lead_id, d.contact.id, d.assignee_id, now)
        if d.follow_up is not None:
            _add_planned(rows, d.follow_up, d.inquiry, d.lead_id, d.contact.id, d.assignee_id, now)
        rows.inquiries.append(
            _inquiry_row(d.inquiry, d.lead_id, d.contact.id, "appended", d.reason, now)
        )
        rows.touched_leads[d.lead_id] = now
        _add_message_ref(rows, d.inquiry, d.lead_id, now)
        payload = {
            **_event_base(d.inquiry, d.lead_id, "open", None, team_names, now),
            "assignee_id": d.assignee_id,
            "reason": d.reason,
        }
        rows.events.append(_event(d.inquiry, d.lead_id, "lead.inquiry_appended", payload, now))
    elif isinstance(d, LogActivity):
        _add_activity(rows, d.inbound, d.inquiry, None, d.contact.id, None, now)
        rows.inquiries.append(_inquiry_row(d.inquiry, None, d.contact.id, "logged", d.reason, now))


def _add_link(rows: IntakeRows, d: LinkTelegram, linked: bool, now: datetime) -> None:
    # The one-time code is not kept in the stored payload.
    redacted = d.inquiry.model_copy(update={"text": "/link [code]"})
    outcome, reason = (
        ("telegram_linked", "a manager linked this Telegram chat")
        if linked
        else ("telegram_link_failed", "the link code is not valid or expired")
    )
    rows.inquiries.append(_inquiry_row(redacted, None, None, outcome, reason, now))
    _add_outbound(rows, link_reply(d, linked=linked, now=now), now)


def _add_contact(rows: IntakeRows, inquiry: Inquiry, contact: ContactChoice, now: datetime) -> None:
    c = contact.new
    if c is None:
        return
    company = c.company
    if company is not None and company.new:
        rows.companies.append(
            {"id": company.id, "name": company.name, "domain": company.domain, "created_at": now}
        )
    rows.contacts.append(
        {
            "id": c.id,
            "name": c.name,
            "email": c.email,
            "phone": c.phone,
            "company_id": company.id if company else None,
            "created_at": now,
        }
    )
    rows.identities.extend(
        {
            "id": row_id(inquiry.id, f"identity:{kind}:{value}"),
            "contact_id": c.id,
            "kind": kind,
            "value": value,
        }
        for kind, value in c.identities
    )


def _add_new_lead(
    rows: IntakeRows, d: NewLead, team_names: Mapping[int, str], now: datetime
) -> None:
    inquiry = d.inquiry
    reasons = list(d.spam_reasons)
    if d.contact.conflict:
        reasons.extend(f"identity conflict: {c}" for c in d.contact.conflict)
    rows.leads.append(
        {
            "id": d.lead_id,
            "status": d.status,
            "channel": inquiry.channel.value,
            "title": title_for(inquiry),
            "contact_id": d.contact.id,
            "team_id": d.team_id,
            "assignee_id": d.assignee_id,
            "assignment_reason": d.assignment_reason,
            "first_contact_due_at": d.first_contact.due_at if d.first_contact else None,
            "spam_score": d.spam_score,
            "spam_reasons": reasons,
            "needs_review": d.needs_review,
            "junk_reason": d.assignment_reason if d.status == "junk" else None,
            "decision": dict(d.explanation),
            "escalation_hops": 0,
            "sla_breached_at": None,
            "source": inquiry.source.model_dump(exclude_none=True),
            "created_at": now,
            "updated_at": now,
            "assigned_at": now if d.assignee_id is not None else None,
        }
    )
    if d.inbound is not None:
        _add_activity(rows, d.inbound, inquiry, d.lead_id, d.contact.id, d.assignee_id, now)
    if d.first_contact is not None:
        _add_planned(rows, d.first_contact, inquiry, d.lead_id, d.contact.id, d.assignee_id, now)
    rows.ledger.append(
        {
            "id": row_id(inquiry.id, "ledger:initial"),
            "lead_id": d.lead_id,
            "kind": "assigned" if d.assignee_id is not None else "queued",
            "from_user_id": None,
            "to_user_id": d.assignee_id,
            "reason": d.assignment_reason,
            "created_at": now,
        }
    )
    if inquiry.review is not None:
        _add_not_junk_mark(rows, inquiry, d.lead_id, now)
    outcome = "junk_lead" if d.status == "junk" else "new_lead"
    rows.inquiries.append(
        _inquiry_row(inquiry, d.lead_id, d.contact.id, outcome, d.assignment_reason, now)
    )
    _add_message_ref(rows, inquiry, d.lead_id, now)
    base = _event_base(inquiry, d.lead_id, d.status, d.team_id, team_names, now)
    if d.repeat_of is not None:
        base["repeat_of"] = str(d.repeat_of)
    rows.events.append(_event(inquiry, d.lead_id, "lead.created", base, now))
    if d.assignee_id is not None:
        assigned = {
            **base,
            "assignee_id": d.assignee_id,
            "reason": d.assignment_reason,
            "first_contact_due_at": d.first_contact.due_at.isoformat() if d.first_contact else None,
        }
        rows.events.append(_event(inquiry, d.lead_id, "lead.assigned", assigned, now))
    elif d.status == "junk":
        rows.events.append(_event(inquiry, d.lead_id, "lead.junked", base, now))


def _add_not_junk_mark(rows: IntakeRows, inquiry: Inquiry, lead_id: Any, now: datetime) -> None:
    """A person made this lead of what the filters kept out: the spam model learns
    its text as not-junk (the SLA watcher's next pass)."""
    rows.spam_marks.append(
        {
            "id": row_id(inquiry.id, "spam-mark"),
            "lead_id": lead_id,
            # Who said so is kept on the reviewed record; a user id from the topic is
            # not trusted with a foreign key that could fail the whole batch.
            "user_id": None,
            "is_junk": False,
            "text": inquiry_text(inquiry) or title_for(inquiry),
            "created_at": now,
            "learned_at": None,
        }
    )


def _add_activity(
    rows: IntakeRows,
    a: DoneActivity,
    inquiry: Inquiry,
    lead_id: Any,
    contact_id: Any,
    assignee_id: int | None,
    now: datetime,
) -> None:
    rows.activities.append(
        {
            "id": a.id,
            "lead_id": lead_id,
            "contact_id": contact_id,
            "deal_id": None,
            "inquiry_id": inquiry.id,
            "assignee_id": assignee_id,
            "kind": a.kind,
            "direction": a.direction,
            "status": "done",
            "subject": a.subject,
            "is_first_contact": False,
            "due_at": None,
            "done_at": a.done_at,
            "result": a.result,
            "created_at": now,
        }
    )


def _add_planned(
    rows: IntakeRows,
    a: PlannedActivity,
    inquiry: Inquiry,
    lead_id: Any,
    contact_id: Any,
    assignee_id: int | None,
    now: datetime,
) -> None:
    rows.activities.append(
        {
            "id": a.id,
            "lead_id": lead_id,
            "contact_id": contact_id,
            "deal_id": None,
            "inquiry_id": inquiry.id,
            "assignee_id": assignee_id,
            "kind": a.kind,
            "direction": "outbound",
            "status": "planned",
            "subject": a.subject,
            "is_first_contact": a.is_first_contact,
            "due_at": a.due_at,
            "done_at": None,
            "result": None,
            "created_at": now,
        }
    )
    if a.is_first_contact:
        # lead.assigned already carries the first contact's deadline.
        return
    activity_id = str(a.id)
    rows.events.append(
        _event(
            inquiry,
            lead_id,
            "activity.scheduled",
            {
                "lead_id": str(lead_id),
                "activity_id": activity_id,
                "kind": a.kind,
                "subject": a.subject,
                "due_at": a.due_at.isoformat(),
                "assignee_id": assignee_id,
                "at": now.isoformat(),
            },
            now,
            suffix=activity_id,
        )
    )


def _add_message_ref(rows: IntakeRows, inquiry: Inquiry, lead_id: Any, now: datetime) -> None:
    message_id = inquiry.channel_ids.get("message_id")
    if message_id and inquiry.channel.value == "email":
        rows.message_refs.append(
            {
                "message_id": bare_message_id(message_id),
                "lead_id": lead_id,
                "direction": "inbound",
                "created_at": now,
            }
        )


def _add_outbound(rows: IntakeRows, message: OutboundMessage, now: datetime) -> None:
    rows.outbound.append(
        {
            "id": message.id,
            "channel": message.channel,
            "purpose": message.purpose,
            "recipient": message.to,
            "lead_id": message.lead_id,
            "payload": message.model_dump(mode="json"),
            "created_at": now,
            "published_at": None,
        }
    )
    own_id = message.headers.get("Message-ID")
    if own_id and message.lead_id is not None:
        rows.message_refs.append(
            {
                "message_id": bare_message_id(own_id),
                "lead_id": message.lead_id,
                "direction": "outbound",
                "created_at": now,
            }
        )


def _inquiry_row(
    inquiry: Inquiry,
    lead_id: Any,
    contact_id: Any,
    outcome: str,
    reason: str | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": inquiry.id,
        "idempotency_key": inquiry.idempotency_key,
        "channel": inquiry.channel.value,
        "received_at": inquiry.received_at,
        # Encoded once, by pydantic; the JSON column writes it as it is.
        "payload": EncodedJSON(inquiry.model_dump_json()),
        "lead_id": lead_id,
        "contact_id": contact_id,
        "sender_key": inquiry.key,
        "client_ip": inquiry.client.ip,
        "outcome": outcome,
        "reason": reason,
        "created_at": now,
    }


def _event_base(
    inquiry: Inquiry,
    lead_id: Any,
    status: str,
    team_id: int | None,
    team_names: Mapping[int, str],
    now: datetime,
) -> dict[str, Any]:
    return {
        "lead_id": str(lead_id),
        "inquiry_id": str(inquiry.id),
        "channel": inquiry.channel.value,
        "status": status,
        "team": team_names.get(team_id) if team_id is not None else None,
        "at": now.isoformat(),
    }


def _event(
    inquiry: Inquiry,
    lead_id: Any,
    type_: str,
    payload: dict[str, Any],
    now: datetime,
    *,
    suffix: str = "",
) -> dict[str, Any]:
    return {
        "id": row_id(inquiry.id, f"event:{type_}:{suffix}"),
        "lead_id": lead_id,
        "type": type_,
        "payload": {"type": type_, **payload},
        "created_at": now,
        "published_at": None,
    }
