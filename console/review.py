"""The review API: what was captured but did not become a new lead, and "this is a
real inquiry" for heads and admins.

`GET /api/v1/review` lists the records `crm_store.review` finds, with filters and
search. `POST /api/v1/review/{inquiry_id}/lead` makes one of them a lead:

- a junk lead is restored (a not-junk spam mark); a lead that junk kept from ever
  being assigned gets its first contact planned, and the SLA watcher assigns it from
  the queue by its team's rotation, as any queued lead;
- anything else (an auto-reply, a loop-guard stop, a repeat appended to an open lead
  ...) is republished to Kafka as a new `Inquiry` carrying `review`, which the
  pipeline makes a new lead whatever the repeat, loop-guard and spam rules say,
  routed, assigned and given its first-contact deadline as any lead, with a
  not-junk spam mark in the same transaction.

Both are idempotent: the republished inquiry's id and idempotency key derive from
the record's id, so a second click publishes the same inquiry, which the consumer
drops, and the record notes the first click. Imports `crm_store`, `ingest.contract`
and `ingest.row_ids` (the ids it shares; the first-contact kinds come through
`console.manager`); never a connector.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from console.field_sentences import Sentence
from console.http import ApiError, Call, Endpoint, collect, route
from console.manager import Publish, first_contact_plan, publish_or_503, text_of
from console.schemas import FIRST_DAY, LAST_DAY, MAX_OFFSET, Channel, Line, Strict
from crm_store import review
from crm_store.database import Database
from crm_store.review import Kind, ReviewFilter, ReviewPage
from ingest.contract import Inquiry, Review
from ingest.contract.i18n import N_
from ingest.row_ids import derived_id, row_id

log = logging.getLogger(__name__)

Search = Annotated[str, StringConstraints(max_length=200), Line]


class ReviewQuery(Strict):
    kind: Kind | None = Field(default=None, description="Only this kind of reason.")
    channel: Channel | None = None
    start: date | None = Field(
        default=None, alias="from", ge=FIRST_DAY, le=LAST_DAY, description="First day (UTC)."
    )
    end: date | None = Field(
        default=None, alias="to", ge=FIRST_DAY, le=LAST_DAY, description="Last day, included (UTC)."
    )
    q: Search | None = Field(
        default=None, description="Words in the text or subject, or the sender's name, email "
        "or phone.",
    )  # fmt: skip
    state: Literal["open", "reviewed", "all"] = Field(
        default="open", description="open: not made a lead yet; reviewed: made a lead."
    )
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MadeLead(BaseModel):
    inquiry_id: uuid.UUID = Field(description="The reviewed record.")
    kind: Kind
    lead_id: uuid.UUID = Field(description="The lead it is (or, once processed, will be).")
    result: Literal["restored", "accepted", "already"] = Field(
        description="restored: the junk lead is open again; accepted: republished, the "
        "lead appears in a moment; already: someone made it a lead before."
    )


def _day(value: date) -> datetime:
    return datetime.combine(value, time(0), tzinfo=UTC)


def review_filter(q: ReviewQuery) -> ReviewFilter:
    if q.start and q.end and q.start > q.end:
        reversed_ = N_("The period's first day (from) is after its last (to).")
        raise ApiError(422, reversed_, errors={"from": Sentence(reversed_)})
    return ReviewFilter(
        kind=q.kind,
        channel=q.channel,
        since=_day(q.start) if q.start else None,
        until=_day(q.end + timedelta(days=1)) if q.end else None,
        search=q.q or None,
        state=q.state,
    )


def republished(record: review.Reviewable, by_user: int) -> Inquiry:
    """The recorded inquiry again, as a real one: same sender, text and time; its id
    and idempotency key derive from the record, so republishing twice is one lead."""
    try:
        original = Inquiry.model_validate(record.payload)
    except ValidationError:
        raise ApiError(
            409, "The stored inquiry can no longer be read, so no lead can be made of it."
        ) from None
    return original.model_copy(
        update={
            "id": derived_id(record.id, "review"),
            "idempotency_key": f"review:{record.id}",
            "not_a_lead": None,
            "review": Review(of_inquiry=record.id, by_user=by_user),
        }
    )


class ReviewEndpoints:
    def __init__(self, db: Database, publish: Publish | None = None) -> None:
        self._db = db
        self._publish = publish

    def endpoints(self) -> list[Endpoint]:
        return collect(self, tag="review", access="head")

    @route(
        "GET",
        "/api/v1/review",
        "What was captured but not made a new lead, with its reason (heads and admins)",
        query=ReviewQuery,
        response=ReviewPage,
    )
    async def list_review(self, call: Call) -> ReviewPage:
        q = call.query_as(ReviewQuery)
        async with self._db.sessions() as session:
            return await review.list_review(
                session, call.who, review_filter(q), limit=q.limit, offset=q.offset
            )

    @route(
        "POST",
        "/api/v1/review/{inquiry_id}/lead",
        "This is a real inquiry: make it a lead (teaches the spam filter not-junk)",
        response=MadeLead,
    )
    async def make_lead(self, call: Call) -> MadeLead:
        record_id = _record_id(call)
        async with self._db.sessions() as session:
            record = await review.reviewable(session, call.who, record_id)
        if record is None:
            raise ApiError(404, "There is no such record to review.")
        if record.kind == "junk":
            return await self._restore(call, record)
        if record.review_inquiry_id is not None:
            # Stored already (by whichever version made its ids), or still on its way.
            lead_id = record.made_lead_id or row_id(record.review_inquiry_id, "lead")
            return MadeLead(
                inquiry_id=record.id, kind=record.kind, lead_id=lead_id, result="already"
            )
        inquiry = republished(record, call.who.user_id)
        await self._send(inquiry)
        async with self._db.sessions() as session, session.begin():
            await review.mark_reviewed(session, record.id, call.who, inquiry.id, call.now)
        return MadeLead(
            inquiry_id=record.id,
            kind=record.kind,
            lead_id=row_id(inquiry.id, "lead"),
            result="accepted",
        )

    async def _send(self, inquiry: Inquiry) -> None:
        await publish_or_503(self._publish, inquiry, "a reviewed inquiry")

    async def _restore(self, call: Call, record: review.Reviewable) -> MadeLead:
        assert record.lead_id is not None
        channel = str(record.payload.get("channel") or "")
        async with self._db.sessions() as session, session.begin():
            plan = await first_contact_plan(session, channel, call.now)
            restored = await review.restore_junk(
                session,
                call.who,
                record.lead_id,
                text=text_of(record.payload),
                first_contact=plan,
                now=call.now,
            )
            await review.mark_reviewed(session, record.id, call.who, None, call.now)
        return MadeLead(
            inquiry_id=record.id,
            kind=record.kind,
            lead_id=record.lead_id,
            result="restored" if restored else "already",
        )


def _record_id(call: Call) -> uuid.UUID:
    try:
        return uuid.UUID(call.request.match_info["inquiry_id"])
    except ValueError:
        raise ApiError(404, "There is no such record to review.") from None
