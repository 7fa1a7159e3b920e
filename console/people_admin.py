"""The admin's people and routing tools beyond plain CRUD: a password reset that ends
the user's sessions (typed by the admin, or generated and shown once), and the
routing dry run, which shows where an inquiry would go and why.

The dry run builds an `Inquiry` from what the admin typed and asks
`ingest.dry_run.preview`, the consumer's own snapshot and decision code, inside a
session that is rolled back: nothing is written, no rotation cursor moves. Imports
`crm_store`, `ingest` and `console` helpers only.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from console import display
from console.admin import AbsenceItems
from console.field_sentences import Sentence
from console.http import (
    ApiError,
    Call,
    Endpoint,
    collect,
    field_errors,
    invalid,
    reader_gettext,
    route,
)
from console.passwords import generate_password, hash_password
from console.reason_text import reason_text
from console.schemas import (
    FIRST_DAY,
    LAST_DAY,
    Channel,
    Email,
    OptPhone,
    OptText100,
    OptText200,
    Password,
    Strict,
)
from crm_store import people, sessions
from crm_store.database import Database
from ingest.contract import Inquiry, InvalidIdentity, normalize_phone
from ingest.contract.i18n import N_, Catalogs
from ingest.decisions import Policy
from ingest.dry_run import preview


class PasswordResetBody(Strict):
    password: Password | None = Field(
        default=None, description="The new password; omit or null to have one generated."
    )


class PasswordReset(BaseModel):
    password: str | None = Field(
        description="The generated password, shown this once; null when the admin typed it."
    )
    sessions_ended: bool = True


class DryRunBody(Strict):
    channel: Channel = "web_form"
    subject: OptText200 = None
    text: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    name: OptText200 = None
    email: Email | None = None
    phone: OptPhone = None
    company: OptText200 = None
    form: OptText100 = None
    connector: OptText100 = None
    utm_source: OptText200 = None
    utm_campaign: OptText200 = None
    at: AwareDatetime | None = Field(
        default=None,
        description="Decide as of this moment (working hours); default now. Years 2000-2199.",
    )

    @model_validator(mode="after")
    def _bounded(self) -> DryRunBody:
        # Working-time sums run days ahead of `at`: keep it far from datetime's limits.
        if self.at is not None and not FIRST_DAY <= self.at.astimezone(UTC).date() <= LAST_DAY:
            raise ValueError("at must be in the years 2000-2199")
        return self


class DryRunReason(BaseModel):
    code: str
    params: dict[str, Any]
    text: str | None = Field(description="The reason in the caller's language; null: unknown code.")


class DryRunResult(BaseModel):
    outcome: str = Field(
        description="new_lead, junk_lead, appended, logged, recorded_only or telegram_link."
    )
    assignee_id: int | None
    assignee_name: str | None
    team: str | None
    reasons: dict[str, str] = Field(description="The pipeline's sentences by step.")
    at: datetime
    details: dict[str, DryRunReason] = Field(
        default_factory=dict,
        description="The reasons by step as codes and parameters, with `text` in the "
        "caller's language and time zone (steps without a code are only in `reasons`).",
    )
    deadline_at: datetime | None = Field(
        default=None, description="When the first contact would be due (UTC)."
    )


class PeopleAdminEndpoints:
    def __init__(
        self,
        db: Database,
        *,
        sla_defaults: Mapping[str, int] | None = None,
        default_team: str | None = None,
        default_region: str = "RU",
        catalogs: Catalogs | None = None,
    ) -> None:
        self._db = db
        self._catalogs = catalogs
        self._policy = Policy(sla_minutes=dict(sla_defaults)) if sla_defaults else Policy()
        self._default_team = default_team
        self._region = default_region

    def endpoints(self) -> list[Endpoint]:
        return collect(self, tag="admin", access="admin")

    @route(
        "POST",
        "/api/v1/admin/users/{user_id}/password",
        "Reset a user's password; their sessions end",
        body=PasswordResetBody,
        response=PasswordReset,
    )
    async def reset_password(self, call: Call) -> PasswordReset:
        typed = call.body_as(PasswordResetBody).password
        user_id = call.path_int("user_id")
        clear = typed or generate_password()
        hashed = await asyncio.to_thread(hash_password, clear)
        async with self._db.sessions() as session, session.begin():
            await people.update_user(session, user_id, values={}, password_hash=hashed)
            await sessions.close_user_sessions(session, user_id)
        return PasswordReset(password=None if typed else clear)

    @route(
        "GET",
        "/api/v1/admin/users/{user_id}/absences",
        "One user's absences",
        response=AbsenceItems,
    )
    async def user_absences(self, call: Call) -> AbsenceItems:
        user_id = call.path_int("user_id")
        async with self._db.sessions() as session:
            await people.get_user(session, user_id)
            return AbsenceItems(items=await people.list_absences(session, user_id))

    @route(
        "POST",
        "/api/v1/admin/rules/dry-run",
        "Where an inquiry would go, and why (nothing is written)",
        body=DryRunBody,
        response=DryRunResult,
    )
    async def dry_run(self, call: Call) -> DryRunResult:
        body = call.body_as(DryRunBody)
        at = body.at or call.now
        inquiry = self._inquiry(body, at)
        async with self._db.sessions() as session:
            try:
                outcome = await preview(
                    session, inquiry, at, policy=self._policy, default_team=self._default_team
                )
            finally:
                await session.rollback()
        gettext = reader_gettext(call.request, call.auth, self._catalogs)
        language = self._language(call)
        where = display.zone(call.who.timezone)
        details = {
            step: DryRunReason(
                code=reason.code,
                params=dict(reason.params),
                text=reason_text(reason, gettext, language, where, at),
            )
            for step, reason in outcome.details.items()
        }
        due = outcome.details.get("deadline")
        return DryRunResult(
            outcome=outcome.kind,
            assignee_id=outcome.assignee_id,
            assignee_name=outcome.assignee_name,
            team=outcome.team,
            reasons=dict(outcome.reasons),
            at=at,
            details=details,
            deadline_at=datetime.fromisoformat(str(due.params["due_at"])) if due else None,
        )

    def _language(self, call: Call) -> str:
        if self._catalogs is None:
            return "en"
        accept = call.request.headers.get("Accept-Language")
        return self._catalogs.match(call.who.language, accept) or "en"

    def _inquiry(self, body: DryRunBody, at: datetime) -> Inquiry:
        phone = body.phone or None
        if phone:
            try:
                phone = normalize_phone(phone, self._region)
            except InvalidIdentity:
                not_phone = N_(
                    "Not a phone number: write it with the country code, e.g. +7 912 345-67-89."
                )
                raise invalid({"phone": Sentence(not_phone)}) from None
        if not (body.email or phone or body.name):
            raise ApiError(422, N_("Give at least an email, a phone or a name."))
        try:
            return Inquiry.model_validate(
                {
                    "idempotency_key": f"dry-run:{uuid.uuid4()}",
                    "channel": body.channel,
                    "received_at": at,
                    "sender": {
                        "name": body.name,
                        "email": body.email or None,
                        "phone": phone,
                        "company": body.company,
                    },
                    "subject": body.subject,
                    "text": body.text or None,
                    "source": {"utm_source": body.utm_source, "utm_campaign": body.utm_campaign},
                    "routing": {"form": body.form, "connector": body.connector},
                }
            )
        except ValidationError as exc:
            raise invalid(field_errors(exc)) from None
