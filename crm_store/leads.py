"""Read queries for leads, scoped by who asks (see `crm_store.scope`).

The scope is part of the query (not a filter applied afterwards), so a manager
asking for another manager's lead gets nothing, which the API turns into 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.models import Activity, AppUser, Contact, InquiryRecord, Lead
from crm_store.scope import lead_scope


class ContactView(BaseModel):
    id: uuid.UUID | None
    name: str | None
    email: str | None
    phone: str | None


class AssigneeView(BaseModel):
    id: int
    name: str


class ActivityView(BaseModel):
    id: uuid.UUID
    kind: str
    status: str
    subject: str
    due_at: datetime | None
    done_at: datetime | None


class LeadView(BaseModel):
    id: uuid.UUID
    status: str
    channel: str
    title: str
    created_at: datetime
    contact: ContactView
    assignee: AssigneeView | None
    assignment_reason: str | None
    first_contact_due_at: datetime | None
    spam_score: float
    spam_reasons: list[str]
    needs_review: bool = Field(
        description="The spam score is in the suspicious band: a person should look."
    )
    text: str | None = Field(description="What the customer wrote in the inquiry that made it.")
    activities: list[ActivityView]


class LeadPage(BaseModel):
    items: list[LeadView]
    total: int


def _scoped(stmt: Select[Lead], who: Principal) -> Select[Lead]:
    return stmt.where(lead_scope(who))


async def list_leads(
    session: AsyncSession,
    who: Principal,
    *,
    status: str | None = None,
    assignee_id: int | None = None,
    contact_email: str | None = None,
    needs_review: bool | None = None,
    channel: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> LeadPage:
    stmt = _scoped(select(Lead), who)
    if status:
        stmt = stmt.where(Lead.status == status)
    if needs_review is not None:
        stmt = stmt.where(Lead.needs_review.is_(needs_review))
    if channel:
        stmt = stmt.where(Lead.channel == channel)
    if assignee_id is not None:
        stmt = stmt.where(Lead.assignee_id == assignee_id)
    if contact_email:
        stmt = stmt.join(Contact, Contact.id == Lead.contact_id).where(
            Contact.email == contact_email.strip().lower()
        )
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    leads = list(
        await session.scalars(
            stmt.order_by(Lead.created_at.desc(), Lead.id).limit(limit).offset(offset)
        )
    )
    return LeadPage(items=await _views(session, leads), total=total)


async def get_lead(session: AsyncSession, who: Principal, lead_id: uuid.UUID) -> LeadView | None:
    lead = await session.scalar(_scoped(select(Lead), who).where(Lead.id == lead_id))
    if lead is None:
        return None
    return (await _views(session, [lead]))[0]


async def _views(session: AsyncSession, leads: Sequence[Lead]) -> list[LeadView]:
    if not leads:
        return []
    contact_ids = {lead.contact_id for lead in leads if lead.contact_id}
    user_ids = {lead.assignee_id for lead in leads if lead.assignee_id}
    contacts = {
        c.id: c for c in await session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))
    }
    users = {
        u.id: u for u in await session.scalars(select(AppUser).where(AppUser.id.in_(user_ids)))
    }
    activities: dict[uuid.UUID, list[ActivityView]] = {}
    for a in await session.scalars(
        select(Activity)
        .where(Activity.lead_id.in_([lead.id for lead in leads]))
        .order_by(Activity.created_at, Activity.id)
    ):
        assert a.lead_id is not None
        activities.setdefault(a.lead_id, []).append(
            ActivityView(
                id=a.id,
                kind=a.kind,
                status=a.status,
                subject=a.subject,
                due_at=a.due_at,
                done_at=a.done_at,
            )
        )
    texts = await _texts(session, [lead.id for lead in leads])
    views = []
    for lead in leads:
        contact = contacts.get(lead.contact_id) if lead.contact_id else None
        user = users.get(lead.assignee_id) if lead.assignee_id else None
        views.append(
            LeadView(
                id=lead.id,
                status=lead.status,
                channel=lead.channel,
                title=lead.title,
                created_at=lead.created_at,
                contact=ContactView(
                    id=contact.id if contact else None,
                    name=contact.name if contact else None,
                    email=contact.email if contact else None,
                    phone=contact.phone if contact else None,
                ),
                assignee=AssigneeView(id=user.id, name=user.name) if user else None,
                assignment_reason=lead.assignment_reason,
                first_contact_due_at=lead.first_contact_due_at,
                spam_score=lead.spam_score,
                spam_reasons=list(lead.spam_reasons),
                needs_review=lead.needs_review,
                text=texts.get(lead.id),
                activities=activities.get(lead.id, []),
            )
        )
    return views


async def _texts(session: AsyncSession, lead_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each lead's text: what the customer wrote in the inquiry that made the lead."""
    rows = await session.execute(
        select(InquiryRecord.lead_id, InquiryRecord.payload["text"].as_string()).where(
            InquiryRecord.lead_id.in_(lead_ids),
            InquiryRecord.outcome.in_(("new_lead", "junk_lead")),
        )
    )
    return {lead_id: text for lead_id, text in rows if lead_id is not None and text}
