"""Turns a batch plan into the rows the store inserts. Pure: no I/O, time passed in."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from crm_store.intake import IntakeRows
from ingest.pipeline import BatchPlan, NewLead, derived_id, title_for


def rows_for(plan: BatchPlan, team_names: Mapping[int, str], now: datetime) -> IntakeRows:
    rows = IntakeRows(team_cursors=dict(plan.team_cursors))
    for decision in plan.decisions:
        _add_lead(rows, decision, team_names, now)
    return rows


def _add_lead(rows: IntakeRows, d: NewLead, team_names: Mapping[int, str], now: datetime) -> None:
    inquiry = d.inquiry
    if d.new_contact is not None:
        c = d.new_contact
        rows.contacts.append(
            {"id": c.id, "name": c.name, "email": c.email, "phone": c.phone, "created_at": now}
        )
        rows.identities.extend(
            {
                "id": derived_id(inquiry.id, f"identity:{kind}:{value}"),
                "contact_id": c.id,
                "kind": kind,
                "value": value,
            }
            for kind, value in c.identities
        )
    source = inquiry.source.model_dump(exclude_none=True)
    rows.leads.append(
        {
            "id": d.lead_id,
            "status": d.status,
            "channel": inquiry.channel.value,
            "title": title_for(inquiry),
            "contact_id": d.contact_id,
            "team_id": d.team_id,
            "assignee_id": d.assignee_id,
            "assignment_reason": d.assignment_reason,
            "first_contact_due_at": d.first_contact.due_at if d.first_contact else None,
            "spam_score": d.spam_score,
            "spam_reasons": list(d.spam_reasons),
            "source": source,
            "created_at": now,
            "updated_at": now,
            "assigned_at": now if d.assignee_id is not None else None,
        }
    )
    if d.first_contact is not None:
        a = d.first_contact
        rows.activities.append(
            {
                "id": a.id,
                "lead_id": d.lead_id,
                "contact_id": d.contact_id,
                "deal_id": None,
                "assignee_id": d.assignee_id,
                "kind": a.kind,
                "direction": "outbound",
                "status": "planned",
                "subject": a.subject,
                "is_first_contact": True,
                "due_at": a.due_at,
                "done_at": None,
                "result": None,
                "created_at": now,
            }
        )
    rows.inquiries.append(
        {
            "id": inquiry.id,
            "idempotency_key": inquiry.idempotency_key,
            "channel": inquiry.channel.value,
            "received_at": inquiry.received_at,
            "payload": inquiry.model_dump(mode="json"),
            "lead_id": d.lead_id,
            "outcome": "new_lead" if d.status != "junk" else "junk_lead",
            "created_at": now,
        }
    )
    base: dict[str, Any] = {
        "lead_id": str(d.lead_id),
        "inquiry_id": str(inquiry.id),
        "channel": inquiry.channel.value,
        "status": d.status,
        "team": team_names.get(d.team_id) if d.team_id is not None else None,
        "at": now.isoformat(),
    }
    rows.events.append(_event(d, "lead.created", base, now))
    if d.assignee_id is not None:
        assigned = {
            **base,
            "assignee_id": d.assignee_id,
            "reason": d.assignment_reason,
            "first_contact_due_at": d.first_contact.due_at.isoformat() if d.first_contact else None,
        }
        rows.events.append(_event(d, "lead.assigned", assigned, now))


def _event(d: NewLead, type_: str, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "id": derived_id(d.inquiry.id, f"event:{type_}"),
        "lead_id": d.lead_id,
        "type": type_,
        "payload": {"type": type_, **payload},
        "created_at": now,
        "published_at": None,
    }
