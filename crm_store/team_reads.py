"""What each consumer batch and watcher pass reads of the configuration: every team
with its active members, their load and absences (`load_teams`), and the admins'
inputs of the judgement: routing rules, blocklist, spam model, settings
(`load_judgement`). Returns plain dataclasses. Split out of `crm_store.intake`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, and_, bindparam, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import core, member_load
from crm_store.models import (
    Absence,
    AppUser,
    BlocklistEntry,
    RoutingRule,
    RuleSetting,
    SpamModel,
    Team,
    TeamMember,
)


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A team member with what assignment needs to know about them right now."""

    user_id: int
    name: str
    email: str
    timezone: str
    working_hours: dict[str, Any] | None
    capacity: int | None
    daily_cap: int | None
    weight: int
    absences: tuple[tuple[datetime, datetime], ...] = ()
    assigned_today: int = 0
    open_leads: int = 0
    pending_first_contacts: int = 0


@dataclass(frozen=True, slots=True)
class TeamRow:
    id: int
    name: str
    member_ids: tuple[int, ...]
    last_user_id: int | None
    member_names: dict[int, str]
    strategy: str = "round_robin"
    rotation_state: dict[str, Any] = field(default_factory=dict)
    members: tuple[MemberRow, ...] = ()


@functools.cache
def _teams_query(lock: bool) -> Select[Any]:
    # Built once: constructing a statement (and its cache key) every batch cost more
    # than running it (issue 11).
    stmt = select(
        Team.id, Team.name, Team.rr_last_user_id, Team.strategy, Team.rotation_state
    ).order_by(Team.id)
    return stmt.with_for_update() if lock else stmt


@functools.cache
def _members_query(unended_absences: bool) -> Select[Any]:
    """Active members, as columns (not ORM entities: every batch reads every member,
    and two objects per member cost more than the rest of the read), each with a row
    per absence that has not ended by the `now` parameter: one statement fewer per
    batch than reading absences apart."""
    unended = (
        and_(Absence.user_id == AppUser.id, Absence.ends_at > bindparam("now"))
        if unended_absences
        else false()
    )
    return (
        select(
            TeamMember.team_id,
            AppUser.id,
            AppUser.name,
            AppUser.email,
            AppUser.timezone,
            AppUser.working_hours,
            TeamMember.capacity,
            TeamMember.daily_cap,
            TeamMember.weight,
            Absence.starts_at,
            Absence.ends_at,
        )
        .join(AppUser, AppUser.id == TeamMember.user_id)
        .outerjoin(Absence, unended)
        .where(TeamMember.active.is_(True), AppUser.active.is_(True))
        .order_by(TeamMember.team_id, TeamMember.user_id, Absence.starts_at)
    )


async def load_teams(
    session: AsyncSession, *, lock: bool, now: datetime | None = None
) -> dict[str, TeamRow]:
    """Every team with its active members, their load and absences.

    `lock` holds the team rows (the rotation state) until the transaction ends on
    PostgreSQL, so two consumer processes never read the same cursor and assign
    the same next member. `now` (when given) counts today's assignments from UTC
    midnight and keeps only absences that have not ended.
    """
    teams = (await core.execute(session, _teams_query(lock))).all()
    rows = await core.execute(session, _members_query(now is not None), {"now": now} if now else {})
    members: dict[tuple[int, int], Row[Any]] = {}
    absences: dict[tuple[int, int], list[tuple[datetime, datetime]]] = {}
    for row in rows:
        key = (row.team_id, row.id)
        members.setdefault(key, row)
        if row.starts_at is not None:
            absences.setdefault(key, []).append((row.starts_at, row.ends_at))
    user_ids = sorted({user_id for _, user_id in members})
    # Rows kept by triggers (migration 0019): one per member, however big the store.
    loads = await member_load.loads(session, user_ids, now) if now and user_ids else {}
    by_team: dict[int, list[MemberRow]] = {}
    for (team_id, user_id), m in members.items():
        assigned, open_leads, pending = loads.get(user_id, (0, 0, 0))
        by_team.setdefault(team_id, []).append(
            MemberRow(
                user_id=user_id,
                name=m.name,
                email=m.email,
                timezone=m.timezone,
                working_hours=m.working_hours,
                capacity=m.capacity,
                daily_cap=m.daily_cap,
                weight=m.weight,
                absences=tuple(absences.get((team_id, user_id), ())),
                assigned_today=assigned,
                open_leads=open_leads,
                pending_first_contacts=pending,
            )
        )
    return {
        name: TeamRow(
            id=team_id,
            name=name,
            member_ids=tuple(m.user_id for m in by_team.get(team_id, [])),
            last_user_id=last,
            member_names={m.user_id: m.name for m in by_team.get(team_id, [])},
            strategy=strategy,
            rotation_state=dict(rotation or {}),
            members=tuple(by_team.get(team_id, [])),
        )
        for team_id, name, last, strategy, rotation in teams
    }


@dataclass(frozen=True, slots=True)
class JudgementData:
    """The admin-edited inputs of the judgement: rules, blocklist, classifier, settings."""

    rules: tuple[tuple[int, str, dict[str, str | None]], ...]
    blocklist: tuple[tuple[str, str], ...]
    classifier_state: dict[str, Any] | None
    settings: dict[str, dict[str, Any]]


async def load_judgement(session: AsyncSession) -> JudgementData:
    rules = await session.execute(
        select(RoutingRule, Team.name)
        .join(Team, Team.id == RoutingRule.team_id)
        .where(RoutingRule.active.is_(True))
        .order_by(RoutingRule.priority, RoutingRule.id)
    )
    criteria = ("channel", "form", "connector", "language", "phone_country",
                "phone_region_prefix", "utm_source", "utm_campaign")  # fmt: skip
    rule_rows = tuple(
        (rule.priority, team, {c: getattr(rule, c) for c in criteria}) for rule, team in rules
    )
    blocked = tuple(
        (kind, value)
        for kind, value in await session.execute(select(BlocklistEntry.kind, BlocklistEntry.value))
    )
    model = await session.scalar(select(SpamModel.state).where(SpamModel.name == "default"))
    rows = await session.execute(select(RuleSetting.key, RuleSetting.value))
    settings: dict[str, dict[str, Any]] = {key: value for key, value in rows}  # noqa: C416 (Result rows, not pairs)
    return JudgementData(rule_rows, blocked, model, settings)
