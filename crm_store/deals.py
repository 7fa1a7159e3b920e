"""The deal page: a deal with its contact, company, originating lead and activities;
and the one change a page makes to a deal, its amount and stage.

Stages run `new → qualification → proposal → negotiation`, and end `won` or `lost`;
an ending stage sets `closed_at`, leaving it for an open stage clears it. Scoped by
who asks (`crm_store.scope.deal_scope`): a deal out of scope is None, which the API
answers 404, for reading and for changing alike. The deal's lists (its activities)
and those of the contact and company pages (`crm_store.parties`) are read here.
Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm_store.accounts import Principal
from crm_store.deal_history import DealChangeItem, deal_changes, record_deal_change
from crm_store.leads import AssigneeView
from crm_store.models import Activity, AppUser, Company, Contact, Deal, Lead
from crm_store.scope import deal_scope, lead_scope

STAGES = ("new", "qualification", "proposal", "negotiation", "won", "lost")
CLOSED = frozenset({"won", "lost"})


class PartyLink(BaseModel):
    """A contact or company as a deal or lead names it: enough for a link."""

    id: uuid.UUID
    name: str | None


class LeadRow(BaseModel):
    id: uuid.UUID
    title: str
    status: str
    channel: str
    created_at: datetime
    assignee: str | None


class DealRow(BaseModel):
    id: uuid.UUID
    title: str
    stage: str
    amount: float | None
    owner: str | None
    created_at: datetime
    closed_at: datetime | None


class TimelineItem(BaseModel):
    """An activity on a contact's, company's or deal's timeline, with where it belongs."""

    id: uuid.UUID
    kind: str
    direction: str
    status: str
    subject: str
    result: str | None
    assignee: str | None
    lead_id: uuid.UUID | None
    deal_id: uuid.UUID | None
    due_at: datetime | None
    done_at: datetime | None
    created_at: datetime

    @property
    def at(self) -> datetime:
        """When it happened (done) or was planned (its creation): the timeline's order."""
        return self.done_at or self.created_at


class DealRecord(BaseModel):
    id: uuid.UUID
    title: str
    stage: str
    amount: float | None
    created_at: datetime
    closed_at: datetime | None
    owner: AssigneeView | None
    contact: PartyLink | None
    company: PartyLink | None
    lead: LeadRow | None
    activities: list[TimelineItem]
    # Stage and amount changes, newest first (crm_store.deal_history).
    history: list[DealChangeItem] = []


@dataclass(frozen=True, slots=True)
class DealChange:
    """What to change; `amount_given` tells "clear the amount" (None) from "keep it"."""

    stage: str | None = None
    amount: float | None = None
    amount_given: bool = False


def _amount(value: Decimal | float | None) -> float | None:
    return float(value) if value is not None else None


async def read_leads(
    session: AsyncSession, who: Principal, where: ColumnElement[bool]
) -> list[LeadRow]:
    """The leads matching `where` that `who` may see, newest first, with the manager."""
    query = (
        select(
            Lead.id,
            Lead.title,
            Lead.status,
            Lead.channel,
            Lead.created_at,
            AppUser.name.label("assignee"),
        )
        .outerjoin(AppUser, AppUser.id == Lead.assignee_id)
        .where(where, lead_scope(who))
        .order_by(Lead.created_at.desc(), Lead.id)
    )
    rows = (await session.execute(query)).mappings().all()
    return [LeadRow.model_validate(dict(r)) for r in rows]


async def read_deals(
    session: AsyncSession, who: Principal, where: ColumnElement[bool]
) -> list[DealRow]:
    """The deals matching `where` that `who` may see, newest first, with the owner."""
    query = (
        select(
            Deal.id,
            Deal.title,
            Deal.stage,
            Deal.amount,
            AppUser.name.label("owner"),
            Deal.created_at,
            Deal.closed_at,
        )
        .outerjoin(AppUser, AppUser.id == Deal.owner_id)
        .where(where, deal_scope(who))
        .order_by(Deal.created_at.desc(), Deal.id)
    )
    rows = (await session.execute(query)).mappings().all()
    return [DealRow.model_validate({**r, "amount": _amount(r["amount"])}) for r in rows]


