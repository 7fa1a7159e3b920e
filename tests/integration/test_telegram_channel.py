"""Telegram against a local fake of the Bot API and through the real webhook route."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaProducer

from connectors.config import TelegramBotConfig
from connectors.journal import EdgeJournal
from connectors.outbound import OutboundConfig, OutboundDispatcher, RetryPolicy
from connectors.publisher import Publisher
from connectors.telegram_bot import SECRET_HEADER, TelegramBots, TelegramSender
from ingest.contract import OutboundMessage, Topics
from ingest.contract.problem import problem_middleware

from ..conftest import BrokerProcess
from .channel_helpers import DEAD_BROKER, eventually, fixture, read_inquiries, read_topic
from .fake_telegram import FakeBotApi
from .journal_helpers import open_journal

pytestmark = pytest.mark.integration

TOKEN = "7012345678:AAE-test-token"
SECRET = "s3cret-webhook_token"


def bot_config(root: str | None = None, **overrides: object) -> TelegramBotConfig:
    values: dict[str, object] = {
        "name": "sales",
        "token": TOKEN,
        "team": "Sales",
        "api_base_url": root,
        "poll_timeout_s": 0,
    }
    values.update(overrides)
    return TelegramBotConfig(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def running(bots: TelegramBots) -> AsyncIterator[None]:
    async with asyncio.TaskGroup() as tasks:
        task = tasks.create_task(bots.run(), name="bots-under-test")
        try:
            yield
        finally:
            task.cancel()


async def test_polling_publishes_updates_and_then_advances_the_offset(
    broker: BrokerProcess, topics: Topics
) -> None:
    updates = [fixture("telegram", n) for n in ("private_text", "group_message", "start_payload")]
    fake = FakeBotApi(updates)
    last = max(u["update_id"] for u in updates)
    async with fake.serve() as root, Publisher(broker.bootstrap_servers, topics) as publisher:
        bots = TelegramBots(publisher)
        bots.update({"sales": bot_config(root)})
        async with running(bots):
            await eventually(lambda: last + 1 in fake.offsets)
    assert "deleteWebhook" in fake.calls, "polling removes a webhook first"
    inquiries = await read_inquiries(broker.bootstrap_servers, topics.inquiries, 2)
    keys = sorted(i.idempotency_key for i in inquiries)
    assert keys == ["telegram:sales:813745001", "telegram:sales:813745002"]
    assert {i.routing.connector for i in inquiries} == {"sales"}
    assert {i.routing.team for i in inquiries} == {"Sales"}
    start = next(i for i in inquiries if i.idempotency_key.endswith("2"))
    assert start.source.utm_source == "google"


async def test_offset_does_not_advance_while_the_journal_refuses(tmp_path: Path) -> None:
    """Past its bound the journal refuses at once (no broker involved, nothing to hang on)."""
    fake = FakeBotApi([fixture("telegram", "private_text")])
    async with fake.serve() as root, open_journal(tmp_path, max_bytes=1) as journal:
        bots = TelegramBots(journal)
        bots.update({"sales": bot_config(root)})
        async with running(bots):
            await eventually(lambda: len(fake.offsets) >= 2)
        assert journal.stats().refused >= 1
        assert journal.stats().entries == 0
    assert set(fake.offsets) == {None}, "no update was confirmed to Telegram"


async def test_offset_advances_once_journalled_while_the_broker_is_down(tmp_path: Path) -> None:
    """The journal, not the broker, is what makes an update safe to forget."""
    update = fixture("telegram", "private_text")
    fake = FakeBotApi([update])
    async with fake.serve() as root, open_journal(tmp_path) as journal:
        bots = TelegramBots(journal)  # no relay, no broker: the entry waits in the journal
        bots.update({"sales": bot_config(root)})
        async with running(bots):
            await eventually(lambda: update["update_id"] + 1 in fake.offsets)
        [entry] = await journal.due(10, republish_before=0.0)
    assert entry.idempotency_key == f"telegram:sales:{update['update_id']}"


async def test_webhook_mode_sets_the_webhook_with_its_secret(topics: Topics) -> None:
    fake = FakeBotApi()
    async with fake.serve() as root, Publisher(DEAD_BROKER, topics, timeout_s=0.3) as publisher:
        bots = TelegramBots(publisher)
        config = bot_config(
            root, mode="webhook", webhook_secret=SECRET, public_url="https://x.test"
        )
        bots.update({"sales": config})
        async with running(bots):
            await eventually(lambda: bool(fake.webhooks))
    assert fake.webhooks[0]["url"] == "https://x.test/webhooks/telegram/sales"
    assert fake.webhooks[0]["secret_token"] == SECRET


@asynccontextmanager
async def webhook_client(
    bootstrap: str, topics: Topics, *, timeout_s: float = 5.0
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with Publisher(bootstrap, topics, timeout_s=timeout_s) as publisher:
        bots = TelegramBots(publisher)
        bots.update({"sales": bot_config(mode="webhook", webhook_secret=SECRET)})
        app = web.Application(middlewares=[problem_middleware])
        app.add_routes(bots.routes())
        async with TestClient(TestServer(app)) as client:
            yield client


@asynccontextmanager
async def journal_webhook_client(
    journal: EdgeJournal,
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    bots = TelegramBots(journal)
    bots.update({"sales": bot_config(mode="webhook", webhook_secret=SECRET)})
    app = web.Application(middlewares=[problem_middleware])
    app.add_routes(bots.routes())
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_webhook_refuses_requests_without_the_secret(
    broker: BrokerProcess, topics: Topics
) -> None:
    update = fixture("telegram", "private_text")
    async with webhook_client(broker.bootstrap_servers, topics) as client:
        missing = await client.post("/webhooks/telegram/sales", json=update)
        wrong = await client.post(
            "/webhooks/telegram/sales", json=update, headers={SECRET_HEADER: "nope"}
        )
        unknown = await client.post(
            "/webhooks/telegram/other", json=update, headers={SECRET_HEADER: SECRET}
        )
        broken = await client.post(
            "/webhooks/telegram/sales", data=b"{oops", headers={SECRET_HEADER: SECRET}
        )
        assert missing.status == 403
        assert missing.content_type == "application/problem+json"
        assert SECRET_HEADER in (await missing.json())["detail"]
        assert wrong.status == 403
        assert unknown.status == 404
        assert (await unknown.json())["status"] == 404
        assert broken.status == 400


@pytest.mark.parametrize(
    ("name", "status"),
    [
        pytest.param("private_text", "accepted", id="text"),
        pytest.param("contact", "accepted", id="contact"),
        pytest.param("photo_caption", "accepted", id="photo"),
        pytest.param("edited_message", "ignored", id="edit"),
        pytest.param("group_message", "ignored", id="group"),
    ],
)
async def test_webhook_accepts_real_updates(
    broker: BrokerProcess, topics: Topics, name: str, status: str
) -> None:
    async with webhook_client(broker.bootstrap_servers, topics) as client:
        resp = await client.post(
            "/webhooks/telegram/sales",
            json=fixture("telegram", name),
            headers={SECRET_HEADER: SECRET},
        )
        assert resp.status == 200
        assert (await resp.json())["status"] == status
    if status == "accepted":
        [inquiry] = await read_inquiries(broker.bootstrap_servers, topics.inquiries, 1)
        assert inquiry.channel == "telegram"
        assert inquiry.sender.messenger_ids == {"telegram": "123456789"}


async def test_webhook_answers_200_from_the_journal_and_503_past_its_bound(
    tmp_path: Path,
) -> None:
    for bound, status in ((None, 200), (1, 503)):
        journal = open_journal(tmp_path / str(bound), **({"max_bytes": bound} if bound else {}))
        async with journal, journal_webhook_client(journal) as client:
            resp = await client.post(
                "/webhooks/telegram/sales",
                json=fixture("telegram", "private_text"),
                headers={SECRET_HEADER: SECRET},
            )
            assert resp.status == status
            assert journal.stats().entries == (1 if status == 200 else 0)
            if status == 503:
                assert resp.headers["Retry-After"] == "5"


def ack(**overrides: object) -> OutboundMessage:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "channel": "telegram",
        "purpose": "acknowledgement",
        "connector": "sales",
        "to": "123456789",
        "template": "ack",
        "context": {"name": "Иван Петров"},
        "created_at": datetime.now(UTC),
    }
    values.update(overrides)
    return OutboundMessage(**values)


async def test_acknowledgement_from_the_outbound_topic_is_sent_by_the_bot(
    broker: BrokerProcess, topics: Topics
) -> None:
    fake = FakeBotApi()
    template = "Здравствуйте, {first_name}! Менеджер ответит в течение 15 минут."
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        for message in (ack(), ack(connector="nobody")):
            key, value = message.to_kafka()
            await producer.send_and_wait(topics.outbound, value, key=key)
    finally:
        await producer.stop()
    config = OutboundConfig(
        broker.bootstrap_servers,
        topics,
        group_id=f"out-{uuid.uuid4().hex[:6]}",
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        retry=RetryPolicy(attempts=20, first_delay_s=0.05, max_delay_s=0.2),
    )
    async with fake.serve() as root, Publisher(broker.bootstrap_servers, topics) as publisher:
        bots = TelegramBots(publisher)
        bots.update({"sales": bot_config(root, ack_template=template)})
        async with running(bots), OutboundDispatcher(config) as dispatcher:
            dispatcher.register("telegram", TelegramSender(bots))
            handled = await dispatcher.run(until_idle=True)
    assert handled == 2
    assert fake.sent == [
        {"chat_id": 123456789, "text": "Здравствуйте, Иван! Менеджер ответит в течение 15 минут."}
    ]
    [(_, headers)] = await read_topic(broker.bootstrap_servers, topics.dlq, 1)
    assert b"no Telegram bot called 'nobody'" in headers["reason"]
    assert headers["source_topic"] == topics.outbound.encode()
