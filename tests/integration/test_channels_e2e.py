"""Every channel end to end: ChannelSet from settings and the store, real broker, both stores."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from connectors.phone import sign_generic
from connectors.publisher import Publisher
from crm_store import connectors as store
from crm_store.accounts import Principal
from crm_store.database import Database
from crm_store.leads import list_leads
from crm_store.models import ConnectorConfig
from ingest.contract import Topics
from ingest.contract.problem import problem_middleware
from leadflow.channels import ChannelSet
from leadflow.importer import run_import
from leadflow.secrets import SecretBox
from leadflow.settings import Settings

from ..conftest import BrokerProcess
from .channel_helpers import eventually, fixture, fixture_bytes
from .fake_telegram import FakeBotApi
from .helpers import consumer_for, seed_team
from .test_import import args, write_csv
from .test_webhooks_http import meta_signature

pytestmark = pytest.mark.integration

ADMIN = Principal(user_id=0, name="admin", role="admin")
TOKEN = "7012345678:AAE-e2e-token"
KEY = Fernet.generate_key().decode()
Client = TestClient[web.Request, web.Application]


def make_settings(broker: BrokerProcess, topics: Topics, tmp: Path, **channels: Any) -> Settings:
    return Settings(
        data_dir=tmp,
        secret_key=KEY,
        kafka={
            "bootstrap_servers": broker.bootstrap_servers,
            "topic_prefix": topics.prefix,
            "session_timeout_ms": 2000,
            "heartbeat_interval_ms": 500,
        },
        **channels,
    )


@asynccontextmanager
async def channel_client(
    settings: Settings, db: Database, topics: Topics, bootstrap: str
) -> AsyncIterator[tuple[ChannelSet, Client]]:
    async with Publisher(bootstrap, topics) as publisher:
        channels = ChannelSet(
            settings, db, publisher, topics, bootstrap, CollectorRegistry(), reload_s=0.1
        )
        async with channels:
            app = web.Application(middlewares=[problem_middleware])
            app.add_routes(channels.routes())
            async with TestClient(TestServer(app)) as client:
                yield channels, client


async def consume_leads(broker: BrokerProcess, topics: Topics, db: Database) -> list[Any]:
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        await consumer.run(until_idle=True)
    async with db.sessions() as session:
        return list((await list_leads(session, ADMIN)).items)


async def test_telegram_polling_to_an_assigned_lead(
    broker: BrokerProcess, topics: Topics, db: Database, tmp_path: Path
) -> None:
    await seed_team(db)
    fake = FakeBotApi([fixture("telegram", "contact")])
    async with fake.serve() as root:
        bot = {"name": "sales", "token": TOKEN, "team": "Sales", "api_base_url": root}
        settings = make_settings(
            broker, topics, tmp_path, telegram_bots=[bot | {"poll_timeout_s": 0}]
        )
        async with channel_client(settings, db, topics, broker.bootstrap_servers) as (channels, _):
            stop = asyncio.Event()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(channels.run(stop), name="channels-under-test")
                await eventually(lambda: 813745004 in fake.offsets)
                stop.set()
    [lead] = await consume_leads(broker, topics, db)
    assert lead.channel == "telegram"
    assert lead.contact.phone == "+79161234567"
    assert lead.assignee is not None


async def test_whatsapp_to_an_assigned_lead(
    broker: BrokerProcess, topics: Topics, db: Database, tmp_path: Path
) -> None:
    await seed_team(db)
    app = {"name": "wa", "verify_token": "v", "app_secret": "app-secret", "team": "Sales"}
    settings = make_settings(broker, topics, tmp_path, whatsapp=[app])
    body = fixture_bytes("whatsapp", "text")
    async with channel_client(settings, db, topics, broker.bootstrap_servers) as (_, client):
        resp = await client.post(
            "/webhooks/whatsapp/wa",
            data=body,
            headers={"X-Hub-Signature-256": meta_signature(body, "app-secret")},
        )
        assert resp.status == 200
    [lead] = await consume_leads(broker, topics, db)
    assert lead.channel == "whatsapp"
    assert lead.contact.name == "Мария Соколова"
    assert lead.contact.phone == "+79161234567"
    assert lead.assignee is not None


async def test_twilio_missed_call_to_an_assigned_lead(
    broker: BrokerProcess, topics: Topics, db: Database, tmp_path: Path
) -> None:
    await seed_team(db)
    account = {"name": "main", "auth_token": "tok", "team": "Sales", "public_url": "https://l.test"}
    settings = make_settings(broker, topics, tmp_path, twilio=[account])
    params = fixture("phone", "twilio_no_answer")
    signature = RequestValidator("tok").compute_signature(
        "https://l.test/webhooks/twilio/main", params
    )
    async with channel_client(settings, db, topics, broker.bootstrap_servers) as (_, client):
        resp = await client.post(
            "/webhooks/twilio/main",
            data=urlencode(params),
            headers={
                "X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert resp.status == 200
    [lead] = await consume_leads(broker, topics, db)
    assert lead.channel == "phone"
    assert lead.contact.phone == "+79161234567"
    assert lead.assignee is not None


async def test_generic_phone_webhook_to_an_assigned_lead(
    broker: BrokerProcess, topics: Topics, db: Database, tmp_path: Path
) -> None:
    await seed_team(db)
    hook = {"name": "pbx", "provider": "asterisk", "secret": "shh", "team": "Sales"}
    settings = make_settings(broker, topics, tmp_path, phone_webhooks=[hook])
    body = fixture_bytes("phone", "generic_missed")
    now = int(time.time())
    headers = {
        "X-LeadFlow-Timestamp": str(now),
        "X-LeadFlow-Signature": sign_generic(body, now, "shh"),
    }
    async with channel_client(settings, db, topics, broker.bootstrap_servers) as (_, client):
        assert (await client.post("/webhooks/phone/pbx", data=body, headers=headers)).status == 200
    [lead] = await consume_leads(broker, topics, db)
    assert lead.channel == "phone"
    assert lead.contact.phone == "+79161234567"
    assert lead.assignee is not None


async def test_spreadsheet_import_to_assigned_leads(
    broker: BrokerProcess, topics: Topics, db: Database, tmp_path: Path
) -> None:
    await seed_team(db)
    path = write_csv(tmp_path / "leads.csv", "cp1251", ";")
    assert await run_import(make_settings(broker, topics, tmp_path), args(path)) == 0
    leads = await consume_leads(broker, topics, db)
    assert {(lead.channel, lead.contact.name) for lead in leads} == {
        ("import", "Иван Петров"),
        ("import", "Мария Соколова"),
    }
    assert all(lead.assignee is not None for lead in leads)


async def test_connectors_live_in_the_store_with_encrypted_secrets(
    broker: BrokerProcess, topics: Topics, db: Database, tmp_path: Path
) -> None:
    await seed_team(db)
    hook = {"name": "pbx", "secret": "from-toml-secret", "team": "Sales"}
    settings = make_settings(broker, topics, tmp_path, phone_webhooks=[hook])
    box = SecretBox(KEY.encode())
    async with channel_client(settings, db, topics, broker.bootstrap_servers) as (channels, client):
        assert channels.names == ["pbx"]
        async with db.sessions() as session:
            stored = await session.scalar(select(ConnectorConfig.secrets))
        assert stored is not None and "from-toml-secret" not in stored
        assert box.decrypt(stored) == {"secret": "from-toml-secret"}
        # An admin adds one in the store, and deactivates another: no restart needed.
        now = datetime.now(UTC)
        async with db.sessions() as session, session.begin():
            await store.upsert_connector(
                session,
                kind="whatsapp",
                name="wa-store",
                team="Sales",
                settings={},
                secrets=box.encrypt({"verify_token": "v", "app_secret": "a"}),
                now=now,
            )
            await store.upsert_connector(
                session,
                kind="phone_webhook",
                name="pbx",
                team="Sales",
                settings={"provider": "generic"},
                secrets=box.encrypt({"secret": "x"}),
                now=now,
                active=False,
            )
        await channels.reload()
        assert channels.names == ["wa-store"]
        query = {"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": "v"}
        assert (await client.get("/webhooks/whatsapp/wa-store", params=query)).status == 200
        assert (await client.post("/webhooks/phone/pbx", data=b"{}")).status == 404


async def test_unreadable_secrets_are_reported_not_loaded(
    broker: BrokerProcess, topics: Topics, db: Database, tmp_path: Path
) -> None:
    await seed_team(db)
    async with db.sessions() as session, session.begin():
        await store.upsert_connector(
            session,
            kind="whatsapp",
            name="other-key",
            team=None,
            settings={},
            secrets=SecretBox(Fernet.generate_key()).encrypt(
                {"verify_token": "v", "app_secret": "a"}
            ),
            now=datetime.now(UTC),
        )
    settings = make_settings(broker, topics, tmp_path)
    async with channel_client(settings, db, topics, broker.bootstrap_servers) as (channels, _):
        assert channels.names == []
    async with db.sessions() as session:
        [row] = await store.list_connectors(session)
    assert row.last_error is not None and "cannot be decrypted" in row.last_error
