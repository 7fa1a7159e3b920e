"""The pipeline's decisions, as pure functions over plain data.

`plan_batch(inquiries, snapshot, now, policy)` returns one `Decision` per inquiry:
which contact, which team and manager, which first-contact activity with which
deadline. No I/O, no clock, no randomness: ids are derived from the inquiry id
(uuid5), so replaying an inquiry plans exactly the same rows. Imports only the
contract.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ingest.contract import Channel, Inquiry

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

FIRST_CONTACT_KIND: Mapping[str, tuple[str, str]] = {
    Channel.PHONE: ("call", "Call back"),
    Channel.EMAIL: ("email", "Reply to the email"),
    Channel.TELEGRAM: ("message", "Reply in Telegram"),
    Channel.WHATSAPP: ("message", "Reply in WhatsApp"),
}


def derived_id(inquiry_id: uuid.UUID, role: str) -> uuid.UUID:
    """A stable id for a row made from this inquiry, so replays are identical."""
    return uuid.uuid5(_NAMESPACE, f"{role}:{inquiry_id}")


@dataclass(frozen=True, slots=True)
class TeamView:
    id: int
    name: str
    member_ids: tuple[int, ...]
    last_user_id: int | None = None
    member_names: Mapping[int, str] = field(default_factory=dict)

    def name_of(self, user_id: int | None) -> str:
        if user_id is None:
            return "nobody"
        return self.member_names.get(user_id, f"user {user_id}")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the store knows that this batch needs."""

    contacts: Mapping[tuple[str, str], uuid.UUID]
    teams: Mapping[str, TeamView]
    default_team: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    sla_minutes: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SLA_MINUTES))
    default_sla_minutes: int = 30

    def first_contact_due(self, channel: str, now: datetime) -> datetime:
        return now + timedelta(minutes=self.sla_minutes.get(channel, self.default_sla_minutes))


@dataclass(frozen=True, slots=True)
class NewContact:
    id: uuid.UUID
    name: str | None
    email: str | None
    phone: str | None
    identities: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class PlannedActivity:
    id: uuid.UUID
    kind: str
    subject: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class NewLead:
    inquiry: Inquiry
    lead_id: uuid.UUID
    contact_id: uuid.UUID
    new_contact: NewContact | None
    team_id: int | None
    assignee_id: int | None
    assignment_reason: str
    status: str
    spam_score: float
    spam_reasons: tuple[str, ...]
    first_contact: PlannedActivity | None


Decision = NewLead


@dataclass(frozen=True, slots=True)
class BatchPlan:
    decisions: tuple[Decision, ...]
    team_cursors: Mapping[int, int | None]


def identities_of(inquiry: Inquiry) -> tuple[tuple[str, str], ...]:
    """The sender's strong keys, strongest first."""
    keys: list[tuple[str, str]] = []
    if inquiry.sender.email:
        keys.append(("email", inquiry.sender.email))
    if inquiry.sender.phone:
        keys.append(("phone", inquiry.sender.phone))
    keys.extend((kind, value) for kind, value in sorted(inquiry.sender.messenger_ids.items()))
    return tuple(keys)


def next_in_rotation(member_ids: Sequence[int], last: int | None) -> int | None:
    """Round-robin: the first member after `last` in id order, wrapping around.

    Keyed on the last user rather than a position so that adding or removing a
    member never makes the rotation skip or repeat someone.
    """
    ordered = sorted(member_ids)
    if not ordered:
        return None
    if last is None:
        return ordered[0]
    for member in ordered:
        if member > last:
            return member
    return ordered[0]


def title_for(inquiry: Inquiry) -> str:
    who = inquiry.sender.name or inquiry.sender.email or inquiry.sender.phone or "unknown sender"
    what = inquiry.subject or (inquiry.text or "").strip().split("\n", 1)[0]
    title = f"{who}: {what}" if what else f"Inquiry from {who}"
    return title[:500]


def decide(inquiry: Inquiry, snapshot: Snapshot, now: datetime, policy: Policy) -> Decision:
    """One inquiry's decision against a snapshot (see `plan_batch` for a batch)."""
    identities = identities_of(inquiry)
    contact_id = next((snapshot.contacts[k] for k in identities if k in snapshot.contacts), None)
    new_contact = None
    if contact_id is None:
        contact_id = derived_id(inquiry.id, "contact")
        new_contact = NewContact(
            id=contact_id,
            name=inquiry.sender.name,
            email=inquiry.sender.email,
            phone=inquiry.sender.phone,
            identities=identities,
        )
    team = snapshot.teams.get(inquiry.routing.team or "") or snapshot.teams.get(
        snapshot.default_team or ""
    )
    lead_id = derived_id(inquiry.id, "lead")
    if inquiry.honeypot:
        return NewLead(
            inquiry=inquiry,
            lead_id=lead_id,
            contact_id=contact_id,
            new_contact=new_contact,
            team_id=team.id if team else None,
            assignee_id=None,
            assignment_reason="not assigned: junk (honeypot field filled in)",
            status="junk",
            spam_score=1.0,
            spam_reasons=("honeypot",),
            first_contact=None,
        )
    assignee = next_in_rotation(team.member_ids, team.last_user_id) if team else None
    if team is None:
        reason = "queued: no team is configured for this inquiry"
    elif assignee is None:
        reason = f"queued: team {team.name} has no active member"
    else:
        reason = (
            f"round-robin in {team.name}; {team.name_of(assignee)} next"
            f" after {team.name_of(team.last_user_id)}"
        )
    kind, subject = FIRST_CONTACT_KIND.get(inquiry.channel, ("call", "First contact"))
    return NewLead(
        inquiry=inquiry,
        lead_id=lead_id,
        contact_id=contact_id,
        new_contact=new_contact,
        team_id=team.id if team else None,
        assignee_id=assignee,
        assignment_reason=reason,
        status="new",
        spam_score=0.0,
        spam_reasons=(),
        first_contact=PlannedActivity(
            id=derived_id(inquiry.id, "first-contact"),
            kind=kind,
            subject=subject,
            due_at=policy.first_contact_due(inquiry.channel, now),
        ),
    )


def plan_batch(
    inquiries: Sequence[Inquiry], snapshot: Snapshot, now: datetime, policy: Policy
) -> BatchPlan:
    """Decide a batch in order, threading new contacts and rotation cursors through."""
    contacts = dict(snapshot.contacts)
    teams = dict(snapshot.teams)
    working = Snapshot(contacts=contacts, teams=teams, default_team=snapshot.default_team)
    decisions: list[Decision] = []
    cursors: dict[int, int | None] = {}
    for inquiry in inquiries:
        decision = decide(inquiry, working, now, policy)
        decisions.append(decision)
        if decision.new_contact is not None:
            for key in decision.new_contact.identities:
                contacts.setdefault(key, decision.contact_id)
        if decision.assignee_id is not None and decision.team_id is not None:
            name = next(t.name for t in teams.values() if t.id == decision.team_id)
            teams[name] = replace(teams[name], last_user_id=decision.assignee_id)
            cursors[decision.team_id] = decision.assignee_id
    return BatchPlan(tuple(decisions), cursors)
