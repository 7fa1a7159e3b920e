"""The SLA watcher on both stores: queue, breach, reassignment, head notice, learning."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from crm_store import sla, team_reads
from crm_store.database import Database
from crm_store.models import (
    Activity,
    AssignmentLedger,
    Lead,
    LeadEvent,
    OutboundRecord,
    SpamMark,
    SpamModel,
    Team,
    TeamMember,
)
from ingest.classifier import TextClassifier
from ingest.contract import Sender, Topics
from ingest.judgement import build_judgement
from ingest.watcher import SlaWatcher

from ..conftest import BrokerProcess
from ..factories import make_inquiry
from .helpers import consumer_for, seed_team
from .test_web_to_lead import _produce

pytestmark = pytest.mark.integration


async def one_lead(broker: BrokerProcess, topics: Topics, db: Database) -> Lead:
    await _produce(
        broker,
        topics.inquiries,
        [make_inquiry(sender=Sender(email="w@example.com")).model_dump_json().encode()],
    )
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        await consumer.run(until_idle=True)
    async with db.sessions() as session:
        lead: Lead | None = await session.scalar(select(Lead))
    assert lead is not None
    return lead


async def test_overdue_first_contact_is_breached_then_reassigned_and_ledgered(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    members = await seed_team(db)
    lead = await one_lead(broker, topics, db)
    assert lead.first_contact_due_at is not None
    watcher = SlaWatcher(db)
    due = lead.first_contact_due_at

    early = await watcher.run_once(due - timedelta(minutes=1))
    assert not early.changed
    breached = await watcher.run_once(due + timedelta(minutes=1))
    assert breached.breached == 1
    still = await watcher.run_once(due + timedelta(minutes=5))
    assert not still.changed, "inside the 15-minute grace nothing moves"
    moved = await watcher.run_once(due + timedelta(minutes=20))
    assert moved.reassigned == 1

    async with db.sessions() as session:
        after = await session.get(Lead, lead.id)
        activity = await session.scalar(
            select(Activity).where(Activity.lead_id == lead.id, Activity.is_first_contact.is_(True))
        )
        ledger = list(
            await session.scalars(
                select(AssignmentLedger.kind)
                .where(AssignmentLedger.lead_id == lead.id)
                .order_by(AssignmentLedger.created_at)
            )
        )
        events = set(
            await session.scalars(select(LeadEvent.type).where(LeadEvent.lead_id == lead.id))
        )
        notices = list(
            await session.scalars(
                select(OutboundRecord.id).where(OutboundRecord.purpose == "manager_notification")
            )
        )
    assert after is not None and activity is not None
    assert after.assignee_id == members[1] != lead.assignee_id
    assert activity.assignee_id == after.assignee_id
    assert after.escalation_hops == 1
    assert after.sla_breached_at is not None
    assert activity.due_at is not None and activity.due_at > due
    assert ledger == ["assigned", "reassigned"]
    assert {"activity.overdue", "lead.reassigned"} <= events
    # The new manager hears of it from the `lead.reassigned` event (ingest.notifier),
    # not from a notice the watcher writes itself.
    assert notices == []


async def test_head_is_notified_once_when_hops_run_out(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    members = await seed_team(db)
    async with db.sessions() as session, session.begin():
        await session.execute(
            update(Team).values(head_user_id=members[2], escalation="notify_head")
        )
    lead = await one_lead(broker, topics, db)
    assert lead.first_contact_due_at is not None
    watcher = SlaWatcher(db)
    late = lead.first_contact_due_at + timedelta(hours=1)
    await watcher.run_once(late)
    first = await watcher.run_once(late + timedelta(minutes=1))
    second = await watcher.run_once(late + timedelta(minutes=2))
    assert first.escalated == 1
    assert second.escalated == 0
    async with db.sessions() as session:
        notices = list(
            await session.scalars(
                select(OutboundRecord.recipient).where(
                    OutboundRecord.purpose == "manager_notification",
                    OutboundRecord.payload["template"].as_string() == "sla_escalated",
                )
            )
        )
    assert notices == ["m2@sales.test"]


async def test_queued_lead_is_assigned_when_someone_becomes_eligible(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    members = await seed_team(db, members=1)
    async with db.sessions() as session, session.begin():
        await session.execute(update(TeamMember).values(active=False))
    lead = await one_lead(broker, topics, db)
    assert lead.assignee_id is None
    assert lead.assignment_reason is not None and lead.assignment_reason.startswith("queued")
    watcher = SlaWatcher(db)
    now = datetime.now(UTC)
    assert (await watcher.run_once(now)).assigned == 0
    async with db.sessions() as session, session.begin():
        await session.execute(update(TeamMember).values(active=True))
    assert (await watcher.run_once(now + timedelta(seconds=1))).assigned == 1
    async with db.sessions() as session:
        after = await session.get(Lead, lead.id)
    assert after is not None and after.assignee_id == members[0]


async def some_leads(broker: BrokerProcess, topics: Topics, db: Database, n: int) -> list[Lead]:
    """`n` leads, their first contacts due in the order they came."""
    await _produce(
        broker,
        topics.inquiries,
        [
            make_inquiry(sender=Sender(email=f"w{i}@example.com")).model_dump_json().encode()
            for i in range(n)
        ],
    )
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        await consumer.run(until_idle=True)
    async with db.sessions() as session:
        leads = list(await session.scalars(select(Lead)))
    assert len(leads) == n
    return sorted(leads, key=lambda lead: (lead.first_contact_due_at, lead.id))


async def test_leads_stuck_waiting_do_not_hide_a_later_overdue_lead(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    """A one-manager team has nobody to reassign an overdue lead to, so it stays in the
    watcher's set; with pages of two, two such leads once hid the third for good."""
    await seed_team(db, members=1)
    leads = await some_leads(broker, topics, db, 3)
    due = max(lead.first_contact_due_at or datetime.min.replace(tzinfo=UTC) for lead in leads)
    watcher = SlaWatcher(db, page=2)
    passes = [await watcher.run_once(due + timedelta(minutes=m)) for m in (20, 21, 22)]
    async with db.sessions() as session:
        breached = set(
            await session.scalars(select(Lead.id).where(Lead.sla_breached_at.is_not(None)))
        )
    assert breached == {lead.id for lead in leads}
    assert [p.breached for p in passes] == [2, 1, 0]


