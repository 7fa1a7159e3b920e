"""The manager's API on both stores: queue, counters, card, and every action on a lead,
with role isolation enforced in the queries (another manager's lead is a 404)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from crm_store.database import Database
from crm_store.models import (
    Activity,
    AssignmentLedger,
    Company,
    Deal,
    InquiryRecord,
    Lead,
    LeadEvent,
    OutboundRecord,
    SpamMark,
    Team,
)
from ingest.contract import Topics

from ..conftest import BrokerProcess
from .console_helpers import console_client, email_of, make_user, seeded, sign_in, token_of
from .helpers import consumer_for

pytestmark = pytest.mark.integration


async def first_contact_of(db: Database, lead_id: uuid.UUID) -> uuid.UUID:
    async with db.sessions() as session:
        found = await session.scalar(
            select(Activity.id).where(
                Activity.lead_id == lead_id, Activity.is_first_contact.is_(True)
            )
        )
    assert found is not None
    return found


async def test_manager_queue_and_card_hold_only_their_own_leads(db: Database) -> None:
    members, by_user = await seeded(db, 6)
    m0, m1 = members[0], members[1]
    async with console_client(db) as client:
        h = await token_of(db, m0)
        page = await (await client.get("/api/v1/queue", headers=h)).json()
        assert page["total"] == 2
        assert {i["assignee"]["id"] for i in page["items"]} == {m0}
        assert page["items"][0]["untouched"] is True
        other = by_user[m1][0]
        for method, path, body in [
            ("GET", f"/api/v1/leads/{other}/card", None),
            ("GET", f"/api/v1/leads/{other}", None),
            ("POST", f"/api/v1/leads/{other}/status", {"status": "in_progress"}),
            ("POST", f"/api/v1/leads/{other}/junk", {"reason": "spam"}),
            ("POST", f"/api/v1/leads/{other}/reply", {"text": "hi"}),
            ("POST", f"/api/v1/leads/{other}/convert", {}),
            (
                "POST",
                f"/api/v1/activities/{await first_contact_of(db, other)}/complete",
                {"result": "x"},
            ),
        ]:
            resp = await client.request(method, path, json=body, headers=h)
            assert resp.status == 404, (method, path)
            assert resp.content_type == "application/problem+json"
        mine = by_user[m0][0]
        assert (await client.get(f"/api/v1/leads/{mine}/card", headers=h)).status == 200


async def test_head_sees_their_teams_leads_and_counters_admin_sees_all(db: Database) -> None:
    members, _ = await seeded(db, 6)
    head = await make_user(db, "head@x.test", "head")
    outsider = await make_user(db, "other-head@x.test", "head")
    async with db.sessions() as session, session.begin():
        await session.execute(update(Team).values(head_user_id=head))
    async with console_client(db) as client:
        page = await (await client.get("/api/v1/queue", headers=await token_of(db, head))).json()
        assert page["total"] == 6
        counters = await (
            await client.get("/api/v1/counters", headers=await token_of(db, head))
        ).json()
        assert {u["user_id"] for u in counters["by_user"]} >= set(members)
        assert counters["total"]["new_untouched"] == 6
        nothing = await (
            await client.get("/api/v1/queue", headers=await token_of(db, outsider))
        ).json()
        assert nothing["total"] == 0
        admin = await make_user(db, "root@x.test", "admin")
        everything = await (
            await client.get("/api/v1/leads", headers=await token_of(db, admin))
        ).json()
        assert everything["total"] == 6


async def test_completing_first_contact_drops_the_counter_and_plans_the_next(db: Database) -> None:
    members, by_user = await seeded(db, 3)
    m0 = members[0]
    lead_id = by_user[m0][0]
    activity = await first_contact_of(db, lead_id)
    async with console_client(db) as client:
        csrf = await sign_in(client, await email_of(db, m0))
        before = await (await client.get("/api/v1/counters")).json()
        assert before["total"]["new_untouched"] == 1
        assert before["by_user"] == [
            {"user_id": m0, "name": "Manager 0", "counters": before["total"]}
        ]
        past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        resp = await client.post(
            f"/api/v1/activities/{activity}/complete",
            json={
                "result": "Called: wants a demo",
                "next": {"kind": "meeting", "subject": "Demo", "due_at": past},
            },
            headers=csrf,
        )
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["next_activity_id"]
        after = await (await client.get("/api/v1/counters")).json()
        assert after["total"]["new_untouched"] == 0
        assert after["total"]["overdue"] == 1
        again = await client.post(
            f"/api/v1/activities/{activity}/complete", json={"result": "twice"}, headers=csrf
        )
        assert again.status == 409
        card = await (await client.get(f"/api/v1/leads/{lead_id}/card")).json()
        assert card["status"] == "in_progress"
        done = next(a for a in card["activities"] if a["id"] == str(activity))
        assert done["status"] == "done" and done["result"] == "Called: wants a demo"
        overdue = await (await client.get("/api/v1/queue?overdue=true")).json()
        assert [i["id"] for i in overdue["items"]] == [str(lead_id)]


async def test_counters_due_soon_and_sla_breaches_today(db: Database) -> None:
    members, by_user = await seeded(db, 3)
    m0 = members[0]
    activity = await first_contact_of(db, by_user[m0][0])
    now = datetime.now(UTC)
    async with console_client(db) as client:
        h = await token_of(db, m0)
        async with db.sessions() as session, session.begin():
            await session.execute(
                update(Activity)
                .where(Activity.id == activity)
                .values(due_at=now + timedelta(minutes=10))
            )
        soon = await (await client.get("/api/v1/counters", headers=h)).json()
        assert soon["total"]["due_soon"] == 1 and soon["total"]["overdue"] == 0
        late = max(now - timedelta(minutes=1), now.replace(hour=0, minute=0, second=1))
        async with db.sessions() as session, session.begin():
            await session.execute(
                update(Activity).where(Activity.id == activity).values(due_at=late)
            )
        breached = await (await client.get("/api/v1/counters", headers=h)).json()
        assert breached["total"]["sla_breaches_today"] == 1
        assert breached["total"]["overdue"] == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        pytest.param("limit=0", "limit", id="limit"),
        pytest.param("status=won", "status", id="status"),
        pytest.param("sort=up", "sort", id="sort"),
        pytest.param("overdue=maybe", "overdue", id="overdue"),
        pytest.param("channel=fax", "channel", id="channel"),
        pytest.param("colour=red", "colour", id="unknown"),
    ],
)
async def test_bad_queue_queries_are_422_naming_the_field(
    db: Database, query: str, field: str
) -> None:
    user = await make_user(db, "a@x.test", "admin")
    async with console_client(db) as client:
        resp = await client.get(f"/api/v1/queue?{query}", headers=await token_of(db, user))
        assert resp.status == 422
        assert field in (await resp.json())["errors"]


async def test_queue_filters_sort_and_pages(db: Database) -> None:
    await seeded(db, 5)
    admin = await make_user(db, "a@x.test", "admin")
    async with console_client(db) as client:
        h = await token_of(db, admin)
        newest = await (
            await client.get("/api/v1/queue?sort=-created_at&limit=2", headers=h)
        ).json()
        assert newest["total"] == 5 and len(newest["items"]) == 2
        assert newest["items"][0]["contact_name"] == "C4"
        rest = await (
            await client.get("/api/v1/queue?sort=-created_at&limit=2&offset=4", headers=h)
        ).json()
        assert [i["contact_name"] for i in rest["items"]] == ["C0"]
        assert (await (await client.get("/api/v1/queue?channel=email", headers=h)).json())[
            "total"
        ] == 0
        assert (await (await client.get("/api/v1/queue?status=junk", headers=h)).json())[
            "total"
        ] == 0


async def test_card_has_inquiries_activities_and_the_assignment_ledger(db: Database) -> None:
    members, by_user = await seeded(db, 3)
    lead_id = by_user[members[0]][0]
    async with db.sessions() as session, session.begin():
        session.add(
            AssignmentLedger(
                id=uuid.uuid4(),
                lead_id=lead_id,
                kind="assigned",
                from_user_id=None,
                to_user_id=members[0],
                reason="round robin: Manager 0 next",
                created_at=datetime.now(UTC),
            )
        )
    async with console_client(db) as client:
        card = await (
            await client.get(
                f"/api/v1/leads/{lead_id}/card", headers=await token_of(db, members[0])
            )
        ).json()
    assert card["contact"]["email"] == "c0@example.com"
    assert [i["text"] for i in card["inquiries"]] == ["Need 20 licenses"]
    assert card["assignment_reason"]
    assert card["ledger"][0]["to_user"] == "Manager 0"
    assert any(a["is_first_contact"] for a in card["activities"])
    assert card["reply_channel"] == "email"


async def test_status_junk_and_restore_teach_the_classifier(db: Database) -> None:
    members, by_user = await seeded(db, 3)
    lead_id = by_user[members[0]][0]
    async with console_client(db) as client:
        h = await token_of(db, members[0])
        bad = await client.post(
            f"/api/v1/leads/{lead_id}/status", json={"status": "won"}, headers=h
        )
        assert bad.status == 422 and "status" in (await bad.json())["errors"]
        ok = await client.post(
            f"/api/v1/leads/{lead_id}/status", json={"status": "in_progress"}, headers=h
        )
        assert (await ok.json())["status"] == "in_progress"
        no_reason = await client.post(f"/api/v1/leads/{lead_id}/junk", json={}, headers=h)
        assert no_reason.status == 422 and "reason" in (await no_reason.json())["errors"]
        junked = await client.post(
            f"/api/v1/leads/{lead_id}/junk", json={"reason": "a competitor"}, headers=h
        )
        assert (await junked.json())["status"] == "junk"
        stuck = await client.post(
            f"/api/v1/leads/{lead_id}/status", json={"status": "new"}, headers=h
        )
        assert stuck.status == 409
        restored = await client.post(f"/api/v1/leads/{lead_id}/restore", headers=h)
        assert (await restored.json())["status"] == "new"
        assert (await client.post(f"/api/v1/leads/{lead_id}/restore", headers=h)).status == 409
    async with db.sessions() as session:
        marks = list(await session.scalars(select(SpamMark).order_by(SpamMark.created_at)))
        events = set(
            await session.scalars(select(LeadEvent.type).where(LeadEvent.lead_id == lead_id))
        )
        lead = await session.get(Lead, lead_id)
    assert [m.is_junk for m in marks] == [True, False]
    assert "Need 20 licenses" in marks[0].text
    assert {"lead.junked", "lead.restored", "lead.status_changed"} <= events
    assert lead is not None and lead.junk_reason is None


async def test_convert_reuses_a_company_by_domain(db: Database) -> None:
    members, by_user = await seeded(db, 6)
    first, second = by_user[members[0]]
    async with console_client(db) as client:
        h = await token_of(db, members[0])
        both = await client.post(
            f"/api/v1/leads/{first}/convert",
            json={"contact_id": str(uuid.uuid4()), "new_contact": {"name": "X"}},
            headers=h,
        )
        assert both.status == 422
        made = await client.post(
            f"/api/v1/leads/{first}/convert",
            json={
                "title": "20 licenses",
                "amount": 1200,
                "company": {"name": "Example", "domain": "Example.com"},
            },
            headers=h,
        )
        assert made.status == 201, await made.text()
        one = await made.json()
        # The pipeline already made the company from the contact's business domain.
        assert one["reused_contact"] is True and one["reused_company"] is True
        again = await client.post(f"/api/v1/leads/{first}/convert", json={}, headers=h)
        assert again.status == 409
        other = await client.post(
            f"/api/v1/leads/{second}/convert",
            json={
                "company": {"name": "Example Ltd", "domain": "example.com"},
                "new_contact": {"name": "Olga", "email": "olga@example.com"},
            },
            headers=h,
        )
        two = await other.json()
        assert two["company_id"] == one["company_id"] and two["reused_company"] is True
        assert two["reused_contact"] is False
        found = await (await client.get("/api/v1/companies?q=exam", headers=h)).json()
        assert [c["domain"] for c in found["items"]] == ["example.com"]
        # The name typed last for the domain's company is its name now.
        assert [c["name"] for c in found["items"]] == ["Example Ltd"]
    async with db.sessions() as session:
        assert len(list(await session.scalars(select(Company)))) == 1
        deal = await session.scalar(select(Deal).where(Deal.lead_id == first))
        lead = await session.get(Lead, first)
    assert deal is not None and deal.title == "20 licenses" and float(deal.amount or 0) == 1200
    assert lead is not None and lead.status == "converted"


async def test_reply_by_email_goes_to_the_outbox_and_closes_first_contact(db: Database) -> None:
    members, by_user = await seeded(db, 3)
    lead_id = by_user[members[0]][0]
    async with console_client(db) as client:
        h = await token_of(db, members[0])
        resp = await client.post(
            f"/api/v1/leads/{lead_id}/reply", json={"text": "Hello! Calling you at 3."}, headers=h
        )
        assert resp.status == 202, await resp.text()
        queued = await resp.json()
        assert queued["channel"] == "email" and queued["to"] == "c0@example.com"
        counters = await (await client.get("/api/v1/counters", headers=h)).json()
        assert counters["total"]["new_untouched"] == 0
    async with db.sessions() as session:
        record = await session.scalar(
            select(OutboundRecord).where(OutboundRecord.purpose == "reply")
        )
        first = await session.scalar(
            select(Activity).where(Activity.lead_id == lead_id, Activity.is_first_contact.is_(True))
        )
    assert record is not None and record.published_at is None
    assert (
        record.payload["purpose"] == "reply"
        and record.payload["text"] == "Hello! Calling you at 3."
    )
    assert record.payload["headers"]["Message-ID"].startswith("<reply-")
    assert first is not None and first.status == "done"


async def test_reply_goes_to_telegram_chat_or_is_refused_for_phone_only(db: Database) -> None:
    members, by_user = await seeded(db, 3)
    tg_lead, phone_lead = by_user[members[0]][0], by_user[members[1]][0]
    async with db.sessions() as session, session.begin():
        record = await session.scalar(select(InquiryRecord).where(InquiryRecord.lead_id == tg_lead))
        assert record is not None
        record.payload = {
            **record.payload,
            "channel": "telegram",
            "channel_ids": {"chat_id": "4242"},
            "routing": {"connector": "salesbot"},
        }
        await session.execute(update(Lead).where(Lead.id == phone_lead).values(contact_id=None))
    admin = await make_user(db, "a@x.test", "admin")
    async with console_client(db) as client:
        h = await token_of(db, admin)
        tg = await (
            await client.post(f"/api/v1/leads/{tg_lead}/reply", json={"text": "hi"}, headers=h)
        ).json()
        assert tg["channel"] == "telegram" and tg["to"] == "4242"
        refused = await client.post(
            f"/api/v1/leads/{phone_lead}/reply", json={"text": "hi"}, headers=h
        )
        assert refused.status == 409
    async with db.sessions() as session:
        payload = await session.scalar(
            select(OutboundRecord.payload).where(OutboundRecord.channel == "telegram")
        )
    assert payload is not None and payload["connector"] == "salesbot"


async def test_manual_lead_goes_through_kafka_and_the_pipeline(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    from connectors.publisher import Publisher

    members, _ = await seeded(db, 0)
    async with (
        Publisher(broker.bootstrap_servers, topics) as publisher,
        console_client(db, publish=publisher.publish) as client,
    ):
        h = await token_of(db, members[0])
        bad = await client.post(
            "/api/v1/leads", json={"name": "Walk-in", "email": "nope"}, headers=h
        )
        assert bad.status == 422 and "email" in (await bad.json())["errors"]
        empty = await client.post("/api/v1/leads", json={"name": "Walk-in"}, headers=h)
        assert empty.status == 422
        resp = await client.post(
            "/api/v1/leads",
            json={
                "name": "Walk-in",
                "phone": "8 (912) 345-67-89",
                "text": "Came to the office",
                "team": "Sales",
            },
            headers={**h, "Idempotency-Key": "visit-1"},
        )
        assert resp.status == 202
        await client.post(
            "/api/v1/leads",
            json={"name": "Walk-in", "phone": "8 (912) 345-67-89"},
            headers={**h, "Idempotency-Key": "visit-1"},
        )
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        await consumer.run(until_idle=True)
    async with db.sessions() as session:
        leads = list(await session.scalars(select(Lead)))
    assert len(leads) == 1, "the repeated Idempotency-Key made no second lead"
    assert leads[0].channel == "manual" and leads[0].assignee_id in members


async def test_manual_lead_without_a_broker_is_503(db: Database) -> None:
    user = await make_user(db, "a@x.test", "manager")
    async with console_client(db) as client:
        resp = await client.post(
            "/api/v1/leads", json={"email": "x@example.com"}, headers=await token_of(db, user)
        )
        assert resp.status == 503


async def test_not_duplicate_mark_is_kept_org_wide_and_used_by_the_pipeline(db: Database) -> None:
    from crm_store import intake
    from crm_store.models import Contact

    members, _ = await seeded(db, 2)
    async with db.sessions() as session:
        a, b = list(await session.scalars(select(Contact.id).limit(2)))
    async with console_client(db) as client:
        h = await token_of(db, members[0])
        first = await client.post(
            "/api/v1/contacts/not-duplicate",
            json={"contact_a": str(a), "contact_b": str(b)},
            headers=h,
        )
        again = await client.post(
            "/api/v1/contacts/not-duplicate",
            json={"contact_a": str(b), "contact_b": str(a)},
            headers=h,
        )
        same = await client.post(
            "/api/v1/contacts/not-duplicate",
            json={"contact_a": str(a), "contact_b": str(a)},
            headers=h,
        )
        ghost = await client.post(
            "/api/v1/contacts/not-duplicate",
            json={"contact_a": str(a), "contact_b": str(uuid.uuid4())},
            headers=h,
        )
        assert first.status == 200
        assert (await first.json())["created"] is True
        assert (await again.json())["created"] is False, "one mark, in either order"
        assert same.status == 422
        assert ghost.status == 404
    async with db.sessions() as session:
        assert await intake.not_duplicate_pairs(session, [a]) == {frozenset({a, b})}
