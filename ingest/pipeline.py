"""The pipeline's decisions, as pure functions over plain data.

`plan_batch(inquiries, snapshot, now, policy)` returns one `Decision` per inquiry:
record it only, log it on what exists, append it to an open lead, or make a new lead
(which contact; spam band; which team by the routing rules; which manager by the
team's strategy and who is eligible; the first-contact deadline in that manager's
working time). No I/O, no
clock, no randomness: ids derive from the inquiry id (`row_id`), so replaying an
inquiry plans exactly the same rows. Imports only the contract.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ingest.classifier import TextClassifier
from ingest.contract import Channel, Inquiry
from ingest.matching import company_from_email
from ingest.routing import MemberState, RoutingRule, TeamState, assign, pick_team
from ingest.spam import Blocklist, SpamContext, SpamThresholds, SpamVerdict, inquiry_text, score
from ingest.worktime import add_working_time

_NAMESPACE = uuid.UUID("6f1c1d8e-5d0b-4a57-9f0e-4c7f3f4a9b21")

DEFAULT_SLA_MINUTES: Mapping[str, int] = {
    Channel.PHONE: 15,
    Channel.TELEGRAM: 15,
    Channel.WHATSAPP: 15,
    Channel.WEB_FORM: 30,
    Channel.EMAIL: 60,
    Channel.IMPORT: 24 * 60,
    Channel.MANUAL: 60,
}

FIRST_CONTACT: Mapping[str, tuple[str, str]] = {
    Channel.PHONE: ("call", "Call back"),
    Channel.EMAIL: ("email", "Reply to the email"),
    Channel.TELEGRAM: ("message", "Reply in Telegram"),
    Channel.WHATSAPP: ("message", "Reply in WhatsApp"),
}

INBOUND_KIND: Mapping[str, str] = {
    Channel.PHONE: "call",
    Channel.EMAIL: "email",
    Channel.TELEGRAM: "message",
    Channel.WHATSAPP: "message",
}

MISSED_CALL = frozenset({"missed", "busy", "voicemail"})
OPEN_STATUSES = frozenset({"new", "in_progress"})
LINK_COMMAND = re.compile(r"^/link\s+(\S+)$")


_NAMESPACE_BYTES = _NAMESPACE.bytes
# RFC 4122 version 5 and variant bits, set the way `uuid.UUID(version=5)` sets them.
_V5_CLEAR = ~(0xC000 << 48) & ~(0xF000 << 64)
_V5_SET = (0x8000 << 48) | (5 << 76)
_V8_SET = (0x8000 << 48) | (8 << 76)


def derived_id(inquiry_id: uuid.UUID, role: str) -> uuid.UUID:
    """A stable id for a row made from this inquiry, so replays are identical.

    Exactly `uuid.uuid5(_NAMESPACE, f"{role}:{inquiry_id}")`, spelled out: it runs
    about nine times per inquiry, and uuid5 re-derives the namespace's bytes and
    re-imports sha1 on every call.
    """
    name = f"{role}:{inquiry_id}".encode()
    # SHA-1 is what RFC 4122 prescribes for version 5: a name hash, not a secret.
    digest = hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()
    return uuid.UUID(int=int.from_bytes(digest[:16]) & _V5_CLEAR | _V5_SET)


def row_id(inquiry_id: uuid.UUID, role: str) -> uuid.UUID:
    """The id of a row the consumer makes from this inquiry: the inquiry id's first
    48 bits (its time, for `new_inquiry_id`'s ids), then 74 bits of the SHA-1 of the
    role and the inquiry id (RFC 9562 version 8).

    Stable, so a replay plans the same ids; time-ordered, so the store's indexes on
    row ids and on the foreign keys to them grow at their end rather than at a random
    leaf page per row (issue 11: at 1M stored leads the consumer's CPU per inquiry
    went from about 1,000 to 600 µs on SQLite). Rows stored before this change have
    `derived_id`'s uuid5 ids; a replay of their inquiry is dropped by its idempotency
    key before any row is planned, so the two never meet.
    """
    name = f"{role}:{inquiry_id}".encode()
    digest = hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()
    value = int.from_bytes(inquiry_id.bytes[:6] + digest[:10])
    return uuid.UUID(int=value & _V5_CLEAR | _V8_SET)


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


# --- pure helpers --------------------------------------------------------------------


def identities_of(inquiry: Inquiry) -> tuple[tuple[str, str], ...]:
    """The sender's strong keys, strongest first."""
    keys: list[tuple[str, str]] = []
    if inquiry.sender.email:
        keys.append(("email", inquiry.sender.email))
    if inquiry.sender.phone:
        keys.append(("phone", inquiry.sender.phone))
    keys.extend((kind, value) for kind, value in sorted(inquiry.sender.messenger_ids.items()))
    return tuple(keys)


def thread_ids_of(inquiry: Inquiry) -> tuple[str, ...]:
    """Message ids this inquiry replies to (email In-Reply-To and References)."""
    ids = inquiry.channel_ids
    if "in_reply_to" not in ids and "references" not in ids:
        return ()  # a form, a call, a chat: asked twice per inquiry (issue 11)
    refs = [ids.get("in_reply_to", ""), *ids.get("references", "").split()]
    # Stored bare (without <>), whichever way a producer wrote them.
    bare = (r.strip().removeprefix("<").removesuffix(">").strip() for r in refs)
    return tuple(dict.fromkeys(r for r in bare if r))


def title_for(inquiry: Inquiry) -> str:
    who = inquiry.sender.name or inquiry.sender.email or inquiry.sender.phone or "unknown sender"
    what = inquiry.subject or (inquiry.text or "").strip().split("\n", 1)[0]
    if not what and inquiry.channel == Channel.PHONE:
        what = f"{inquiry.fields.get('call_status', 'phone')} call"
    title = f"{who}: {what}" if what else f"Inquiry from {who}"
    return title[:500]


def choose_contact(
    inquiry: Inquiry,
    known: Mapping[tuple[str, str], uuid.UUID],
    companies: Mapping[str, uuid.UUID] | None = None,
    not_duplicates: frozenset[frozenset[uuid.UUID]] = frozenset(),
) -> ContactChoice:
    """Match by any strong key; when keys point at different contacts, keep the
    strongest key's contact and record the conflict (never merge silently)."""
    identities = identities_of(inquiry)
    matches = [(key, known[key]) for key in identities if key in known]
    if matches:
        chosen = matches[0][1]
        conflict = tuple(
            f"{kind} {value} belongs to another contact"
            for (kind, value), cid in matches
            if cid != chosen and frozenset({cid, chosen}) not in not_duplicates
        )
        return ContactChoice(chosen, None, conflict)
    new_id = row_id(inquiry.id, "contact")
    return ContactChoice(
        new_id,
        NewContact(
            id=new_id,
            name=inquiry.sender.name,
            email=inquiry.sender.email,
            phone=inquiry.sender.phone,
            identities=identities,
            company=choose_company(inquiry, companies or {}),
        ),
    )


def choose_company(inquiry: Inquiry, companies: Mapping[str, uuid.UUID]) -> CompanyChoice | None:
    """A business email domain makes (or finds) the company; free mail never does."""
    domain = company_from_email(inquiry.sender.email)
    if domain is None:
        return None
    name = inquiry.sender.company or domain
    if domain in companies:
        return CompanyChoice(companies[domain], domain, name, new=False)
    return CompanyChoice(row_id(inquiry.id, "company"), domain, name, new=True)


def open_lead(leads: Sequence[LeadRef], now: datetime, window: timedelta) -> LeadRef | None:
    """The newest open lead created inside the window, if any."""
    candidates = [
        lead for lead in leads if lead.status in OPEN_STATUSES and now - lead.created_at <= window
    ]
    return max(candidates, key=lambda lead: lead.created_at, default=None)


def previous_manager(leads: Sequence[LeadRef]) -> int | None:
    closed = [lead for lead in leads if lead.assignee_id is not None]
    latest = max(closed, key=lambda lead: lead.created_at, default=None)
    return latest.assignee_id if latest else None


def inbound_activity(inquiry: Inquiry, now: datetime) -> DoneActivity:
    kind = INBOUND_KIND.get(inquiry.channel, "task")
    status = inquiry.fields.get("call_status")
    result: str | None
    if inquiry.channel == Channel.PHONE:
        subject = (
            f"{(status or 'phone').capitalize()} call from {inquiry.sender.phone or 'unknown'}"
        )
        result = _call_result(inquiry)
    else:
        first_line = (inquiry.text or "").strip().split("\n", 1)[0]
        subject = (inquiry.subject or first_line or "Message")[:500]
        result = inquiry.text
    return DoneActivity(
        id=row_id(inquiry.id, "inbound"),
        kind=kind,
        direction="inbound",
        subject=subject,
        done_at=inquiry.received_at if inquiry.received_at <= now else now,
        result=result,
    )


def _call_result(inquiry: Inquiry) -> str:
    ids = inquiry.channel_ids
    parts = [f"status {inquiry.fields.get('call_status', 'unknown')}"]
    if ids.get("duration_s"):
        parts.append(f"duration {ids['duration_s']} s")
    if ids.get("recording_url"):
        parts.append(f"recording {ids['recording_url']}")
    return ", ".join(parts)


# --- the decision --------------------------------------------------------------------


def decide(inquiry: Inquiry, snapshot: Snapshot, now: datetime, policy: Policy) -> Decision:
    """One inquiry's decision against a snapshot (see `plan_batch` for a batch)."""
    if inquiry.review is not None:
        return _reviewed_lead(inquiry, snapshot, now, policy)
    if inquiry.not_a_lead:
        return RecordOnly(inquiry, inquiry.not_a_lead)
    if snapshot.recent_from_sender.get(inquiry.key, 0) >= policy.sender_limit:
        return RecordOnly(
            inquiry,
            f"throttled: more than {policy.sender_limit} inquiries from this sender in "
            f"{int(policy.sender_window.total_seconds() // 60)} minutes",
        )
    link = _link_command(inquiry)
    if link is not None:
        return link
    contact = choose_contact(
        inquiry, snapshot.contacts, snapshot.companies, snapshot.not_duplicates
    )
    leads = snapshot.leads_by_contact.get(contact.id, ())
    call_status = inquiry.fields.get("call_status") if inquiry.channel == Channel.PHONE else None

    threaded = _threaded_lead(inquiry, snapshot, leads)
    target = threaded or (
        open_lead(leads, now, policy.window_for(inquiry.channel))
        if inquiry.channel in policy.append_channels and not inquiry.honeypot
        else None
    )
    if target is not None:
        return _append(inquiry, contact, target, now, policy, call_status, threaded is not None)
    if call_status == "answered" and contact.new is None:
        return LogActivity(
            inquiry,
            contact,
            inbound_activity(inquiry, now),
            "answered call from a known customer with no open lead: logged on the contact",
        )
    return _new_lead(inquiry, contact, leads, snapshot, now, policy, call_status)


def _reviewed_lead(inquiry: Inquiry, snapshot: Snapshot, now: datetime, policy: Policy) -> NewLead:
    """A person said this is a real inquiry: a new lead, judged and assigned as any,
    except that the repeat, loop-guard and spam rules do not overrule that person."""
    contact = choose_contact(
        inquiry, snapshot.contacts, snapshot.companies, snapshot.not_duplicates
    )
    leads = snapshot.leads_by_contact.get(contact.id, ())
    call_status = inquiry.fields.get("call_status") if inquiry.channel == Channel.PHONE else None
    return _new_lead(inquiry, contact, leads, snapshot, now, policy, call_status)


def _link_command(inquiry: Inquiry) -> LinkTelegram | None:
    chat_id = inquiry.channel_ids.get("chat_id")
    if inquiry.channel != Channel.TELEGRAM or not chat_id:
        return None
    found = LINK_COMMAND.match((inquiry.text or "").strip())
    if found is None:
        return None
    bot = inquiry.channel_ids.get("bot_id") or inquiry.routing.connector
    return LinkTelegram(inquiry, found.group(1), chat_id, bot)


def _threaded_lead(
    inquiry: Inquiry, snapshot: Snapshot, leads: Sequence[LeadRef]
) -> LeadRef | None:
    for message_id in thread_ids_of(inquiry):
        lead_id = snapshot.threads.get(message_id)
        if lead_id is None:
            continue
        found = next((lead for lead in leads if lead.id == lead_id), None)
        if found is not None:
            return found if found.status in OPEN_STATUSES else None
        # The reply comes from an address we did not know yet: still the same thread.
        return LeadRef(lead_id, "new", None, None, inquiry.received_at)
    return None


def _append(
    inquiry: Inquiry,
    contact: ContactChoice,
    lead: LeadRef,
    now: datetime,
    policy: Policy,
    call_status: str | None,
    threaded: bool,
) -> AppendToLead:
    follow_up = None
    if call_status in MISSED_CALL:
        follow_up = PlannedActivity(
            id=row_id(inquiry.id, "call-back"),
            kind="call",
            subject="Call back",
            due_at=now + timedelta(minutes=policy.callback_minutes),
            is_first_contact=False,
        )
    why = "reply in the thread of" if threaded else "repeat inquiry on"
    return AppendToLead(
        inquiry=inquiry,
        lead_id=lead.id,
        contact=contact,
        assignee_id=lead.assignee_id,
        inbound=inbound_activity(inquiry, now),
        follow_up=follow_up,
        reason=f"{why} open lead {lead.id}",
    )


# A lead made by hand carries who made it and who it goes to (see `manual_owner`).
CREATED_BY, ASSIGN_TO, ASSIGN_TO_NAME = "created_by", "assign_to", "assign_to_name"


def manual_ids(creator: int, owner: tuple[int, str] | None) -> dict[str, str]:
    """The `channel_ids` of a hand-made inquiry: its creator, and the person it goes to
    (None: routed like any inquiry)."""
    ids = {CREATED_BY: str(creator)}
    if owner is not None:
        ids[ASSIGN_TO], ids[ASSIGN_TO_NAME] = str(owner[0]), owner[1]
    return ids


def manual_owner(inquiry: Inquiry) -> tuple[int, str] | None:
    """Who a hand-made lead was made for: its creator, or the person they chose.
    Only the console's `manual` channel carries it; anything unreadable is routed."""
    if inquiry.channel != Channel.MANUAL:
        return None
    raw = inquiry.channel_ids.get(ASSIGN_TO, "")
    if not raw.isdigit():
        return None
    user_id = int(raw)
    return user_id, inquiry.channel_ids.get(ASSIGN_TO_NAME) or f"user {user_id}"


def _new_lead(
    inquiry: Inquiry,
    contact: ContactChoice,
    leads: Sequence[LeadRef],
    snapshot: Snapshot,
    now: datetime,
    policy: Policy,
    call_status: str | None,
) -> NewLead:
    team, team_reason = _team_for(inquiry, snapshot)
    verdict = judge_spam(inquiry, snapshot, now, policy)
    if inquiry.review is not None and verdict.band != "clean":
        # The signals stay on the lead for the record; the band is the person's call.
        verdict = replace(verdict, band="clean")
    explanation = {"team": team_reason, "spam": verdict.explanation}
    if inquiry.review is not None:
        explanation["review"] = f"a person said inquiry {inquiry.review.of_inquiry} is real"
    if contact.conflict:
        explanation["contact"] = "; ".join(contact.conflict)
    owner = manual_owner(inquiry)
    if verdict.band == "junk":
        # A hand-made lead stays with its owner even as junk, so they can restore it.
        reason = f"not assigned: junk ({verdict.explanation})"
        if owner is not None:
            reason = f"made by hand for {owner[1]}; junk ({verdict.explanation})"
        explanation["assignment"] = reason
        return _lead(
            inquiry,
            contact,
            leads,
            team,
            verdict,
            now,
            explanation,
            assignee=owner[0] if owner else None,
            reason=reason,
            status="junk",
            first_contact=None,
        )
    assignee: int | None
    if owner is not None:
        # Made by hand: it goes to whom its creator said, and the rotation stays put.
        assignee, reason, state = owner[0], f"made by hand for {owner[1]}", None
    else:
        assignee, reason, state = _assign(team, previous_manager(leads), now)
    explanation["assignment"] = reason
    answered = call_status == "answered"
    first_contact = None
    if not answered:
        due = _first_contact_due(inquiry, team, assignee, now, policy, call_status)
        explanation["deadline"] = f"first contact due {due.isoformat()}"
        kind, subject = FIRST_CONTACT.get(inquiry.channel, ("call", "First contact"))
        first_contact = PlannedActivity(
            id=row_id(inquiry.id, "first-contact"), kind=kind, subject=subject, due_at=due
        )
    return _lead(
        inquiry,
        contact,
        leads,
        team,
        verdict,
        now,
        explanation,
        assignee=assignee,
        reason=reason,
        status="in_progress" if answered else "new",
        first_contact=first_contact,
        state=state,
    )


def _lead(
    inquiry: Inquiry,
    contact: ContactChoice,
    leads: Sequence[LeadRef],
    team: TeamView | None,
    verdict: SpamVerdict,
    now: datetime,
    explanation: Mapping[str, str],
    *,
    assignee: int | None,
    reason: str,
    status: str,
    first_contact: PlannedActivity | None,
    state: TeamState | None = None,
) -> NewLead:
    return NewLead(
        inquiry=inquiry,
        lead_id=row_id(inquiry.id, "lead"),
        contact=contact,
        team_id=team.id if team else None,
        assignee_id=assignee,
        assignment_reason=reason,
        status=status,
        spam_score=verdict.score,
        spam_reasons=tuple(r.detail for r in verdict.reasons),
        first_contact=first_contact,
        inbound=inbound_activity(inquiry, now) if inquiry.channel in INBOUND_KIND else None,
        repeat_of=max(leads, key=lambda lead: lead.created_at).id if leads else None,
        needs_review=verdict.band == "suspicious",
        explanation=explanation,
        team_state=state,
    )


def _team_for(inquiry: Inquiry, snapshot: Snapshot) -> tuple[TeamView | None, str]:
    default = snapshot.default_team or ""
    choice = pick_team(inquiry, snapshot.rules, default)
    team = snapshot.teams.get(choice.team)
    if team is not None:
        return team, choice.reason
    fallback = snapshot.teams.get(default)
    if fallback is not None:
        return fallback, f"{choice.reason}; no team {choice.team!r}, so the default team"
    return None, "no team is configured for this inquiry"


def judge_spam(inquiry: Inquiry, snapshot: Snapshot, now: datetime, policy: Policy) -> SpamVerdict:
    classifier = snapshot.classifier
    probability = None
    text = inquiry_text(inquiry)
    if classifier is not None and text:
        probability = classifier.probability_junk(text)
    # Only web forms carry a render token; other channels must not look "too fast".
    secret = policy.render_secret if inquiry.channel == Channel.WEB_FORM else None
    context = SpamContext(
        now=now,
        secret=secret,
        render_token=inquiry.channel_ids.get("render_token"),
        blocklist=snapshot.blocklist,
        recent_from_sender=snapshot.recent_from_sender.get(inquiry.key, 0),
        recent_from_ip=snapshot.recent_from_ip.get(inquiry.client.ip or "", 0),
        junk_probability=probability,
    )
    return score(inquiry, context, policy.spam)


def _first_contact_due(
    inquiry: Inquiry,
    team: TeamView | None,
    assignee: int | None,
    now: datetime,
    policy: Policy,
    call_status: str | None,
) -> datetime:
    minutes = (
        policy.callback_minutes
        if call_status in MISSED_CALL
        else policy.sla_minutes.get(inquiry.channel, policy.default_sla_minutes)
    )
    member = team.member(assignee) if team is not None and assignee is not None else None
    if member is None:
        return now + timedelta(minutes=minutes)
    return add_working_time(
        now, timedelta(minutes=minutes), member.working_hours, member.timezone, member.absences
    )


def _assign(
    team: TeamView | None, previous: int | None, now: datetime
) -> tuple[int | None, str, TeamState | None]:
    if team is None:
        return None, "queued: no team is configured for this inquiry", None
    result = assign(team.team_state(), team.member_states(), now, previous)
    return result.user_id, result.reason, result.new_team_state


def plan_batch(
    inquiries: Sequence[Inquiry], snapshot: Snapshot, now: datetime, policy: Policy
) -> BatchPlan:
    """Decide a batch in order, threading new contacts, leads and cursors through."""
    contacts = dict(snapshot.contacts)
    teams = dict(snapshot.teams)
    leads = dict(snapshot.leads_by_contact)
    recent = dict(snapshot.recent_from_sender)
    ips = dict(snapshot.recent_from_ip)
    companies = dict(snapshot.companies)
    working = replace(
        snapshot,
        contacts=contacts,
        teams=teams,
        leads_by_contact=leads,
        recent_from_sender=recent,
        recent_from_ip=ips,
        companies=companies,
    )
    decisions: list[Decision] = []
    cursors: dict[int, int | None] = {}
    rotation: dict[int, dict[str, list[list[int]]]] = {}
    for inquiry in inquiries:
        decision = decide(inquiry, working, now, policy)
        decisions.append(decision)
        recent[inquiry.key] = recent.get(inquiry.key, 0) + 1
        if isinstance(decision, RecordOnly | LinkTelegram):
            continue
        if decision.contact.new is not None:
            for key in decision.contact.new.identities:
                contacts.setdefault(key, decision.contact.id)
            company = decision.contact.new.company
            if company is not None:
                companies.setdefault(company.domain, company.id)
        if isinstance(decision, NewLead):
            ref = LeadRef(
                decision.lead_id, decision.status, decision.assignee_id, decision.team_id, now
            )
            leads[decision.contact.id] = (*leads.get(decision.contact.id, ()), ref)
            if inquiry.client.ip:
                ips[inquiry.client.ip] = ips.get(inquiry.client.ip, 0) + 1
            state = decision.team_state
            if decision.assignee_id is not None and decision.team_id is not None and state:
                name = next(t.name for t in teams.values() if t.id == decision.team_id)
                teams[name] = teams[name].after_assigning(decision.assignee_id, state)
                cursors[decision.team_id] = state.last_user_id
                rotation[decision.team_id] = {
                    "current_weights": [list(pair) for pair in state.current_weights]
                }
    return BatchPlan(tuple(decisions), cursors, rotation)
