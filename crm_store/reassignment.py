"""A head's reassignment of open leads to another manager, one lead or hundreds at once.

All or nothing: every lead must be in the caller's scope (else `NotFound`, 404) and
open (else `WorkConflict`, 409); the target must be an active manager the caller may
see (else `TargetRefused`, 422). Each lead that changes hands gets what the SLA
watcher's reassignment writes (`ingest.watcher`): an `assignment_ledger` row of kind
"reassigned" with the reason (prefixed by who decided it) and a `lead.reassigned`
event, which the notifier turns into the new manager's notice. The lead's planned
activities of the previous manager, its first contact included, move with it, so the
overdue and untouched counters of both managers change in the same transaction. A
lead already with the target is left as it is. The caller owns the transaction.
Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.models import Activity, AppUser, AssignmentLedger, Lead, LeadEvent
from crm_store.people import NotFound
from crm_store.scope import lead_scope, user_scope
from crm_store.work import OPEN, WorkConflict

MAX_LEADS = 500


class TargetRefused(ValueError):
    """The chosen manager cannot take leads: unknown, inactive, not a manager, not yours."""


@dataclass(frozen=True, slots=True)
class Reassigned:
    moved: list[uuid.UUID]
    unchanged: list[uuid.UUID]
    manager_id: int
    manager_name: str


async def _target(session: AsyncSession, who: Principal, manager_id: int) -> AppUser:
    user = await session.get(AppUser, manager_id)
    if user is None or user.role != "manager":
        raise TargetRefused("Leads go to a manager: this person is not one.")
    if not user.active:
        raise TargetRefused("This manager is inactive and cannot take leads.")
    visible = await session.scalar(
        select(func.count()).where(AppUser.id == manager_id, user_scope(who, AppUser.id))
    )
    if not visible:
        raise TargetRefused("This manager is not in a team you head.")
    return user


async def reassign(
    session: AsyncSession,
    who: Principal,
    lead_ids: Sequence[uuid.UUID],
    *,
    manager_id: int,
    reason: str,
    now: datetime,
) -> Reassigned:
    """Give the leads to `manager_id`, writing the ledger, the events and the notices."""
    wanted = list(dict.fromkeys(lead_ids))
    if not wanted or len(wanted) > MAX_LEADS:
        raise TargetRefused(f"Choose from 1 to {MAX_LEADS} leads.")
    target = await _target(session, who, manager_id)
    stmt = select(Lead).where(Lead.id.in_(wanted), lead_scope(who)).order_by(Lead.id)
    if session.get_bind().dialect.name == "postgresql":
        # Two heads moving the same lead at once: the second waits, then sees the first.
        stmt = stmt.with_for_update(of=Lead)
    leads = list(await session.scalars(stmt))
    if len(leads) != len(wanted):
        raise NotFound("Some of these leads do not exist or are not yours to reassign.")
    closed = [lead for lead in leads if lead.status not in OPEN]
    if closed:
        raise WorkConflict(
            "Only new and in-progress leads can be reassigned; unselect the converted or junk ones."
        )
    said = f"{who.name}: {reason}"
    moved: list[uuid.UUID] = []
    unchanged: list[uuid.UUID] = []
    for lead in leads:
        if lead.assignee_id == target.id:
            unchanged.append(lead.id)
            continue
        previous = lead.assignee_id
        await session.execute(
            update(Activity)
            .where(
                Activity.lead_id == lead.id,
                Activity.status == "planned",
                (Activity.assignee_id == previous)
                if previous is not None
                else Activity.assignee_id.is_(None),
            )
            .values(assignee_id=target.id)
        )
        lead.assignee_id, lead.assigned_at, lead.updated_at = target.id, now, now
        lead.assignment_reason = said
        session.add(
            AssignmentLedger(
                id=uuid.uuid4(),
                lead_id=lead.id,
                kind="reassigned",
                from_user_id=previous,
                to_user_id=target.id,
                reason=said,
                created_at=now,
            )
        )
        due = lead.first_contact_due_at
        session.add(
            LeadEvent(
                id=uuid.uuid4(),
                lead_id=lead.id,
                type="lead.reassigned",
                payload={
                    "type": "lead.reassigned",
                    "lead_id": str(lead.id),
                    "channel": lead.channel,
                    "status": lead.status,
                    "at": now.isoformat(),
                    "from_user_id": previous,
                    "assignee_id": target.id,
                    "reason": said,
                    "by": who.user_id,
                    "first_contact_due_at": due.isoformat() if due else None,
                },
                created_at=now,
                published_at=None,
            )
        )
        moved.append(lead.id)
    await session.flush()
    return Reassigned(moved, unchanged, target.id, target.name)


@dataclass(frozen=True, slots=True)
class Target:
    id: int
    name: str


async def targets(session: AsyncSession, who: Principal) -> list[Target]:
    """The active managers `who` may give leads to (none for a manager)."""
    if who.role not in ("admin", "head"):
        return []
    rows = await session.execute(
        select(AppUser.id, AppUser.name)
        .where(AppUser.role == "manager", AppUser.active.is_(True), user_scope(who, AppUser.id))
        .order_by(AppUser.name, AppUser.id)
    )
    return [Target(user_id, name) for user_id, name in rows]
