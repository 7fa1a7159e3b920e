"""Store access for the ingest consumer: one snapshot read, one batched write.

Plain Core statements (no ORM unit of work) because the consumer writes hundreds of
rows per transaction; the ids are made by the caller, so no RETURNING is needed.
Returns plain dataclasses. Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.models import (
    Activity,
    AppUser,
    Contact,
    ContactIdentity,
    InquiryRecord,
    Lead,
    LeadEvent,
    Team,
    TeamMember,
)

# Keeps each IN (...) list well under SQLite's bound-parameter limit.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class TeamRow:
    id: int
    name: str
    member_ids: tuple[int, ...]
    last_user_id: int | None
    member_names: dict[int, str]


@dataclass(slots=True)
class IntakeRows:
    """Rows to insert in one transaction, as column-name dicts."""

    contacts: list[dict[str, Any]] = field(default_factory=list)
    identities: list[dict[str, Any]] = field(default_factory=list)
    leads: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    inquiries: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    team_cursors: dict[int, int | None] = field(default_factory=dict)


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


async def known_idempotency_keys(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(keys):
        rows = await session.scalars(
            select(InquiryRecord.idempotency_key).where(InquiryRecord.idempotency_key.in_(chunk))
        )
        found.update(rows)
    return found


async def find_contacts(
    session: AsyncSession, identities: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], uuid.UUID]:
    wanted = set(identities)
    values = sorted({value for _, value in wanted})
    found: dict[tuple[str, str], uuid.UUID] = {}
    for chunk in _chunks(values):
        rows = await session.execute(
            select(ContactIdentity.kind, ContactIdentity.value, ContactIdentity.contact_id).where(
                ContactIdentity.value.in_(chunk)
            )
        )
        for kind, value, contact_id in rows:
            if (kind, value) in wanted:
                found[(kind, value)] = contact_id
    return found


async def load_teams(session: AsyncSession, *, lock: bool) -> dict[str, TeamRow]:
    """Every team with its active members; `lock` holds the rotation cursors.

    On PostgreSQL the team rows stay locked until the transaction ends, so two
    consumer processes never read the same cursor and assign the same next member.
    """
    stmt = select(Team.id, Team.name, Team.rr_last_user_id).order_by(Team.id)
    if lock:
        stmt = stmt.with_for_update()
    teams = (await session.execute(stmt)).all()
    members = await session.execute(
        select(TeamMember.team_id, TeamMember.user_id, AppUser.name)
        .join(AppUser, AppUser.id == TeamMember.user_id)
        .where(TeamMember.active.is_(True), AppUser.active.is_(True))
        .order_by(TeamMember.team_id, TeamMember.user_id)
    )
    by_team: dict[int, dict[int, str]] = {}
    for team_id, user_id, user_name in members:
        by_team.setdefault(team_id, {})[user_id] = user_name
    return {
        name: TeamRow(
            team_id, name, tuple(by_team.get(team_id, {})), last, by_team.get(team_id, {})
        )
        for team_id, name, last in teams
    }


async def write_intake(session: AsyncSession, rows: IntakeRows) -> None:
    """Insert a batch's rows, parents before children, and move the cursors."""
    for model, values in (
        (Contact, rows.contacts),
        (ContactIdentity, rows.identities),
        (Lead, rows.leads),
        (Activity, rows.activities),
        (InquiryRecord, rows.inquiries),
        (LeadEvent, rows.events),
    ):
        if values:
            await session.execute(insert(model), values)
    for team_id, last in rows.team_cursors.items():
        await session.execute(update(Team).where(Team.id == team_id).values(rr_last_user_id=last))


async def unpublished_events(
    session: AsyncSession, limit: int = 1000
) -> list[tuple[uuid.UUID, str, dict[str, Any]]]:
    rows = await session.execute(
        select(LeadEvent.id, LeadEvent.type, LeadEvent.payload)
        .where(LeadEvent.published_at.is_(None))
        .order_by(LeadEvent.created_at)
        .limit(limit)
    )
    return [(event_id, type_, payload) for event_id, type_, payload in rows]


async def mark_published(session: AsyncSession, ids: Sequence[uuid.UUID], at: datetime) -> None:
    for start in range(0, len(ids), _CHUNK):
        await session.execute(
            update(LeadEvent)
            .where(LeadEvent.id.in_(ids[start : start + _CHUNK]))
            .values(published_at=at)
        )
