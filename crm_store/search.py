"""Search across leads, contacts and companies: one free query, what the caller may see.

The caller reads the query into `SearchTerms` (the text, and the phone it may be:
E.164 and its trailing digits; reading phones is `ingest`'s job, so the console does
it). A contact matches by name, email, phone, any of its identities (email or phone
as matched on intake) or its company's name; a lead by its title, the text or
subject of any of its inquiries, or its contact; a company by its name or domain.
Text matches are case-insensitive substrings
(`lower()`, which `crm_store.database` makes Unicode-aware on SQLite too), phones
match exactly in E.164 or by their last digits. Scoped like every console query
(`crm_store.scope`): a manager finds their own leads and the contacts and companies
of those leads and of their deals, a head their teams', an admin everything. Each
kind is capped at `limit`, newest first. Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, exists, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from crm_store.accounts import Principal
from crm_store.models import AppUser, Company, Contact, ContactIdentity, InquiryRecord, Lead
from crm_store.scope import company_scope, contact_scope, lead_scope

LIMIT = 20
Column = ColumnElement[Any] | InstrumentedAttribute[Any]
# Fewer trailing digits than this say too little: "1234" is in many numbers.
MIN_SUFFIX_DIGITS = 7


@dataclass(frozen=True, slots=True)
class SearchTerms:
    """What to look for: `text` as typed; `phone` (E.164) and `digits` when it is a phone."""

    text: str
    phone: str | None = None
    digits: str | None = None


class LeadHit(BaseModel):
    id: uuid.UUID
    title: str
    status: str
    channel: str
    created_at: datetime
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    company: str | None
    assignee: str | None


class ContactHit(BaseModel):
    id: uuid.UUID
    name: str | None
    email: str | None
    phone: str | None
    company: str | None
    created_at: datetime


class CompanyHit(BaseModel):
    id: uuid.UUID
    name: str
    domain: str | None
    created_at: datetime


class SearchResults(BaseModel):
    query: str
    leads: list[LeadHit]
    contacts: list[ContactHit]
    companies: list[CompanyHit]


def _like(column: ColumnElement[str | None] | object, text: str) -> ColumnElement[bool]:
    # autoescape: a typed "%" or "_" is that character, not a wildcard.
    return func.lower(column).contains(text.lower(), autoescape=True)


def _like_any(columns: Sequence[Column], text: str) -> ColumnElement[bool]:
    """One of `columns` holds `text`: one lower() over them joined by a line break
    (which a one-line query never holds); SQLite's lower() is a Python call per row."""
    joined: ColumnElement[Any] = func.coalesce(columns[0], "")
    for column in columns[1:]:
        joined = joined + "\n" + func.coalesce(column, "")
    return _like(joined, text)


def _phone_match(column: object, terms: SearchTerms) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    if terms.phone:
        clauses.append(column == terms.phone)  # type: ignore[arg-type]
    if terms.digits and len(terms.digits) >= MIN_SUFFIX_DIGITS:
        clauses.append(column.endswith(terms.digits, autoescape=True))  # type: ignore[attr-defined]
    return or_(*clauses) if clauses else false()


def _contact_match(terms: SearchTerms) -> ColumnElement[bool]:
    """On `Contact` outer-joined with its `Company`."""
    identities = select(ContactIdentity.contact_id).where(
        or_(_like(ContactIdentity.value, terms.text), _phone_match(ContactIdentity.value, terms))
    )
    return or_(
        _like_any([Contact.name, Contact.email, Company.name], terms.text),
        _phone_match(Contact.phone, terms),
        Contact.id.in_(identities),
    )


def _matching_contacts(terms: SearchTerms) -> ColumnElement[bool]:
    ids = select(Contact.id).outerjoin(Company, Company.id == Contact.company_id)
    return Contact.id.in_(ids.where(_contact_match(terms)))


def _inquiry_text(terms: SearchTerms) -> ColumnElement[bool]:
    """On `Lead`: one of its inquiries' text or subject holds the query."""
    said = [InquiryRecord.payload[key].as_string() for key in ("text", "subject")]
    return exists().where(InquiryRecord.lead_id == Lead.id, _like_any(said, terms.text))


async def find_leads(
    session: AsyncSession, who: Principal, terms: SearchTerms, limit: int = LIMIT
) -> list[LeadHit]:
    contacts = select(Contact.id).where(_matching_contacts(terms))
    query = (
        select(
            Lead.id,
            Lead.title,
            Lead.status,
            Lead.channel,
            Lead.created_at,
            Contact.name.label("contact_name"),
            Contact.email.label("contact_email"),
            Contact.phone.label("contact_phone"),
            Company.name.label("company"),
            AppUser.name.label("assignee"),
        )
        .outerjoin(Contact, Contact.id == Lead.contact_id)
        .outerjoin(Company, Company.id == Contact.company_id)
        .outerjoin(AppUser, AppUser.id == Lead.assignee_id)
        .where(
            lead_scope(who),
            or_(
                _like(Lead.title, terms.text),
                Lead.contact_id.in_(contacts),
                _inquiry_text(terms),
            ),
        )
        .order_by(Lead.created_at.desc(), Lead.id)
        .limit(limit)
    )
    rows = (await session.execute(query)).mappings().all()
    return [LeadHit.model_validate(dict(r)) for r in rows]


async def find_contacts(
    session: AsyncSession, who: Principal, terms: SearchTerms, limit: int = LIMIT
) -> list[ContactHit]:
    query = (
        select(
            Contact.id,
            Contact.name,
            Contact.email,
            Contact.phone,
            Company.name.label("company"),
            Contact.created_at,
        )
        .outerjoin(Company, Company.id == Contact.company_id)
        .where(contact_scope(who), _contact_match(terms))
        .order_by(Contact.created_at.desc(), Contact.id)
        .limit(limit)
    )
    rows = (await session.execute(query)).mappings().all()
    return [ContactHit.model_validate(dict(r)) for r in rows]


async def find_companies(
    session: AsyncSession, who: Principal, terms: SearchTerms, limit: int = LIMIT
) -> list[CompanyHit]:
    query = (
        select(Company.id, Company.name, Company.domain, Company.created_at)
        .where(
            company_scope(who),
            _like_any([Company.name, Company.domain], terms.text),
        )
        .order_by(Company.created_at.desc(), Company.id)
        .limit(limit)
    )
    rows = (await session.execute(query)).mappings().all()
    return [CompanyHit.model_validate(dict(r)) for r in rows]


async def search(
    session: AsyncSession, who: Principal, terms: SearchTerms, limit: int = LIMIT
) -> SearchResults:
    return SearchResults(
        query=terms.text,
        leads=await find_leads(session, who, terms, limit),
        contacts=await find_contacts(session, who, terms, limit),
        companies=await find_companies(session, who, terms, limit),
    )
