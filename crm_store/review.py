"""What was captured but did not become a new lead, for heads and admins to review.

Every inquiry is kept as an `inquiry_record` with its outcome and reason. The review
list is the records that made no new lead: recorded only (the email filters'
auto-replies, bounces and list mail, the loop guard's stops, own-address mail),
appended to an open lead, an answered call logged on a known contact, and the first
inquiry of every lead that is junk now. `kind_of` names each with a closed set of
kinds. Scope: an admin sees all; a head sees the records that belong to no lead
(no team owns them yet) and those whose lead is in their scope (`crm_store.scope`);
a manager is refused by the API before any query. Returns pydantic views. Imports
nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    false,
    func,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm_store.accounts import Principal
from crm_store.models import Activity, InquiryRecord, Lead, LeadEvent, SpamMark
from crm_store.scope import lead_scope

Kind = Literal[
    "auto_reply",
    "bounce",
    "bulk",
    "own_address",
    "unreadable",
    "loop_guard",
    "repeat",
    "logged_call",
    "junk",
    "other",
]
State = Literal["open", "reviewed", "all"]
LEAD_OUTCOMES = ("new_lead", "junk_lead")
# The reason prefixes of recorded inquiries ("<label>: <detail>"), by kind.
_PREFIXES: Mapping[Kind, tuple[str, ...]] = {
    "auto_reply": ("auto_reply",),
    "bounce": ("bounce",),
    "bulk": ("bulk",),
    "own_address": ("own_address",),
    "unreadable": ("no_sender", "unparseable"),
    "loop_guard": ("throttled",),
}
EXCERPT = 300
Row = Select[InquiryRecord, str, uuid.UUID | None]


class ReviewItem(BaseModel):
    id: uuid.UUID
    kind: Kind
    reason: str | None
    channel: str
    received_at: datetime
    sender_name: str | None
    sender_email: str | None
    sender_phone: str | None
    subject: str | None
    excerpt: str | None
    lead_id: uuid.UUID | None
    lead_status: str | None
    reviewed_at: datetime | None
    reviewed_by: int | None
    made_lead_id: uuid.UUID | None


class ReviewPage(BaseModel):
    items: list[ReviewItem]
    total: int


@dataclass(frozen=True, slots=True)
class ReviewFilter:
    kind: Kind | None = None
    channel: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None
    state: State = "open"


@dataclass(frozen=True, slots=True)
class Reviewable:
    """One record to turn into a lead: its stored inquiry and what it is now."""

    id: uuid.UUID
    kind: Kind
    payload: dict[str, Any]
    lead_id: uuid.UUID | None
    lead_status: str | None
    review_inquiry_id: uuid.UUID | None
    # The lead the review made, once the consumer has stored it.
    made_lead_id: uuid.UUID | None = None


def kind_of(outcome: str, reason: str | None) -> Kind:
    """The review kind of a record that made no new lead (pure)."""
    if outcome == "appended":
        return "repeat"
    if outcome == "logged":
        return "logged_call"
    if outcome in LEAD_OUTCOMES:
        return "junk"
    label = (reason or "").split(":", 1)[0].strip()
    return next((kind for kind, labels in _PREFIXES.items() if label in labels), "other")


def _kind_clause(kind: Kind) -> ColumnElement[bool]:
    if kind == "repeat":
        return InquiryRecord.outcome == "appended"
    if kind == "logged_call":
        return InquiryRecord.outcome == "logged"
    if kind == "junk":
        return InquiryRecord.outcome.in_(LEAD_OUTCOMES)
    recorded = InquiryRecord.outcome == "recorded"
    if kind == "other":
        known = [InquiryRecord.reason.startswith(f"{p}:") for ps in _PREFIXES.values() for p in ps]
        return and_(recorded, or_(InquiryRecord.reason.is_(None), ~or_(*known)))
    return and_(recorded, or_(*(InquiryRecord.reason.startswith(f"{p}:") for p in _PREFIXES[kind])))


def _not_a_new_lead() -> ColumnElement[bool]:
    """Recorded, appended or logged; or a lead's own inquiry when that lead is junk;
    or what a person already made a lead through the review.

    Each term has its own index (outcome, lead id, reviewed_at), so the store reads
    only these records instead of every inquiry ever received."""
    junk_leads = select(Lead.id).where(Lead.status == "junk")
    ids = union_all(
        select(InquiryRecord.id).where(
            InquiryRecord.outcome.in_(("recorded", "appended", "logged"))
        ),
        # Every record of a junk lead; those appended to it are listed as repeats anyway.
        select(InquiryRecord.id).where(InquiryRecord.lead_id.in_(junk_leads)),
        select(InquiryRecord.id).where(InquiryRecord.reviewed_at.is_not(None)),
    )
    return InquiryRecord.id.in_(ids)


def _scope(who: Principal) -> ColumnElement[bool]:
    if who.role == "admin":
        return true()
    if who.role == "head":
        return or_(InquiryRecord.lead_id.is_(None), lead_scope(who))
    return false()


def _state(state: State) -> ColumnElement[bool]:
    if state == "open":
        return InquiryRecord.reviewed_at.is_(None)
    if state == "reviewed":
        return InquiryRecord.reviewed_at.is_not(None)
    return true()


def _text(*path: str) -> ColumnElement[str]:
    found: ColumnElement[str] = InquiryRecord.payload[path].as_string()
    return found


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search(text: str) -> ColumnElement[bool]:
    """Text, subject, sender name, email or phone contain `text` (any case); digits
    typed with spaces or dashes find the phone."""
    like = f"%{_escape_like(text.lower())}%"
    parts = [
        func.coalesce(_text(*path), "")
        for path in (("text",), ("subject",), ("sender", "name"), ("sender", "email"),
                     ("sender", "phone"))
    ]  # fmt: skip
    # One lower() over the fields joined by a line break (which no search contains):
    # SQLite's lower() is a Python function here, called once per row, not five times.
    joined: ColumnElement[str] = parts[0]
    for part in parts[1:]:
        joined = joined + "\n" + part
    found = [func.lower(joined).like(like, escape="\\")]
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 4:
        found.append(_text("sender", "phone").like(f"%{digits}%"))
    return or_(*found)


def _select(who: Principal, wanted: ReviewFilter) -> Row:
    made = aliased(InquiryRecord)
    stmt = (
        select(InquiryRecord, Lead.status, made.lead_id)
        .outerjoin(Lead, Lead.id == InquiryRecord.lead_id)
        .outerjoin(made, made.id == InquiryRecord.review_inquiry_id)
        .where(_not_a_new_lead(), _scope(who), _state(wanted.state))
    )
    if wanted.kind is not None:
        stmt = stmt.where(_kind_clause(wanted.kind))
    if wanted.channel:
        stmt = stmt.where(InquiryRecord.channel == wanted.channel)
    if wanted.since is not None:
        stmt = stmt.where(InquiryRecord.received_at >= wanted.since)
    if wanted.until is not None:
        stmt = stmt.where(InquiryRecord.received_at < wanted.until)
    if wanted.search and wanted.search.strip():
        stmt = stmt.where(_search(wanted.search.strip()))
    return stmt


def _excerpt(payload: Mapping[str, Any]) -> str | None:
    text = " ".join(str(payload.get("text") or "").split())
    if not text:
        return None
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def _item(record: InquiryRecord, lead_status: str | None, made: uuid.UUID | None) -> ReviewItem:
    payload = record.payload
    found = payload.get("sender")
    sender: dict[str, Any] = found if isinstance(found, dict) else {}
    is_junk_lead = record.outcome in LEAD_OUTCOMES
    return ReviewItem(
        id=record.id,
        kind=kind_of(record.outcome, record.reason),
        reason=record.reason,
        channel=record.channel,
        received_at=record.received_at,
        sender_name=sender.get("name"),
        sender_email=sender.get("email"),
        sender_phone=sender.get("phone"),
        subject=payload.get("subject"),
        excerpt=_excerpt(payload),
        lead_id=record.lead_id,
        lead_status=lead_status,
        reviewed_at=record.reviewed_at,
        reviewed_by=record.reviewed_by,
        made_lead_id=record.lead_id if is_junk_lead and record.reviewed_at else made,
    )


async def list_review(
    session: AsyncSession,
    who: Principal,
    wanted: ReviewFilter,
    *,
    limit: int = 50,
    offset: int = 0,
) -> ReviewPage:
    """The page of records that made no new lead, newest first."""
    stmt = _select(who, wanted)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    newest_first = stmt.order_by(InquiryRecord.received_at.desc(), InquiryRecord.id)
    rows = await session.execute(newest_first.limit(limit).offset(offset))
    return ReviewPage(items=[_item(r, status, made) for r, status, made in rows], total=total)


async def reviewable(
    session: AsyncSession, who: Principal, record_id: uuid.UUID
) -> Reviewable | None:
    """One record of the review list (whatever its state), or None when it is not one
    or not in the caller's scope."""
    stmt = _select(who, ReviewFilter(state="all")).where(InquiryRecord.id == record_id)
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    record, status, made = row
    return Reviewable(
        id=record.id,
        kind=kind_of(record.outcome, record.reason),
        payload=dict(record.payload),
        lead_id=record.lead_id,
        lead_status=status,
        review_inquiry_id=record.review_inquiry_id,
        made_lead_id=made,
    )


