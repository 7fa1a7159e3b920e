"""Member load: what assignment needs to know about a member's work, read from rows
that triggers keep.

Per user: leads assigned since UTC midnight (capacity's daily cap), open leads (new,
in progress) and planned first-contact activities. Counting them with GROUP BY over
`lead` and `activity` in every consumer batch grew with the store (issue 11); the
triggers of migration 0019 keep `member_load` and `member_day_load` exact in the same
statement that changes a lead or an activity, whatever code path runs it, so `loads`
reads one row per member (and one per member and day since midnight).

`recount` is the straight GROUP BY, kept as the reference that tests and `leadflow
counters` compare against; `repair` rebuilds the rows from it if they ever drift
(a restore of an old dump, a manual edit with the triggers off). Imports nothing of
ours outside `crm_store`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Date,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import core
from crm_store.models import Activity, Lead, MemberDayLoad, MemberLoad

OPEN = ("new", "in_progress")


@dataclass(frozen=True, slots=True)
class Figures:
    """Per user (open leads, pending first contacts) and per user and day (assigned)."""

    per_user: dict[int, tuple[int, int]] = field(default_factory=dict)
    per_day: dict[tuple[int, date], int] = field(default_factory=dict)


@functools.cache
def _loads_query(postgresql: bool) -> CompoundSelect[Any]:
    """Per member of `user_ids`: the kept row, and the sum of assignments from the day
    `today` on. One statement (a tagged UNION ALL) rather than two: the consumer
    reads this in every batch's transaction. Built once: constructing it every
    batch cost more than running it (issue 11)."""
    stored = select(
        literal("u"), MemberLoad.user_id, MemberLoad.open_leads, MemberLoad.pending_first_contacts
    ).where(core.one_of(MemberLoad.user_id, "user_ids", postgresql=postgresql))
    # `day >= today`, not `==`: a lead stamped after midnight counts, as in `recount`.
    today_assigned = (
        select(literal("d"), MemberDayLoad.user_id, func.sum(MemberDayLoad.assigned), literal(0))
        .where(
            core.one_of(MemberDayLoad.user_id, "user_ids", postgresql=postgresql),
            MemberDayLoad.day >= bindparam("today"),
        )
        .group_by(MemberDayLoad.user_id)
    )
    return union_all(stored, today_assigned)


async def loads(
    session: AsyncSession, user_ids: Sequence[int], now: datetime
) -> dict[int, tuple[int, int, int]]:
    """Per user: leads assigned since UTC midnight, open leads, first contacts pending."""
    params = {"user_ids": list(user_ids), "today": now.date()}
    per_user: dict[int, tuple[int, int]] = {}
    assigned: dict[int, int] = {}
    for tag, uid, first, second in await core.execute(
        session, _loads_query(core.on_postgresql(session)), params
    ):
        if tag == "u":
            per_user[uid] = (int(first), int(second))
        else:
            assigned[uid] = int(first or 0)
    return {uid: (int(assigned.get(uid) or 0), *per_user.get(uid, (0, 0))) for uid in user_ids}


async def recount_loads(
    session: AsyncSession, user_ids: Sequence[int], now: datetime
) -> dict[int, tuple[int, int, int]]:
    """The same as `loads` by GROUP BY over leads and activities (what 0019 replaced)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = dict(
        (
            await session.execute(
                select(Lead.assignee_id, func.count())
                .where(Lead.assignee_id.in_(user_ids), Lead.assigned_at >= midnight)
                .group_by(Lead.assignee_id)
            )
        ).all()
    )
    open_leads = dict(
        (
            await session.execute(
                select(Lead.assignee_id, func.count())
                .where(Lead.assignee_id.in_(user_ids), Lead.status.in_(OPEN))
                .group_by(Lead.assignee_id)
            )
        ).all()
    )
    pending = dict(
        (
            await session.execute(
                select(Activity.assignee_id, func.count())
                .where(
                    Activity.assignee_id.in_(user_ids),
                    Activity.status == "planned",
                    Activity.is_first_contact.is_(True),
                )
                .group_by(Activity.assignee_id)
            )
        ).all()
    )
    return {
        uid: (int(today.get(uid, 0)), int(open_leads.get(uid, 0)), int(pending.get(uid, 0)))
        for uid in user_ids
    }


