"""Two processes flushing the outbox at once never publish the same row twice.

Each flusher does what the consumer's `publish_outbox` does: in one transaction, read
the unpublished lead events and outbound messages, publish them, mark them published,
commit. Two `Database` objects (two engines, as two processes would have) flush at
once on both stores; every row must come out exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select

from crm_store import intake, outbox
from crm_store.database import Database, open_database
from crm_store.models import Lead, LeadEvent, OutboundRecord

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


async def claim_own(db: Database, events: list[uuid.UUID], outbound: list[uuid.UUID]) -> int:
    """What the consumer does with the rows its batch just wrote (`publish_written`)."""
    async with db.sessions() as session, session.begin():
        got_events, got_outbound = await outbox.claim_own_outbox(
            session, events, outbound, datetime.now(UTC)
        )
    return len(got_events) + len(got_outbound)


async def test_a_batch_claiming_its_own_rows_and_a_sweep_publish_each_row_once(
    database_url: str,
) -> None:
    async with open_database(database_url) as one, open_database(database_url) as two:
        events, outbound = await fill_outbox(one)
        sweep = Flusher(two)
        own = [sorted(events), sorted(outbound)]

        async def own_after_claim() -> int:
            await sweep.claimed.wait()
            return await claim_own(one, *own)

        claiming = asyncio.create_task(own_after_claim(), name="own-rows")
        swept = await sweep.flush(hold=claiming)
        claimed_own = await claiming
        # Whatever the sweep held, the batch's own claim did not take again.
        assert swept + claimed_own == len(events) + len(outbound)
        assert swept == 50 + 50 and claimed_own == len(events) + len(outbound) - swept
        assert await claim_own(one, *own) == 0  # all published now: nothing to claim


async def test_a_claim_of_own_rows_rolled_back_leaves_them_for_the_sweep(
    database_url: str,
) -> None:
    async with open_database(database_url) as db:
        events, outbound = await fill_outbox(db)
        claimed: list[tuple[set[uuid.UUID], set[uuid.UUID]]] = []

        async def claim_then_fail_to_send() -> None:
            async with db.sessions() as session, session.begin():
                claimed.append(
                    await outbox.claim_own_outbox(
                        session, sorted(events), sorted(outbound), datetime.now(UTC)
                    )
                )
                raise RuntimeError("broker away")  # the send failed: the marks roll back

        with pytest.raises(RuntimeError, match="broker away"):
            await claim_then_fail_to_send()
        assert claimed == [(events, outbound)]
        sweep = Flusher(db)
        await sweep.drain()
        assert sorted(sweep.events) == sorted(events)
        assert sorted(sweep.outbound) == sorted(outbound)


@pytest.mark.parametrize("chunk", [7, 500])
async def test_a_claim_of_own_rows_returns_exactly_those_nobody_published(
    database_url: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ids claimed are the ids asked for that were still unpublished, chunk by
    chunk (on SQLite looked up by their stored text, not parsed again)."""
    monkeypatch.setattr(intake, "_CHUNK", chunk)
    async with open_database(database_url) as db:
        events, outbound = await fill_outbox(db)
        sweep = Flusher(db)
        await sweep.flush(limit=30)
        async with db.sessions() as session, session.begin():
            got = await outbox.claim_own_outbox(
                session, sorted(events), sorted(outbound), datetime.now(UTC)
            )
        assert got == (events - set(sweep.events), outbound - set(sweep.outbound))
        assert len(got[0]) == len(events) - 30 and len(got[1]) == len(outbound) - 30
        assert all(isinstance(i, uuid.UUID) for i in got[0] | got[1])
