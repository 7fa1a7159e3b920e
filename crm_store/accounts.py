"""Users, teams, API tokens and forms: the configuration side of the store.

Tokens are random, shown once, and stored as SHA-256 only. Upserts here serve both
the demo seed and "configuration as code" from the TOML file.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.models import ApiToken, AppUser, FormDefinition, Team, TeamMember


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    name: str
    role: str
    # The IANA zone the console shows this person's times in (their own setting).
    timezone: str = "UTC"
    # The console's language for this person; None: their browser's Accept-Language.
    language: str | None = None


@dataclass(frozen=True, slots=True)
class FormRow:
    slug: str
    name: str
    team: str | None
    fields: list[dict[str, Any]]
    honeypot_field: str | None
    allowed_origins: list[str]
    redirect_url: str | None
    language: str | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "lf_" + secrets.token_urlsafe(32)


async def principal_for_token(session: AsyncSession, token: str) -> Principal | None:
    row = (
        await session.execute(
            select(AppUser.id, AppUser.name, AppUser.role, AppUser.timezone, AppUser.language)
            .join(ApiToken, ApiToken.user_id == AppUser.id)
            .where(
                ApiToken.token_hash == hash_token(token),
                ApiToken.revoked_at.is_(None),
                AppUser.active.is_(True),
            )
        )
    ).first()
    return Principal(row[0], row[1], row[2], row[3], row[4]) if row else None


async def upsert_user(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    role: str,
    now: datetime,
    active: bool = True,
    timezone: str = "UTC",
    working_hours: Mapping[str, Sequence[Sequence[str]]] | None = None,
    language: str | None = None,
) -> int:
    """Create or update the user `email`; `working_hours` or `language` None keeps the
    stored ones (a language the person chose in the console survives a restart)."""
    user = await session.scalar(select(AppUser).where(AppUser.email == email.lower()))
    if user is None:
        user = AppUser(email=email.lower(), created_at=now, name=name, role=role)
        session.add(user)
    user.name, user.role, user.active, user.timezone = name, role, active, timezone
    if language is not None:
        user.language = language
    if working_hours is not None:
        user.working_hours = {
            day: [list(span) for span in spans] for day, spans in working_hours.items()
        }
    await session.flush()
    return user.id


async def set_language(session: AsyncSession, user_id: int, language: str | None) -> None:
    """The person's own choice of the console's language (None: their browser decides)."""
    user = await session.get(AppUser, user_id)
    if user is not None:
        user.language = language
        await session.flush()


async def upsert_team(session: AsyncSession, *, name: str, strategy: str, now: datetime) -> int:
    team = await session.scalar(select(Team).where(Team.name == name))
    if team is None:
        team = Team(name=name, created_at=now)
        session.add(team)
    team.strategy = strategy
    await session.flush()
    return team.id


async def upsert_member(
    session: AsyncSession, *, team_id: int, user_id: int, capacity: int, active: bool
) -> None:
    member = await session.scalar(
        select(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
    )
    if member is None:
        member = TeamMember(team_id=team_id, user_id=user_id)
        session.add(member)
    member.capacity, member.active = capacity, active
    await session.flush()


async def add_token(
    session: AsyncSession, *, user_id: int, name: str, now: datetime, token: str | None = None
) -> str:
    """Store a token for the user and return its clear text (shown once)."""
    clear = token or new_token()
    existing = await session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_token(clear))
    )
    if existing is None:
        session.add(
            ApiToken(user_id=user_id, name=name, token_hash=hash_token(clear), created_at=now)
        )
        await session.flush()
    return clear


async def upsert_form(
    session: AsyncSession,
    *,
    slug: str,
    name: str,
    team: str | None,
    fields: list[dict[str, Any]],
    honeypot_field: str | None,
    allowed_origins: list[str],
    redirect_url: str | None,
    now: datetime,
    language: str | None = None,
) -> None:
    team_id = await session.scalar(select(Team.id).where(Team.name == team)) if team else None
    form = await session.scalar(select(FormDefinition).where(FormDefinition.slug == slug))
    if form is None:
        form = FormDefinition(slug=slug, created_at=now)
        session.add(form)
    form.name, form.team_id, form.fields = name, team_id, fields
    form.honeypot_field, form.allowed_origins = honeypot_field, allowed_origins
    form.redirect_url, form.updated_at, form.active = redirect_url, now, True
    form.language = language
    await session.flush()


async def list_forms(session: AsyncSession) -> list[FormRow]:
    rows = await session.execute(
        select(FormDefinition, Team.name)
        .outerjoin(Team, Team.id == FormDefinition.team_id)
        .where(FormDefinition.active.is_(True))
        .order_by(FormDefinition.slug)
    )
    return [
        FormRow(
            slug=f.slug,
            name=f.name,
            team=team,
            fields=list(f.fields),
            honeypot_field=f.honeypot_field,
            allowed_origins=list(f.allowed_origins),
            redirect_url=f.redirect_url,
            language=f.language,
        )
        for f, team in rows
    ]


async def is_empty(session: AsyncSession) -> bool:
    return await session.scalar(select(AppUser.id).limit(1)) is None
