"""The consumer's row ids on both stores: time-ordered (issue 11), and an inquiry
stored before they were, with uuid5 row ids, is not stored again when it is replayed
after the upgrade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from crm_store.database import Database
from crm_store.models import Activity, InquiryRecord, Lead
from ingest import decision_parts, pipeline, records, replies
from ingest.batch_store import BatchStore, StoreOptions
from ingest.contract import Inquiry, Sender
from ingest.decisions import Policy
from ingest.row_ids import derived_id, row_id
from tests.factories import make_inquiry

from .helpers import seed_team

pytestmark = pytest.mark.integration


def _batch(tag: str, n: int) -> list[Inquiry]:
    return [
        make_inquiry(
            idempotency_key=f"{tag}:{i}",
            sender=Sender(name=f"Client {i}", email=f"{tag}{i}@example.com"),
        )
        for i in range(n)
    ]


async def _counts(db: Database) -> tuple[int | None, int | None, int | None]:
    async with db.sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(Lead)),
            await session.scalar(select(func.count()).select_from(InquiryRecord)),
            await session.scalar(select(func.count()).select_from(Activity)),
        )


async def test_a_replay_after_the_upgrade_writes_nothing_twice(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_team(db)
    store = BatchStore(db, Policy(), StoreOptions(default_team="Sales"))
    batch = _batch("upgrade", 5)
    now = datetime.now(UTC)
    # The code before the upgrade: every row id was `derived_id`'s uuid5.
    for module in (pipeline, decision_parts, records, replies):
        monkeypatch.setattr(module, "row_id", derived_id)
    await store.write(batch, now)
    monkeypatch.undo()
    before = await _counts(db)

    replayed = await store.write(batch, now + timedelta(seconds=1))

    assert replayed.duplicates == 5 and replayed.outcomes == ()
    assert await _counts(db) == before == (5, 5, 5)
    async with db.sessions() as session:
        stored = set(await session.scalars(select(Lead.id)))
    assert stored == {derived_id(i.id, "lead") for i in batch}


async def test_leads_of_later_inquiries_sort_after_earlier_ones(db: Database) -> None:
    await seed_team(db)
    store = BatchStore(db, Policy(), StoreOptions(default_team="Sales"))
    now = datetime.now(UTC)
    batches = []
    for n in range(3):
        batches.append(_batch(f"order{n}", 4))
        await store.write(batches[-1], now + timedelta(seconds=n))
    async with db.sessions() as session:
        by_id = list(await session.scalars(select(Lead.id).order_by(Lead.id)))
    expected = [row_id(i.id, "lead") for batch in batches for i in batch]
    # Within one millisecond the order is the random part's; across batches it is time's.
    assert [by_id[k : k + 4] for k in (0, 4, 8)] == [sorted(expected[k : k + 4]) for k in (0, 4, 8)]
