"""The data the pipeline's decisions are made of: what they are made against (the
store's `Snapshot`, with its `TeamView`s and `LeadRef`s, and the `Policy`) and what
they are made into (the closed union `Decision` of frozen dataclasses, and a batch's
`BatchPlan`). Plain data, no I/O; imports the contract and the pure routing, spam and
classifier modules for the types it carries.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ingest.classifier import TextClassifier
from ingest.contract import Channel, Inquiry
from ingest.routing import MemberState, RoutingRule, TeamState
from ingest.spam import Blocklist, SpamThresholds

DEFAULT_SLA_MINUTES: Mapping[str, int] = {
    Channel.PHONE: 15,
    Channel.TELEGRAM: 15,
    Channel.WHATSAPP: 15,
    Channel.WEB_FORM: 30,
    Channel.EMAIL: 60,
    Channel.IMPORT: 24 * 60,
    Channel.MANUAL: 60,
}


# --- the snapshot: what the store knows that this batch needs -----------------------


@dataclass(frozen=True, slots=True)
class TeamView:
    """A team as assignment sees it. `members` carries each member's hours, load
    and caps; when empty, `member_ids` are taken as always-eligible members."""

    id: int
    name: str
    member_ids: tuple[int, ...]
    last_user_id: int | None = None
    member_names: Mapping[int, str] = field(default_factory=dict)
    members: tuple[MemberState, ...] = ()
    strategy: str = "round_robin"
    current_weights: tuple[tuple[int, int], ...] = ()

    def name_of(self, user_id: int | None) -> str:
        if user_id is None:
            return "nobody"
        return self.member_names.get(user_id, f"user {user_id}")

    def member_states(self) -> tuple[MemberState, ...]:
        if self.members:
            return self.members
        return tuple(MemberState(uid, self.name_of(uid)) for uid in self.member_ids)

    def team_state(self) -> TeamState:
        if self.strategy == "least_loaded":
            return TeamState(self.name, "least_loaded", self.last_user_id, self.current_weights)
        if self.strategy == "weighted":
            return TeamState(self.name, "weighted", self.last_user_id, self.current_weights)
        return TeamState(self.name, "round_robin", self.last_user_id, self.current_weights)

    def member(self, user_id: int) -> MemberState | None:
        return next((m for m in self.member_states() if m.user_id == user_id), None)

    def after_assigning(self, user_id: int, state: TeamState) -> TeamView:
        """The team once `user_id` got one more lead (load and today's count)."""
        members = tuple(
            replace(
                m,
                assigned_today=m.assigned_today + 1,
                open_leads=m.open_leads + 1,
                pending_first_contacts=m.pending_first_contacts + 1,
            )
            if m.user_id == user_id
            else m
            for m in self.member_states()
        )
        return replace(
            self,
            members=members,
            last_user_id=state.last_user_id,
            current_weights=state.current_weights,
        )


@dataclass(frozen=True, slots=True)
class LeadRef:
    """One of a contact's leads, as the repeat-inquiry rules need it."""

    id: uuid.UUID
    status: str
    assignee_id: int | None
    team_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    contacts: Mapping[tuple[str, str], uuid.UUID]
    teams: Mapping[str, TeamView]
    default_team: str | None = None
    leads_by_contact: Mapping[uuid.UUID, tuple[LeadRef, ...]] = field(default_factory=dict)
    threads: Mapping[str, uuid.UUID] = field(default_factory=dict)  # message id → lead id
    companies: Mapping[str, uuid.UUID] = field(default_factory=dict)  # domain → company
    not_duplicates: frozenset[frozenset[uuid.UUID]] = frozenset()  # org-wide marks
    recent_from_sender: Mapping[str, int] = field(default_factory=dict)
    recent_from_ip: Mapping[str, int] = field(default_factory=dict)
    rules: tuple[RoutingRule, ...] = ()
    blocklist: Blocklist = field(default_factory=Blocklist)
    classifier: TextClassifier | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    sla_minutes: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SLA_MINUTES))
    default_sla_minutes: int = 30
    repeat_window: timedelta = timedelta(days=30)
    repeat_window_by_channel: Mapping[str, timedelta] = field(default_factory=dict)
    append_channels: frozenset[str] = frozenset(
        {"email", "telegram", "whatsapp", "phone", "web_form", "manual"}
    )
    callback_minutes: int = 15
    sender_limit: int = 20
    sender_window: timedelta = timedelta(minutes=120)
    spam: SpamThresholds = field(default_factory=SpamThresholds)
    rate_window: timedelta = timedelta(hours=1)
    render_secret: bytes | None = None

    def first_contact_due(self, channel: str, now: datetime) -> datetime:
        return now + timedelta(minutes=self.sla_minutes.get(channel, self.default_sla_minutes))

    def window_for(self, channel: str) -> timedelta:
        return self.repeat_window_by_channel.get(channel, self.repeat_window)


