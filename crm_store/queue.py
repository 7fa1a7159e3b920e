"""A manager's day: the queue of their leads, the counters, and the lead card.

Read-only, and scoped by who asks through `crm_store.scope` inside every query.
The counters live in `crm_store.counters` and are re-exported here for the console.
Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.counters import Counters as Counters
from crm_store.counters import CountersView as CountersView
from crm_store.counters import UserCounters as UserCounters
from crm_store.counters import counters as counters
from crm_store.leads import AssigneeView
from crm_store.models import Activity, AppUser, Contact, Lead
from crm_store.scope import lead_scope

OPEN = ("new", "in_progress")
QueueSort = Literal["created_at", "-created_at", "due", "-due"]


class QueueItem(BaseModel):
    id: uuid.UUID
    status: str
    channel: str
    title: str
    created_at: datetime
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    assignee: AssigneeView | None
    first_contact_due_at: datetime | None
    next_due_at: datetime | None
    overdue: bool
    untouched: bool


class QueuePage(BaseModel):
    items: list[QueueItem]
    total: int


def manager_touched(lead_id: Any) -> ColumnElement[bool]:
    """Some activity on the lead was done by a person (not the customer's own message)."""
    return exists().where(
        Activity.lead_id == lead_id,
        Activity.status == "done",
        Activity.direction != "inbound",
    )


def _next_due() -> Any:
    return (
        select(Activity.lead_id, func.min(Activity.due_at).label("due"))
        .where(Activity.status == "planned")
        .group_by(Activity.lead_id)
        .subquery()
    )


async def queue(
    session: AsyncSession,
    who: Principal,
    *,
    now: datetime,
    statuses: Sequence[str] = OPEN,
    channel: str | None = None,
    overdue: bool | None = None,
    assignee_id: int | None = None,
    sort: QueueSort = "due",
    limit: int = 50,
    offset: int = 0,
) -> QueuePage:
    due = _next_due()
    stmt = (
        select(Lead, Contact, AppUser, due.c.due)
        .outerjoin(Contact, Contact.id == Lead.contact_id)
        .outerjoin(AppUser, AppUser.id == Lead.assignee_id)
        .outerjoin(due, due.c.lead_id == Lead.id)
        .where(lead_scope(who), Lead.status.in_(list(statuses)))
    )
    if channel:
        stmt = stmt.where(Lead.channel == channel)
    if assignee_id is not None:
        stmt = stmt.where(Lead.assignee_id == assignee_id)
    if overdue is True:
        stmt = stmt.where(due.c.due < now)
    elif overdue is False:
        stmt = stmt.where(or_(due.c.due.is_(None), due.c.due >= now))
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = {
        "created_at": [Lead.created_at.asc()],
        "-created_at": [Lead.created_at.desc()],
        "due": [due.c.due.asc().nulls_last(), Lead.created_at.desc()],
        "-due": [due.c.due.desc().nulls_last(), Lead.created_at.desc()],
    }[sort]
    rows = (await session.execute(stmt.order_by(*order, Lead.id).limit(limit).offset(offset))).all()
    touched = await _touched(session, [row[0].id for row in rows])
    return QueuePage(
        items=[_item(lead, c, u, d, now, touched) for lead, c, u, d in rows], total=total
    )


async def _touched(session: AsyncSession, lead_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    if not lead_ids:
        return set()
    found = await session.scalars(
        select(Activity.lead_id).where(
            Activity.lead_id.in_(lead_ids),
            Activity.status == "done",
            Activity.direction != "inbound",
        )
    )
    return {lead_id for lead_id in found if lead_id is not None}


def _item(
    lead: Lead,
    contact: Contact | None,
    user: AppUser | None,
    next_due: datetime | None,
    now: datetime,
    touched: set[uuid.UUID],
) -> QueueItem:
    return QueueItem(
        id=lead.id,
        status=lead.status,
        channel=lead.channel,
        title=lead.title,
        created_at=lead.created_at,
        contact_name=contact.name if contact else None,
        contact_email=contact.email if contact else None,
        contact_phone=contact.phone if contact else None,
        assignee=AssigneeView(id=user.id, name=user.name) if user else None,
        first_contact_due_at=lead.first_contact_due_at,
        next_due_at=next_due,
        overdue=next_due is not None and next_due < now,
        untouched=lead.id not in touched,
    )
