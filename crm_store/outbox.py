"""The outbox tables' publishing side: which lead events and outbound messages are
still to be put on Kafka, claiming them so that no two flushers publish the same row,
and marking them published. The rows themselves are written with the batch that made
them (`crm_store.intake.write_intake`); `ingest.outbox_publisher` and the notifier
publish them. Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, false, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import core, plans
from crm_store.models import LeadEvent, OutboundRecord

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


async def claim_own_outbox(
    session: AsyncSession, events: Sequence[uuid.UUID], outbound: Sequence[uuid.UUID], at: datetime
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Mark these lead events and outbound rows published, in a transaction that the
    caller commits only after they were sent; the ids that nobody had published yet.

    For a writer that holds the rows it just committed in memory: one `UPDATE …
    RETURNING` per table claims and marks them at once, instead of reading the rows
    back. The claim holds like `claim_outbox`'s: PostgreSQL locks the updated rows
    (another flusher's `SKIP LOCKED` read passes them by, and an update of rows it
    holds waits, then finds them published), and SQLite's write lock makes other
    flushers wait for the commit. A rollback (the send failed) leaves them unpublished.
    """
    await plans.for_values(session)  # a thousand ids per statement: see `crm_store.plans`
    return (
        await _mark_unpublished(session, cast(Table, LeadEvent.__table__), events, at),
        await _mark_unpublished(session, cast(Table, OutboundRecord.__table__), outbound, at),
    )


@functools.cache
def _claim_statement(table: Table, *, ids_as_text: bool) -> Any:
    """Built once per table: constructing it every batch cost more than running it
    (issue 11)."""
    returned = type_coerce(table.c.id, String) if ids_as_text else table.c.id
    return (
        update(table)
        .where(
            table.c.id.in_(bindparam("claimed_ids", expanding=True)),
            table.c.published_at.is_(None),
        )
        .values(published_at=bindparam("claimed_at"))
        .returning(returned)
    )


async def _mark_unpublished(
    session: AsyncSession, table: Table, ids: Sequence[uuid.UUID], at: datetime
) -> set[uuid.UUID]:
    # Where ids are stored as text (SQLite), each returned id is looked up among the
    # ids asked for by its stored text instead of being parsed into a new UUID
    # (issue 11: `UUID.__init__` cost ~1.2 µs an id, the text ~0.3). A row matched
    # `id IN (...)` by exactly one of those texts, so the lookup always finds it.
    stored_as = table.c.id.type.bind_processor((await session.connection()).dialect)
    stmt = _claim_statement(table, ids_as_text=stored_as is not None)
    claimed: set[uuid.UUID] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = await core.execute(session, stmt, {"claimed_ids": chunk, "claimed_at": at})
        if stored_as is None:
            claimed.update(rows.scalars())
        else:
            asked = {stored_as(i): i for i in chunk}
            claimed.update(map(asked.__getitem__, rows.scalars()))
    return claimed


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
