"""Two processes flushing the outbox at once never publish the same row twice.

Each flusher does what the consumer's `publish_outbox` does: in one transaction, read
the unpublished lead events and outbound messages, publish them, mark them published,
commit. Two `Database` objects (two engines, as two processes would have) flush at
once on both stores; every row must come out exactly once. The rows a consumer's
batch writes are committed published under a ticket (`crm_store.models.OutboxTicket`):
no sweep takes them, a failed send or a stranded ticket puts them back, once.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert, select

from crm_store import outbox
from crm_store.database import Database, open_database
from crm_store.migrate import alembic_config, upgrade_async
from crm_store.models import Lead, LeadEvent, OutboundRecord, OutboxTicket

from .test_console_api import make_leads

pytestmark = pytest.mark.integration

EVENTS_PER_LEAD = 40
OUTBOUND = 120


async def fill_outbox(db: Database) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Unpublished lead events and outbound rows; returns their ids."""
    await make_leads(db, 3)
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        # What making the leads queued is not part of this test: publish it first.
        await outbox.mark_published(
            session, [e for e, _, _ in await outbox.unpublished_events(session, 10_000)], now
        )
        await outbox.mark_outbound_published(
            session, [o for o, _ in await outbox.unpublished_outbound(session, 10_000)], now
        )
        lead_ids = list(await session.scalars(select(Lead.id)))
        events: list[dict[str, Any]] = [
            {
                "id": uuid.uuid4(),
                "lead_id": lead_id,
                "type": "lead.created",
                "payload": {"n": i},
                "created_at": now,
                "published_at": None,
            }
            for lead_id in lead_ids
            for i in range(EVENTS_PER_LEAD)
        ]
        outbound: list[dict[str, Any]] = [
            {
                "id": uuid.uuid4(),
                "channel": "email",
                "purpose": "ack",
                "recipient": f"c{i}@example.com",
                "lead_id": None,
                "payload": {"to": f"c{i}@example.com"},
                "created_at": now,
                "published_at": None,
            }
            for i in range(OUTBOUND)
        ]
        await session.execute(insert(LeadEvent), events)
        await session.execute(insert(OutboundRecord), outbound)
    return {e["id"] for e in events}, {o["id"] for o in outbound}


