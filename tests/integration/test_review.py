"""The review of what did not become a lead, through the real servers on both stores.

An auto-reply captured from Dovecot over IMAP is listed with its reason, found by
search, and made a lead with one (double) click: the inquiry goes through Kafka and
the consumer again, and comes out a lead routed, assigned and with its first-contact
deadline, and a not-junk spam mark the SLA watcher learns. A junk lead is restored
from the list and assigned from the queue by the watcher. A repeat appended to an
open lead becomes its own lead. Managers cannot see the list. The lead list shows
`needs_review` and the text, and filters by both and by channel.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from connectors.publisher import Publisher
from crm_store import team_reads
from crm_store.database import Database
from crm_store.models import Activity, InquiryRecord, Lead, SpamMark, SpamModel, Team
from ingest import decision_parts, pipeline, records, replies
from ingest.contract import Channel, Sender, Topics
from ingest.row_ids import derived_id
from ingest.watcher import SlaWatcher

from ..conftest import BrokerProcess
from ..factories import make_inquiry
from ..servers import Dovecot, ImapClient, MailSink
from .console_helpers import console_client, make_user, sign_in, token_of
from .helpers import consumer_for, lead_count, seed_team
from .mail_helpers import simple_mail
from .test_email_e2e import captured_up_to, make_settings, running_mail

pytestmark = pytest.mark.integration

AUTO_REPLY = simple_mail(
    sender="Olga Kim <olga.kim@hotel-vega.test>",
    subject="Automatic reply: Renovation of 40 hotel rooms",
    body="Hello, we plan to renovate 40 rooms in March.\n\nOlga Kim\n+7 926 700-11-22\n",
    headers={"Auto-Submitted": "auto-replied"},
)


async def consume(broker: BrokerProcess, topics: Topics, db: Database) -> None:
    async with consumer_for(broker.bootstrap_servers, topics, db, group="ingest") as consumer:
        await consumer.run(until_idle=True)


async def sales_with_head(db: Database) -> tuple[list[int], int]:
    members = await seed_team(db)
    head = await make_user(db, "head@sales.test", "head")
    async with db.sessions() as session, session.begin():
        await session.execute(update(Team).values(head_user_id=head))
    return members, head


async def review(client: Any, headers: dict[str, str], **query: str) -> dict[str, Any]:
    resp = await client.get("/api/v1/review", params=query, headers=headers)
    assert resp.status == 200, await resp.text()
    page: dict[str, Any] = await resp.json()
    return page


async def test_a_filtered_auto_reply_is_listed_with_its_reason_and_can_be_made_a_lead(
    broker: BrokerProcess,
    topics: Topics,
    db: Database,
    dovecot: Dovecot,
    smtp_sink: MailSink,
    tmp_path: Path,
) -> None:
    members, head = await sales_with_head(db)
    user = dovecot.add_user()
    settings = make_settings(tmp_path, dovecot, user, smtp_sink)
    async with ImapClient(dovecot.port, user) as imap:
        await imap.append(AUTO_REPLY)
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        async with running_mail(settings, db, publisher) as mail:
            await captured_up_to(mail, 1)
        await consume(broker, topics, db)
        assert await lead_count(db) == 0, "an auto-reply makes no lead by itself"

        async with console_client(db, publish=publisher.publish) as client:
            h = await token_of(db, head)
            page = await review(client, h)
            assert page["total"] == 1
            [item] = page["items"]
            assert item["kind"] == "auto_reply"
            assert item["reason"] == "auto_reply: Auto-Submitted: auto-replied"
            assert item["channel"] == "email"
            assert (item["sender_name"], item["sender_email"]) == (
                "Olga Kim",
                "olga.kim@hotel-vega.test",
            )
            assert item["subject"] == "Automatic reply: Renovation of 40 hotel rooms"
            assert "renovate 40 rooms in March" in item["excerpt"]
            assert item["reviewed_at"] is None and item["made_lead_id"] is None

            for query, found in [
                ({"q": "OLGA KIM"}, 1),
                ({"q": "renovate 40"}, 1),
                ({"q": "hotel-vega"}, 1),
                ({"q": "926 700-11"}, 1),
                ({"q": "nobody wrote this"}, 0),
                ({"kind": "auto_reply"}, 1),
                ({"kind": "bounce"}, 0),
                ({"channel": "email"}, 1),
                ({"channel": "telegram"}, 0),
                ({"from": (datetime.now(UTC) + timedelta(days=2)).date().isoformat()}, 0),
                ({"to": (datetime.now(UTC) - timedelta(days=2)).date().isoformat()}, 0),
            ]:
                assert (await review(client, h, **query))["total"] == found, query
            bad = await client.get("/api/v1/review", params={"kind": "nonsense"}, headers=h)
            assert bad.status == 422

            csrf = await sign_in(client, "head@sales.test")
            page_html = await (await client.get("/review")).text()
            assert "This is a real inquiry" in page_html
            assert "auto_reply: Auto-Submitted: auto-replied" in page_html
            path = f"/api/v1/review/{item['id']}/lead"
            assert (await client.post(path)).status == 403, "a cookie write needs the CSRF token"
            first = await client.post(path, headers=csrf)
            second = await client.post(path, headers=csrf)
            assert first.status == second.status == 200
            made, again = await first.json(), await second.json()
            assert made["result"] == "accepted" and again["result"] == "already"
            assert made["lead_id"] == again["lead_id"]

        await consume(broker, topics, db)
    assert await lead_count(db) == 1, "a double click makes one lead"
    async with db.sessions() as session:
        lead = await session.get(Lead, uuid.UUID(made["lead_id"]))
        assert lead is not None
        first_contact = await session.scalar(
            select(Activity).where(Activity.lead_id == lead.id, Activity.is_first_contact)
        )
        marks = list(await session.scalars(select(SpamMark)))
    assert lead.status == "new" and lead.channel == "email"
    assert lead.assignee_id in members, "assigned by the team's rotation"
    assert first_contact is not None and first_contact.status == "planned"
    assert first_contact.due_at is not None and first_contact.assignee_id == lead.assignee_id
    assert [(m.lead_id, m.is_junk) for m in marks] == [(lead.id, False)]
    assert "renovate 40 rooms" in marks[0].text

    async with console_client(db) as client:
        h = await token_of(db, head)
        assert (await review(client, h))["total"] == 0, "done: no longer open"
        [done] = (await review(client, h, state="reviewed"))["items"]
        assert done["made_lead_id"] == str(lead.id) and done["reviewed_by"] == head
        listed = await (await client.get("/api/v1/leads", headers=h)).json()
        assert "renovate 40 rooms" in listed["items"][0]["text"]

    report = await SlaWatcher(db).run_once(datetime.now(UTC))
    assert report.learned == 1
    async with db.sessions() as session:
        assert await session.scalar(select(SpamModel.version)) == 1


async def test_a_junk_lead_is_listed_restored_assigned_and_teaches_the_model(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    members, head = await sales_with_head(db)
    stranger = await make_user(db, "head@other.test", "head")
    admin = await make_user(db, "root@x.test", "admin")
    junk = make_inquiry(honeypot=True, sender=Sender(name="Real Person", email="real@client.test"))
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        await publisher.publish(junk)
    await consume(broker, topics, db)
    async with db.sessions() as session:
        lead = await session.scalar(select(Lead))
    assert lead is not None and lead.status == "junk" and lead.assignee_id is None

    async with console_client(db) as client:
        everything = await review(client, await token_of(db, admin), kind="junk")
        [item] = everything["items"]
        assert (item["lead_id"], item["lead_status"]) == (str(lead.id), "junk")
        outsider = await token_of(db, stranger)
        assert (await review(client, outsider))["total"] == 0, "not their team's lead"
        path = f"/api/v1/review/{item['id']}/lead"
        assert (await client.post(path, headers=outsider)).status == 404
        h = await token_of(db, head)
        first = await (await client.post(path, headers=h)).json()
        second = await (await client.post(path, headers=h)).json()
    assert (first["result"], second["result"]) == ("restored", "already")
    assert first["lead_id"] == second["lead_id"] == str(lead.id)
    async with db.sessions() as session:
        marks = list(await session.scalars(select(SpamMark)))
        restored = await session.get(Lead, lead.id)
    assert [(m.lead_id, m.is_junk) for m in marks] == [(lead.id, False)]
    assert restored is not None and restored.status == "new"

    report = await SlaWatcher(db).run_once(datetime.now(UTC))
    assert (report.assigned, report.learned) == (1, 1)
    async with db.sessions() as session:
        assigned = await session.get(Lead, lead.id)
        planned = await session.scalar(
            select(Activity).where(Activity.lead_id == lead.id, Activity.is_first_contact)
        )
    assert assigned is not None and assigned.assignee_id in members
    assert planned is not None and planned.assignee_id == assigned.assignee_id
    assert planned.status == "planned" and planned.due_at is not None


async def _repeat_on_an_open_lead(
    publisher: Publisher, broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    """A lead, then a second inquiry from its sender, appended to it for review."""
    sender = Sender(name="Ivan Petrov", email="ivan@client.test")
    await publisher.publish(make_inquiry(sender=sender, text="Need 20 licenses"))
    await consume(broker, topics, db)
    await publisher.publish(make_inquiry(sender=sender, text="Also a separate project"))
    await consume(broker, topics, db)


async def test_a_repeat_appended_to_an_open_lead_becomes_its_own_lead(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    members, head = await sales_with_head(db)
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        await _repeat_on_an_open_lead(publisher, broker, topics, db)
        assert await lead_count(db) == 1
        async with console_client(db, publish=publisher.publish) as client:
            h = await token_of(db, head)
            [item] = (await review(client, h, kind="repeat"))["items"]
            assert item["excerpt"] == "Also a separate project"
            assert item["reason"].startswith("repeat inquiry on open lead")
            made = await (await client.post(f"/api/v1/review/{item['id']}/lead", headers=h)).json()
        await consume(broker, topics, db)
    assert await lead_count(db) == 2
    lead_id = uuid.UUID(made["lead_id"])
    async with db.sessions() as session:
        lead = await session.get(Lead, lead_id)
        outcome = await session.scalar(
            select(InquiryRecord.outcome).where(InquiryRecord.lead_id == lead_id)
        )
    assert lead is not None and lead.assignee_id in members and outcome == "new_lead"


async def test_a_second_click_names_the_lead_made_before_the_time_ordered_ids(
    broker: BrokerProcess, topics: Topics, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, head = await sales_with_head(db)
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        await _repeat_on_an_open_lead(publisher, broker, topics, db)
        async with console_client(db, publish=publisher.publish) as client:
            h = await token_of(db, head)
            [item] = (await review(client, h, kind="repeat"))["items"]
            path = f"/api/v1/review/{item['id']}/lead"
            assert (await (await client.post(path, headers=h)).json())["result"] == "accepted"
            # The consumer before the upgrade made every row id with uuid5.
            for module in (pipeline, decision_parts, records, replies):
                monkeypatch.setattr(module, "row_id", derived_id)
            await consume(broker, topics, db)
            monkeypatch.undo()
            again = await (await client.post(path, headers=h)).json()
    assert await lead_count(db) == 2
    async with db.sessions() as session:
        made = await session.scalar(
            select(InquiryRecord.lead_id).where(InquiryRecord.idempotency_key.like("review:%"))
        )
    assert again["result"] == "already"
    assert made is not None and again["lead_id"] == str(made)


async def test_a_manager_cannot_see_or_use_the_review(db: Database) -> None:
    manager = await make_user(db, "manager@sales.test", "manager")
    some = str(uuid.uuid4())
    async with console_client(db) as client:
        h = await token_of(db, manager)
        listed = await client.get("/api/v1/review", headers=h)
        made = await client.post(f"/api/v1/review/{some}/lead", headers=h)
        assert listed.status == made.status == 403
        assert listed.content_type == "application/problem+json"
        await sign_in(client, "manager@sales.test")
        page = await client.get("/review")
        assert page.status == 403
        assert "This is a real inquiry" not in await page.text()
        assert 'href="/review"' not in await (await client.get("/queue")).text()


async def test_the_lead_list_shows_and_filters_needs_review_and_channel(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    await seed_team(db)
    admin = await make_user(db, "root@x.test", "admin")
    clean = make_inquiry(sender=Sender(email="a@client.test"), text="Нужен счёт на 3 шт")
    # No way to answer (no email, phone or messenger): the suspicious band.
    unreachable = make_inquiry(sender=Sender(name="Anon"), text="Price for 40 rooms?")
    manual = make_inquiry(
        channel=Channel.MANUAL, sender=Sender(phone="+79261234567"), text="Walk-in visitor"
    )
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        for inquiry in (clean, unreachable, manual):
            await publisher.publish(inquiry)
    await consume(broker, topics, db)
    async with console_client(db) as client:
        h = await token_of(db, admin)

        async def texts(**query: str) -> set[tuple[str | None, bool]]:
            resp = await client.get("/api/v1/leads", params=query, headers=h)
            assert resp.status == 200, await resp.text()
            return {(i["text"], i["needs_review"]) for i in (await resp.json())["items"]}

        assert await texts() == {
            ("Нужен счёт на 3 шт", False),
            ("Price for 40 rooms?", True),
            ("Walk-in visitor", False),
        }
        assert await texts(needs_review="true") == {("Price for 40 rooms?", True)}
        assert await texts(needs_review="false", channel="web_form") == {
            ("Нужен счёт на 3 шт", False)
        }
        assert await texts(channel="manual") == {("Walk-in visitor", False)}
        for bad in ({"needs_review": "maybe"}, {"channel": "fax"}):
            resp = await client.get("/api/v1/leads", params=bad, headers=h)
            assert resp.status == 422, bad


async def test_the_store_pages_filters_and_finds_cyrillic_in_any_case(db: Database) -> None:
    from crm_store import intake_write
    from crm_store.accounts import Principal
    from crm_store.review import ReviewFilter, list_review
    from ingest.decisions import Policy, Snapshot, TeamView
    from ingest.pipeline import plan_batch
    from ingest.records import rows_for

    await seed_team(db)
    now = datetime.now(UTC)
    olga = Sender(name="Ольга Ким", email="olga@client.test")
    inquiries = [
        make_inquiry(sender=olga, text="Отпуск до 5 мая", not_a_lead="auto_reply: X-Autoreply"),
        make_inquiry(sender=Sender(email="daemon@x.test"), not_a_lead="bounce: From: daemon"),
        make_inquiry(sender=Sender(email="flood@x.test"), text="again"),
        make_inquiry(honeypot=True, sender=Sender(email="bot@x.test"), text="Buy now"),
    ]
    async with db.sessions() as session, session.begin():
        t = (await team_reads.load_teams(session, lock=False))["Sales"]
        snapshot = Snapshot(
            {},
            {"Sales": TeamView(t.id, t.name, t.member_ids, None, t.member_names)},
            recent_from_sender={inquiries[2].key: 50},
        )
        for i, inquiry in enumerate(inquiries):
            at = now - timedelta(minutes=i)
            plan = plan_batch(
                [inquiry.model_copy(update={"received_at": at})], snapshot, at, Policy()
            )
            await intake_write.write_intake(session, rows_for(plan, {t.id: t.name}, at))
    admin = Principal(user_id=1, name="a", role="admin")
    outsider = Principal(user_id=10_000, name="h", role="head")
    manager = Principal(user_id=1, name="m", role="manager")

    async def kinds(who: Principal = admin, **wanted: Any) -> list[str]:
        async with db.sessions() as session:
            page = await list_review(session, who, ReviewFilter(**wanted))
        return [item.kind for item in page.items]

    assert await kinds() == ["auto_reply", "bounce", "loop_guard", "junk"], "newest first"
    assert await kinds(search="ОЛЬГА") == await kinds(search="ольга") == ["auto_reply"]
    assert await kinds(search="отпуск") == ["auto_reply"]
    assert await kinds(kind="loop_guard") == ["loop_guard"]
    assert await kinds(search="100%_") == [], "LIKE wildcards are searched as text"
    assert await kinds(outsider) == ["auto_reply", "bounce", "loop_guard"], "no team's lead"
    assert await kinds(manager) == []
    async with db.sessions() as session:
        second = await list_review(session, admin, ReviewFilter(), limit=1, offset=1)
    assert second.total == 4 and [i.kind for i in second.items] == ["bounce"]


async def test_a_junk_lead_restored_from_its_card_reaches_a_queue(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    # The card's "Restore" and the review's "this is a real inquiry" must end the same
    # way: a lead junk kept from ever being assigned gets a first contact and a manager.
    members, head = await sales_with_head(db)
    junk = make_inquiry(honeypot=True, sender=Sender(name="Real Person", email="real@client.test"))
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        await publisher.publish(junk)
    await consume(broker, topics, db)
    async with db.sessions() as session:
        lead = await session.scalar(select(Lead))
    assert lead is not None and lead.status == "junk" and lead.assignee_id is None

    async with console_client(db) as client:
        resp = await client.post(
            f"/api/v1/leads/{lead.id}/restore", headers=await token_of(db, head)
        )
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["status"] == "new"

    report = await SlaWatcher(db).run_once(datetime.now(UTC))
    assert (report.assigned, report.learned) == (1, 1)
    async with db.sessions() as session:
        assigned = await session.get(Lead, lead.id)
        planned = await session.scalar(
            select(Activity).where(Activity.lead_id == lead.id, Activity.is_first_contact)
        )
    assert assigned is not None and assigned.assignee_id in members
    assert planned is not None and planned.assignee_id == assigned.assignee_id
    assert planned.status == "planned" and planned.due_at is not None
