"""The CRM's tables, as SQLAlchemy 2 declarative models.

Nouns follow the CRM world (lead, contact, company, deal, activity, team member).
Primary keys of high-volume rows (contact, lead, activity, inquiry record, lead
event) are UUIDs made by the writer, so batched inserts need no RETURNING. Every
schema change is an Alembic migration in `crm_store/migrations`. Imports nothing of ours.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_store.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Role(StrEnum):
    ADMIN = "admin"
    HEAD = "head"
    MANAGER = "manager"


class LeadStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    CONVERTED = "converted"
    JUNK = "junk"


class ActivityKind(StrEnum):
    CALL = "call"
    EMAIL = "email"
    MESSAGE = "message"
    MEETING = "meeting"
    TASK = "task"


class ActivityStatus(StrEnum):
    PLANNED = "planned"
    DONE = "done"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class AppUser(Base):
    """A person who signs in: admin, head of sales or manager."""

    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default=Role.MANAGER)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The console's language for this person ("ru", "en"); null: their browser decides.
    language: Mapped[str | None] = mapped_column(String(16))
    working_hours: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment='weekly hours, e.g. {"mon": [["09:00", "18:00"]], ...}; null = always'
    )
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Team(Base):
    """A sales team; `rr_last_user_id` is the round-robin cursor."""

    __tablename__ = "team"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    strategy: Mapped[str] = mapped_column(String(32), default="round_robin")
    rr_last_user_id: Mapped[int | None] = mapped_column(Integer)
    rotation_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    head_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    escalation: Mapped[str] = mapped_column(String(16), default="reassign")
    escalation_grace_minutes: Mapped[int] = mapped_column(Integer, default=15)
    escalation_max_hops: Mapped[int] = mapped_column(Integer, default=2)
    created_at: Mapped[datetime]


class TeamMember(Base):
    __tablename__ = "team_member"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    capacity: Mapped[int] = mapped_column(Integer, default=50)
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Company(Base):
    __tablename__ = "company"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # Unbounded: a company's name may be made from an email domain (see 0007).
    name: Mapped[str] = mapped_column(Text)
    domain: Mapped[str | None] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime]


class Contact(Base):
    """A person; how to reach them is also kept in `contact_identity` for matching."""

    __tablename__ = "contact"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("company.id"), index=True)
    created_at: Mapped[datetime]


class ContactIdentity(Base):
    """One strong key of a contact: (kind, value) such as ('email', 'a@b.c')."""

    __tablename__ = "contact_identity"
    __table_args__ = (UniqueConstraint("kind", "value"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(320))


class Lead(Base):
    __tablename__ = "lead"
    __table_args__ = (
        # Covers crm_store.counters' count of untouched new leads (migration 0014).
        Index("ix_lead_assignee_status_touched", "assignee_id", "status", "manager_touched"),
        Index("ix_lead_created_at", "created_at"),
        Index("ix_lead_assignee_assigned_at", "assignee_id", "assigned_at"),
        # Reads by status, and the SLA watcher's pages in order (crm_store.sla; 0022).
        Index("ix_lead_status_sla", "status", "sla_breached_at", "first_contact_due_at", "id"),
        # "This contact's leads that are mine" (crm_store.scope; migration 0018).
        Index("ix_lead_contact_assignee", "contact_id", "assignee_id"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=LeadStatus.NEW)
    channel: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(500))
    # Looked up through ix_lead_contact_assignee's leading column (migration 0024).
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contact.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    assignment_reason: Mapped[str | None] = mapped_column(Text)
    first_contact_due_at: Mapped[datetime | None]
    spam_score: Mapped[float] = mapped_column(Float, default=0.0)
    spam_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    junk_reason: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    escalation_hops: Mapped[int] = mapped_column(Integer, default=0)
    sla_breached_at: Mapped[datetime | None]
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    assigned_at: Mapped[datetime | None]
    manager_touched: Mapped[bool] = mapped_column(
        Boolean,
        server_default=false(),
        comment="some done, non-inbound activity is on the lead; kept by a trigger (0014)",
    )


class Deal(Base):
    __tablename__ = "deal"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    # Indexed (0018): the record pages and their scope find deals by each of these.
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead.id"), index=True)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contact.id"), index=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("company.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    stage: Mapped[str] = mapped_column(String(32), default="new")
    amount: Mapped[float | None] = mapped_column(Numeric(14, 2))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class Activity(Base):
    """A call, email, message, meeting or task: planned (due_at) or done (done_at)."""

    __tablename__ = "activity"
    __table_args__ = (
        # Both cover a count of crm_store.counters (migration 0014); the partial
        # index's WHERE text is repeated there, as SQLite needs.
        Index(
            "ix_activity_assignee_status_open_due", "assignee_id", "status", "lead_open", "due_at"
        ),
        Index(
            "ix_activity_first_contact",
            "assignee_id",
            "is_first_contact",
            "due_at",
            "status",
            "done_at",
            sqlite_where=text("is_first_contact = true"),
            postgresql_where=text("is_first_contact = true"),
        ),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead.id"), index=True)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contact.id"), index=True)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deal.id"), index=True)
    inquiry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16), default=Direction.INTERNAL)
    status: Mapped[str] = mapped_column(String(16), default=ActivityStatus.PLANNED)
    subject: Mapped[str] = mapped_column(String(500))
    is_first_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    lead_open: Mapped[bool] = mapped_column(
        Boolean,
        server_default=true(),
        comment="planned only: the lead is new or in progress; kept by a trigger (0014)",
    )


class InquiryRecord(Base):
    """Every inquiry ever accepted; the unique idempotency key makes replays no-ops."""

    __tablename__ = "inquiry_record"
    __table_args__ = (
        Index("ix_inquiry_record_sender_received", "sender_key", "received_at"),
        Index("ix_inquiry_record_ip_received", "client_ip", "received_at"),
        Index("ix_inquiry_record_outcome_received", "outcome", "received_at"),
        # The connectors page counts each connector's inquiries of the last day (0017).
        Index("ix_inquiry_record_received_at", "received_at"),
        # Partial: the review list looks up the few reviewed records; an index holding
        # every never-reviewed record would tempt SQLite into reading all of them.
        Index(
            "ix_inquiry_record_reviewed_at",
            "reviewed_at",
            sqlite_where=text("reviewed_at IS NOT NULL"),
            postgresql_where=text("reviewed_at IS NOT NULL"),
        ),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead.id"), index=True)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contact.id"), index=True)
    sender_key: Mapped[str | None] = mapped_column(String(64))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    # A head or admin said "this is a real inquiry": the inquiry republished for it.
    reviewed_at: Mapped[datetime | None]
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    review_inquiry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class FormDefinition(Base):
    """A web form: its fields, where each maps in the Inquiry, honeypot and CORS."""

    __tablename__ = "form_definition"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    honeypot_field: Mapped[str | None] = mapped_column(String(100))
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    redirect_url: Mapped[str | None] = mapped_column(String(2000))
    # The language of the form's pages ("ru", "en"); None: the visitor's browser decides.
    language: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ConnectorConfig(Base):
    """A channel connector an admin configured (mailbox, bot, phone provider ...)."""

    __tablename__ = "connector_config"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ConnectorHealthHour(Base):
    """One hour of a connector's health: successes, errors and connection tests.

    Kept for a week (older hours are pruned when a new one starts); the console draws
    the last day of them as a strip. Keyed by the connector's name, not its row, so a
    hot reload or a replaced connector keeps its history until it is deleted."""

    __tablename__ = "connector_health_hour"
    connector: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour_at: Mapped[datetime] = mapped_column(primary_key=True)
    successes: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    tests_ok: Mapped[int] = mapped_column(Integer, default=0)
    tests_failed: Mapped[int] = mapped_column(Integer, default=0)
    last_test_ok: Mapped[bool | None] = mapped_column(Boolean)
    # A gettext message and its parameters: the console shows it in the reader's language.
    last_test_detail: Mapped[str | None] = mapped_column(Text)
    last_test_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_test_at: Mapped[datetime | None]


class LeadEvent(Base):
    """What happened to a lead; doubles as the outbox for `leadflow.lead-events`."""

    __tablename__ = "lead_event"
    __table_args__ = (Index("ix_lead_event_unpublished", "published_at"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lead.id"), index=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]


class MessageRef(Base):
    """An email Message-ID that LeadFlow received or sent, and the lead it belongs to.

    Replies name these in In-Reply-To/References; that is how a reply finds its lead.
    """

    __tablename__ = "message_ref"
    message_id: Mapped[str] = mapped_column(String(998), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lead.id"), index=True)
    direction: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class OutboundRecord(Base):
    """Every message LeadFlow asked to send; also the per-recipient repeat window."""

    __tablename__ = "outbound_record"
    __table_args__ = (
        Index("ix_outbound_record_recipient", "channel", "recipient", "created_at"),
        # The outbox sweep's rows only (migration 0020), so it never scans the table.
        Index(
            "ix_outbound_record_unpublished",
            "created_at",
            sqlite_where=text("published_at IS NULL"),
            postgresql_where=text("published_at IS NULL"),
        ),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(Text)  # an address or a channel's chat id
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead.id"), index=True)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]


class OutboxTicket(Base):
    """A batch's outbox rows, committed as published before they were sent
    (migration 0023).

    The consumer marks the lead events and outbound rows its batch writes as published
    in the batch's own transaction, and sends them from memory after the commit; the
    ticket names them until the send is acknowledged (then it is deleted) or fails
    (then they are marked unpublished again and it is deleted). A ticket older than
    any send could take belongs to a process that stopped in between: the sweep marks
    its rows unpublished and publishes them (`crm_store.outbox.reopen_tickets`).
    """

    __tablename__ = "outbox_ticket"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[datetime]
    # The rows' ids as text: a ticket is read only when its rows must go out again.
    event_ids: Mapped[list[str]] = mapped_column(JSON)
    outbound_ids: Mapped[list[str]] = mapped_column(JSON)


class MemberLoad(Base):
    """A member's load as assignment reads it, kept exact by triggers (migration 0019).

    Open leads (new, in progress) assigned to the user, and their planned first-contact
    activities. No foreign key: a derived row that must not stop a user's deletion.
    """

    __tablename__ = "member_load"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    open_leads: Mapped[int] = mapped_column(Integer, default=0)
    pending_first_contacts: Mapped[int] = mapped_column(Integer, default=0)


class MemberDayLoad(Base):
    """Leads whose `assigned_at` falls on a UTC day, per assignee; kept by triggers (0019)."""

    __tablename__ = "member_day_load"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(primary_key=True)
    assigned: Mapped[int] = mapped_column(Integer, default=0)


class Absence(Base):
    """A recorded absence (vacation, sick day): the member gets no leads meanwhile."""

    __tablename__ = "absence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(200))


class RoutingRule(Base):
    """Picks a team: the first active rule by priority whose set conditions all match."""

    __tablename__ = "routing_rule"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    channel: Mapped[str | None] = mapped_column(String(32))
    form: Mapped[str | None] = mapped_column(String(100))
    connector: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(8))
    phone_country: Mapped[str | None] = mapped_column(String(2))
    phone_region_prefix: Mapped[str | None] = mapped_column(String(16))
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class BlocklistEntry(Base):
    """An admin's spam blocklist entry: kind is email, domain, phone, ip or keyword."""

    __tablename__ = "blocklist_entry"
    __table_args__ = (UniqueConstraint("kind", "value"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]


class SpamMark(Base):
    """A manager's junk / not-junk judgement of a lead: the classifier's training data."""

    __tablename__ = "spam_mark"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lead.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    is_junk: Mapped[bool] = mapped_column(Boolean)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    learned_at: Mapped[datetime | None]


class SpamModel(Base):
    """The learned text classifier's state (JSON, never pickle), one row per name."""

    __tablename__ = "spam_model"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class NotDuplicateMark(Base):
    """Two contacts someone said are different people; kept org-wide."""

    __tablename__ = "not_duplicate_mark"
    __table_args__ = (UniqueConstraint("key_a", "key_b"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_a: Mapped[str] = mapped_column(String(400))
    key_b: Mapped[str] = mapped_column(String(400))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime]


class AssignmentLedger(Base):
    """Every assignment change of a lead, with why: assigned, queued, reassigned, escalated."""

    __tablename__ = "assignment_ledger"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lead.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class RuleSetting(Base):
    """Admin-editable rule values (SLA minutes per channel, spam thresholds ...)."""

    __tablename__ = "rule_setting"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class WebSession(Base):
    """A signed-in browser of the console; only the SHA-256 of the cookie is stored."""

    __tablename__ = "web_session"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class MailboxCursor(Base):
    """Where an IMAP mailbox's capture stands: its UIDVALIDITY and the last UID captured."""

    __tablename__ = "mailbox_cursor"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class MailboxMessage(Base):
    """A Message-ID an IMAP mailbox captured: the dedup fallback when UIDVALIDITY changes."""

    __tablename__ = "mailbox_message"
    mailbox: Mapped[str] = mapped_column(String(200), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), primary_key=True)
    captured_at: Mapped[datetime]


class NotificationSetting(Base):
    """A user's notification channels: preferences, the linked Telegram chat, and the
    pending one-time link code (SHA-256 only, with its expiry). No row = the defaults."""

    __tablename__ = "notification_setting"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True
    )
    notify_email: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    notify_telegram: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    telegram_chat_id: Mapped[str | None] = mapped_column(Text)
    telegram_bot: Mapped[str | None] = mapped_column(String(200))
    telegram_linked_at: Mapped[datetime | None]
    link_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    link_code_expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class LoginThrottle(Base):
    """Sign-in attempts per key (a hash of account+IP, or of IP) in a fixed window.

    In the database so that every console process counts the same attempts.
    `window_start` is seconds since the epoch (the limiter's clock).
    """

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[float] = mapped_column(Float, index=True)
