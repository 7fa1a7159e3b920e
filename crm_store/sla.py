"""Store side of the SLA watcher: leads whose first contact is queued or overdue,
the teams' escalation policies, and the classifier's pending junk marks.

On PostgreSQL the candidate leads are locked `FOR UPDATE SKIP LOCKED`, so several
watcher processes share the work without ever handling one lead twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.models import Activity, AssignmentLedger, Lead, SpamMark, SpamModel, Team


@dataclass(frozen=True, slots=True)
class FirstContactRow:
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
class TeamPolicyRow:
    mode: str
    grace_minutes: int
    max_hops: int
    head_user_id: int | None


# Where the last page of breached leads ended, in their order (breached at, the lead's
# due time, lead id), or None for the start.
BreachedCursor = tuple[datetime, datetime, uuid.UUID] | None


@dataclass(frozen=True, slots=True)
class PendingFirstContacts:
    rows: list[FirstContactRow]
    # Where the next pass's page of breached leads starts.
    breached_after: BreachedCursor


async def pending_first_contacts(
    session: AsyncSession,
    now: datetime,
    *,
    limit: int = 200,
    skip_locked: bool = False,
    breached_after: BreachedCursor = None,
) -> PendingFirstContacts:
    """New leads that are queued (no assignee) or whose first contact is past due.

    Leads not yet marked breached come first, oldest due first: each needs an action
    now (an assignment, a breach mark). Breached leads fill the rest of the page in
    (breached at, due, lead id) order after `breached_after`, so the caller pages
    through them pass after pass: a lead that waits on something (a one-manager team
    has nobody to reassign to, a team has no head) stays in this set, and with the
    oldest 200 first, 200 such leads once hid every later one from the watcher. A
    queued lead without a team has no one to go to: it is not returned.

    Each read walks `ix_lead_status_sla` (migration 0022) in its order and stops at
    its page, instead of sorting every `new` lead.
    """
    unbreached = await _read(
        session,
        _candidates(Lead.sla_breached_at.is_(None))
        .order_by(Lead.first_contact_due_at, Lead.id)
        .where(
            or_(
                and_(Lead.assignee_id.is_(None), Lead.team_id.is_not(None)),
                Activity.due_at <= now,
            )
        )
        .limit(limit),
        skip_locked,
    )
    breached_stmt = (
        _candidates(Lead.sla_breached_at.is_not(None))
        .where(Activity.due_at <= now, Lead.first_contact_due_at.is_not(None))
        .order_by(Lead.sla_breached_at, Lead.first_contact_due_at, Lead.id)
    )
    if breached_after is not None:
        order = (Lead.sla_breached_at, Lead.first_contact_due_at, Lead.id)
        after = (literal(v, c.type) for v, c in zip(breached_after, order, strict=True))
        breached_stmt = breached_stmt.where(tuple_(*order) > tuple_(*after))
    room = limit - len(unbreached)
    breached = await _read(session, breached_stmt.limit(room), skip_locked) if room > 0 else []
    rows = unbreached + breached
    return PendingFirstContacts(
        await _first_contact_rows(session, rows), _after_page(breached, room, breached_after)
    )


def _after_page(
    breached: Sequence[Row[*CandidateRow]], room: int, current: BreachedCursor
) -> BreachedCursor:
    """Where the next pass's breached page starts: after this page's last lead; from
    the first (None) once a page came back short, as every breached lead has then had
    its turn; where this one did when the pass had no room for any."""
    if room <= 0:
        return current
    if len(breached) < room:
        return None
    lead_id, *_, breached_at, _hops, lead_due = breached[-1]
    return None if breached_at is None or lead_due is None else (breached_at, lead_due, lead_id)


async def _first_contact_rows(
    session: AsyncSession, rows: Sequence[Row[*CandidateRow]]
) -> list[FirstContactRow]:
    escalated = set(
        await session.scalars(
            select(AssignmentLedger.lead_id).where(
                AssignmentLedger.kind == "escalated",
                AssignmentLedger.lead_id.in_([r[0] for r in rows]),
            )
        )
    ) if rows else set()  # fmt: skip
    return [
        FirstContactRow(lead, activity, channel, assignee, team, due, breached_at, hops,
                        lead in escalated)
        for lead, activity, channel, assignee, team, due, breached_at, hops, _ in rows
        if due is not None
    ]  # fmt: skip


CandidateRow = tuple[
    uuid.UUID, uuid.UUID, str, int | None, int | None,
    datetime | None, datetime | None, int, datetime | None,
]  # fmt: skip
Candidates = Select[*CandidateRow]


def _candidates(breach: ColumnElement[bool]) -> Candidates:
    """The `new` leads, breached or not as `breach` says, with a planned first contact."""
    return (
        select(
            Lead.id, Activity.id, Lead.channel, Lead.assignee_id, Lead.team_id,
            Activity.due_at, Lead.sla_breached_at, Lead.escalation_hops,
            Lead.first_contact_due_at,
        )
        .join(Activity, Activity.lead_id == Lead.id)
        .where(
            Lead.status == "new",
            breach,
            Activity.is_first_contact.is_(True),
            Activity.status == "planned",
        )
    )  # fmt: skip


async def _read(
    session: AsyncSession, stmt: Candidates, skip_locked: bool
) -> list[Row[*CandidateRow]]:
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True, of=Lead)
    return list((await session.execute(stmt)).all())


async def team_policies(session: AsyncSession) -> dict[int, TeamPolicyRow]:
    rows = await session.execute(
        select(
            Team.id, Team.escalation, Team.escalation_grace_minutes,
            Team.escalation_max_hops, Team.head_user_id,
        )
    )  # fmt: skip
    return {
        team_id: TeamPolicyRow(mode, grace, hops, head) for team_id, mode, grace, hops, head in rows
    }


async def assign_lead(
    session: AsyncSession,
    *,
    lead_id: uuid.UUID,
    activity_id: uuid.UUID,
    to_user: int,
    due_at: datetime,
    now: datetime,
    hop: bool,
) -> None:
    values: dict[str, Any] = {
        "assignee_id": to_user,
        "assigned_at": now,
        "first_contact_due_at": due_at,
        "updated_at": now,
    }
    if hop:
        values["escalation_hops"] = Lead.escalation_hops + 1
    await session.execute(update(Lead).where(Lead.id == lead_id).values(**values))
    await session.execute(
        update(Activity)
        .where(Activity.id == activity_id)
        .values(assignee_id=to_user, due_at=due_at)
    )


async def mark_breached(session: AsyncSession, lead_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(Lead)
        .where(Lead.id == lead_id, Lead.sla_breached_at.is_(None))
        .values(sla_breached_at=now, updated_at=now)
    )


async def pending_marks(
    session: AsyncSession, limit: int = 500
) -> list[tuple[uuid.UUID, str, bool]]:
    rows = await session.execute(
        select(SpamMark.id, SpamMark.text, SpamMark.is_junk)
        .where(SpamMark.learned_at.is_(None))
        .order_by(SpamMark.created_at)
        .limit(limit)
    )
    return [(mark_id, text, is_junk) for mark_id, text, is_junk in rows]


async def lock_model(session: AsyncSession, name: str, *, lock: bool) -> dict[str, Any] | None:
    stmt = select(SpamModel.state).where(SpamModel.name == name)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def save_model(
    session: AsyncSession,
    name: str,
    state: dict[str, Any],
    learned: Sequence[uuid.UUID],
    now: datetime,
) -> None:
    existing = await session.get(SpamModel, name)
    if existing is None:
        session.add(SpamModel(name=name, state=state, version=1, updated_at=now))
    else:
        existing.state = state
        existing.version += 1
        existing.updated_at = now
    if learned:
        await session.execute(
            update(SpamMark).where(SpamMark.id.in_(list(learned))).values(learned_at=now)
        )
