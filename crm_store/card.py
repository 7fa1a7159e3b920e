"""The lead card: contact and company, every inquiry in order across channels, the
activities, the assignment explanation with its ledger, and the deal if converted.

Scoped by who asks (`crm_store.scope`): a lead out of scope is None. Also decides
where a reply to the customer goes (`reply_target`), from the lead's inquiries.
Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.leads import AssigneeView
from crm_store.models import (
    Activity,
    AppUser,
    AssignmentLedger,
    Company,
    Contact,
    Deal,
    InquiryRecord,
    Lead,
    Team,
)
from crm_store.scope import lead_scope


class CompanyView(BaseModel):
    id: uuid.UUID
    name: str
    domain: str | None


class CardContact(BaseModel):
    id: uuid.UUID | None
    name: str | None
    email: str | None
    phone: str | None
    company: CompanyView | None


class InquiryItem(BaseModel):
    id: uuid.UUID
    channel: str
    received_at: datetime
    subject: str | None
    text: str | None
    sender_name: str | None
    sender_email: str | None
    sender_phone: str | None
    fields: dict[str, str]
    outcome: str


class ActivityItem(BaseModel):
    id: uuid.UUID
    kind: str
    direction: str
    status: str
    subject: str
    result: str | None
    is_first_contact: bool
    assignee_id: int | None
    due_at: datetime | None
    done_at: datetime | None
    created_at: datetime


class LedgerItem(BaseModel):
    kind: str
    from_user: str | None
    to_user: str | None
    reason: str
    created_at: datetime


class DealView(BaseModel):
    id: uuid.UUID
    title: str
    stage: str
    amount: float | None
    company_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    created_at: datetime


class LeadCard(BaseModel):
    id: uuid.UUID
    status: str
    channel: str
    title: str
    created_at: datetime
    updated_at: datetime
    team: str | None
    assignee: AssigneeView | None
    assignment_reason: str | None
    first_contact_due_at: datetime | None
    spam_score: float
    spam_reasons: list[str]
    needs_review: bool
    junk_reason: str | None
    source: dict[str, Any]
    contact: CardContact
    inquiries: list[InquiryItem]
    activities: list[ActivityItem]
    ledger: list[LedgerItem]
    deals: list[DealView]
    reply_channel: str | None


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    channel: str
    to: str
    connector: str | None
    in_reply_to: str | None
    subject: str | None


def reply_target(contact_email: str | None, payloads: list[dict[str, Any]]) -> ReplyTarget | None:
    """Where a reply goes: the channel of the latest inquiry that can be answered.

    Telegram → its chat id; WhatsApp → the sender's wa_id; email and web forms →
    the contact's email (threaded on the last Message-ID). Phone and import cannot.
    """
    for payload in sorted(payloads, key=lambda p: str(p.get("received_at", "")), reverse=True):
        ids = payload.get("channel_ids") or {}
        connector = (payload.get("routing") or {}).get("connector")
        channel = payload.get("channel")
        if channel == "telegram" and ids.get("chat_id"):
            return ReplyTarget("telegram", str(ids["chat_id"]), connector, None, None)
        if channel == "whatsapp" and ids.get("wa_id"):
            return ReplyTarget("whatsapp", str(ids["wa_id"]), connector, None, None)
        if channel in ("email", "web_form", "manual") and contact_email:
            return ReplyTarget(
                "email", contact_email, connector, ids.get("message_id"), payload.get("subject")
            )
    return ReplyTarget("email", contact_email, None, None, None) if contact_email else None


async def scoped_lead(session: AsyncSession, who: Principal, lead_id: uuid.UUID) -> Lead | None:
    return await session.scalar(select(Lead).where(Lead.id == lead_id, lead_scope(who)))


async def inquiry_payloads(session: AsyncSession, lead_id: uuid.UUID) -> list[dict[str, Any]]:
    stmt = (
        select(InquiryRecord.payload)
        .where(InquiryRecord.lead_id == lead_id)
        .order_by(InquiryRecord.received_at, InquiryRecord.id)
    )
    return [dict(p) for p in await session.scalars(stmt)]


async def lead_card(session: AsyncSession, who: Principal, lead_id: uuid.UUID) -> LeadCard | None:
    lead = await scoped_lead(session, who, lead_id)
    if lead is None:
        return None
    contact = await session.get(Contact, lead.contact_id) if lead.contact_id else None
    company = (
        await session.get(Company, contact.company_id) if contact and contact.company_id else None
    )
    user = await session.get(AppUser, lead.assignee_id) if lead.assignee_id else None
    team = await session.get(Team, lead.team_id) if lead.team_id else None
    records = list(
        await session.scalars(
            select(InquiryRecord)
            .where(InquiryRecord.lead_id == lead_id)
            .order_by(InquiryRecord.received_at, InquiryRecord.id)
        )
    )
    target = reply_target(contact.email if contact else None, [dict(r.payload) for r in records])
    return LeadCard(
        id=lead.id,
        status=lead.status,
        channel=lead.channel,
        title=lead.title,
        created_at=lead.created_at,
        updated_at=lead.updated_at,
        team=team.name if team else None,
        assignee=AssigneeView(id=user.id, name=user.name) if user else None,
        assignment_reason=lead.assignment_reason,
        first_contact_due_at=lead.first_contact_due_at,
        spam_score=lead.spam_score,
        spam_reasons=list(lead.spam_reasons or []),
        needs_review=lead.needs_review,
        junk_reason=lead.junk_reason,
        source=dict(lead.source or {}),
        contact=CardContact(
            id=contact.id if contact else None,
            name=contact.name if contact else None,
            email=contact.email if contact else None,
            phone=contact.phone if contact else None,
            company=CompanyView(id=company.id, name=company.name, domain=company.domain)
            if company
            else None,
        ),
        inquiries=[_inquiry_item(r) for r in records],
        activities=await _activities(session, lead_id),
        ledger=await _ledger(session, lead_id),
        deals=await _deals(session, lead_id),
        reply_channel=target.channel if target else None,
    )


def _inquiry_item(r: InquiryRecord) -> InquiryItem:
    p = r.payload
    sender = p.get("sender") or {}
    return InquiryItem(
        id=r.id,
        channel=r.channel,
        received_at=r.received_at,
        subject=p.get("subject"),
        text=p.get("text"),
        sender_name=sender.get("name"),
        sender_email=sender.get("email"),
        sender_phone=sender.get("phone"),
        fields={str(k): str(v) for k, v in (p.get("fields") or {}).items()},
        outcome=r.outcome,
    )


async def _activities(session: AsyncSession, lead_id: uuid.UUID) -> list[ActivityItem]:
    stmt = select(Activity).where(Activity.lead_id == lead_id)
    rows = await session.scalars(stmt.order_by(Activity.created_at, Activity.id))
    return [ActivityItem.model_validate(a, from_attributes=True) for a in rows]


async def _ledger(session: AsyncSession, lead_id: uuid.UUID) -> list[LedgerItem]:
    rows = list(
        await session.scalars(
            select(AssignmentLedger)
            .where(AssignmentLedger.lead_id == lead_id)
            .order_by(AssignmentLedger.created_at, AssignmentLedger.id)
        )
    )
    ids = {r.from_user_id for r in rows} | {r.to_user_id for r in rows}
    names = dict(
        (await session.execute(select(AppUser.id, AppUser.name).where(AppUser.id.in_(ids)))).all()
    )
    return [
        LedgerItem(
            kind=r.kind,
            from_user=names.get(r.from_user_id) if r.from_user_id else None,
            to_user=names.get(r.to_user_id) if r.to_user_id else None,
            reason=r.reason,
            created_at=r.created_at,
        )
        for r in rows
    ]


async def _deals(session: AsyncSession, lead_id: uuid.UUID) -> list[DealView]:
    rows = await session.scalars(
        select(Deal).where(Deal.lead_id == lead_id).order_by(Deal.created_at)
    )
    return [
        DealView(
            id=d.id,
            title=d.title,
            stage=d.stage,
            amount=float(d.amount) if d.amount is not None else None,
            company_id=d.company_id,
            contact_id=d.contact_id,
            created_at=d.created_at,
        )
        for d in rows
    ]
