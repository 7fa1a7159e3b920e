"""Reports per manager and per team over a period, scoped by who asks.

For the leads created in [start, end): how many, by channel; first-response time
(from the lead's creation to the first activity a person did on it, median and
p90, in minutes); SLA kept in % (first-contact activities done by their deadline,
of those done or overdue); converted and junk counts; leads per day by channel and
a first-response histogram for the charts. A manager's report holds only their own
leads (`crm_store.scope`). The arithmetic (`summarize`) is pure. Imports nothing of
ours outside `crm_store`.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.models import Activity, AppUser, Lead, Team
from crm_store.scope import lead_scope

BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 5 min", 5),
    ("5-15 min", 15),
    ("15-30 min", 30),
    ("30-60 min", 60),
    ("1-4 h", 240),
    ("> 4 h", math.inf),
)


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What a report needs of one lead."""

    id: uuid.UUID
    created_at: datetime
    channel: str
    status: str
    assignee_id: int | None
    team_id: int | None
    first_response_at: datetime | None
    sla_due_at: datetime | None
    sla_done_at: datetime | None


class ReportRow(BaseModel):
    id: int | None
    name: str
    received: int
    by_channel: dict[str, int]
    first_response_median_min: float | None
    first_response_p90_min: float | None
    sla_kept: int
    sla_missed: int
    sla_kept_pct: float | None
    converted: int
    junk: int


class DayRow(BaseModel):
    day: date
    by_channel: dict[str, int]


class Bucket(BaseModel):
    label: str
    count: int


class Report(BaseModel):
    start: datetime
    end: datetime
    total: ReportRow
    managers: list[ReportRow]
    teams: list[ReportRow]
    per_day: list[DayRow]
    first_response_histogram: list[Bucket]


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _minutes(facts: Iterable[LeadFacts]) -> list[float]:
    return [
        (f.first_response_at - f.created_at).total_seconds() / 60
        for f in facts
        if f.first_response_at is not None
    ]


def _sla(f: LeadFacts, now: datetime) -> bool | None:
    """True kept, False missed, None not decided yet (or no first contact)."""
    if f.sla_due_at is None:
        return None
    if f.sla_done_at is not None:
        return f.sla_done_at <= f.sla_due_at
    return False if f.sla_due_at < now else None


def summarize(
    facts: Sequence[LeadFacts], *, id_: int | None, name: str, now: datetime
) -> ReportRow:
    minutes = _minutes(facts)
    sla = Counter(_sla(f, now) for f in facts)
    kept, missed = sla[True], sla[False]
    statuses = Counter(f.status for f in facts)
    median = percentile(minutes, 50)
    p90 = percentile(minutes, 90)
    return ReportRow(
        id=id_,
        name=name,
        received=len(facts),
        by_channel=dict(sorted(Counter(f.channel for f in facts).items())),
        first_response_median_min=round(median, 1) if median is not None else None,
        first_response_p90_min=round(p90, 1) if p90 is not None else None,
        sla_kept=kept,
        sla_missed=missed,
        sla_kept_pct=round(100 * kept / (kept + missed), 1) if kept + missed else None,
        converted=statuses["converted"],
        junk=statuses["junk"],
    )


def _grouped(
    facts: Sequence[LeadFacts],
    key: Callable[[LeadFacts], int | None],
    names: dict[int, str],
    now: datetime,
) -> list[ReportRow]:
    groups: dict[int, list[LeadFacts]] = defaultdict(list)
    for f in facts:
        k = key(f)
        if k is not None:
            groups[k].append(f)
    rows = [summarize(g, id_=k, name=names.get(k, f"#{k}"), now=now) for k, g in groups.items()]
    return sorted(rows, key=lambda r: r.name)


def histogram(facts: Sequence[LeadFacts]) -> list[Bucket]:
    counts = Counter(next(label for label, upper in BUCKETS if m < upper) for m in _minutes(facts))
    return [Bucket(label=label, count=counts[label]) for label, _ in BUCKETS]


def per_day(facts: Sequence[LeadFacts]) -> list[DayRow]:
    days: dict[date, Counter[str]] = defaultdict(Counter)
    for f in facts:
        days[f.created_at.date()][f.channel] += 1
    return [DayRow(day=d, by_channel=dict(sorted(c.items()))) for d, c in sorted(days.items())]


async def report(
    session: AsyncSession,
    who: Principal,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    team_id: int | None = None,
    user_id: int | None = None,
) -> Report:
    facts = await lead_facts(session, who, start=start, end=end, team_id=team_id, user_id=user_id)
    users = dict((await session.execute(select(AppUser.id, AppUser.name))).all())
    teams = dict((await session.execute(select(Team.id, Team.name))).all())
    return Report(
        start=start,
        end=end,
        total=summarize(facts, id_=None, name="Total", now=now),
        managers=_grouped(facts, lambda f: f.assignee_id, users, now),
        teams=_grouped(facts, lambda f: f.team_id, teams, now),
        per_day=per_day(facts),
        first_response_histogram=histogram(facts),
    )


async def lead_facts(
    session: AsyncSession,
    who: Principal,
    *,
    start: datetime,
    end: datetime,
    team_id: int | None = None,
    user_id: int | None = None,
) -> list[LeadFacts]:
    leads = (
        select(Lead.id)
        .where(lead_scope(who), Lead.created_at >= start, Lead.created_at < end)
        .where(Lead.team_id == team_id if team_id is not None else Lead.id.is_not(None))
        .where(Lead.assignee_id == user_id if user_id is not None else Lead.id.is_not(None))
    )
    first_done = dict(
        (
            await session.execute(
                select(Activity.lead_id, func.min(Activity.done_at))
                .where(
                    Activity.lead_id.in_(leads),
                    Activity.status == "done",
                    Activity.direction != "inbound",
                )
                .group_by(Activity.lead_id)
            )
        ).all()
    )
    first_contact = {
        lead_id: (due, done)
        for lead_id, due, done in (
            await session.execute(
                select(Activity.lead_id, Activity.due_at, Activity.done_at).where(
                    Activity.lead_id.in_(leads), Activity.is_first_contact.is_(True)
                )
            )
        )
    }
    rows = await session.execute(
        select(
            Lead.id, Lead.created_at, Lead.channel, Lead.status, Lead.assignee_id, Lead.team_id
        ).where(Lead.id.in_(leads))
    )
    facts = []
    for lead_id, created_at, channel, status, assignee_id, team in rows:
        due, done = first_contact.get(lead_id, (None, None))
        first = first_done.get(lead_id)
        facts.append(
            LeadFacts(lead_id, created_at, channel, status, assignee_id, team, first, due, done)
        )
    return facts


CSV_COLUMNS = (
    "scope",
    "id",
    "name",
    "received",
    "first_response_median_min",
    "first_response_p90_min",
    "sla_kept",
    "sla_missed",
    "sla_kept_pct",
    "converted",
    "junk",
)


def csv_rows(rep: Report) -> list[list[str]]:
    """The report as CSV rows (a header first); channels become `received_<channel>`."""
    channels = sorted({c for r in [rep.total, *rep.managers, *rep.teams] for c in r.by_channel})
    header = [*CSV_COLUMNS, *(f"received_{c}" for c in channels)]
    out = [header]
    for scope, rows in (("manager", rep.managers), ("team", rep.teams), ("total", [rep.total])):
        for r in rows:
            values = r.model_dump()
            cells = [scope, *("" if values[c] is None else str(values[c]) for c in CSV_COLUMNS[1:])]
            out.append([*cells, *(str(r.by_channel.get(c, 0)) for c in channels)])
    return out