class Flusher:
    """The consumer's outbox flush, with a pause between reading and publishing."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.events: list[uuid.UUID] = []
        self.outbound: list[uuid.UUID] = []
        self.claimed = asyncio.Event()

    async def flush(self, hold: asyncio.Task[int] | None = None, limit: int = 50) -> int:
        async with self.db.sessions() as session, session.begin():
            events = await outbox.unpublished_events(session, limit)
            outbound = await outbox.unpublished_outbound(session, limit)
            self.claimed.set()
            if hold is not None:
                # Keep this transaction open while the other flusher runs, up to a bound:
                # on PostgreSQL it skips our rows and ends; on SQLite it waits for our
                # commit. Either way the assertion below does not depend on the timing.
                await asyncio.wait({hold}, timeout=2.0)
            self.events += [event_id for event_id, _, _ in events]
            self.outbound += [record_id for record_id, _ in outbound]
            now = datetime.now(UTC)
            await outbox.mark_published(session, [e for e, _, _ in events], now)
            await outbox.mark_outbound_published(session, [o for o, _ in outbound], now)
        return len(events) + len(outbound)

    async def drain(self) -> None:
        for _ in range(1000):  # bounded: the outbox empties long before
            if not await self.flush():
                return


async def test_a_second_flusher_never_gets_rows_the_first_holds(database_url: str) -> None:
    async with open_database(database_url) as one, open_database(database_url) as two:
        events, outbound = await fill_outbox(one)
        first, second = Flusher(one), Flusher(two)

        async def second_after_claim() -> int:
            await first.claimed.wait()
            return await second.flush()

        waiting = asyncio.create_task(second_after_claim(), name="second-flusher")
        await first.flush(hold=waiting)
        await waiting
        assert set(first.events).isdisjoint(second.events)
        assert set(first.outbound).isdisjoint(second.outbound)
        assert first.events and first.outbound
        assert set(first.events + second.events) <= events
        assert set(first.outbound + second.outbound) <= outbound


async def test_two_flushers_draining_at_once_publish_each_row_once(database_url: str) -> None:
    async with open_database(database_url) as one, open_database(database_url) as two:
        events, outbound = await fill_outbox(one)
        flushers = [Flusher(one), Flusher(two)]
        await asyncio.gather(*(f.drain() for f in flushers))
        published_events = [e for f in flushers for e in f.events]
        published_outbound = [o for f in flushers for o in f.outbound]
        assert sorted(published_events) == sorted(events)
        assert sorted(published_outbound) == sorted(outbound)


async def open_ticket(db: Database, events: set[uuid.UUID], outbound: set[uuid.UUID]) -> uuid.UUID:
    """What a consumer's batch does with the rows it writes: mark them published and
    name them in a ticket, in one transaction (`ingest.batch_store`)."""
    ticket = uuid.uuid4()
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        await outbox.mark_published(session, sorted(events), now)
        await outbox.mark_outbound_published(session, sorted(outbound), now)
        row = outbox.ticket_row(ticket, sorted(events), sorted(outbound), now)
        await session.execute(insert(OutboxTicket), [row])
    return ticket


async def tickets_left(db: Database) -> int:
    async with db.sessions() as session:
        return len(list(await session.scalars(select(OutboxTicket.id))))


async def test_rows_under_a_ticket_are_not_swept_and_a_failed_send_reopens_them(
    database_url: str,
) -> None:
    async with open_database(database_url) as db:
        events, outbound = await fill_outbox(db)
        ticket = await open_ticket(db, events, outbound)
        sweep = Flusher(db)
        await sweep.drain()
        assert (sweep.events, sweep.outbound) == ([], [])  # the batch sends them itself
        async with db.sessions() as session, session.begin():  # its send failed
            reopened = await outbox.reopen_tickets(session, ids=[ticket])
        assert reopened == (len(events), len(outbound))
        assert await tickets_left(db) == 0
        await sweep.drain()
        assert sorted(sweep.events) == sorted(events)
        assert sorted(sweep.outbound) == sorted(outbound)


async def test_a_sent_ticket_closed_leaves_nothing_to_send_again(database_url: str) -> None:
    async with open_database(database_url) as db:
        events, outbound = await fill_outbox(db)
        ticket = await open_ticket(db, events, outbound)
        async with db.sessions() as session, session.begin():
            await outbox.close_tickets(session, [ticket, uuid.uuid4()])  # one unknown: no error
        assert await tickets_left(db) == 0
        async with db.sessions() as session, session.begin():
            stale = await outbox.reopen_tickets(session, created_before=datetime.now(UTC))
        assert stale == (0, 0)
        sweep = Flusher(db)
        await sweep.drain()
        assert (sweep.events, sweep.outbound) == ([], [])


async def test_a_stranded_ticket_is_reopened_once_it_is_older_than_the_grace(
    database_url: str,
) -> None:
    """A process that stopped between its commit and its send left a ticket: only a
    ticket made before the cut-off goes out again, and only once."""
    async with open_database(database_url) as db:
        events, outbound = await fill_outbox(db)
        old = sorted(events)[:10], sorted(outbound)[:10]
        young = sorted(events)[10:15], sorted(outbound)[10:15]
        await open_ticket(db, set(old[0]), set(old[1]))
        cut_off = datetime.now(UTC)
        await asyncio.sleep(0.01)
        await open_ticket(db, set(young[0]), set(young[1]))
        async with db.sessions() as session, session.begin():
            assert await outbox.reopen_tickets(session, created_before=cut_off) == (10, 10)
        async with db.sessions() as session, session.begin():
            assert await outbox.reopen_tickets(session, created_before=cut_off) == (0, 0)
        assert await tickets_left(db) == 1
        sweep = Flusher(db)
        await sweep.drain()
        left_events = events - set(old[0]) - set(young[0])
        left_outbound = outbound - set(old[1]) - set(young[1])
        assert sorted(sweep.events) == sorted(left_events | set(old[0]))
        assert sorted(sweep.outbound) == sorted(left_outbound | set(old[1]))


async def test_two_sweeps_at_once_reopen_a_stranded_ticket_once(database_url: str) -> None:
    async with open_database(database_url) as one, open_database(database_url) as two:
        events, outbound = await fill_outbox(one)
        for n in range(0, 40, 10):
            await open_ticket(
                one, set(sorted(events)[n : n + 10]), set(sorted(outbound)[n : n + 10])
            )
        cut_off = datetime.now(UTC)

        async def reopen(db: Database) -> tuple[int, int]:
            async with db.sessions() as session, session.begin():
                found = await outbox.reopen_tickets(session, created_before=cut_off)
                await asyncio.sleep(0.2)  # hold the tickets while the other looks
                return found

        got = await asyncio.gather(reopen(one), reopen(two))
        assert (sum(e for e, _ in got), sum(o for _, o in got)) == (40, 40)
        assert await tickets_left(one) == 0


async def test_a_downgrade_puts_the_open_tickets_rows_back_for_the_sweep(
    database_url: str,
) -> None:
    """0023's downgrade drops the tickets; the rows they named, committed as published
    but perhaps never sent, become unpublished for the older code's sweep."""
    async with open_database(database_url) as db:
        events, outbound = await fill_outbox(db)
        listed = set(sorted(events)[:7]), set(sorted(outbound)[:5])
        await open_ticket(db, *listed)
        sweep = Flusher(db)
        await sweep.drain()  # every other row: published before the downgrade
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0022")
    try:
        async with open_database(database_url) as db:
            sweep = Flusher(db)
            await sweep.drain()
            assert (set(sweep.events), set(sweep.outbound)) == listed
    finally:
        await upgrade_async(database_url)
