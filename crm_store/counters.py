"""The counters: per manager, what is overdue or untouched, read from covering indexes.

`new_untouched` = new leads without any activity done by a manager; `overdue` =
planned activities past their deadline; `due_soon` = planned activities due within
15 minutes; `sla_breaches_today` = first-contact activities due today (UTC) that
were done late or are still open past their deadline. Only open leads (new, in
progress) count for the first three.

Counting these with GROUP BY over leads and activities at read time took seconds at
1M activities (issue 11). Instead, two flags are kept exact by database triggers
(migration 0014) in the same statement that changes an activity or a lead's status,
whatever code path runs it: `lead.manager_touched`, and `activity.lead_open` on
planned activities. The counters then count entries of covering indexes, one range
per user in scope.
Overdue depends on the clock, so it stays a range count over `due_at`, never a
stored number. `recount` is the straight GROUP BY, kept as the reference that tests
and `leadflow counters` compare against; `repair` fixes the flags if they ever drift.

The query must be as fast with a generic plan as with a custom one: asyncpg
prepares each statement, and from the sixth run PostgreSQL may reuse a plan made
without the bound values. So the fixed statuses are SQL literals, not parameters,
and "late" is a CASE, not an OR: with the OR over bound statuses the generic plan
read every first-contact row of the day from the heap (a bitmap scan), which made
the counters 4-7 times slower after their fifth call (issue 11, README).
Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    TextClause,
    and_,
    case,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.models import Activity, AppUser, Lead
from crm_store.scope import user_scope

DUE_SOON = timedelta(minutes=15)
OPEN = ("new", "in_progress")

# The WHERE of the partial index `ix_activity_first_contact` (migration 0014), table
# named: SQLite uses a partial index only when the query repeats its terms as written.
_FIRST_CONTACT = "activity.is_first_contact = true"
# Statuses as SQL literals, not bound parameters: a generic plan still knows them.
_NEW: ColumnClause[str] = literal_column("'new'")
_PLANNED: ColumnClause[str] = literal_column("'planned'")
_DONE: ColumnClause[str] = literal_column("'done'")

_TOUCHED = (
    "EXISTS (SELECT 1 FROM activity a WHERE a.lead_id = lead.id"
    " AND a.status = 'done' AND a.direction <> 'inbound')"
)
_LEAD_OPEN = (
    "EXISTS (SELECT 1 FROM lead l WHERE l.id = activity.lead_id"
    " AND l.status IN ('new', 'in_progress'))"
)
# Rows whose flag disagrees with what it summarises.
_DRIFT = {
    "lead": f"manager_touched <> {_TOUCHED}",
    # Only planned activities are counted, so only theirs is kept (fewer trigger runs).
    "activity": f"status = 'planned' AND lead_open <> {_LEAD_OPEN}",
}
_FIX = {"lead": "manager_touched", "activity": "lead_open"}


class Counters(BaseModel):
    new_untouched: int = 0
    overdue: int = 0
    due_soon: int = 0
    sla_breaches_today: int = 0


class UserCounters(BaseModel):
    user_id: int
    name: str
    counters: Counters


class CountersView(BaseModel):
    total: Counters
    by_user: list[UserCounters]


async def counters(session: AsyncSession, who: Principal, now: datetime) -> CountersView:
    """The counters of every user `who` may see, and their sum, in one query."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    stmt = select(
        AppUser.id,
        AppUser.name,
        untouched(),
        open_planned(Activity.due_at < now),
        open_planned(and_(Activity.due_at >= now, Activity.due_at < now + DUE_SOON)),
        _breaches(day, now),
    ).where(user_scope(who, AppUser.id))
    rows = (await session.execute(stmt)).all()
    per_user = {
        user_id: Counters(
            new_untouched=untouched, overdue=overdue, due_soon=soon, sla_breaches_today=breaches
        )
        for user_id, _, untouched, overdue, soon, breaches in rows
    }
    return _view(who, per_user, {row[0]: row[1] for row in rows})


def _count(*where: ColumnElement[bool] | TextClause) -> Any:
    return select(func.count()).where(*where).scalar_subquery()


def untouched() -> Any:
    """A user's new, untouched leads: a scalar subquery correlated on `AppUser.id`."""
    return _count(
        Lead.assignee_id == AppUser.id, Lead.status == _NEW, Lead.manager_touched == false()
    )


def open_planned(when: ColumnElement[bool]) -> Any:
    """A user's planned activities on open leads due `when`, correlated on `AppUser.id`."""
    return _count(
        Activity.assignee_id == AppUser.id,
        Activity.status == _PLANNED,
        Activity.lead_open == true(),
        when,
    )


