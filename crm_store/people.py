"""People: users, teams and members, absences, and API tokens, for the admin console.

Every function takes plain values and returns pydantic views (never ORM rows).
Conflicts (a taken email or team name, an unknown id) raise `PeopleError` with a
sentence for the API to show. Tokens are stored as SHA-256 only; the clear token is
returned once, at creation. Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import accounts
from crm_store.accounts import Principal
from crm_store.models import Absence, ApiToken, AppUser, Team, TeamMember


class PeopleError(ValueError):
    """An admin change that cannot be made: taken name, unknown id."""


class NotFound(LookupError):
    """No such row (or not visible to the caller)."""


class UserView(BaseModel):
    id: int
    email: str
    name: str
    role: str
    active: bool
    timezone: str
    language: str | None = None
    working_hours: dict[str, Any] | None
    has_password: bool
    created_at: datetime


class MemberView(BaseModel):
    user_id: int
    name: str
    capacity: int
    daily_cap: int | None
    weight: int
    active: bool


class TeamView(BaseModel):
    id: int
    name: str
    strategy: str
    head_user_id: int | None
    escalation: str
    escalation_grace_minutes: int
    escalation_max_hops: int
    members: list[MemberView]


class AbsenceView(BaseModel):
    id: int
    user_id: int
    starts_at: datetime
    ends_at: datetime
    reason: str | None


class TokenView(BaseModel):
    id: int
    user_id: int
    name: str
    created_at: datetime
    revoked_at: datetime | None


def _user_view(u: AppUser) -> UserView:
    return UserView(
        id=u.id,
        email=u.email,
        name=u.name,
        role=u.role,
        active=u.active,
        timezone=u.timezone,
        language=u.language,
        working_hours=u.working_hours,
        has_password=u.password_hash is not None,
        created_at=u.created_at,
    )


async def list_users(session: AsyncSession) -> list[UserView]:
    return [_user_view(u) for u in await session.scalars(select(AppUser).order_by(AppUser.id))]


async def get_user(session: AsyncSession, user_id: int) -> UserView:
    user = await session.get(AppUser, user_id)
    if user is None:
        raise NotFound("There is no user with this id.")
    return _user_view(user)


async def create_user(
    session: AsyncSession, *, values: dict[str, Any], password_hash: str | None, now: datetime
) -> UserView:
    email = str(values["email"]).strip().lower()
    if await session.scalar(select(AppUser.id).where(AppUser.email == email)) is not None:
        raise PeopleError(f"A user with the email {email} exists already.")
    user = AppUser(**{**values, "email": email}, password_hash=password_hash, created_at=now)
    session.add(user)
    await session.flush()
    return _user_view(user)


async def update_user(
    session: AsyncSession, user_id: int, *, values: dict[str, Any], password_hash: str | None
) -> UserView:
    user = await session.get(AppUser, user_id)
    if user is None:
        raise NotFound("There is no user with this id.")
    for key, value in values.items():
        setattr(user, key, value)
    if password_hash is not None:
        user.password_hash = password_hash
    await session.flush()
    return _user_view(user)


async def list_teams(session: AsyncSession) -> list[TeamView]:
    teams = list(await session.scalars(select(Team).order_by(Team.id)))
    rows = await session.execute(
        select(TeamMember, AppUser.name)
        .join(AppUser, AppUser.id == TeamMember.user_id)
        .order_by(TeamMember.team_id, TeamMember.user_id)
    )
    members: dict[int, list[MemberView]] = {}
    for m, name in rows:
        members.setdefault(m.team_id, []).append(
            MemberView(
                user_id=m.user_id,
                name=name,
                capacity=m.capacity,
                daily_cap=m.daily_cap,
                weight=m.weight,
                active=m.active,
            )
        )
    return [
        TeamView(
            id=t.id,
            name=t.name,
            strategy=t.strategy,
            head_user_id=t.head_user_id,
            escalation=t.escalation,
            escalation_grace_minutes=t.escalation_grace_minutes,
            escalation_max_hops=t.escalation_max_hops,
            members=members.get(t.id, []),
        )
        for t in teams
    ]


async def get_team(session: AsyncSession, team_id: int) -> TeamView:
    for team in await list_teams(session):
        if team.id == team_id:
            return team
    raise NotFound("There is no team with this id.")


async def save_team(
    session: AsyncSession, team_id: int | None, *, values: dict[str, Any], now: datetime
) -> TeamView:
    """Create a team (`team_id` None) or change one; names stay unique."""
    name = values.get("name")
    if name is not None:
        clash = await session.scalar(select(Team.id).where(Team.name == name))
        if clash is not None and clash != team_id:
            raise PeopleError(f"A team called {name!r} exists already.")
    head = values.get("head_user_id")
    if head is not None and await session.get(AppUser, head) is None:
        raise PeopleError("head_user_id names no user.")
    if team_id is None:
        team = Team(created_at=now, rotation_state={})
        session.add(team)
    else:
        found = await session.get(Team, team_id)
        if found is None:
            raise NotFound("There is no team with this id.")
        team = found
    for key, value in values.items():
        setattr(team, key, value)
    await session.flush()
    return await get_team(session, team.id)


async def save_member(
    session: AsyncSession, team_id: int, user_id: int, *, values: dict[str, Any]
) -> TeamView:
    if await session.get(Team, team_id) is None:
        raise NotFound("There is no team with this id.")
    if await session.get(AppUser, user_id) is None:
        raise PeopleError("user_id names no user.")
    member = await session.scalar(
        select(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
    )
    if member is None:
        member = TeamMember(team_id=team_id, user_id=user_id)
        session.add(member)
    for key, value in values.items():
        setattr(member, key, value)
    await session.flush()
    return await get_team(session, team_id)


async def remove_member(session: AsyncSession, team_id: int, user_id: int) -> None:
    result = await session.execute(
        delete(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound("This user is not a member of this team.")


async def list_absences(session: AsyncSession, user_id: int | None = None) -> list[AbsenceView]:
    stmt = select(Absence).order_by(Absence.starts_at, Absence.id)
    if user_id is not None:
        stmt = stmt.where(Absence.user_id == user_id)
    return [_absence_view(a) for a in await session.scalars(stmt)]


def _absence_view(a: Absence) -> AbsenceView:
    return AbsenceView(
        id=a.id, user_id=a.user_id, starts_at=a.starts_at, ends_at=a.ends_at, reason=a.reason
    )


async def add_absence(session: AsyncSession, *, values: dict[str, Any]) -> AbsenceView:
    if await session.get(AppUser, values["user_id"]) is None:
        raise PeopleError("user_id names no user.")
    absence = Absence(**values)
    session.add(absence)
    await session.flush()
    return _absence_view(absence)


async def remove_absence(session: AsyncSession, absence_id: int) -> None:
    result = await session.execute(delete(Absence).where(Absence.id == absence_id))
    if not getattr(result, "rowcount", 0):
        raise NotFound("There is no absence with this id.")


async def list_tokens(session: AsyncSession, who: Principal) -> list[TokenView]:
    stmt = select(ApiToken).order_by(ApiToken.id)
    if who.role != "admin":
        stmt = stmt.where(ApiToken.user_id == who.user_id)
    return [
        TokenView(
            id=t.id,
            user_id=t.user_id,
            name=t.name,
            created_at=t.created_at,
            revoked_at=t.revoked_at,
        )
        for t in await session.scalars(stmt)
    ]


async def create_token(
    session: AsyncSession, *, user_id: int, name: str, now: datetime
) -> tuple[TokenView, str]:
    if await session.get(AppUser, user_id) is None:
        raise PeopleError("user_id names no user.")
    clear = await accounts.add_token(session, user_id=user_id, name=name, now=now)
    token = await session.scalar(
        select(ApiToken).where(ApiToken.token_hash == accounts.hash_token(clear))
    )
    assert token is not None
    view = TokenView(id=token.id, user_id=user_id, name=name, created_at=now, revoked_at=None)
    return view, clear


async def revoke_token(session: AsyncSession, who: Principal, token_id: int, now: datetime) -> None:
    """Revoke a token of the caller's (an admin may revoke anyone's)."""
    stmt = select(ApiToken).where(ApiToken.id == token_id)
    if who.role != "admin":
        stmt = stmt.where(ApiToken.user_id == who.user_id)
    token = await session.scalar(stmt)
    if token is None:
        raise NotFound("There is no token with this id.")
    if token.revoked_at is None:
        token.revoked_at = now
    await session.flush()
