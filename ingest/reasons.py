"""A decision's reasons as codes and parameters, for people to read in their language.

The pipeline explains each decision in English sentences that stay on the lead
(`NewLead.explanation`). The routing dry run shows the same decision to an admin in
Russian or English and in their time zone, so it needs what those sentences say as
data: which rule sent the inquiry to which team, who was skipped and why, who got it
by which strategy, the spam band and score, when the first contact is due. `explain`
derives that from the decision and the snapshot it was made from, using the same
pure routing functions (`matching_rule`, `why_ineligible`), so the two cannot drift.
Steps it cannot structure (a repeat customer, a record-only reason) are left to the
sentences. Pure: no clock, no I/O; imports only the pipeline's data and
parts (`ingest.decisions`, `ingest.decision_parts`) and routing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ingest.contract import Inquiry
from ingest.decision_parts import manual_owner
from ingest.decisions import Decision, NewLead, Snapshot, TeamView
from ingest.routing import matching_rule, why_ineligible

Param = str | int | float | None | list[dict[str, str | int | None]]


@dataclass(frozen=True, slots=True)
class Reason:
    """One step's reason: a stable `code` and the values its sentence needs."""

    code: str
    params: Mapping[str, Param] = field(default_factory=dict)


def explain(
    decision: Decision, inquiry: Inquiry, snapshot: Snapshot, now: datetime
) -> dict[str, Reason]:
    """Structured reasons by step ("team", "assignment", "spam", "deadline")."""
    if not isinstance(decision, NewLead):
        return {}
    by_id = {t.id: t for t in snapshot.teams.values()}
    team = by_id.get(decision.team_id) if decision.team_id is not None else None
    reasons = {
        "team": _team(inquiry, snapshot, team.name if team else None),
        "spam": _spam(decision),
    }
    reasons["assignment"] = _assignment(decision, inquiry, team, now)
    if decision.first_contact is not None:
        due = decision.first_contact.due_at
        reasons["deadline"] = Reason("first_contact_due", {"due_at": due.isoformat()})
    return reasons


def _team(inquiry: Inquiry, snapshot: Snapshot, chosen: str | None) -> Reason:
    if chosen is None:
        return Reason("no_team")
    matched = matching_rule(inquiry, snapshot.rules)
    wanted = matched.rule.team if matched else (inquiry.routing.team or snapshot.default_team)
    if wanted != chosen:
        # The rule's (or connector's) team does not exist: the default team took it.
        return Reason("missing_team", {"missing": wanted, "team": chosen})
    if matched is not None:
        shown = ", ".join(f"{name}={value}" for name, value in matched.criteria)
        return Reason(
            "rule",
            {
                "number": matched.number,
                "priority": matched.rule.priority,
                "conditions": shown or None,
                "team": chosen,
            },
        )
    if inquiry.routing.team:
        return Reason("connector_team", {"team": chosen})
    return Reason("default_team", {"team": chosen})


def _spam(decision: NewLead) -> Reason:
    # The band as the pipeline acted on it: junk, held for review, or let through.
    band = (
        "junk" if decision.status == "junk" else "suspicious" if decision.needs_review else "clean"
    )
    return Reason(f"spam_{band}", {"score": decision.spam_score})


def _assignment(
    decision: NewLead,
    inquiry: Inquiry,
    team: TeamView | None,
    now: datetime,
) -> Reason:
    if decision.status == "junk" and decision.assignee_id is None:
        return Reason("junk_unassigned")
    owner = manual_owner(inquiry)
    if owner is not None and decision.assignee_id == owner[0]:
        return Reason("by_hand", {"manager": owner[1]})
    if team is None:
        return Reason("no_team")
    skipped: list[dict[str, str | int | None]] = []
    for member in sorted(team.member_states(), key=lambda m: m.user_id):
        skip = why_ineligible(member, now)
        if skip is not None:
            skipped.append(
                {"name": member.name, "code": skip.code, "count": skip.count, "limit": skip.limit}
            )
    if decision.assignee_id is None:
        code = "queued_no_members" if not team.member_ids else "queued_no_eligible"
        return Reason(code, {"team": team.name, "skipped": skipped})
    manager = team.name_of(decision.assignee_id)
    if decision.assignment_reason.startswith("returning customer"):
        return Reason("sticky", {"manager": manager, "skipped": skipped})
    return Reason("assigned", {"manager": manager, "strategy": team.strategy, "skipped": skipped})
