"""A manager's actions on a lead: complete and plan activities, change status, junk
and restore, convert to a deal, record a reply.

Each function finds the lead through `crm_store.scope` (out of scope → `NotFound`,
which the API answers 404), refuses impossible moves with `WorkConflict` (409), and
writes a `lead_event` row for `leadflow.lead-events`. Junk and restore write a
`spam_mark` with the lead's text, the classifier's training data. The caller owns
the transaction. Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.card import CompanyView, ReplyTarget, inquiry_payloads, reply_target, scoped_lead
from crm_store.models import (
    Activity,
    Company,
    Contact,
    Deal,
    Lead,
    LeadEvent,
    MessageRef,
    OutboundRecord,
    SpamMark,
)
from crm_store.people import NotFound
from crm_store.review import FirstContact, has_first_contact, plan_first_contact
from crm_store.scope import lead_scope

OPEN = frozenset({"new", "in_progress"})
TextOf = Callable[[dict[str, Any]], str]


class WorkConflict(ValueError):
    """The action does not fit the lead's or activity's current state."""


@dataclass(frozen=True, slots=True)
class Plan:
    kind: str
    subject: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class NewCompany:
    name: str
    domain: str | None


@dataclass(frozen=True, slots=True)
class NewPerson:
    name: str | None
    email: str | None
    phone: str | None


@dataclass(frozen=True, slots=True)
class Conversion:
    title: str | None = None
    amount: float | None = None
    contact_id: uuid.UUID | None = None
    new_contact: NewPerson | None = None
    company_id: uuid.UUID | None = None
    company: NewCompany | None = None


@dataclass(frozen=True, slots=True)
class Converted:
    deal_id: uuid.UUID
    contact_id: uuid.UUID | None
    company_id: uuid.UUID | None
    reused_contact: bool
    reused_company: bool


async def _lead(session: AsyncSession, who: Principal, lead_id: uuid.UUID) -> Lead:
    lead = await scoped_lead(session, who, lead_id)
    if lead is None:
        raise NotFound("There is no lead with this id.")
    return lead


def _event(session: AsyncSession, lead: Lead, type_: str, now: datetime, **payload: Any) -> None:
    body = {"type": type_, "lead_id": str(lead.id), "status": lead.status, "at": now.isoformat()}
    session.add(
        LeadEvent(
            id=uuid.uuid4(),
            lead_id=lead.id,
            type=type_,
            payload={**body, **payload},
            created_at=now,
            published_at=None,
        )
    )


def _plan(session: AsyncSession, lead: Lead, who: Principal, plan: Plan, now: datetime) -> Activity:
    activity = Activity(
        id=uuid.uuid4(),
        lead_id=lead.id,
        contact_id=lead.contact_id,
        assignee_id=lead.assignee_id or who.user_id,
        kind=plan.kind,
        direction="outbound",
        status="planned",
        subject=plan.subject,
        is_first_contact=False,
        due_at=plan.due_at,
        created_at=now,
    )
    session.add(activity)
    _event(
        session,
        lead,
        "activity.scheduled",
        now,
        activity_id=str(activity.id),
        kind=plan.kind,
        subject=plan.subject,
        due_at=plan.due_at.isoformat(),
        assignee_id=activity.assignee_id,
    )
    return activity


def _start(lead: Lead, now: datetime) -> None:
    if lead.status == "new":
        lead.status = "in_progress"
    lead.updated_at = now


async def complete_activity(
    session: AsyncSession,
    who: Principal,
    activity_id: uuid.UUID,
    *,
    result: str,
    next_plan: Plan | None,
    now: datetime,
) -> tuple[uuid.UUID, uuid.UUID | None]:
    """Mark a planned activity done with its result; plan the next one if given.

    Returns (lead id, next activity id). A new lead moves to in progress."""
    row = (
        await session.execute(
            select(Activity, Lead)
            .join(Lead, Lead.id == Activity.lead_id)
            .where(Activity.id == activity_id, lead_scope(who))
        )
    ).first()
    if row is None:
        raise NotFound("There is no activity with this id.")
    activity, lead = row
    if activity.status != "planned":
        raise WorkConflict("This activity is done already.")
    if lead.status not in OPEN:
        raise WorkConflict(f"The lead is {lead.status}; restore it before working on it.")
    activity.status, activity.done_at, activity.result = "done", now, result
    _start(lead, now)
    _event(session, lead, "activity.done", now, activity_id=str(activity.id), by=who.user_id)
    planned = _plan(session, lead, who, next_plan, now) if next_plan else None
    await session.flush()
    return lead.id, planned.id if planned else None


async def change_status(
    session: AsyncSession, who: Principal, lead_id: uuid.UUID, status: str, now: datetime
) -> None:
    """Move an open lead between new and in progress."""
    lead = await _lead(session, who, lead_id)
    if lead.status not in OPEN:
        raise WorkConflict(f"The lead is {lead.status}; only new and in-progress leads move.")
    if lead.status != status:
        previous, lead.status, lead.updated_at = lead.status, status, now
        _event(session, lead, "lead.status_changed", now, previous=previous, by=who.user_id)
    await session.flush()


async def _lead_text(session: AsyncSession, lead: Lead, text_of: TextOf) -> str:
    payloads = await inquiry_payloads(session, lead.id)
    return "\n".join(t for p in payloads if (t := text_of(p))) or lead.title


async def junk(
    session: AsyncSession,
    who: Principal,
    lead_id: uuid.UUID,
    *,
    reason: str,
    text_of: TextOf,
    now: datetime,
) -> None:
    lead = await _lead(session, who, lead_id)
    if lead.status not in OPEN:
        raise WorkConflict(f"The lead is {lead.status}; only open leads can be marked junk.")
    lead.status, lead.junk_reason, lead.needs_review, lead.updated_at = "junk", reason, False, now
    session.add(_mark(lead, who, True, await _lead_text(session, lead, text_of), now))
    _event(session, lead, "lead.junked", now, reason=reason, by=who.user_id)
    await session.flush()


async def restore(
    session: AsyncSession,
    who: Principal,
    lead_id: uuid.UUID,
    *,
    text_of: TextOf,
    now: datetime,
    first_contact: FirstContact | None = None,
) -> str:
    """Take a lead out of junk: back to in progress if someone worked on it, else new.

    A lead that junk kept from ever having a first contact gets `first_contact`
    planned (unassigned when the lead is), so the SLA watcher assigns it and it
    reaches a queue instead of sitting restored and unseen.
    """
    lead = await _lead(session, who, lead_id)
    if lead.status != "junk":
        raise WorkConflict(f"The lead is {lead.status}, not junk.")
    worked = await session.scalar(
        select(func.count())
        .select_from(Activity)
        .where(
            Activity.lead_id == lead.id,
            Activity.status == "done",
            Activity.direction != "inbound",
        )
    )
    lead.status = "in_progress" if worked else "new"
    lead.junk_reason, lead.needs_review, lead.updated_at = None, False, now
    session.add(_mark(lead, who, False, await _lead_text(session, lead, text_of), now))
    if first_contact is not None and not await has_first_contact(session, lead.id):
        plan_first_contact(session, lead, first_contact, now)
    _event(session, lead, "lead.restored", now, by=who.user_id)
    await session.flush()
    return lead.status


def _mark(lead: Lead, who: Principal, is_junk: bool, text: str, now: datetime) -> SpamMark:
    return SpamMark(
        id=uuid.uuid4(),
        lead_id=lead.id,
        user_id=who.user_id,
        is_junk=is_junk,
        text=text,
        created_at=now,
        learned_at=None,
    )


async def convert(
    session: AsyncSession, who: Principal, lead_id: uuid.UUID, spec: Conversion, now: datetime
) -> Converted:
    """Make a deal of the lead, with a contact and a company, reused or created."""
    lead = await _lead(session, who, lead_id)
    if lead.status not in OPEN:
        raise WorkConflict(f"The lead is {lead.status}; only open leads can be converted.")
    contact, reused_contact = await _contact_for(session, lead, spec, now)
    company, reused_company = await _company_for(session, spec, now)
    if contact is not None and company is not None and contact.company_id is None:
        contact.company_id = company.id
    deal = Deal(
        id=uuid.uuid4(),
        title=spec.title or lead.title,
        lead_id=lead.id,
        contact_id=contact.id if contact else None,
        company_id=company.id if company else None,
        owner_id=lead.assignee_id or who.user_id,
        stage="new",
        amount=spec.amount,
        created_at=now,
    )
    session.add(deal)
    lead.status, lead.updated_at = "converted", now
    _event(session, lead, "lead.converted", now, deal_id=str(deal.id), by=who.user_id)
    await session.flush()
    return Converted(
        deal.id,
        contact.id if contact else None,
        company.id if company else None,
        reused_contact,
        reused_company,
    )


async def _contact_for(
    session: AsyncSession, lead: Lead, spec: Conversion, now: datetime
) -> tuple[Contact | None, bool]:
    if spec.new_contact is not None:
        person = spec.new_contact
        contact = Contact(
            id=uuid.uuid4(),
            name=person.name,
            email=person.email,
            phone=person.phone,
            created_at=now,
        )
        session.add(contact)
        return contact, False
    wanted = spec.contact_id or lead.contact_id
    if wanted is None:
        return None, False
    found = await session.get(Contact, wanted)
    if found is None:
        raise WorkConflict("contact_id names no contact.")
    return found, True


async def _company_for(
    session: AsyncSession, spec: Conversion, now: datetime
) -> tuple[Company | None, bool]:
    if spec.company_id is not None:
        company = await session.get(Company, spec.company_id)
        if company is None:
            raise WorkConflict("company_id names no company.")
        return company, True
    if spec.company is None:
        return None, False
    name = spec.company.name
    domain = spec.company.domain.lower() if spec.company.domain else None
    match = Company.domain == domain if domain else func.lower(Company.name) == name.lower()
    existing = await session.scalar(select(Company).where(match).limit(1))
    if existing is not None:
        # A domain is one company, and the name the manager typed for it wins: the
        # pipeline may have named it after the address ("acme.ru") or a form field.
        if existing.name != name:
            existing.name = name
        return existing, True
    company = Company(id=uuid.uuid4(), name=name, domain=domain, created_at=now)
    session.add(company)
    return company, False


async def search_companies(
    session: AsyncSession, who: Principal, q: str, limit: int = 20
) -> list[CompanyView]:
    """Companies matching `q` among those `who` may see: an admin, all; others, the
    companies of the contacts and deals of the leads in their scope."""
    pattern = f"%{q.strip().lower()}%"
    query = select(Company).where(
        or_(func.lower(Company.name).like(pattern), Company.domain.like(pattern))
    )
    if who.role != "admin":
        via_contacts = (
            select(Contact.company_id)
            .join(Lead, Lead.contact_id == Contact.id)
            .where(lead_scope(who), Contact.company_id.is_not(None))
        )
        via_deals = (
            select(Deal.company_id)
            .join(Lead, Lead.id == Deal.lead_id)
            .where(lead_scope(who), Deal.company_id.is_not(None))
        )
        query = query.where(or_(Company.id.in_(via_contacts), Company.id.in_(via_deals)))
    rows = await session.scalars(query.order_by(Company.name).limit(limit))
    return [CompanyView(id=c.id, name=c.name, domain=c.domain) for c in rows]


async def reply_route(
    session: AsyncSession, who: Principal, lead_id: uuid.UUID
) -> tuple[uuid.UUID, ReplyTarget | None]:
    """(lead id, where a reply goes) for a lead in scope."""
    lead = await _lead(session, who, lead_id)
    if lead.status == "junk":
        raise WorkConflict("The lead is junk; restore it before replying.")
    contact = await session.get(Contact, lead.contact_id) if lead.contact_id else None
    payloads = await inquiry_payloads(session, lead.id)
    return lead.id, reply_target(contact.email if contact else None, payloads)


async def record_reply(
    session: AsyncSession,
    who: Principal,
    lead_id: uuid.UUID,
    *,
    message: dict[str, Any],
    now: datetime,
) -> None:
    """Queue a reply (an `OutboundMessage` as JSON) for the outbox and log it.

    The outbox publisher sends unpublished `outbound_record` rows to Kafka. The
    reply is a done outbound activity, and it completes an open first contact."""
    lead = await _lead(session, who, lead_id)
    channel = str(message["channel"])
    session.add(
        OutboundRecord(
            id=uuid.UUID(str(message["id"])),
            channel=channel,
            purpose="reply",
            recipient=str(message["to"]),
            lead_id=lead.id,
            payload=message,
            created_at=now,
            published_at=None,
        )
    )
    own_id = (message.get("headers") or {}).get("Message-ID")
    if own_id:
        session.add(
            MessageRef(message_id=own_id, lead_id=lead.id, direction="outbound", created_at=now)
        )
    text = str(message.get("text") or "")
    session.add(
        Activity(
            id=uuid.uuid4(),
            lead_id=lead.id,
            contact_id=lead.contact_id,
            assignee_id=who.user_id,
            kind="email" if channel == "email" else "message",
            direction="outbound",
            status="done",
            subject=f"Reply by {channel}",
            is_first_contact=False,
            done_at=now,
            result=text[:2000],
            created_at=now,
        )
    )
    await _close_first_contact(session, lead.id, f"replied by {channel}", now)
    _start(lead, now)
    _event(session, lead, "lead.replied", now, channel=channel, by=who.user_id)
    await session.flush()


async def _close_first_contact(
    session: AsyncSession, lead_id: uuid.UUID, result: str, now: datetime
) -> None:
    open_first = await session.scalars(
        select(Activity).where(
            Activity.lead_id == lead_id,
            Activity.is_first_contact.is_(True),
            Activity.status == "planned",
        )
    )
    for activity in open_first:
        activity.status, activity.done_at, activity.result = "done", now, result
