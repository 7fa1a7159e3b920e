"""The API behind the leads table, the board and the lead card's history and contact.

`GET /api/v1/lead-table`: the leads in scope, filtered, sorted by a column, paged
(the table page and the board read the same store query, `crm_store.lead_table`).
`GET /api/v1/leads/{id}/history`: the lead's full history, newest first.
`PATCH /api/v1/leads/{id}/contact`: correct the contact's name, phone, email and
company name. `read_contact` is the pure part: it checks and normalizes what was
typed (E.164 phone in the deployment's region, normalized email) and says what is
wrong per field, in the reader's language, so a page shows it beside the field.
Imports `crm_store`, `console` helpers and `ingest.contract`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import Field, StringConstraints

from console.display import zone
from console.field_sentences import Sentence
from console.http import ApiError, Call, Endpoint, collect, reader_gettext, route
from console.schemas import FIRST_DAY, LAST_DAY, MAX_OFFSET, Channel, Id, Status, Strict, clean_line
from crm_store import contact_edit, lead_table
from crm_store.card import CardContact
from crm_store.database import Database
from crm_store.history import History, lead_history
from crm_store.lead_table import SORT_KEYS, LeadTablePage, TableFilter
from ingest.contract import InvalidIdentity, normalize_email, normalize_phone
from ingest.contract.i18n import N_, Catalogs

Gettext = Callable[[str], str]
MAX_NAME = 500
MAX_EMAIL = 320
Typed = Annotated[str, StringConstraints(max_length=2000)] | None
SortParam = Literal[
    "title", "contact", "phone", "channel", "status", "assignee", "created_at", "due", "amount",
    "-title", "-contact", "-phone", "-channel", "-status", "-assignee", "-created_at", "-due",
    "-amount",
]  # fmt: skip
assert {s.removeprefix("-") for s in SortParam.__args__} == set(SORT_KEYS)  # type: ignore[attr-defined]


class TableQuery(Strict):
    status: Status | None = None
    channel: Channel | None = None
    assignee_id: Id | None = None
    # Bounded like every other period: a bare number would otherwise read as a day of 1970.
    start: date | None = Field(
        default=None, alias="from", ge=FIRST_DAY, le=LAST_DAY, description="First day created."
    )
    end: date | None = Field(
        default=None, alias="to", ge=FIRST_DAY, le=LAST_DAY, description="Last day created."
    )
    sort: SortParam = "-created_at"
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class ContactBody(Strict):
    """Send the fields to change; an empty string or null clears one."""

    name: Typed = None
    phone: Typed = Field(default=None, description="Any format; stored in E.164.")
    email: Typed = None
    company: Typed = Field(default=None, description="The contact's company's name.")


def tel_href(phone: object, region: str = "RU") -> str:
    """`tel:` and the number in E.164 (what every phone dials), or empty when it is not
    a number: a link is never made of other text."""
    try:
        return "tel:" + normalize_phone(str(phone or ""), region)
    except InvalidIdentity:
        return ""


def mailto_href(email: object) -> str:
    """`mailto:` and the address (percent-encoded), or empty when it is not one."""
    try:
        return "mailto:" + quote(normalize_email(str(email or "")), safe="@.+-_")
    except InvalidIdentity:
        return ""


def day_bounds(
    start: date | None, end: date | None, where: tzinfo
) -> tuple[datetime | None, datetime | None]:
    """[first day's midnight, the day after the last) in the viewer's zone, as UTC."""

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=where).astimezone(UTC)

    return (
        midnight(start) if start else None,
        midnight(end + timedelta(days=1)) if end else None,
    )


def read_contact(
    body: ContactBody, region: str, gettext: Gettext
) -> tuple[contact_edit.ContactChanges, dict[str, str]]:
    """The changes to make, and what is wrong per field (translated); both at once,
    so a person sees every mistake the first time."""
    given = body.model_fields_set & set(contact_edit.FIELDS)
    errors: dict[str, str] = {}
    values: dict[str, str | None] = {}
    for name in given:
        raw = getattr(body, name)
        text = clean_line(raw) if raw else ""
        if not text:
            values[name] = None
        elif name in ("name", "company"):
            if len(text) > MAX_NAME:
                errors[name] = gettext(N_("At most %(n)s characters.")) % {"n": MAX_NAME}
            values[name] = text
        elif name == "phone":
            try:
                values[name] = normalize_phone(text, region)
            except InvalidIdentity:
                errors[name] = gettext(
                    N_("Not a phone number: write it with the country code, e.g. +7 912 345-67-89.")
                )
        else:
            try:
                values[name] = normalize_email(text)
                if len(values[name] or "") > MAX_EMAIL:
                    raise InvalidIdentity("too long")
            except InvalidIdentity:
                errors[name] = gettext(N_("Not an email address, e.g. name@example.com."))
    changes = contact_edit.ContactChanges(given=frozenset(given), **values)
    return changes, errors


class LeadEndpoints:
    def __init__(
        self, db: Database, *, region: str = "RU", catalogs: Catalogs | None = None
    ) -> None:
        self._db = db
        self._region = region
        self._catalogs = catalogs

    def endpoints(self) -> list[Endpoint]:
        return collect(self, tag="leads")

    @route(
        "GET",
        "/api/v1/lead-table",
        "Leads in a table: filter by status, channel, assignee, days created; sort by a column",
        query=TableQuery,
        response=LeadTablePage,
    )
    async def table(self, call: Call) -> LeadTablePage:
        q = call.query_as(TableQuery)
        if q.start and q.end and q.start > q.end:
            reversed_ = N_("The period's first day (from) is after its last (to).")
            raise ApiError(422, reversed_, errors={"from": Sentence(reversed_)})
        start, before = day_bounds(q.start, q.end, zone(call.who.timezone))
        wanted = TableFilter(
            (q.status,) if q.status else (), q.channel, q.assignee_id, start, before
        )
        async with self._db.sessions() as session:
            return await lead_table.lead_table(
                session, call.who, wanted, sort=q.sort, limit=q.limit, offset=q.offset
            )

    @route(
        "GET",
        "/api/v1/leads/{lead_id}/history",
        "The lead's full history, newest first",
        response=History,
    )
    async def history(self, call: Call) -> History:
        async with self._db.sessions() as session:
            found = await lead_history(session, call.who, _lead_id(call))
        if found is None:
            raise ApiError(404, N_("There is no lead with this id."))
        return found

    @route(
        "PATCH",
        "/api/v1/leads/{lead_id}/contact",
        "Correct the lead's contact: name, phone, email, company name",
        body=ContactBody,
        response=CardContact,
    )
    async def edit_contact(self, call: Call) -> CardContact:
        gettext = reader_gettext(call.request, call.auth, self._catalogs)
        changes, errors = read_contact(call.body_as(ContactBody), self._region, gettext)
        if errors:
            raise ApiError(
                422, N_("Some fields are not valid: see beside each of them."), errors=errors
            )
        try:
            async with self._db.sessions() as session, session.begin():
                return await contact_edit.edit_contact(
                    session, call.who, _lead_id(call), changes, call.now
                )
        except contact_edit.IdentityTaken as exc:
            taken = gettext(N_("Another contact already has this; nothing was changed."))
            raise ApiError(
                409,
                N_("Another contact already has this phone or email; nothing was changed."),
                errors=dict.fromkeys(exc.fields, taken),
            ) from None


def _lead_id(call: Call) -> uuid.UUID:
    try:
        return uuid.UUID(call.request.match_info["lead_id"])
    except ValueError:
        raise ApiError(404, N_("There is no lead with this id.")) from None
