"""The outbox tables' publishing side: which lead events and outbound messages are
still to be put on Kafka, claiming them so that no two flushers publish the same row,
and marking them published; and the tickets of the rows a consumer's batch commits
already marked published, to send from memory (`OutboxTicket`). The rows themselves
are written with the batch that made them (`crm_store.intake_write.write_intake`);
`ingest.outbox_publisher` and the notifier publish them. Imports nothing of ours
outside `crm_store`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Delete, delete, false, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import core
from crm_store.database import Database
from crm_store.models import LeadEvent, OutboundRecord, OutboxTicket

# As in `crm_store.intake`: each IN (...) list well under SQLite's bound-parameter limit.
_CHUNK = 500


async def claim_outbox(session: AsyncSession) -> None:
    """Make the outbox rows this transaction reads its own until it commits.

    Callers read unpublished rows, publish them, mark them published and commit, all
    in one transaction. On PostgreSQL the reads lock their rows (`FOR UPDATE SKIP
    LOCKED`): a second flusher skips them, and once the first commits they are
    published. SQLite has one writer: taking the write lock before reading makes a
    second flusher wait for the first's commit, after which the rows are published.
    Either way no row is published by two processes. Harmless when called twice.
    """
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(
            update(OutboundRecord).where(false()).values(published_at=None),
            execution_options={"synchronize_session": False},
        )


async def unpublished_outbound(
    session: AsyncSession, limit: int = 1000
) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    """Claims (see `claim_outbox`) and returns the oldest unpublished outbound rows."""
    await claim_outbox(session)
    rows = await session.execute(
        select(OutboundRecord.id, OutboundRecord.payload)
        .where(OutboundRecord.published_at.is_(None))
        .order_by(OutboundRecord.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
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


def ticket_row(
    ticket_id: uuid.UUID,
    events: Sequence[uuid.UUID],
    outbound: Sequence[uuid.UUID],
    at: datetime,
) -> dict[str, Any]:
    """The `OutboxTicket` naming the outbox rows a batch writes already marked
    published, to be sent from memory once it commits; inserted with the batch's rows
    (`intake_write.IntakeRows.tickets`), in the same statement on PostgreSQL (issue 11)."""
    return {
        "id": ticket_id,
        "created_at": at,
        "event_ids": [str(i) for i in events],
        "outbound_ids": [str(i) for i in outbound],
    }


async def close_tickets(session: AsyncSession, ids: Sequence[uuid.UUID]) -> None:
    """Their rows were sent: forget the tickets (one that a sweep took is gone already)."""
    stmt = _close_query(core.on_postgresql(session))
    for start in range(0, len(ids), _CHUNK):
        await core.execute(session, stmt, {"ids": ids[start : start + _CHUNK]})


async def close_tickets_alone(db: Database, ids: Sequence[uuid.UUID]) -> None:
    """`close_tickets` in a transaction of its own. On PostgreSQL that is one
    statement in autocommit: a lone DELETE is atomic by itself, and a BEGIN and a
    COMMIT around it were two more round trips for every batch that sent messages to
    people (issue 11)."""
    if db.dialect != "postgresql":
        async with db.sessions() as session, session.begin():
            await close_tickets(session, ids)
        return
    async with db.engine.connect() as connection:
        alone = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await alone.execute(_close_query(True), {"ids": list(ids)})


@functools.cache
def _close_query(postgresql: bool) -> Delete:
    return delete(OutboxTicket).where(core.one_of(OutboxTicket.id, "ids", postgresql=postgresql))


async def reopen_tickets(
    session: AsyncSession,
    *,
    ids: Sequence[uuid.UUID] | None = None,
    created_before: datetime | None = None,
) -> tuple[int, int]:
    """Mark the rows of these tickets (by id, or every ticket made before
    `created_before`) unpublished again and delete the tickets; how many lead events
    and outbound rows. For a send that failed, and for a process that stopped between
    its commit and its send. On PostgreSQL the tickets are locked (`SKIP LOCKED`), so
    two sweeps never reopen the same one; on SQLite the write lock orders them."""
    query = select(OutboxTicket.id, OutboxTicket.event_ids, OutboxTicket.outbound_ids)
    if ids is not None:
        query = query.where(OutboxTicket.id.in_(ids))
    if created_before is not None:
        query = query.where(OutboxTicket.created_at < created_before)
    await claim_outbox(session)
    tickets = list(await session.execute(query.with_for_update(skip_locked=True)))
    if not tickets:
        return 0, 0
    events = [uuid.UUID(i) for _, e, _ in tickets for i in e]
    outbound = [uuid.UUID(i) for _, _, o in tickets for i in o]
    for table, rows in ((LeadEvent, events), (OutboundRecord, outbound)):
        for start in range(0, len(rows), _CHUNK):
            await session.execute(
                update(table)
                .where(table.id.in_(rows[start : start + _CHUNK]))
                .values(published_at=None),
                execution_options={"synchronize_session": False},
            )
    await close_tickets(session, [t for t, _, _ in tickets])
    return len(events), len(outbound)


async def unpublished_events(
    session: AsyncSession, limit: int = 1000
) -> list[tuple[uuid.UUID, str, dict[str, Any]]]:
    """Claims (see `claim_outbox`) and returns the oldest unpublished lead events."""
    await claim_outbox(session)
    rows = await session.execute(
        select(LeadEvent.id, LeadEvent.type, LeadEvent.payload)
        .where(LeadEvent.published_at.is_(None))
        .order_by(LeadEvent.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(event_id, type_, payload) for event_id, type_, payload in rows]


async def mark_published(session: AsyncSession, ids: Sequence[uuid.UUID], at: datetime) -> None:
    for start in range(0, len(ids), _CHUNK):
        await session.execute(
            update(LeadEvent)
            .where(LeadEvent.id.in_(ids[start : start + _CHUNK]))
            .values(published_at=at)
        )


async def unpublish_since(session: AsyncSession, since: datetime) -> tuple[int, int]:
    """Mark the lead events and outbound rows published at or after `since` unpublished
    again, so that the next sweep publishes them once more; how many of each.

    For a broker that lost its logs: what it held and nobody had read yet is gone, and
    only the outbox still has it. The lead events' read walks `ix_lead_event_unpublished`;
    the outbound rows have no index on the time they were published (it would cost
    every insert), so theirs scans the table, once per lost broker.
    """
    events = await session.execute(
        update(LeadEvent).where(LeadEvent.published_at >= since).values(published_at=None),
        execution_options={"synchronize_session": False},
    )
    outbound = await session.execute(
        update(OutboundRecord)
        .where(OutboundRecord.published_at >= since)
        .values(published_at=None),
        execution_options={"synchronize_session": False},
    )
    return _rowcount(events), _rowcount(outbound)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