def _utc_day(dialect: str) -> ColumnElement[date]:
    """The UTC day of `lead.assigned_at`, as the triggers of migration 0019 spell it."""
    if dialect == "sqlite":
        # Stored as naive UTC text; `date()` gives the ISO day, which Date reads back.
        return type_coerce(func.date(Lead.assigned_at), Date)
    return cast(func.timezone("UTC", Lead.assigned_at), Date)


async def recount(session: AsyncSession) -> Figures:
    """Every non-zero figure, counted from the leads and activities themselves."""
    open_leads = (
        select(Lead.assignee_id, func.count())
        .where(Lead.assignee_id.is_not(None), Lead.status.in_(OPEN))
        .group_by(Lead.assignee_id)
    )
    pending = (
        select(Activity.assignee_id, func.count())
        .where(
            Activity.assignee_id.is_not(None),
            Activity.status == "planned",
            Activity.is_first_contact.is_(True),
        )
        .group_by(Activity.assignee_id)
    )
    # The WHERE leaves no NULL user; the checks are for the type checker.
    per_user: dict[int, tuple[int, int]] = {}
    for uid, n in await session.execute(open_leads):
        if uid is not None:
            per_user[uid] = (int(n), 0)
    for uid, n in await session.execute(pending):
        if uid is not None:
            per_user[uid] = (per_user.get(uid, (0, 0))[0], int(n))
    day = _utc_day(session.get_bind().dialect.name)
    assigned = await session.execute(
        select(Lead.assignee_id, day, func.count())
        .where(Lead.assignee_id.is_not(None), Lead.assigned_at.is_not(None))
        .group_by(Lead.assignee_id, day)
    )
    per_day = {(uid, d): int(n) for uid, d, n in assigned if uid is not None}
    return Figures(per_user, per_day)


async def stored(session: AsyncSession) -> Figures:
    """Every non-zero figure as the triggers keep it."""
    per_user = {
        int(uid): (int(o), int(p))
        for uid, o, p in await session.execute(
            select(MemberLoad.user_id, MemberLoad.open_leads, MemberLoad.pending_first_contacts)
        )
        if (o, p) != (0, 0)
    }
    per_day = {
        (int(uid), day): int(n)
        for uid, day, n in await session.execute(
            select(MemberDayLoad.user_id, MemberDayLoad.day, MemberDayLoad.assigned)
        )
        if n != 0
    }
    return Figures(per_user, per_day)


def _wrong(a: Figures, b: Figures) -> dict[str, int]:
    return {
        "members": sum(
            a.per_user.get(k, (0, 0)) != b.per_user.get(k, (0, 0))
            for k in a.per_user.keys() | b.per_user.keys()
        ),
        "days": sum(
            a.per_day.get(k, 0) != b.per_day.get(k, 0) for k in a.per_day.keys() | b.per_day.keys()
        ),
    }


async def drift(session: AsyncSession) -> dict[str, int]:
    """How many members' rows and member-day rows disagree with the leads and activities."""
    return _wrong(await stored(session), await recount(session))


async def repair(session: AsyncSession) -> dict[str, int]:
    """Rebuild the rows from `recount`; returns how many were wrong."""
    if session.get_bind().dialect.name == "postgresql":
        # Writers wait until this transaction ends, so no change made meanwhile is
        # both missed by the recount and lost with the rows it is replaced by.
        await session.execute(text("LOCK TABLE lead, activity IN SHARE MODE"))
    right = await recount(session)
    wrong = _wrong(await stored(session), right)
    await session.execute(delete(MemberLoad))
    await session.execute(delete(MemberDayLoad))
    if right.per_user:
        await session.execute(
            insert(MemberLoad),
            [
                {"user_id": uid, "open_leads": o, "pending_first_contacts": p}
                for uid, (o, p) in right.per_user.items()
            ],
        )
    if right.per_day:
        await session.execute(
            insert(MemberDayLoad),
            [
                {"user_id": uid, "day": day, "assigned": n}
                for (uid, day), n in right.per_day.items()
            ],
        )
    return wrong
