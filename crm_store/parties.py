"""The contact and company pages: who they are, how to reach them, and their leads,
deals and activities.

A contact shows every way to reach them (its email and phone and each identity
intake matched them by, without repeats), its company, its leads and deals, and one
timeline of the activities on them. A company shows its contacts, leads (those of
its contacts), deals, and the total amount of its open deals. Scoped by who asks
(`crm_store.scope`): a contact or company out of scope is None (the API's 404), and
the lists hold only the leads and deals the caller may see, so every link on the
page opens, and the open total is of the deals the caller sees. Imports nothing of
ours outside `crm_store`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.card import CompanyView
from crm_store.deals import CLOSED, DealRow, LeadRow, TimelineItem, read_deals, read_leads, timeline
from crm_store.models import Company, Contact, ContactIdentity, Deal, Lead
from crm_store.scope import company_scope, contact_scope

# The strongest ways to reach someone first; messenger ids after, by name.
KIND_ORDER = {"phone": 0, "email": 1}


class IdentityView(BaseModel):
    kind: str
    value: str


class ContactRow(BaseModel):
    id: uuid.UUID
    name: str | None
    email: str | None
    phone: str | None


class ContactRecord(BaseModel):
    id: uuid.UUID
    name: str | None
    email: str | None
    phone: str | None
    created_at: datetime
    company: CompanyView | None
    identities: list[IdentityView]
    leads: list[LeadRow]
    deals: list[DealRow]
    activities: list[TimelineItem]


class CompanyRecord(BaseModel):
    id: uuid.UUID
    name: str
    domain: str | None
    created_at: datetime
    contacts: list[ContactRow]
    leads: list[LeadRow]
    deals: list[DealRow]
    open_deals: int
    open_amount: float


def identities_of(
    email: str | None, phone: str | None, rows: list[tuple[str, str]]
) -> list[IdentityView]:
    """Every way to reach a contact once: phones, then emails, then messengers."""
    seen: dict[tuple[str, str], None] = {}
    for kind, value in [("phone", phone), ("email", email), *rows]:
        if value:
            seen.setdefault((kind, value), None)
    ordered = sorted(seen, key=lambda kv: (KIND_ORDER.get(kv[0], 2), kv[0]))
    return [IdentityView(kind=kind, value=value) for kind, value in ordered]


def open_total(deals: list[DealRow]) -> tuple[int, float]:
    """How many deals are open, and their amounts' sum (exact in cents)."""
    open_deals = [d for d in deals if d.stage not in CLOSED]
    total = sum((Decimal(str(d.amount)) for d in open_deals if d.amount is not None), Decimal(0))
    return len(open_deals), float(total)


async def contact_record(
    session: AsyncSession, who: Principal, contact_id: uuid.UUID
) -> ContactRecord | None:
    contact = await session.scalar(
        select(Contact).where(Contact.id == contact_id, contact_scope(who))
    )
    if contact is None:
        return None
    company = await session.get(Company, contact.company_id) if contact.company_id else None
    rows = await session.execute(
        select(ContactIdentity.kind, ContactIdentity.value).where(
            ContactIdentity.contact_id == contact.id
        )
    )
    leads = await read_leads(session, who, Lead.contact_id == contact.id)
    deals = await read_deals(session, who, Deal.contact_id == contact.id)
    return ContactRecord(
        id=contact.id,
        name=contact.name,
        email=contact.email,
        phone=contact.phone,
        created_at=contact.created_at,
        company=CompanyView(id=company.id, name=company.name, domain=company.domain)
        if company
        else None,
        identities=identities_of(contact.email, contact.phone, [(k, v) for k, v in rows.all()]),
        leads=leads,
        deals=deals,
        activities=await timeline(
            session,
            lead_ids=[lead.id for lead in leads],
            deal_ids=[deal.id for deal in deals],
            contact_id=contact.id,
        ),
    )


async def company_record(
    session: AsyncSession, who: Principal, company_id: uuid.UUID
) -> CompanyRecord | None:
    company = await session.scalar(
        select(Company).where(Company.id == company_id, company_scope(who))
    )
    if company is None:
        return None
    people = select(Contact.id).where(Contact.company_id == company.id)
    contacts = await session.execute(
        select(Contact.id, Contact.name, Contact.email, Contact.phone)
        .where(Contact.company_id == company.id, contact_scope(who))
        .order_by(func.lower(func.coalesce(Contact.name, Contact.email, "")), Contact.id)
    )
    deals = await read_deals(session, who, Deal.company_id == company.id)
    count, total = open_total(deals)
    return CompanyRecord(
        id=company.id,
        name=company.name,
        domain=company.domain,
        created_at=company.created_at,
        contacts=[ContactRow.model_validate(dict(r)) for r in contacts.mappings().all()],
        leads=await read_leads(session, who, Lead.contact_id.in_(people)),
        deals=deals,
        open_deals=count,
        open_amount=total,
    )
