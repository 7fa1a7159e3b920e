"""A lead's full history, newest first: what the customer sent, what was planned and
done, every assignment with its reason, and every recorded event (status changes,
junk and restore, conversion, contact edits) with who did it.

Read from the rows that already record each fact: `inquiry_record`, `activity`,
`assignment_ledger` and `lead_event`. Events that only repeat another row (an
assignment the ledger explains, an activity scheduled or done, an appended inquiry,
a reply, which is an activity) are left out, so each fact appears once. Scoped by
who asks: a lead out of scope has no history (None). Imports nothing of ours outside
`crm_store`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.card import (
    ActivityItem,
    InquiryItem,
    LedgerItem,
    _inquiry_item,
    _ledger,
    scoped_lead,
)
from crm_store.models import Activity, AppUser, InquiryRecord, LeadEvent

# Told by another row of the history (the ledger, an activity, an inquiry).
REPEATED = frozenset(
    {
        "lead.assigned",
        "lead.reassigned",
        "lead.escalated",
        "activity.scheduled",
        "activity.done",
        "lead.inquiry_appended",
        "lead.replied",
    }
)
# Same moment: the older kind of fact first (a lead is created, then assigned, ...).
_RANK = {"inquiry": 0, "created": 1, "assignment": 2, "planned": 3, "done": 4, "event": 5}


class EventItem(BaseModel):
    type: str
    by: str | None
    status: str | None
    previous: str | None
    reason: str | None
    changes: dict[str, list[str | None]]


class HistoryEntry(BaseModel):
    at: datetime
    kind: Literal["inquiry", "activity", "assignment", "event"]
    phase: Literal["planned", "done"] | None = None
    inquiry: InquiryItem | None = None
    activity: ActivityItem | None = None
    assignment: LedgerItem | None = None
    event: EventItem | None = None


class History(BaseModel):
    items: list[HistoryEntry]


async def lead_history(session: AsyncSession, who: Principal, lead_id: uuid.UUID) -> History | None:
    if await scoped_lead(session, who, lead_id) is None:
        return None
    ranked: list[tuple[datetime, int, HistoryEntry]] = []
    records = list(
        await session.scalars(select(InquiryRecord).where(InquiryRecord.lead_id == lead_id))
    )
    inquiry_ids = {r.id for r in records}
    for r in records:
        ranked.append(
            (
                r.received_at,
                _RANK["inquiry"],
                _entry("inquiry", r.received_at, inquiry=_inquiry_item(r)),
            )
        )
    for a in await session.scalars(select(Activity).where(Activity.lead_id == lead_id)):
        if a.direction == "inbound" and a.inquiry_id in inquiry_ids:
            continue  # the customer's message: its inquiry is in the history already
        item = ActivityItem.model_validate(a, from_attributes=True)
        if a.status == "planned" or (a.done_at is not None and a.done_at > a.created_at):
            planned = _entry("activity", a.created_at, activity=item, phase="planned")
            ranked.append((a.created_at, _RANK["planned"], planned))
        if a.status == "done":
            at = a.done_at or a.created_at
            ranked.append((at, _RANK["done"], _entry("activity", at, activity=item, phase="done")))
    for row in await _ledger(session, lead_id):
        ranked.append(
            (
                row.created_at,
                _RANK["assignment"],
                _entry("assignment", row.created_at, assignment=row),
            )
        )
    events = list(
        await session.scalars(
            select(LeadEvent).where(LeadEvent.lead_id == lead_id, LeadEvent.type.not_in(REPEATED))
        )
    )
    names = await _names(session, events)
    for e in events:
        rank = _RANK["created"] if e.type == "lead.created" else _RANK["event"]
        ranked.append(
            (e.created_at, rank, _entry("event", e.created_at, event=_event_item(e, names)))
        )
    ranked.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return History(items=[entry for _, _, entry in ranked])


def _entry(kind: Any, at: datetime, **parts: Any) -> HistoryEntry:
    return HistoryEntry(kind=kind, at=at, **parts)


async def _names(session: AsyncSession, events: list[LeadEvent]) -> dict[int, str]:
    ids = {by for e in events if isinstance(by := (e.payload or {}).get("by"), int)}
    if not ids:
        return {}
    rows = await session.execute(select(AppUser.id, AppUser.name).where(AppUser.id.in_(ids)))
    return dict(rows.all())


def _event_item(e: LeadEvent, names: dict[int, str]) -> EventItem:
    p = e.payload or {}
    by = p.get("by")
    found = p.get("changes")
    changes: dict[str, Any] = found if isinstance(found, dict) else {}
    return EventItem(
        type=e.type,
        by=names.get(by) if isinstance(by, int) else None,
        status=_text(p.get("status")),
        previous=_text(p.get("previous")),
        reason=_text(p.get("reason")),
        changes={
            str(k): [_text(v[0]), _text(v[1])]
            for k, v in changes.items()
            if isinstance(v, list) and len(v) == 2
        },
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
