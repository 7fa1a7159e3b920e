"""A routing dry run: what the consumer would do with one inquiry, written nowhere.

`preview` reads the same snapshot the consumer reads (`batch_store.read_snapshot`,
without locking the teams) and calls the same pure `pipeline.decide`, so the answer
names the manager, team and reasons a real inquiry would get right now. The
session is only read; the caller owns it and must not commit it. `describe` is the
pure part: a decision as an `Outcome` the admin console can show. Imports the store
and the pipeline, never Kafka or the console.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import team_reads
from ingest.batch_store import read_snapshot
from ingest.contract import Inquiry
from ingest.decisions import (
    AppendToLead,
    Decision,
    LinkTelegram,
    LogActivity,
    NewLead,
    Policy,
    RecordOnly,
    TeamView,
)
from ingest.judgement import build_judgement
from ingest.pipeline import decide
from ingest.reasons import Reason, explain

Kind = Literal["new_lead", "junk_lead", "appended", "logged", "recorded_only", "telegram_link"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an inquiry would become. `reasons` are the pipeline's own sentences, by
    step (team, assignment, spam, deadline, ...), as they would land on the lead."""

    kind: Kind
    assignee_id: int | None
    assignee_name: str | None
    team: str | None
    reasons: Mapping[str, str] = field(default_factory=dict)
    # The same reasons as codes and parameters (`ingest.reasons`), where it has them.
    details: Mapping[str, Reason] = field(default_factory=dict)


def describe(decision: Decision, teams: Mapping[str, TeamView]) -> Outcome:
    """The admin's view of `decision`; names come from the snapshot's teams."""
    names = {uid: name for t in teams.values() for uid, name in t.member_names.items()}
    by_id = {t.id: t.name for t in teams.values()}

    def name(user_id: int | None) -> str | None:
        return None if user_id is None else names.get(user_id, f"user {user_id}")

    if isinstance(decision, NewLead):
        kind: Kind = "junk_lead" if decision.status == "junk" else "new_lead"
        reasons = dict(decision.explanation)
        reasons.setdefault("assignment", decision.assignment_reason)
        team = by_id.get(decision.team_id) if decision.team_id is not None else None
        return Outcome(kind, decision.assignee_id, name(decision.assignee_id), team, reasons)
    if isinstance(decision, AppendToLead):
        reasons = {"repeat": decision.reason}
        return Outcome("appended", decision.assignee_id, name(decision.assignee_id), None, reasons)
    if isinstance(decision, LogActivity):
        return Outcome("logged", None, None, None, {"repeat": decision.reason})
    if isinstance(decision, LinkTelegram):
        return Outcome("telegram_link", None, None, None, {"link": "a /link command"})
    if isinstance(decision, RecordOnly):
        return Outcome("recorded_only", None, None, None, {"record": decision.reason})
    raise TypeError(f"unknown decision {decision!r}")  # pragma: no cover - closed union


async def preview(
    session: AsyncSession,
    inquiry: Inquiry,
    now: datetime,
    *,
    policy: Policy,
    default_team: str | None,
) -> Outcome:
    """The consumer's decision for `inquiry` at `now`, from the store as it is."""
    judgement = build_judgement(await team_reads.load_judgement(session))
    snapshot, _rows = await read_snapshot(
        session,
        [inquiry],
        now,
        judgement=judgement,
        policy=policy,
        default_team=default_team,
        lock=False,
    )
    decision = decide(inquiry, snapshot, now, judgement.policy(policy))
    outcome = describe(decision, snapshot.teams)
    return replace(outcome, details=explain(decision, inquiry, snapshot, now))
