"""IMAP mailboxes in the admin API, and connectors' health over time, on both stores.

With the real Dovecot: a mailbox created through `POST /api/v1/admin/connectors` is
picked up by a running `MailChannel` (no restart), a mail delivered to it becomes a
lead; its "test connection" logs in (ok) or says why not (failed, without the
password). Tests, successes, errors and inquiries land in the hour they happened.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from prometheus_client import CollectorRegistry

from connectors.publisher import Publisher
from crm_store import connectors as connector_store
from crm_store.database import Database
from crm_store.leads import list_leads
from crm_store.models import InquiryRecord
from ingest.contract import Topics
from leadflow.connection_tests import test_connection as connection_tester
from leadflow.mailboxes import MailChannel
from leadflow.secrets import SecretBox
from leadflow.settings import Settings

from ..conftest import BrokerProcess
from ..servers import PASSWORD, Dovecot, ImapClient
from .console_helpers import console_client, make_user, token_of
from .helpers import consumer_for, seed_team
from .mail_helpers import simple_mail
from .test_email_e2e import ADMIN, until

pytestmark = pytest.mark.integration

KEY = Fernet.generate_key().decode()


def mailbox_body(dovecot: Dovecot, user: str, **settings: Any) -> dict[str, Any]:
    return {
        "kind": "imap",
        "name": "sales-inbox",
        "team": "Sales",
        "settings": {
            "host": "127.0.0.1",
            "port": dovecot.port,
            "security": "plain",
            "username": user,
            "address": user,
            "poll_interval_s": 1,
            "timeout_s": 5,
            **settings,
        },
        "secrets": {"password": PASSWORD},
    }


async def test_a_mailbox_made_in_the_admin_starts_and_its_mail_becomes_a_lead(
    broker: BrokerProcess, topics: Topics, db: Database, dovecot: Dovecot, tmp_path: Path
) -> None:
    members = await seed_team(db)
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    user = dovecot.add_user()
    settings = Settings(data_dir=tmp_path, secret_key=KEY)  # no mailbox in the file
    stop = asyncio.Event()
    async with (
        Publisher(broker.bootstrap_servers, topics) as publisher,
        MailChannel(settings, db, publisher, CollectorRegistry(), reload_s=0.3) as mail,
        console_client(db, secret_box=SecretBox(KEY.encode())) as client,
    ):
        assert mail.configs == {}
        task = asyncio.create_task(mail.run(stop), name="mail")
        try:
            made = await client.post(
                "/api/v1/admin/connectors", json=mailbox_body(dovecot, user), headers=admin
            )
            assert made.status == 201, await made.text()
            view = await made.json()
            assert (
                view["secrets"] == {"password": "set"} and f'"{PASSWORD}"' not in await made.text()
            )

            async def started() -> bool:
                return "sales-inbox" in mail.configs

            await until(started)
            async with ImapClient(dovecot.port, user) as imap:
                await imap.append(simple_mail(subject="Quote for 40 rooms, please"))

            async def captured() -> bool:
                cursor = await mail.state.load("sales-inbox")
                return cursor is not None and cursor[1] >= 1

            await until(captured)
        finally:
            stop.set()
            await task
    async with consumer_for(broker.bootstrap_servers, topics, db, group=uuid.uuid4().hex) as c:
        await c.run(until_idle=True)
    async with db.sessions() as session:
        page = await list_leads(session, ADMIN)
    assert [lead.contact.email for lead in page.items] == ["olga.kim@hotel-vega.test"]
    # The mailbox's team got it: one of its members is the manager.
    assert page.items[0].assignee is not None and page.items[0].assignee.id in members


async def test_imap_in_the_admin_api_test_switch_and_health_by_the_hour(
    db: Database, dovecot: Dovecot
) -> None:
    await seed_team(db)
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    user = dovecot.add_user()
    async with console_client(db, connection_tester=connection_tester) as client:
        listed = await (await client.get("/api/v1/admin/connectors", headers=admin)).json()
        assert "imap" in listed["kinds"]
        # A password in clear text to another machine is refused, with the reason.
        remote = mailbox_body(dovecot, user, host="imap.example.com")
        refused = await client.post("/api/v1/admin/connectors", json=remote, headers=admin)
        assert refused.status == 422
        assert "plain" in await refused.text() and f'"{PASSWORD}"' not in await refused.text()
        good = mailbox_body(dovecot, user)
        assert (
            await client.post("/api/v1/admin/connectors", json=good, headers=admin)
        ).status == 201
        wrong = {**mailbox_body(dovecot, user), "name": "wrong"}
        wrong["secrets"] = {"password": "not-the-password"}
        assert (
            await client.post("/api/v1/admin/connectors", json=wrong, headers=admin)
        ).status == 201

        ok = await (
            await client.post("/api/v1/admin/connectors/sales-inbox/test", headers=admin)
        ).json()
        assert ok["ok"] is True and ok["outcome"] == "ok" and "logged in" in ok["detail"]
        russian = {**admin, "Accept-Language": "ru"}
        in_russian = await client.post("/api/v1/admin/connectors/sales-inbox/test", headers=russian)
        assert (await in_russian.json())["detail"].startswith("вход на 127.0.0.1 выполнен")
        bad = await (await client.post("/api/v1/admin/connectors/wrong/test", headers=admin)).json()
        assert bad["ok"] is False and bad["outcome"] == "failed"
        assert "could not log in" in bad["detail"] and "not-the-password" not in bad["detail"]

        # Off and on again keeps the settings and the password.
        off = await client.put(
            "/api/v1/admin/connectors/sales-inbox/active", json={"active": False}, headers=admin
        )
        assert (await off.json())["active"] is False
        assert (await off.json())["secrets"] == {"password": "set"}
        assert (await off.json())["settings"]["port"] == dovecot.port
        missing = await client.put(
            "/api/v1/admin/connectors/nobody/active", json={"active": True}, headers=admin
        )
        assert missing.status == 404

        # Cleared password: the mailbox cannot be saved without one.
        cleared = await client.put(
            "/api/v1/admin/connectors/sales-inbox",
            json={"settings": good["settings"], "secrets": {"password": ""}},
            headers=admin,
        )
        assert cleared.status == 422 and "secrets.password" in (await cleared.json())["errors"]

        now = datetime.now(UTC)
        async with db.sessions() as session, session.begin():
            await connector_store.record_health(session, "sales-inbox", success_at=now)
            await connector_store.record_health(
                session, "sales-inbox", error="LOGIN refused", error_at=now
            )
            for at in (now, now - timedelta(hours=3), now - timedelta(hours=30)):
                session.add(inquiry_from("sales-inbox", at))
            session.add(inquiry_from("another", now))
        health = await (
            await client.get("/api/v1/admin/connectors/sales-inbox/health", headers=admin)
        ).json()
        hours = health["hours"]
        assert len(hours) == 24
        current, three_ago = hours[-1], hours[-4]
        assert (current["successes"], current["errors"], current["tests_ok"]) == (1, 1, 2)
        assert current["last_error"] == "LOGIN refused" and current["inquiries"] == 1
        assert three_ago["inquiries"] == 1
        assert sum(h["inquiries"] for h in hours) == 2  # 30 h ago is outside the day
        assert health["last_test"]["outcome"] == "ok"
        wrong_health = await (
            await client.get("/api/v1/admin/connectors/wrong/health", headers=admin)
        ).json()
        assert wrong_health["hours"][-1]["tests_failed"] == 1
        assert wrong_health["last_test"]["outcome"] == "failed"

        # A deleted connector's history goes with it.
        assert (await client.delete("/api/v1/admin/connectors/wrong", headers=admin)).status == 204
        assert (
            await client.post("/api/v1/admin/connectors", json=wrong, headers=admin)
        ).status == 201
        fresh = await (
            await client.get("/api/v1/admin/connectors/wrong/health", headers=admin)
        ).json()
        assert fresh["last_test"] is None and fresh["hours"][-1]["tests_failed"] == 0

        manager = await token_of(db, await make_user(db, "m@x.test", "manager"))
        for method, path in (
            ("GET", "/api/v1/admin/connectors/sales-inbox/health"),
            ("PUT", "/api/v1/admin/connectors/sales-inbox/active"),
        ):
            denied = await client.request(method, path, json={"active": True}, headers=manager)
            assert denied.status == 403


def inquiry_from(connector: str, at: datetime) -> InquiryRecord:
    return InquiryRecord(
        id=uuid.uuid4(),
        idempotency_key=f"test:{uuid.uuid4()}",
        channel="email",
        received_at=at,
        payload={"routing": {"connector": connector}},
        outcome="new_lead",
        created_at=at,
    )
