"""The team board's numbers: one row per manager a head or admin may see, in one query.

Per manager: the counters of `crm_store.counters` (overdue, untouched, and what is
still due today), the load (open leads against the capacity of their team
membership), the first contacts due today that were kept or missed, and whether
they are absent now. "Today" is the viewer's day, given as a UTC interval by the
caller. Every number is a correlated subquery of the same SELECT over the users, each
answered from an index (migration 0014), so the board costs one round trip whether
the team has 5 managers or 50. Whether a manager is inside their working hours is
the caller's to judge from `working_hours` and `timezone` (`ingest.worktime`).
Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.counters import OPEN, late_first_contact, open_planned, untouched
from crm_store.models import Absence, Activity, AppUser, Lead, TeamMember
from crm_store.scope import user_scope

# As in crm_store.counters: SQLite uses the partial index only when this is repeated.
_FIRST_CONTACT = "activity.is_first_contact = true"


class BoardRow(BaseModel):
    user_id: int
    name: str
    active: bool
    timezone: str
    working_hours: dict[str, Any] | None
    overdue: int
    untouched: int
    due_today: int
    open_leads: int
    capacity: int | None
    sla_kept_today: int
    sla_late_today: int
    absent: bool


def _count(*where: Any) -> Any:
    return select(func.count()).where(*where).scalar_subquery()


def _first_contacts_today(day_start: datetime, day_end: datetime, *more: Any) -> Any:
    return _count(
        Activity.assignee_id == AppUser.id,
        text(_FIRST_CONTACT),
        Activity.due_at >= day_start,
        Activity.due_at < day_end,
        *more,
    )


async def board(
    session: AsyncSession,
    who: Principal,
    *,
    now: datetime,
    day_start: datetime,
    day_end: datetime,
) -> list[BoardRow]:
    """The managers `who` may see, active ones and inactive ones still holding leads."""
    capacity = (
        select(func.max(TeamMember.capacity))
        .where(TeamMember.user_id == AppUser.id, TeamMember.active.is_(True))
        .scalar_subquery()
    )
    kept = _first_contacts_today(
        day_start, day_end, Activity.status == "done", Activity.done_at <= Activity.due_at
    )
    late = _first_contacts_today(day_start, day_end, late_first_contact(now))
    absent = exists().where(
        Absence.user_id == AppUser.id, Absence.starts_at <= now, Absence.ends_at > now
    )
    stmt = (
        select(
            AppUser.id,
            AppUser.name,
            AppUser.active,
            AppUser.timezone,
            AppUser.working_hours,
            open_planned(Activity.due_at < now),
            untouched(),
            open_planned(and_(Activity.due_at >= now, Activity.due_at < day_end)),
            _count(Lead.assignee_id == AppUser.id, Lead.status.in_(OPEN)),
            capacity,
            kept,
            late,
            absent,
        )
        .where(AppUser.role == "manager", user_scope(who, AppUser.id))
        .order_by(AppUser.name, AppUser.id)
    )
    rows = [
        BoardRow(
            user_id=r[0],
            name=r[1],
            active=bool(r[2]),
            timezone=r[3] or "UTC",
            working_hours=r[4],
            overdue=r[5],
            untouched=r[6],
            due_today=r[7],
            open_leads=r[8],
            capacity=r[9],
            sla_kept_today=r[10],
            sla_late_today=r[11],
            absent=bool(r[12]),
        )
        for r in (await session.execute(stmt)).all()
    ]
    return [r for r in rows if r.active or r.open_leads]
