"""SLA decisions for leads already in the store: queued leads and overdue first contacts.

Pure: the lead, its team (as `TeamView`), the escalation policy and the clock in;
one `SlaAction` out. A queued lead is assigned as soon as someone is eligible. An
overdue first contact is first marked breached (the manager's counter shows it);
after the grace period it is reassigned to the next eligible member (a limited
number of hops) or, when the team escalates to its head, the head is notified once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from ingest.decisions import TeamView
from ingest.routing import TeamState, assign
from ingest.worktime import add_working_time


@dataclass(frozen=True, slots=True)
class OpenFirstContact:
    """A lead whose first contact is still planned."""

    lead_id: uuid.UUID
    activity_id: uuid.UUID
    channel: str
    assignee_id: int | None
    team_id: int | None
    due_at: datetime
    breached_at: datetime | None
    hops: int
    escalated: bool


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    mode: Literal["reassign", "notify_head"] = "reassign"
    grace: timedelta = timedelta(minutes=15)
    max_hops: int = 2
    head_user_id: int | None = None


@dataclass(frozen=True, slots=True)
class Assign:
    """Give the lead (and its first-contact activity) to `to_user`, due `due_at`."""

    lead: OpenFirstContact
    to_user: int
    reason: str
    due_at: datetime
    team_state: TeamState
    kind: Literal["assigned", "reassigned"]


@dataclass(frozen=True, slots=True)
class MarkBreached:
    lead: OpenFirstContact
    reason: str


@dataclass(frozen=True, slots=True)
class NotifyHead:
    lead: OpenFirstContact
    head_user_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Wait:
    reason: str


SlaAction = Assign | MarkBreached | NotifyHead | Wait


def decide_sla(
    lead: OpenFirstContact,
    team: TeamView | None,
    policy: EscalationPolicy,
    sla: timedelta,
    now: datetime,
) -> SlaAction:
    if lead.assignee_id is None:
        return _assign_queued(lead, team, sla, now)
    if now < lead.due_at:
        return Wait("not due yet")
    if lead.breached_at is None:
        return MarkBreached(lead, f"first contact overdue since {lead.due_at.isoformat()}")
    if now < lead.due_at + policy.grace:
        return Wait("overdue, inside the grace period")
    if policy.mode == "notify_head" or lead.hops >= policy.max_hops:
        if lead.escalated or policy.head_user_id is None:
            return Wait("already escalated" if lead.escalated else "no team head to notify")
        why = "hop limit reached" if policy.mode == "reassign" else "team escalates to its head"
        return NotifyHead(lead, policy.head_user_id, f"first contact overdue; {why}")
    return _reassign(lead, team, sla, now)


def _assign_queued(
    lead: OpenFirstContact, team: TeamView | None, sla: timedelta, now: datetime
) -> SlaAction:
    if team is None:
        return Wait("queued without a team")
    result = assign(team.team_state(), team.member_states(), now)
    if result.user_id is None:
        return Wait(result.reason)
    return Assign(
        lead,
        result.user_id,
        f"from the queue: {result.reason}",
        _due(team, result.user_id, sla, now),
        result.new_team_state,
        "assigned",
    )


def _reassign(
    lead: OpenFirstContact, team: TeamView | None, sla: timedelta, now: datetime
) -> SlaAction:
    if team is None:
        return Wait("overdue, but the lead has no team")
    others = tuple(m for m in team.member_states() if m.user_id != lead.assignee_id)
    result = assign(team.team_state(), others, now)
    if result.user_id is None:
        return Wait(f"overdue, nobody else eligible ({result.reason})")
    reason = (
        f"SLA escalation {lead.hops + 1}: {team.name_of(lead.assignee_id)} missed the first"
        f" contact; {result.reason}"
    )
    return Assign(
        lead,
        result.user_id,
        reason,
        _due(team, result.user_id, sla, now),
        result.new_team_state,
        "reassigned",
    )


def _due(team: TeamView, user_id: int, sla: timedelta, now: datetime) -> datetime:
    member = team.member(user_id)
    if member is None:
        return now + sla
    return add_working_time(now, sla, member.working_hours, member.timezone, member.absences)


def after(team: TeamView, action: Assign) -> TeamView:
    """The team once the action's member got the lead (for the next decision)."""
    return team.after_assigning(action.to_user, action.team_state)