async def test_breached_leads_are_paged_in_turn(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    await seed_team(db, members=1)
    leads = await some_leads(broker, topics, db, 3)
    due = max(lead.first_contact_due_at or datetime.min.replace(tzinfo=UTC) for lead in leads)
    now = due + timedelta(minutes=20)
    async with db.sessions() as session, session.begin():
        await session.execute(update(Lead).values(sla_breached_at=now))
    async with db.sessions() as session:
        first = await sla.pending_first_contacts(session, now, limit=2)
        second = await sla.pending_first_contacts(
            session, now, limit=2, breached_after=first.breached_after
        )
    assert [r.lead_id for r in first.rows] == [lead.id for lead in leads[:2]]
    assert [r.lead_id for r in second.rows] == [leads[2].id]
    assert second.breached_after is None, "a short page starts the next pass from the first"


SCRAPER = "Please send your full price list for all pallets to Riga, we compare suppliers"
AGENCY_BUYER = "We are an SEO agency and need 20 ergonomic office chairs, price please"


async def _marks(db: Database, marks: list[tuple[str, bool]], now: datetime) -> None:
    async with db.sessions() as session, session.begin():
        lead_id = uuid.uuid4()
        session.add(
            Lead(
                id=lead_id,
                status="junk",
                channel="web_form",
                title="x",
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        for i, (text, junk) in enumerate(marks):
            session.add(
                SpamMark(
                    id=uuid.uuid4(),
                    lead_id=lead_id,
                    is_junk=junk,
                    text=text,
                    created_at=now + timedelta(seconds=i),
                )
            )


async def _judged(db: Database) -> TextClassifier:
    async with db.sessions() as session:
        classifier = build_judgement(await team_reads.load_judgement(session)).classifier
    assert classifier is not None
    return classifier


async def test_junk_and_restore_marks_adapt_the_shipped_baseline(db: Database) -> None:
    await seed_team(db)
    now = datetime.now(UTC)
    fresh = await _judged(db)
    assert fresh.probability_junk(SCRAPER) < 0.5  # the baseline reads both as genuine...
    assert fresh.probability_junk(AGENCY_BUYER) < 0.9
    await _marks(db, [(SCRAPER, True), (AGENCY_BUYER, False)], now)

    report = await SlaWatcher(db).run_once(now)

    assert report.learned == 2
    async with db.sessions() as session:
        pending = await session.scalar(select(SpamMark.id).where(SpamMark.learned_at.is_(None)))
    assert pending is None
    adapted = await _judged(db)
    assert adapted.probability_junk(SCRAPER) >= 0.9  # ...until a manager said otherwise
    assert adapted.probability_junk(AGENCY_BUYER) <= 0.1
    # What the baseline knew is still known.
    assert adapted.probability_junk("Best online casino, free spins, bonus bit.ly/x7") > 0.9


async def test_a_naive_bayes_state_from_before_the_baseline_is_replaced(db: Database) -> None:
    await seed_team(db)
    now = datetime.now(UTC)
    old = {"version": 1, "n_features": 1 << 20, "docs": [1, 1], "totals": [3, 3], "counts": []}
    async with db.sessions() as session, session.begin():
        session.add(SpamModel(name="default", state=old, version=1, updated_at=now))
    await _marks(db, [(SCRAPER, True)], now)

    assert (await SlaWatcher(db).run_once(now)).learned == 1

    async with db.sessions() as session:
        state = await session.scalar(select(SpamModel.state))
    assert state is not None and state["version"] == 2
    assert (await _judged(db)).probability_junk(SCRAPER) >= 0.9