async def mark_reviewed(
    session: AsyncSession,
    record_id: uuid.UUID,
    who: Principal,
    review_inquiry_id: uuid.UUID | None,
    now: datetime,
) -> bool:
    """Note who made this record a lead; False when someone already had (first wins)."""
    result = await session.execute(
        update(InquiryRecord)
        .where(InquiryRecord.id == record_id, InquiryRecord.reviewed_at.is_(None))
        .values(reviewed_at=now, reviewed_by=who.user_id, review_inquiry_id=review_inquiry_id)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


@dataclass(frozen=True, slots=True)
class FirstContact:
    """The first contact to plan on a restored lead that never had one."""

    kind: str
    subject: str
    due_at: datetime


async def restore_junk(
    session: AsyncSession,
    who: Principal,
    lead_id: uuid.UUID,
    *,
    text: str,
    first_contact: FirstContact,
    now: datetime,
) -> bool:
    """Take a junk lead out of junk as a real inquiry; False when it is not junk (any
    more: a second click changes nothing).

    Writes the not-junk spam mark and `lead.restored`. A lead that junk kept from
    ever being assigned gets its first contact planned, unassigned when the lead is:
    the SLA watcher then assigns it from the queue by its team's rotation, as it does
    every queued lead, and sets the deadline in that manager's working time.
    """
    worked = await session.scalar(
        select(func.count())
        .select_from(Activity)
        .where(
            Activity.lead_id == lead_id,
            Activity.status == "done",
            Activity.direction != "inbound",
        )
    )
    status = "in_progress" if worked else "new"
    result = await session.execute(
        update(Lead)
        .where(Lead.id == lead_id, Lead.status == "junk", lead_scope(who))
        .values(status=status, junk_reason=None, needs_review=False, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return False
    lead = await session.get(Lead, lead_id)
    assert lead is not None
    await session.refresh(lead)
    session.add(
        SpamMark(
            id=uuid.uuid4(),
            lead_id=lead_id,
            user_id=who.user_id,
            is_junk=False,
            text=text or lead.title,
            created_at=now,
            learned_at=None,
        )
    )
    if not await has_first_contact(session, lead_id):
        plan_first_contact(session, lead, first_contact, now)
    session.add(
        LeadEvent(
            id=uuid.uuid4(),
            lead_id=lead_id,
            type="lead.restored",
            payload={
                "type": "lead.restored",
                "lead_id": str(lead_id),
                "status": status,
                "at": now.isoformat(),
                "by": who.user_id,
                "review": True,
            },
            created_at=now,
            published_at=None,
        )
    )
    await session.flush()
    return True


async def has_first_contact(session: AsyncSession, lead_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(Activity.id).where(Activity.lead_id == lead_id, Activity.is_first_contact).limit(1)
    )
    return found is not None


def plan_first_contact(
    session: AsyncSession, lead: Lead, plan: FirstContact, now: datetime
) -> None:
    session.add(
        Activity(
            id=uuid.uuid4(),
            lead_id=lead.id,
            contact_id=lead.contact_id,
            assignee_id=lead.assignee_id,
            kind=plan.kind,
            direction="outbound",
            status="planned",
            subject=plan.subject,
            is_first_contact=True,
            due_at=plan.due_at,
            created_at=now,
        )
    )
    lead.first_contact_due_at = plan.due_at
