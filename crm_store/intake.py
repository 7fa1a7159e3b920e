"""Store access for the ingest consumer: the reads of a batch's snapshot (its write is
`crm_store.intake_write`).

Plain Core statements (no ORM unit of work) because the consumer writes hundreds of
rows per transaction; the ids are made by the caller, so no RETURNING is needed.
Returns plain dataclasses. Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Select,
    Table,
    and_,
    bindparam,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import core
from crm_store.models import (
    AppUser,
    Base,
    Company,
    ContactIdentity,
    InquiryRecord,
    Lead,
    MessageRef,
    NotDuplicateMark,
    OutboundRecord,
)

_T = TypeVar("_T")

# Keeps each IN (...) list well under SQLite's bound-parameter limit.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class LeadRow:
    id: uuid.UUID
    contact_id: uuid.UUID
    status: str
    assignee_id: int | None
    team_id: int | None
    created_at: datetime


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _chunks(values: Sequence[_T]) -> Iterable[Sequence[_T]]:
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


@functools.cache
def _contacts_query(postgresql: bool) -> Select[str, str, uuid.UUID]:
    identity = _table(ContactIdentity)
    columns = (identity.c.kind, identity.c.value, identity.c.contact_id)
    if postgresql:
        # The wanted (kind, value) pairs as a relation joined on the unique index:
        # one probe per pair whatever the table's size or statistics. On `value`
        # alone PostgreSQL scanned the table (38 ms a call at 300,000 leads, the
        # most of what grew there); with `kind` and `value` lists it probed every
        # kind for every value, or on a small table filtered on `value` (issue 11).
        wanted = (
            func.unnest(core.text_array("kinds"), core.text_array("values"))
            .table_valued("kind", "value")
            .render_derived(name="wanted")
        )
        return select(*columns).join(
            wanted, and_(identity.c.kind == wanted.c.kind, identity.c.value == wanted.c.value)
        )
    # The kinds make the (kind, value) unique index usable: on `value` alone SQLite
    # scanned the table (60 ms a call at 200,000 contacts, issue 11).
    return select(*columns).where(
        core.one_of(identity.c.value, "values", postgresql=False),
        core.one_of(identity.c.kind, "kinds", postgresql=False),
    )


async def find_contacts(
    session: AsyncSession, identities: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], uuid.UUID]:
    wanted = set(identities)
    found: dict[tuple[str, str], uuid.UUID] = {}
    postgresql = core.on_postgresql(session)
    stmt = _contacts_query(postgresql)
    for chunk in _chunks(sorted(wanted)):
        kinds = [kind for kind, _ in chunk]
        parameters = {
            "kinds": kinds if postgresql else sorted(set(kinds)),
            "values": [value for _, value in chunk],
        }
        for kind, value, contact_id in await core.execute(session, stmt, parameters):
            # SQLite's lists also match a value stored under another wanted kind.
            if (kind, value) in wanted:
                found[(kind, value)] = contact_id
    return found


@functools.cache
def _companies_query(postgresql: bool) -> Select[str | None, uuid.UUID]:
    return select(Company.domain, Company.id).where(
        core.one_of(Company.domain, "domains", postgresql=postgresql)
    )


async def find_companies(session: AsyncSession, domains: Iterable[str]) -> dict[str, uuid.UUID]:
    wanted = sorted(set(domains))
    found: dict[str, uuid.UUID] = {}
    stmt = _companies_query(core.on_postgresql(session))
    for chunk in _chunks(wanted):
        rows = await core.execute(session, stmt, {"domains": chunk})
        found.update({domain: company_id for domain, company_id in rows if domain})
    return found


@functools.cache
def _not_duplicates_query(postgresql: bool) -> Select[str, str]:
    return select(NotDuplicateMark.key_a, NotDuplicateMark.key_b).where(
        core.one_of(NotDuplicateMark.key_a, "ids", postgresql=postgresql)
        | core.one_of(NotDuplicateMark.key_b, "ids", postgresql=postgresql)
    )


async def not_duplicate_pairs(
    session: AsyncSession, contact_ids: Iterable[uuid.UUID]
) -> set[frozenset[uuid.UUID]]:
    """Pairs of these contacts that someone marked as different people (org-wide)."""
    ids = sorted({str(c) for c in contact_ids})
    pairs: set[frozenset[uuid.UUID]] = set()
    stmt = _not_duplicates_query(core.on_postgresql(session))
    for chunk in _chunks(ids):
        rows = await core.execute(session, stmt, {"ids": chunk})
        pairs.update(frozenset({uuid.UUID(a), uuid.UUID(b)}) for a, b in rows)
    return pairs


async def mark_not_duplicate(
    session: AsyncSession, a: uuid.UUID, b: uuid.UUID, user_id: int | None, now: datetime
) -> bool:
    """Record that contacts `a` and `b` are different people; False if already marked."""
    key_a, key_b = sorted((str(a), str(b)))
    exists = await session.scalar(
        select(NotDuplicateMark.id).where(
            NotDuplicateMark.key_a == key_a, NotDuplicateMark.key_b == key_b
        )
    )
    if exists is not None:
        return False
    session.add(NotDuplicateMark(key_a=key_a, key_b=key_b, user_id=user_id, created_at=now))
    await session.flush()
    return True


@functools.cache
def _contacts_leads_query(
    postgresql: bool,
) -> Select[uuid.UUID, uuid.UUID | None, str, int | None, int | None, datetime]:
    return select(
        Lead.id, Lead.contact_id, Lead.status, Lead.assignee_id, Lead.team_id, Lead.created_at
    ).where(core.one_of(Lead.contact_id, "ids", postgresql=postgresql))


async def leads_for_contacts(
    session: AsyncSession, contact_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[LeadRow]]:
    ids = sorted(set(contact_ids))
    found: dict[uuid.UUID, list[LeadRow]] = {}
    stmt = _contacts_leads_query(core.on_postgresql(session))
    for start in range(0, len(ids), _CHUNK):
        rows = await core.execute(session, stmt, {"ids": ids[start : start + _CHUNK]})
        for lead_id, contact_id, status, assignee_id, team_id, created_at in rows:
            assert contact_id is not None
            found.setdefault(contact_id, []).append(
                LeadRow(lead_id, contact_id, status, assignee_id, team_id, created_at)
            )
    return found


@functools.cache
def _message_leads_query(postgresql: bool) -> Select[str, uuid.UUID]:
    return select(MessageRef.message_id, MessageRef.lead_id).where(
        core.one_of(MessageRef.message_id, "ids", postgresql=postgresql)
    )


async def leads_for_messages(
    session: AsyncSession, message_ids: Iterable[str]
) -> dict[str, uuid.UUID]:
    ids = sorted(set(message_ids))
    found: dict[str, uuid.UUID] = {}
    stmt = _message_leads_query(core.on_postgresql(session))
    for chunk in _chunks(ids):
        rows = await core.execute(session, stmt, {"ids": chunk})
        found.update({message_id: lead_id for message_id, lead_id in rows})  # noqa: C416
    return found


async def recent_counts(
    session: AsyncSession,
    sender_keys: Iterable[str],
    sender_since: datetime,
    ips: Iterable[str],
    ip_since: datetime,
) -> tuple[dict[str, int], dict[str, int]]:
    """`recent_inquiry_counts` and `recent_ip_counts` in one statement (a `UNION ALL`
    of both, tagged), since every statement costs the consumer a round trip (a
    thread hop on aiosqlite) whatever the batch size; nothing when both are empty."""
    _, senders, addresses = await known_and_recent(
        session, (), sender_keys, sender_since, ips, ip_since
    )
    return senders, addresses


def _recent_per(tag: str, column: Any, values: str, since: str, *, postgresql: bool) -> Any:
    """Inquiries received since the `since` parameter, counted per value of `column`
    among the `values` parameter, tagged `tag`."""
    return (
        select(literal(tag), column, func.count())
        .where(
            core.one_of(column, values, postgresql=postgresql),
            InquiryRecord.received_at >= bindparam(since),
        )
        .group_by(column)
    )


@functools.cache
def _known_and_recent_query(known: bool, senders: bool, ips: bool, postgresql: bool) -> Any:
    """The tagged UNION ALL of `known_and_recent` for the lists a chunk has."""
    parts: list[Any] = []
    if known:
        parts.append(
            select(literal("k"), InquiryRecord.idempotency_key, literal(0)).where(
                core.one_of(InquiryRecord.idempotency_key, "known", postgresql=postgresql)
            )
        )
    if senders:
        parts.append(
            _recent_per(
                "s", InquiryRecord.sender_key, "keys", "sender_since", postgresql=postgresql
            )
        )
    if ips:
        parts.append(
            _recent_per("i", InquiryRecord.client_ip, "ips", "ip_since", postgresql=postgresql)
        )
    return parts[0] if len(parts) == 1 else union_all(*parts)


async def known_and_recent(
    session: AsyncSession,
    idempotency_keys: Iterable[str],
    sender_keys: Iterable[str],
    sender_since: datetime,
    ips: Iterable[str],
    ip_since: datetime,
) -> tuple[set[str], dict[str, int], dict[str, int]]:
    """`known_idempotency_keys` and `recent_counts` in one statement: the keys the
    store already has, and the recent inquiries per sender key and per client IP.
    The consumer asks all three of every batch (issue 11)."""
    known_chunks = list(_chunks(sorted(set(idempotency_keys))))
    key_chunks = list(_chunks(sorted(set(sender_keys))))
    ip_chunks = list(_chunks(sorted(set(ips))))
    postgresql = core.on_postgresql(session)
    known: set[str] = set()
    senders: dict[str, int] = {}
    addresses: dict[str, int] = {}
    for n in range(max(len(known_chunks), len(key_chunks), len(ip_chunks))):
        stmt = _known_and_recent_query(
            n < len(known_chunks), n < len(key_chunks), n < len(ip_chunks), postgresql
        )
        params = {
            "known": known_chunks[n] if n < len(known_chunks) else [],
            "keys": key_chunks[n] if n < len(key_chunks) else [],
            "sender_since": sender_since,
            "ips": ip_chunks[n] if n < len(ip_chunks) else [],
            "ip_since": ip_since,
        }
        for tag, value, count in await core.execute(session, stmt, params):
            if value is None:
                continue
            if tag == "k":
                known.add(value)
            else:
                (senders if tag == "s" else addresses)[value] = int(count)
    return known, senders, addresses


@functools.cache
def _recent_recipients_query(postgresql: bool) -> Select[str]:
    return select(OutboundRecord.recipient).where(
        OutboundRecord.channel == bindparam("channel"),
        OutboundRecord.purpose == bindparam("purpose"),
        core.one_of(OutboundRecord.recipient, "recipients", postgresql=postgresql),
        OutboundRecord.created_at >= bindparam("since"),
    )


async def recent_recipients(
    session: AsyncSession, channel: str, purpose: str, recipients: Iterable[str], since: datetime
) -> set[str]:
    wanted = sorted(set(recipients))
    found: set[str] = set()
    stmt = _recent_recipients_query(core.on_postgresql(session))
    for chunk in _chunks(wanted):
        found.update(
            (
                await core.execute(
                    session,
                    stmt,
                    {"channel": channel, "purpose": purpose, "recipients": chunk, "since": since},
                )
            ).scalars()
        )
    return found


async def manager_emails(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = await session.execute(select(AppUser.id, AppUser.email).where(AppUser.id.in_(ids)))
    return {user_id: email for user_id, email in rows}  # noqa: C416 (Result rows, not pairs)