# --- decisions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompanyChoice:
    """The company a new contact works for, found or made from a business domain."""

    id: uuid.UUID
    domain: str
    name: str
    new: bool


@dataclass(frozen=True, slots=True)
class NewContact:
    id: uuid.UUID
    name: str | None
    email: str | None
    phone: str | None
    identities: tuple[tuple[str, str], ...]
    company: CompanyChoice | None = None


@dataclass(frozen=True, slots=True)
class ContactChoice:
    id: uuid.UUID
    new: NewContact | None
    conflict: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlannedActivity:
    id: uuid.UUID
    kind: str
    subject: str
    due_at: datetime
    is_first_contact: bool = True


@dataclass(frozen=True, slots=True)
class DoneActivity:
    """What the customer did: the inbound email, message or call, as an activity."""

    id: uuid.UUID
    kind: str
    direction: str
    subject: str
    done_at: datetime
    result: str | None = None


@dataclass(frozen=True, slots=True)
class RecordOnly:
    """Kept as an inquiry record with the reason; no lead, no activity, no reply."""

    inquiry: Inquiry
    reason: str


@dataclass(frozen=True, slots=True)
class NewLead:
    inquiry: Inquiry
    lead_id: uuid.UUID
    contact: ContactChoice
    team_id: int | None
    assignee_id: int | None
    assignment_reason: str
    status: str
    spam_score: float
    spam_reasons: tuple[str, ...]
    first_contact: PlannedActivity | None
    inbound: DoneActivity | None = None
    repeat_of: uuid.UUID | None = None
    needs_review: bool = False
    explanation: Mapping[str, str] = field(default_factory=dict)
    team_state: TeamState | None = None

    @property
    def contact_id(self) -> uuid.UUID:
        return self.contact.id


@dataclass(frozen=True, slots=True)
class AppendToLead:
    """A later inquiry on an open lead: an inbound activity, maybe a follow-up task."""

    inquiry: Inquiry
    lead_id: uuid.UUID
    contact: ContactChoice
    assignee_id: int | None
    inbound: DoneActivity
    follow_up: PlannedActivity | None
    reason: str


@dataclass(frozen=True, slots=True)
class LogActivity:
    """An answered call from a known customer with no open lead: logged on the contact."""

    inquiry: Inquiry
    contact: ContactChoice
    inbound: DoneActivity
    reason: str


@dataclass(frozen=True, slots=True)
class LinkTelegram:
    """A manager sent `/link CODE` to a bot: link that chat to the code's owner (no lead).
    Resolving the code is the store's job, in the batch's transaction."""

    inquiry: Inquiry
    code: str
    chat_id: str
    bot: str | None


Decision = RecordOnly | NewLead | AppendToLead | LogActivity | LinkTelegram


@dataclass(frozen=True, slots=True)
class BatchPlan:
    decisions: tuple[Decision, ...]
    team_cursors: Mapping[int, int | None]
    team_rotation: Mapping[int, Mapping[str, list[list[int]]]] = field(default_factory=dict)
