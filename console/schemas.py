"""The console API's request and response models (pydantic), also its OpenAPI schemas.

Queries and bodies forbid unknown keys, so a typo is a 422 naming the field instead
of being ignored. Views that the store returns (`crm_store.*View`) are reused as
response models. Imports `crm_store` views and nothing that does I/O.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from crm_store.people import TokenView, UserView
from ingest.contract import InvalidIdentity, normalize_email
from ingest.contract.i18n import N_, MessageError
from ingest.hours import check_hours, check_timezone, full_week, known_timezones

# Bounds of every integer the API takes, declared in the OpenAPI document: ids are
# positive 32-bit (the store's INTEGER), offsets and counts are capped so that no
# value can overflow a database integer.
MAX_ID = 2**31 - 1
MAX_OFFSET = 1_000_000
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2199, 12, 31)

# C0 controls (and DEL) are never part of what a person means: one-line text loses
# them all, multi-line text keeps tab and line breaks. NUL would fail on PostgreSQL.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_CONTROLS_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_line(value: str) -> str:
    return _CONTROLS.sub("", value).strip()


def clean_block(value: str) -> str:
    return _CONTROLS_BUT_LINES.sub("", value).strip()


def _required(value: str) -> str:
    if not value:
        raise ValueError(N_("This must not be empty or blank."))
    return value


def _email(value: str) -> str:
    try:
        return normalize_email(value)
    except InvalidIdentity as exc:
        raise ValueError(N_("This is not a valid email address.")) from exc


def _at_most(limit: int) -> AfterValidator:
    """After a transformation that may lengthen text (lower-casing), check it again."""

    def check(value: str) -> str:
        if len(value) > limit:
            raise MessageError(N_("Use at most %(limit)d characters."), limit=limit)
        return value

    return AfterValidator(check)


Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]

# One-line text, required (1..N characters once cleaned), by the column it fills.
Line = AfterValidator(clean_line)
NonEmpty = AfterValidator(_required)
# Declared in the schema too: at least one character that is neither blank nor control.
SEEN = r"[^\s\x00-\x1f\x7f]"
Text = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=SEEN), Line, NonEmpty]
Text300 = Annotated[
    str, StringConstraints(min_length=1, max_length=300, pattern=SEEN), Line, NonEmpty
]
Text200 = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=SEEN), Line, NonEmpty
]
LongText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=10_000, pattern=SEEN),
    AfterValidator(clean_block),
    NonEmpty,
]
# Optional one-line text: null, or up to N characters once cleaned.
OptText = Annotated[str, StringConstraints(max_length=500), Line] | None
OptText300 = Annotated[str, StringConstraints(max_length=300), Line] | None
OptText200 = Annotated[str, StringConstraints(max_length=200), Line] | None
OptText100 = Annotated[str, StringConstraints(max_length=100), Line] | None
OptPhone = Annotated[str, StringConstraints(max_length=32), Line] | None


def _zone_enum(schema: dict[str, Any]) -> None:
    schema["enum"] = known_timezones()


TimeZone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(check_timezone),
    Field(json_schema_extra=_zone_enum),
]
HourSpan = tuple[
    Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}$")],
    Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}$")],
]
WorkingHours = Annotated[
    dict[
        Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        Annotated[list[HourSpan], Field(max_length=24)],
    ],
    AfterValidator(check_hours),
    AfterValidator(full_week),
    Field(
        description="Per weekday, [start, end] spans as HH:MM within 00:00-24:00; a day "
        "missing or [] is a day off ({} is never working; null, always)."
    ),
]
Password = Annotated[str, StringConstraints(min_length=10, max_length=200)]
Status = Literal["new", "in_progress", "converted", "junk"]
Role = Literal["admin", "head", "manager"]
# The languages the console has catalogs for (`ingest.contract.i18n.LANGUAGES`).
Language = Literal["en", "ru"]
ActivityKind = Literal["call", "email", "message", "meeting", "task"]
Channel = Literal["web_form", "email", "telegram", "whatsapp", "phone", "import", "manual"]
Strategy = Literal["round_robin", "least_loaded", "weighted"]
Escalation = Literal["reassign", "notify_head", "none"]


def keep(also: Callable[[dict[str, Any]], None] | None = None) -> Any:
    """In a PATCH, a field typed without `None` may be omitted (kept), never sent as null.

    `also` adds to the field's JSON schema (a Field here replaces the type's own).
    """

    def schema_of(schema: dict[str, Any]) -> None:
        schema.pop("default", None)
        if also is not None:
            also(schema)

    return Field(
        default=None,
        description="Omit to keep the current value; null is refused.",
        json_schema_extra=schema_of,
    )


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- auth -------------------------------------------------------------------------


class LoginBody(Strict):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Me(BaseModel):
    id: int
    name: str
    role: str
    via: Literal["token", "session"]
    csrf_token: str | None = Field(
        default=None, description="Send as X-CSRF-Token on every write made with the cookie."
    )


class PasswordBody(Strict):
    current_password: Annotated[str, StringConstraints(max_length=200)]
    new_password: Password


class TokenBody(Strict):
    name: Text200
    user_id: Id | None = Field(default=None, description="Admins may make tokens for others.")


class TokenCreated(TokenView):
    token: str = Field(description="The clear token, shown this once only.")


class TokenList(BaseModel):
    items: list[TokenView]


# --- manager work -------------------------------------------------------------------


class ListQuery(Strict):
    status: Status | None = None
    assignee_id: Id | None = None
    contact_email: Annotated[str, StringConstraints(max_length=320)] | None = None
    needs_review: bool | None = Field(
        default=None, description="true: only leads the spam filter flagged for a look."
    )
    channel: Channel | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class QueueQuery(Strict):
    status: Annotated[
        str,
        StringConstraints(
            pattern=r"^(new|in_progress|converted|junk)(,(new|in_progress|converted|junk))*$"
        ),
    ] = Field(default="new,in_progress", description="Comma-separated statuses.")
    channel: Channel | None = None
    overdue: bool | None = None
    assignee_id: Id | None = None
    sort: Literal["created_at", "-created_at", "due", "-due"] = "due"
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class PlanBody(Strict):
    kind: ActivityKind = "call"
    subject: Text
    due_at: AwareDatetime


class CompleteBody(Strict):
    result: LongText
    next: PlanBody | None = Field(default=None, description="Plan the next activity.")


class Completed(BaseModel):
    lead_id: uuid.UUID
    next_activity_id: uuid.UUID | None


class StatusBody(Strict):
    status: Literal["new", "in_progress"]


class JunkBody(Strict):
    reason: Text


class StatusView(BaseModel):
    id: uuid.UUID
    status: str


class PersonBody(Strict):
    name: OptText = None
    email: Email | None = None
    phone: OptPhone = None


class CompanyBody(Strict):
    name: Text300
    domain: (
        Annotated[
            str,
            StringConstraints(to_lower=True, max_length=255),
            Line,
            _at_most(255),
        ]
        | None
    ) = None


class ConvertBody(Strict):
    title: OptText = None
    amount: float | None = Field(default=None, ge=0, lt=1e12, allow_inf_nan=False)
    contact_id: uuid.UUID | None = Field(default=None, description="Reuse this contact.")
    new_contact: PersonBody | None = Field(default=None, description="Create this contact.")
    company_id: uuid.UUID | None = Field(default=None, description="Reuse this company.")
    company: CompanyBody | None = Field(
        default=None,
        description=(
            "Reuse the company with this domain (or, without one, this name) under the "
            "name given; else create it."
        ),
    )

    @model_validator(mode="after")
    def _one_of_each(self) -> ConvertBody:
        if self.contact_id and self.new_contact:
            raise ValueError(N_("Give contact_id or new_contact, not both."))
        if self.company_id and self.company:
            raise ValueError(N_("Give company_id or company, not both."))
        return self


class ConvertedView(BaseModel):
    deal_id: uuid.UUID
    contact_id: uuid.UUID | None
    company_id: uuid.UUID | None
    reused_contact: bool
    reused_company: bool


class ReplyBody(Strict):
    text: LongText
    subject: OptText = None


class ReplyQueued(BaseModel):
    message_id: uuid.UUID
    channel: str
    to: str


class ManualLeadBody(Strict):
    name: OptText = None
    email: Annotated[str, StringConstraints(max_length=320), Line] | None = None
    phone: OptText100 = None
    company: OptText300 = None
    subject: OptText = None
    text: (
        Annotated[str, StringConstraints(max_length=10_000), AfterValidator(clean_block)] | None
    ) = None
    team: OptText200 = None
    assignee_id: Id | None = Field(
        default=None,
        description="Who gets the lead; default its creator (an admin's: the routing).",
    )


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    inquiry_id: uuid.UUID


class CompanyQuery(Strict):
    q: Annotated[str, StringConstraints(min_length=1, max_length=200), Line]


class LiveQuery(Strict):
    limit: int = Field(default=20, ge=1, le=100)


# --- admin ---------------------------------------------------------------------------


class UserBody(Strict):
    email: Email
    name: Text200
    role: Role = "manager"
    active: bool = True
    timezone: TimeZone = "UTC"
    # The console's language; None: the person's browser (Accept-Language) decides.
    language: Language | None = None
    working_hours: WorkingHours | None = None
    password: Password | None = None


class UserPatch(Strict):
    name: Text200 = keep()
    role: Role = keep()
    active: bool = keep()
    timezone: TimeZone = keep(_zone_enum)
    language: Language | None = Field(default=None, description="null: the browser decides.")
    working_hours: WorkingHours | None = Field(default=None, description="null: always working.")
    password: Password | None = Field(default=None, description="Omit or null to keep.")


class UserList(BaseModel):
    items: list[UserView]


class TeamBody(Strict):
    name: Text200
    strategy: Strategy = "round_robin"
    head_user_id: Id | None = None
    escalation: Escalation = "reassign"
    escalation_grace_minutes: int = Field(default=15, ge=0, le=10_000)
    escalation_max_hops: int = Field(default=2, ge=0, le=20)


class TeamPatch(Strict):
    name: Text200 = keep()
    strategy: Strategy = keep()
    head_user_id: Id | None = Field(default=None, description="null: no head.")
    escalation: Escalation = keep()
    escalation_grace_minutes: Annotated[int, Field(ge=0, le=10_000)] = keep()
    escalation_max_hops: Annotated[int, Field(ge=0, le=20)] = keep()


class MemberBody(Strict):
    capacity: int = Field(default=50, ge=0, le=1_000_000_000)
    daily_cap: int | None = Field(default=None, ge=0, le=1_000_000_000)
    weight: int = Field(default=1, ge=1, le=1000)
    active: bool = True


class AbsenceBody(Strict):
    user_id: Id
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: OptText200 = None

    @model_validator(mode="after")
    def _ordered(self) -> AbsenceBody:
        if self.ends_at <= self.starts_at:
            raise ValueError(N_("The end (ends_at) must be after the start (starts_at)."))
        return self


FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class FormFieldBody(Strict):
    name: FieldName
    label: Text200
    labels: dict[Language, Text200] = Field(
        default_factory=dict, description="The label per page language; `label` where none."
    )
    maps_to: Literal["name", "email", "phone", "company", "subject", "message"] | None = None
    required: bool = False
    kind: Literal["text", "email", "tel", "textarea", "select", "checkbox", "hidden"] = "text"
    options: list[Text200] = Field(
        default_factory=list, max_length=100, description="A select's choices, in order."
    )
    value: OptText200 = Field(
        default=None, description="What a hidden field sends, or a ticked checkbox."
    )

    @model_validator(mode="after")
    def _consistent(self) -> FormFieldBody:
        if self.kind == "select" and not self.options:
            raise ValueError(N_("A select needs at least one option."))
        if self.kind != "select" and self.options:
            raise ValueError(N_("Only a select has options."))
        if self.kind in ("checkbox", "hidden") and self.maps_to in ("email", "phone"):
            raise MessageError(
                N_("A %(kind)s field cannot carry the %(maps_to)s."),
                kind=self.kind,
                maps_to=self.maps_to,
            )
        if self.kind == "hidden" and self.required:
            raise ValueError(N_("A hidden field cannot be required."))
        return self


HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2000)]


class FormBody(Strict):
    name: Text200
    team: OptText200 = None
    fields: list[FormFieldBody] = Field(min_length=1, max_length=50)
    honeypot_field: FieldName | None = "website"
    allowed_origins: list[
        Annotated[str, StringConstraints(pattern=r"^(\*|https?://[^/\s]+)$", max_length=300)]
    ] = Field(default_factory=list, max_length=50)
    redirect_url: HttpUrl | None = None
    # The language of the form's pages; None: each visitor's Accept-Language decides.
    language: Literal["en", "ru"] | None = None
    active: bool = True

    @model_validator(mode="after")
    def _reachable(self) -> FormBody:
        maps = {f.maps_to for f in self.fields}
        if not maps & {"email", "phone"}:
            raise ValueError(N_("A form needs a field that maps to email or phone."))
        if len({f.name for f in self.fields}) != len(self.fields):
            raise ValueError(N_("Field names must be unique."))
        if self.honeypot_field in {f.name for f in self.fields}:
            raise ValueError(N_("The honeypot field must not be one of the form's fields."))
        return self


class FormCreate(FormBody):
    slug: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")]


class FormList(BaseModel):
    items: list[Any]


class FormTest(BaseModel):
    ok: bool
    url: str
    detail: str


class ConnectorBody(Strict):
    team: OptText200 = None
    active: bool = True
    settings: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, Annotated[str, StringConstraints(max_length=4000)]] = Field(
        default_factory=dict,
        description="Write-only; omitted names keep their stored value, '' removes one.",
    )


class ConnectorCreate(ConnectorBody):
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")]
    # "@" and "+" for a mailbox named by its address; each kind's model narrows this.
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}$")]


class ConnectorActive(Strict):
    active: bool


class ConnectionTestResult(BaseModel):
    ok: bool = Field(description="False only when the connection failed.")
    outcome: Literal["ok", "failed", "not_testable"] = Field(
        description="not_testable: a webhook connector has nothing to connect to."
    )
    detail: str


class ConnectorHour(BaseModel):
    hour_at: datetime = Field(description="The hour's start (UTC).")
    inquiries: int
    successes: int
    errors: int
    last_error: str | None
    tests_ok: int
    tests_failed: int


class ConnectorHealthHistory(BaseModel):
    name: str
    hours: list[ConnectorHour] = Field(description="The last 24 hours, oldest first.")
    last_test: ConnectionTestResult | None
    last_test_at: datetime | None


class ConnectorHealth(BaseModel):
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


class ConnectorView(BaseModel):
    kind: str
    name: str
    team: str | None
    active: bool
    settings: dict[str, Any]
    secrets: dict[str, Literal["set"]]
    health: ConnectorHealth
    updated_at: datetime | None


class ConnectorList(BaseModel):
    items: list[ConnectorView]
    kinds: list[str]


class RoutingRuleBody(Strict):
    priority: int = Field(default=100, ge=0, le=1_000_000)
    team_id: Id
    channel: Channel | None = None
    form: OptText100 = None
    connector: OptText200 = None
    language: Annotated[str, StringConstraints(max_length=8), Line] | None = None
    phone_country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    phone_region_prefix: Annotated[str, StringConstraints(pattern=r"^\+\d{1,15}$")] | None = None
    utm_source: OptText200 = None
    utm_campaign: OptText200 = None
    active: bool = True


class SlaBody(Strict):
    minutes: dict[Channel, Annotated[int, Field(ge=1, le=100_000)]] = Field(
        description="First-contact deadline per channel, minutes (1-100000)."
    )


class SpamThresholdsBody(Strict):
    suspicious: float = Field(default=0.5, ge=0, le=1000, allow_inf_nan=False)
    # validate_default: a body with only `suspicious` must meet the band check too, or
    # it is stored and every later read of the settings fails.
    junk: float = Field(default=1.0, ge=0, le=1000, allow_inf_nan=False, validate_default=True)
    min_seconds_to_submit: float = Field(default=3.0, ge=0, le=86_400, allow_inf_nan=False)
    max_recent_from_sender: int = Field(default=3, ge=1, le=1_000_000)
    max_recent_from_ip: int = Field(default=10, ge=1, le=1_000_000)
    max_links: int = Field(default=2, ge=0, le=1_000_000)
    classifier_weight: float = Field(default=1.25, ge=0, le=1000, allow_inf_nan=False)

    # A field validator, so the 422 names "junk" and the page shows it beside that field.
    @field_validator("junk")
    @classmethod
    def _bands(cls, junk: float, info: ValidationInfo) -> float:
        suspicious = info.data.get("suspicious")
        if suspicious is not None and junk < suspicious:
            raise MessageError(
                N_("Must be at least the suspicious threshold (%(suspicious)s)."),
                suspicious=f"{suspicious:g}",
            )
        return junk


class RuleSettings(BaseModel):
    sla_minutes: dict[str, int]
    spam_thresholds: SpamThresholdsBody


class BlocklistBody(Strict):
    kind: Literal["email", "domain", "phone", "ip", "keyword"]
    value: Annotated[
        str,
        StringConstraints(to_lower=True, min_length=1, max_length=320, pattern=SEEN),
        Line,
        NonEmpty,
        _at_most(320),
    ]


# --- reports -------------------------------------------------------------------------


class ReportQuery(Strict):
    start: date | None = Field(
        default=None, alias="from", ge=FIRST_DAY, le=LAST_DAY, description="First day (UTC)."
    )
    end: date | None = Field(
        default=None, alias="to", ge=FIRST_DAY, le=LAST_DAY, description="Last day, included (UTC)."
    )
    team_id: Id | None = None
    user_id: Id | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ExportQuery(ReportQuery):
    sep: Literal[";", ","] | None = Field(
        default=None,
        description="CSV delimiter; default `;` where the decimal mark is a comma (RU).",
    )


# --- notifications ------------------------------------------------------------------


class NotificationsBody(Strict):
    notify_email: bool = Field(description="Email me when a lead is assigned to me.")
    notify_telegram: bool = Field(description="Message me in Telegram (once linked).")


class TelegramLinkCode(BaseModel):
    code: str = Field(description="One-time code, shown this once only.")
    command: str = Field(description="What to send the LeadFlow bot in Telegram.")
    expires_at: datetime
    instructions: str


class NotDuplicateBody(Strict):
    contact_a: uuid.UUID
    contact_b: uuid.UUID


class NotDuplicateView(BaseModel):
    contact_a: uuid.UUID
    contact_b: uuid.UUID
    created: bool
