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

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.models import (
    Activity,
    AppUser,
    Contact,
    ContactIdentity,
    InquiryRecord,
    Lead,
    LeadEvent,
    MessageRef,
    OutboundRecord,
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


@dataclass(frozen=True, slots=True)
class LeadRow:
    id: uuid.UUID
    contact_id: uuid.UUID
    status: str
    assignee_id: int | None
    team_id: int | None
    created_at: datetime


@dataclass(slots=True)
class IntakeRows:
    """Rows to insert in one transaction, as column-name dicts."""

    contacts: list[dict[str, Any]] = field(default_factory=list)
    identities: list[dict[str, Any]] = field(default_factory=list)
    leads: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    inquiries: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    message_refs: list[dict[str, Any]] = field(default_factory=list)
    outbound: list[dict[str, Any]] = field(default_factory=list)
    touched_leads: dict[uuid.UUID, datetime] = field(default_factory=dict)
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
        (OutboundRecord, rows.outbound),
    ):
        if values:
            await session.execute(insert(model), values)
    if rows.message_refs:
        # A Message-ID may come back (a forwarded copy, a re-import): first one wins.
        known = set(
            await session.scalars(
                select(MessageRef.message_id).where(
                    MessageRef.message_id.in_({r["message_id"] for r in rows.message_refs})
                )
            )
        )
        fresh = {r["message_id"]: r for r in rows.message_refs if r["message_id"] not in known}
        if fresh:
            await session.execute(insert(MessageRef), list(fresh.values()))
    for lead_id, at in rows.touched_leads.items():
        await session.execute(update(Lead).where(Lead.id == lead_id).values(updated_at=at))
    for team_id, last in rows.team_cursors.items():
        await session.execute(update(Team).where(Team.id == team_id).values(rr_last_user_id=last))


async def leads_for_contacts(
    session: AsyncSession, contact_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[LeadRow]]:
    ids = sorted(set(contact_ids))
    found: dict[uuid.UUID, list[LeadRow]] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = await session.execute(
            select(
                Lead.id,
                Lead.contact_id,
                Lead.status,
                Lead.assignee_id,
                Lead.team_id,
                Lead.created_at,
            ).where(Lead.contact_id.in_(ids[start : start + _CHUNK]))
        )
        for lead_id, contact_id, status, assignee_id, team_id, created_at in rows:
            assert contact_id is not None
            found.setdefault(contact_id, []).append(
                LeadRow(lead_id, contact_id, status, assignee_id, team_id, created_at)
            )
    return found


async def leads_for_messages(
    session: AsyncSession, message_ids: Iterable[str]
) -> dict[str, uuid.UUID]:
    ids = sorted(set(message_ids))
    found: dict[str, uuid.UUID] = {}
    for chunk in _chunks(ids):
        rows = await session.execute(
            select(MessageRef.message_id, MessageRef.lead_id).where(
                MessageRef.message_id.in_(chunk)
            )
        )
        found.update({message_id: lead_id for message_id, lead_id in rows})  # noqa: C416
    return found


async def recent_inquiry_counts(
    session: AsyncSession, sender_keys: Iterable[str], since: datetime
) -> dict[str, int]:
    keys = sorted(set(sender_keys))
    counts: dict[str, int] = {}
    for chunk in _chunks(keys):
        rows = await session.execute(
            select(InquiryRecord.sender_key, func.count())
            .where(InquiryRecord.sender_key.in_(chunk), InquiryRecord.received_at >= since)
            .group_by(InquiryRecord.sender_key)
        )
        counts.update({key: int(n) for key, n in rows if key is not None})
    return counts


async def recent_recipients(
    session: AsyncSession, channel: str, purpose: str, recipients: Iterable[str], since: datetime
) -> set[str]:
    wanted = sorted(set(recipients))
    found: set[str] = set()
    for chunk in _chunks(wanted):
        found.update(
            await session.scalars(
                select(OutboundRecord.recipient).where(
                    OutboundRecord.channel == channel,
                    OutboundRecord.purpose == purpose,
                    OutboundRecord.recipient.in_(chunk),
                    OutboundRecord.created_at >= since,
                )
            )
        )
    return found


async def manager_emails(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = await session.execute(select(AppUser.id, AppUser.email).where(AppUser.id.in_(ids)))
    return {user_id: email for user_id, email in rows}  # noqa: C416 (Result rows, not pairs)


async def unpublished_outbound(
    session: AsyncSession, limit: int = 1000
) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    rows = await session.execute(
        select(OutboundRecord.id, OutboundRecord.payload)
        .where(OutboundRecord.published_at.is_(None))
        .order_by(OutboundRecord.created_at)
        .limit(limit)
    )
    return [(record_id, payload) for record_id, payload in rows]


async def mark_outbound_published(
    session: AsyncSession, ids: Sequence[uuid.UUID], at: datetime
) -> None:
    for start in range(0, len(ids), _CHUNK):
        await session.execute(
            update(OutboundRecord)
            .where(OutboundRecord.id.in_(ids[start : start + _CHUNK]))
            .values(published_at=at)
        )


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