def _breaches(day: datetime, now: datetime) -> Any:
    return _count(
        Activity.assignee_id == AppUser.id,
        text(_FIRST_CONTACT),
        Activity.due_at >= day,
        Activity.due_at < day + timedelta(days=1),
        late_first_contact(now),
    )


def late_first_contact(now: datetime) -> ColumnElement[bool]:
    """`_late(now)` as one CASE over the index's columns: the same rows, but with no OR
    a generic plan cannot turn it into a bitmap scan that reads every row of the day
    (on SQLite, two OR-free counts instead would scan the day's range twice)."""
    return case(
        (Activity.status == _DONE, Activity.done_at > Activity.due_at),
        (Activity.status == _PLANNED, Activity.due_at < now),
        else_=false(),
    )


def _late(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Activity.status == "done", Activity.done_at > Activity.due_at),
        and_(Activity.status == "planned", Activity.due_at < now),
    )


def _view(who: Principal, per_user: dict[int, Counters], names: dict[int, str]) -> CountersView:
    # A user with nothing to count is listed only when it is the caller.
    shown = {uid: c for uid, c in per_user.items() if uid == who.user_id or c != Counters()}
    shown.setdefault(who.user_id, Counters())
    by_user = [
        UserCounters(user_id=uid, name=names.get(uid, f"user {uid}"), counters=c)
        for uid, c in sorted(shown.items())
    ]
    total = Counters(
        **{
            field: sum(getattr(u.counters, field) for u in by_user)
            for field in Counters.model_fields
        }
    )
    return CountersView(total=total, by_user=by_user)


# --- the reference and the repair ---------------------------------------------------


async def recount(session: AsyncSession, who: Principal, now: datetime) -> CountersView:
    """The same counters by GROUP BY over leads and activities, ignoring the flags."""
    per_user: dict[int, Counters] = {}

    def add(rows: Any, name: str) -> None:
        for user_id, n in rows:
            if user_id is not None:
                setattr(per_user.setdefault(user_id, Counters()), name, int(n))

    add(await session.execute(_recount_untouched(who)), "new_untouched")
    open_activity = and_(
        Activity.status == "planned",
        Activity.lead_id.in_(select(Lead.id).where(Lead.status.in_(OPEN))),
        user_scope(who, Activity.assignee_id),
    )
    for name, clause in (
        ("overdue", Activity.due_at < now),
        ("due_soon", and_(Activity.due_at >= now, Activity.due_at < now + DUE_SOON)),
    ):
        add(await session.execute(_by_assignee(and_(open_activity, clause))), name)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first_contact_today = and_(
        Activity.is_first_contact.is_(True),
        Activity.due_at >= day,
        Activity.due_at < day + timedelta(days=1),
    )
    breaches = and_(first_contact_today, user_scope(who, Activity.assignee_id), _late(now))
    add(await session.execute(_by_assignee(breaches)), "sla_breaches_today")
    users = select(AppUser.id, AppUser.name).where(AppUser.id.in_([*per_user, who.user_id]))
    return _view(who, per_user, dict((await session.execute(users)).all()))


def _recount_untouched(who: Principal) -> Any:
    touched = exists().where(
        Activity.lead_id == Lead.id, Activity.status == "done", Activity.direction != "inbound"
    )
    return (
        select(Lead.assignee_id, func.count())
        .where(
            Lead.status == "new",
            Lead.assignee_id.is_not(None),
            user_scope(who, Lead.assignee_id),
            ~touched,
        )
        .group_by(Lead.assignee_id)
    )


def _by_assignee(clause: ColumnElement[bool]) -> Any:
    return select(Activity.assignee_id, func.count()).where(clause).group_by(Activity.assignee_id)


async def drift(session: AsyncSession) -> dict[str, int]:
    """How many leads and activities carry a flag that disagrees with the rows."""
    return {
        table: int(await session.scalar(text(f"SELECT count(*) FROM {table} WHERE {where}")) or 0)
        for table, where in _DRIFT.items()
    }


async def repair(session: AsyncSession) -> dict[str, int]:
    """Set every drifted flag right; returns how many rows were fixed per table."""
    fixed = {}
    for table, where in _DRIFT.items():
        flag = _FIX[table]
        result = await session.execute(
            text(f"UPDATE {table} SET {flag} = NOT {flag} WHERE {where}")
        )
        fixed[table] = int(getattr(result, "rowcount", 0) or 0)
    return fixed
