"""The manager's API: the queue and counters, the lead card, and the work on a lead.

Complete an activity and plan the next, change status, junk and restore (feeding
the spam classifier through `spam_mark`), convert to a deal, reply in the lead's
channel (an `OutboundMessage` in the outbox), and create a lead by hand: an
`Inquiry` on channel `manual`, published to Kafka so dedup and routing apply as for
any channel. Every query is scoped by the caller (`crm_store.scope`). Imports
`crm_store`, `ingest.contract` and `ingest.spam` (for the text the classifier
learns from); never a connector.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from console.field_sentences import Sentence
from console.http import ApiError, Call, Endpoint, Reply, collect, field_errors, invalid, route
from console.schemas import (
    Accepted,
    CompanyQuery,
    CompleteBody,
    Completed,
    ConvertBody,
    ConvertedView,
    JunkBody,
    ListQuery,
    LiveQuery,
    ManualLeadBody,
    NotDuplicateBody,
    NotDuplicateView,
    QueueQuery,
    ReplyBody,
    ReplyQueued,
    StatusBody,
    StatusView,
)
from crm_store import card, configuration, intake, leads, queue, review, work
from crm_store.card import CompanyView, LeadCard
from crm_store.database import Database
from crm_store.leads import LeadPage, LeadView
from crm_store.models import AppUser, Contact, Lead
from crm_store.queue import Counters, CountersView, QueueItem, QueuePage
from ingest.contract import (
    Channel,
    Inquiry,
    InvalidIdentity,
    OutboundMessage,
    Routing,
    Sender,
    new_inquiry_id,
    normalize_email,
    normalize_phone,
)
from ingest.contract.i18n import N_
from ingest.decision_parts import manual_ids
from ingest.decisions import DEFAULT_SLA_MINUTES
from ingest.pipeline import FIRST_CONTACT
from ingest.spam import inquiry_text

log = logging.getLogger(__name__)

Publish = Callable[[Inquiry], Awaitable[None]]
REPLY_DOMAIN = "leadflow.invalid"


class CompanyList(BaseModel):
    items: list[CompanyView]


class LiveView(BaseModel):
    version: str
    counters: Counters
    by_user: list[queue.UserCounters]
    latest: list[QueueItem]


def text_of(payload: dict[str, Any]) -> str:
    """The words a person typed in one stored inquiry (what the classifier learns)."""
    try:
        return inquiry_text(Inquiry.model_validate(payload))
    except ValueError:
        return str(payload.get("text") or "")


def _lead_id(call: Call) -> uuid.UUID:
    try:
        return uuid.UUID(call.request.match_info["lead_id"])
    except ValueError:
        raise ApiError(404, N_("There is no lead with this id.")) from None


class ManagerEndpoints:
    def __init__(
        self, db: Database, publish: Publish | None = None, *, default_region: str = "RU"
    ) -> None:
        self._db = db
        self._publish = publish
        self._region = default_region

    def endpoints(self) -> list[Endpoint]:
        return collect(self, tag="leads")

    @route("GET", "/api/v1/leads", "Leads, newest first", query=ListQuery, response=LeadPage)
    async def list_leads(self, call: Call) -> LeadPage:
        q = call.query_as(ListQuery)
        async with self._db.sessions() as session:
            return await leads.list_leads(
                session,
                call.who,
                status=q.status,
                assignee_id=q.assignee_id,
                contact_email=q.contact_email,
                needs_review=q.needs_review,
                channel=q.channel,
                limit=q.limit,
                offset=q.offset,
            )

    @route("GET", "/api/v1/leads/{lead_id}", "One lead", response=LeadView)
    async def get_lead(self, call: Call) -> LeadView:
        async with self._db.sessions() as session:
            view = await leads.get_lead(session, call.who, _lead_id(call))
        if view is None:
            raise ApiError(404, N_("There is no lead with this id."))
        return view

    @route(
        "GET",
        "/api/v1/leads/{lead_id}/card",
        "The lead card: contact, inquiries, activities, assignment",
        response=LeadCard,
    )
    async def lead_card(self, call: Call) -> LeadCard:
        async with self._db.sessions() as session:
            view = await card.lead_card(session, call.who, _lead_id(call))
        if view is None:
            raise ApiError(404, N_("There is no lead with this id."))
        return view

    @route(
        "GET",
        "/api/v1/queue",
        "My queue: open leads with filters, sort, pagination",
        query=QueueQuery,
        response=QueuePage,
        tag="queue",
    )
    async def queue(self, call: Call) -> QueuePage:
        q = call.query_as(QueueQuery)
        async with self._db.sessions() as session:
            return await queue.queue(
                session,
                call.who,
                now=call.now,
                statuses=q.status.split(","),
                channel=q.channel,
                overdue=q.overdue,
                assignee_id=q.assignee_id,
                sort=q.sort,
                limit=q.limit,
                offset=q.offset,
            )

    @route(
        "GET",
        "/api/v1/counters",
        "My counters (a head: the team's, per manager)",
        response=CountersView,
        tag="queue",
    )
    async def counters(self, call: Call) -> CountersView:
        async with self._db.sessions() as session:
            return await queue.counters(session, call.who, call.now)

    @route(
        "GET",
        "/api/v1/live",
        "Counters and newest leads, for polling pages",
        query=LiveQuery,
        response=LiveView,
        tag="queue",
    )
    async def live(self, call: Call) -> LiveView:
        limit = call.query_as(LiveQuery).limit
        async with self._db.sessions() as session:
            counts = await queue.counters(session, call.who, call.now)
            page = await queue.queue(
                session, call.who, now=call.now, sort="-created_at", limit=limit
            )
        basis = counts.model_dump_json() + "".join(
            f"{i.id}{i.status}{i.overdue}{i.untouched}" for i in page.items
        )
        version = hashlib.sha256(basis.encode()).hexdigest()[:16]
        return LiveView(
            version=version, counters=counts.total, by_user=counts.by_user, latest=page.items
        )

    @route(
        "POST",
        "/api/v1/activities/{activity_id}/complete",
        "Complete an activity with its result; plan the next",
        body=CompleteBody,
        response=Completed,
    )
    async def complete(self, call: Call) -> Completed:
        body = call.body_as(CompleteBody)
        try:
            activity_id = uuid.UUID(call.request.match_info["activity_id"])
        except ValueError:
            raise ApiError(404, N_("There is no activity with this id.")) from None
        plan = work.Plan(body.next.kind, body.next.subject, body.next.due_at) if body.next else None
        async with self._db.sessions() as session, session.begin():
            lead_id, next_id = await work.complete_activity(
                session, call.who, activity_id, result=body.result, next_plan=plan, now=call.now
            )
        return Completed(lead_id=lead_id, next_activity_id=next_id)

    @route(
        "POST",
        "/api/v1/contacts/not-duplicate",
        "Mark two contacts as different people (kept org-wide; stops conflict notes)",
        body=NotDuplicateBody,
        response=NotDuplicateView,
    )
    async def not_duplicate(self, call: Call) -> NotDuplicateView:
        body = call.body_as(NotDuplicateBody)
        if body.contact_a == body.contact_b:
            raise ApiError(422, "A contact is always a duplicate of itself: give two contacts.")
        async with self._db.sessions() as session, session.begin():
            found = set(
                await session.scalars(
                    select(Contact.id).where(Contact.id.in_([body.contact_a, body.contact_b]))
                )
            )
            if len(found) != 2:
                raise ApiError(404, "There is no contact with one of these ids.")
            created = await intake.mark_not_duplicate(
                session, body.contact_a, body.contact_b, call.who.user_id, call.now
            )
        return NotDuplicateView(contact_a=body.contact_a, contact_b=body.contact_b, created=created)

    @route(
        "POST",
        "/api/v1/leads/{lead_id}/status",
        "Move an open lead between new and in progress",
        body=StatusBody,
        response=StatusView,
    )
    async def change_status(self, call: Call) -> StatusView:
        status = call.body_as(StatusBody).status
        async with self._db.sessions() as session, session.begin():
            await work.change_status(session, call.who, _lead_id(call), status, call.now)
        return StatusView(id=_lead_id(call), status=status)

    @route(
        "POST",
        "/api/v1/leads/{lead_id}/junk",
        "Mark junk with a reason (teaches the spam filter)",
        body=JunkBody,
        response=StatusView,
    )
    async def junk(self, call: Call) -> StatusView:
        reason = call.body_as(JunkBody).reason
        async with self._db.sessions() as session, session.begin():
            await work.junk(
                session, call.who, _lead_id(call), reason=reason, text_of=text_of, now=call.now
            )
        return StatusView(id=_lead_id(call), status="junk")

    @route(
        "POST", "/api/v1/leads/{lead_id}/restore", "Take a lead out of junk", response=StatusView
    )
    async def restore(self, call: Call) -> StatusView:
        async with self._db.sessions() as session, session.begin():
            lead = await session.get(Lead, _lead_id(call))
            plan = await first_contact_plan(session, lead.channel if lead else "", call.now)
            status = await work.restore(
                session, call.who, _lead_id(call), text_of=text_of, now=call.now, first_contact=plan
            )
        return StatusView(id=_lead_id(call), status=status)

    @route(
        "POST",
        "/api/v1/leads/{lead_id}/convert",
        "Convert to a deal with a contact and a company",
        body=ConvertBody,
        response=ConvertedView,
        status=201,
    )
    async def convert(self, call: Call) -> Reply:
        body = call.body_as(ConvertBody)
        person = body.new_contact
        spec = work.Conversion(
            title=body.title,
            amount=body.amount,
            contact_id=body.contact_id,
            new_contact=work.NewPerson(person.name, person.email, person.phone) if person else None,
            company_id=body.company_id,
            company=work.NewCompany(body.company.name, body.company.domain)
            if body.company
            else None,
        )
        async with self._db.sessions() as session, session.begin():
            done = await work.convert(session, call.who, _lead_id(call), spec, call.now)
        view = ConvertedView(
            deal_id=done.deal_id,
            contact_id=done.contact_id,
            company_id=done.company_id,
            reused_contact=done.reused_contact,
            reused_company=done.reused_company,
        )
        return Reply(view, status=201)

    @route(
        "POST",
        "/api/v1/leads/{lead_id}/reply",
        "Reply to the customer in the lead's channel",
        body=ReplyBody,
        response=ReplyQueued,
        status=202,
    )
    async def reply(self, call: Call) -> Reply:
        body = call.body_as(ReplyBody)
        async with self._db.sessions() as session, session.begin():
            lead_id, target = await work.reply_route(session, call.who, _lead_id(call))
            if target is None or target.channel not in ("email", "telegram", "whatsapp"):
                raise ApiError(
                    409,
                    N_(
                        "This lead's channel cannot be answered from LeadFlow (no email "
                        "address, chat or WhatsApp number is known): call the customer instead."
                    ),
                )
            message = _reply_message(lead_id, target, body, call)
            await work.record_reply(
                session, call.who, lead_id, message=message.model_dump(mode="json"), now=call.now
            )
        return Reply(
            ReplyQueued(message_id=message.id, channel=message.channel, to=message.to), status=202
        )

    @route(
        "POST",
        "/api/v1/leads",
        "Create a lead by hand (channel manual, through Kafka)",
        body=ManualLeadBody,
        response=Accepted,
        status=202,
    )
    async def create_lead(self, call: Call) -> Reply:
        body = call.body_as(ManualLeadBody)
        owner = await self._owner_of(body, call)
        inquiry = self._manual_inquiry(body, call, owner)
        await publish_or_503(self._publish, inquiry, "a manual inquiry")
        return Reply(Accepted(inquiry_id=inquiry.id), status=202)

    async def _owner_of(self, body: ManualLeadBody, call: Call) -> tuple[int, str] | None:
        """Who a hand-made lead goes to: the chosen person, else its creator, except
        that an admin's lead without a choice is routed like any other."""
        if body.assignee_id is None:
            if call.who.role == "admin":
                return None
            return call.who.user_id, call.who.name
        async with self._db.sessions() as session:
            user = await session.get(AppUser, body.assignee_id)
        if user is None or not user.active or user.role == "admin":
            nobody = Sentence(N_("There is no active manager or head with this id."))
            raise invalid({"assignee_id": nobody})
        return user.id, user.name

    def _manual_inquiry(
        self, body: ManualLeadBody, call: Call, owner: tuple[int, str] | None
    ) -> Inquiry:
        errors: dict[str, str] = {}
        email = phone = None
        try:
            email = normalize_email(body.email) if body.email else None
        except InvalidIdentity as exc:
            errors["email"] = str(exc)
        try:
            phone = normalize_phone(body.phone, self._region) if body.phone else None
        except InvalidIdentity as exc:
            errors["phone"] = str(exc)
        if not errors and not email and not phone:
            errors["email"] = Sentence(N_("Give an email address or a phone number."))
        if errors:
            raise invalid(errors)
        given_key = call.request.headers.get("Idempotency-Key", "").strip()[:200]
        inquiry_id = new_inquiry_id()
        key = f"manual:{call.who.user_id}:{given_key}" if given_key else f"manual:{inquiry_id}"
        try:
            return Inquiry(
                id=inquiry_id,
                idempotency_key=key,
                channel=Channel.MANUAL,
                received_at=call.now,
                sender=Sender(name=body.name, email=email, phone=phone, company=body.company),
                subject=body.subject,
                text=body.text,
                routing=Routing(team=body.team),
                channel_ids=manual_ids(call.who.user_id, owner),
            )
        except ValidationError as exc:
            # The body's bounds mirror the contract's; this catches any drift as a 422.
            raise invalid(field_errors(exc)) from None

    @route(
        "GET",
        "/api/v1/companies",
        "Find companies to reuse when converting",
        query=CompanyQuery,
        response=CompanyList,
    )
    async def companies(self, call: Call) -> CompanyList:
        q = call.query_as(CompanyQuery).q
        async with self._db.sessions() as session:
            return CompanyList(items=await work.search_companies(session, call.who, q))


