"""The growth benchmark's preloaded store looks like one that grew under LeadFlow.

`bench.preload` fills the store the "throughput at 1M leads" figure is measured on
(issue 11). Work the pipeline would have done long before (breaching, reassigning,
escalating old overdue leads) must not be left for the measured run to do.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from bench.preload import preload
from crm_store.database import Database
from crm_store.models import Lead, Team
from ingest.watcher import SlaWatcher

from .helpers import seed_team

pytestmark = pytest.mark.integration


async def test_a_preloaded_store_leaves_the_sla_watcher_nothing_to_do(
    db: Database, database_url: str
) -> None:
    members = await seed_team(db)
    async with db.sessions() as session, session.begin():
        await session.execute(update(Team).values(head_user_id=members[0]))
    await preload(database_url, 300)
    now = datetime.now(UTC)
    async with db.sessions() as session:
        overdue = await session.scalar(
            select(func.count())
            .select_from(Lead)
            .where(Lead.status == "new", Lead.first_contact_due_at < now)
        )
    assert overdue == 30, "a tenth of the old leads were never contacted"
    watcher = SlaWatcher(db)
    for _ in range(3):
        report = await watcher.run_once(now)
        assert not report.changed, report.actions[:3]
