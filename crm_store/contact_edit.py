"""A manager corrects the contact of a lead: name, phone, email, company name.

The values arrive checked and normalized (E.164 phone, lower-case email) by the
console. The lead must be in the caller's scope (else `NotFound`). A new phone or
email becomes one of the contact's identities, so the next inquiry from it finds
this person; the old ones stay (what came from them is still this person's). A
phone or email that is another contact's identity is refused (`IdentityTaken`):
merging two people is not an edit. The company name renames the contact's company
(the name a manager types wins, as in conversion), or links the company of that
name, or a new one; an empty name unlinks it. Every change is a `lead.contact_edited`
event in the lead's history. The caller owns the transaction. Imports nothing of
ours outside `crm_store`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.card import CardContact, CompanyView, scoped_lead
from crm_store.models import Company, Contact, ContactIdentity, Lead, LeadEvent
from crm_store.people import NotFound

FIELDS = ("name", "phone", "email", "company")


class IdentityTaken(ValueError):
    """A phone or email given is another contact's: `fields` names which."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


@dataclass(frozen=True, slots=True)
class ContactChanges:
    """The fields to set; a field not in `given` is kept, None clears it."""

    given: frozenset[str]
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    company: str | None = None


async def edit_contact(
    session: AsyncSession,
    who: Principal,
    lead_id: uuid.UUID,
    changes: ContactChanges,
    now: datetime,
) -> CardContact:
    lead = await scoped_lead(session, who, lead_id)
    if lead is None:
        raise NotFound("There is no lead with this id.")
    contact = await session.get(Contact, lead.contact_id) if lead.contact_id else None
    if contact is None:
        if not any(getattr(changes, k) for k in changes.given):
            return CardContact(id=None, name=None, email=None, phone=None, company=None)
        contact = Contact(id=uuid.uuid4(), created_at=now)
        session.add(contact)
        lead.contact_id = contact.id
    company = await session.get(Company, contact.company_id) if contact.company_id else None
    before = _values(contact, company)
    await _check_identities(session, contact.id, changes)
    if "name" in changes.given:
        contact.name = changes.name
    for kind in ("phone", "email"):
        if kind in changes.given:
            value = getattr(changes, kind)
            setattr(contact, kind, value)
            if value:
                await _add_identity(session, contact.id, kind, value)
    if "company" in changes.given:
        company = await _company(session, contact, company, changes.company, now)
    after = _values(contact, company)
    edited = {k: [before[k], after[k]] for k in FIELDS if before[k] != after[k]}
    if edited:
        lead.updated_at = now
        _event(session, lead, who, edited, now)
    await session.flush()
    return CardContact(
        id=contact.id,
        name=contact.name,
        email=contact.email,
        phone=contact.phone,
        company=CompanyView(id=company.id, name=company.name, domain=company.domain)
        if company
        else None,
    )


def _values(contact: Contact, company: Company | None) -> dict[str, str | None]:
    return {
        "name": contact.name,
        "phone": contact.phone,
        "email": contact.email,
        "company": company.name if company else None,
    }


async def _check_identities(
    session: AsyncSession, contact_id: uuid.UUID, changes: ContactChanges
) -> None:
    taken: list[str] = []
    for kind in ("phone", "email"):
        value = getattr(changes, kind)
        if kind not in changes.given or not value:
            continue
        owner = await session.scalar(
            select(ContactIdentity.contact_id).where(
                ContactIdentity.kind == kind, ContactIdentity.value == value
            )
        )
        if owner is not None and owner != contact_id:
            taken.append(kind)
    if taken:
        raise IdentityTaken(taken)


async def _add_identity(
    session: AsyncSession, contact_id: uuid.UUID, kind: str, value: str
) -> None:
    found = await session.scalar(
        select(ContactIdentity.id).where(
            ContactIdentity.kind == kind, ContactIdentity.value == value
        )
    )
    if found is None:
        session.add(ContactIdentity(id=uuid.uuid4(), contact_id=contact_id, kind=kind, value=value))


async def _company(
    session: AsyncSession,
    contact: Contact,
    current: Company | None,
    name: str | None,
    now: datetime,
) -> Company | None:
    if not name:
        contact.company_id = None
        return None
    if current is not None:
        current.name = name
        return current
    existing = await session.scalar(
        select(Company).where(func.lower(Company.name) == name.lower()).limit(1)
    )
    company = existing or Company(id=uuid.uuid4(), name=name, domain=None, created_at=now)
    if existing is None:
        session.add(company)
        await session.flush()
    contact.company_id = company.id
    return company


def _event(
    session: AsyncSession, lead: Lead, who: Principal, edited: dict[str, Any], now: datetime
) -> None:
    payload = {
        "type": "lead.contact_edited",
        "lead_id": str(lead.id),
        "status": lead.status,
        "at": now.isoformat(),
        "by": who.user_id,
        "changes": edited,
    }
    session.add(
        LeadEvent(
            id=uuid.uuid4(),
            lead_id=lead.id,
            type="lead.contact_edited",
            payload=payload,
            created_at=now,
            published_at=None,
        )
    )