def _reply_message(
    lead_id: uuid.UUID, target: card.ReplyTarget, body: ReplyBody, call: Call
) -> OutboundMessage:
    message_id = uuid.uuid4()
    headers: dict[str, str] = {}
    subject = None
    if target.channel == "email":
        headers["Message-ID"] = f"<reply-{message_id}@{REPLY_DOMAIN}>"
        if target.in_reply_to:
            headers["In-Reply-To"] = target.in_reply_to
            headers["References"] = target.in_reply_to
        base = target.subject or "your request"
        subject = body.subject or (base if base.lower().startswith("re:") else f"Re: {base}")
    return OutboundMessage(
        id=message_id,
        channel=target.channel,
        purpose="reply",
        connector=target.connector,
        to=target.to,
        subject=subject,
        text=body.text,
        headers=headers,
        lead_id=lead_id,
        created_at=call.now,
    )


async def first_contact_plan(
    session: AsyncSession, channel: str, now: datetime
) -> review.FirstContact:
    """The first contact a restored lead gets when junk kept it from ever having one:
    the channel's kind and subject, due after the channel's SLA minutes."""
    stored = (await configuration.rule_settings(session)).get("sla_minutes", {})
    minutes = int(stored.get(channel, DEFAULT_SLA_MINUTES.get(channel, 30)))
    kind, subject = FIRST_CONTACT.get(channel, ("call", "First contact"))
    return review.FirstContact(kind, subject, now + timedelta(minutes=minutes))


async def publish_or_503(publish: Publish | None, inquiry: Inquiry, what: str) -> None:
    """Publish with the broker's acknowledgement, or answer 503: nothing was recorded,
    so the caller may simply retry."""
    if publish is None:
        raise ApiError(503, N_("This console process has no broker to publish to."))
    try:
        await publish(inquiry)
    except Exception:  # any publish failure: nothing was recorded, the caller retries
        log.warning("could not publish %s", what, exc_info=True)
        raise ApiError(
            503,
            N_("The broker did not acknowledge the inquiry; nothing was recorded, retry."),
            headers={"Retry-After": "5"},
        ) from None