async def timeline(
    session: AsyncSession,
    *,
    lead_ids: Sequence[uuid.UUID] = (),
    deal_ids: Sequence[uuid.UUID] = (),
    contact_id: uuid.UUID | None = None,
) -> list[TimelineItem]:
    """The activities on these leads and deals (the caller passes only those it may
    see), and those on the contact alone, oldest first."""
    clauses: list[ColumnElement[bool]] = []
    if lead_ids:
        clauses.append(Activity.lead_id.in_(lead_ids))
    if deal_ids:
        clauses.append(Activity.deal_id.in_(deal_ids))
    if contact_id is not None:
        # An activity on the contact alone, not on a lead or deal out of scope.
        clauses.append(
            (Activity.contact_id == contact_id)
            & Activity.lead_id.is_(None)
            & Activity.deal_id.is_(None)
        )
    if not clauses:
        return []
    who_did = aliased(AppUser)
    stmt = (
        select(Activity, who_did.name)
        .outerjoin(who_did, who_did.id == Activity.assignee_id)
        .where(or_(*clauses))
    )
    items = [
        TimelineItem(
            id=a.id,
            kind=a.kind,
            direction=a.direction,
            status=a.status,
            subject=a.subject,
            result=a.result,
            assignee=name,
            lead_id=a.lead_id,
            deal_id=a.deal_id,
            due_at=a.due_at,
            done_at=a.done_at,
            created_at=a.created_at,
        )
        for a, name in (await session.execute(stmt)).all()
    ]
    return sorted(items, key=lambda item: (item.at, str(item.id)))


async def scoped_deal(session: AsyncSession, who: Principal, deal_id: uuid.UUID) -> Deal | None:
    return await session.scalar(select(Deal).where(Deal.id == deal_id, deal_scope(who)))


async def deal_record(
    session: AsyncSession, who: Principal, deal_id: uuid.UUID
) -> DealRecord | None:
    deal = await scoped_deal(session, who, deal_id)
    if deal is None:
        return None
    owner = await session.get(AppUser, deal.owner_id) if deal.owner_id else None
    contact = await session.get(Contact, deal.contact_id) if deal.contact_id else None
    company = await session.get(Company, deal.company_id) if deal.company_id else None
    leads = await read_leads(session, who, Lead.id == deal.lead_id) if deal.lead_id else []
    return DealRecord(
        id=deal.id,
        title=deal.title,
        stage=deal.stage,
        amount=_amount(deal.amount),
        created_at=deal.created_at,
        closed_at=deal.closed_at,
        owner=AssigneeView(id=owner.id, name=owner.name) if owner else None,
        contact=PartyLink(id=contact.id, name=contact.name or contact.email or contact.phone)
        if contact
        else None,
        company=PartyLink(id=company.id, name=company.name) if company else None,
        lead=leads[0] if leads else None,
        activities=await timeline(
            session, lead_ids=[leads[0].id] if leads else [], deal_ids=[deal.id]
        ),
        history=await deal_changes(session, deal),
    )


async def change_deal(
    session: AsyncSession, who: Principal, deal_id: uuid.UUID, change: DealChange, now: datetime
) -> bool:
    """Apply `change` to a deal `who` may see; False when there is no such deal.

    The caller owns the transaction and has checked the stage is one of `STAGES`.
    """
    deal = await session.scalar(
        select(Deal).where(Deal.id == deal_id, deal_scope(who)).with_for_update()
    )
    if deal is None:
        return False
    before: dict[str, object] = {"stage": deal.stage, "amount": deal.amount}
    if change.stage is not None and change.stage != deal.stage:
        deal.stage = change.stage
        deal.closed_at = now if change.stage in CLOSED else None
    if change.amount_given:
        deal.amount = change.amount
    record_deal_change(session, deal, who, before, now)
    await session.flush()
    return True
