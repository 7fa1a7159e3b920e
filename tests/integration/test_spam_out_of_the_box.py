"""A fresh install catches spam on day one: web form → Tansu → consumer → store.

Nobody has marked anything yet (no `spam_model` row), so the judgement runs on the
shipped baseline and the rules. The texts below were written for this test and are
not in the training corpus."""

# ruff: noqa: RUF001  (Cyrillic sample texts are meant)
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from connectors.publisher import Publisher
from connectors.webform import WebFormConnector
from crm_store.database import Database
from crm_store.models import InquiryRecord, Lead, SpamModel
from ingest.consumer import InquiryConsumer
from ingest.consumer_config import ConsumerConfig
from ingest.contract import Topics
from ingest.contract.problem import problem_middleware
from ingest.decisions import Policy
from ingest.spam import make_render_token

from ..conftest import BrokerProcess
from ..factories import make_form
from .helpers import seed_team

pytestmark = pytest.mark.integration

SECRET = b"day-one-render-secret"
SPAM = [
    "Добрый день! Сделаем аудит сайта и выведем его в ТОП-3 Яндекса за месяц, первый месяц "
    "работ бесплатно. Ответьте, пришлю кейсы.",
    "Ваш домен скоро будет удалён: оплата продления не поступила, продлите здесь clck.ru/3Fq8Zx",
    "Earn 3000 USD every week with our crypto robot, no experience needed: bit.ly/4kRoboT",
    "Тестовая заявка, не перезванивать",
    "Бecплaтныe cпины и бoнуc 200% нa пepвый дeпoзит, игpaй ceгoдня",
]
GENUINE = [
    "Позвоните мне",
    "Нужен счёт на 3 шт",
    "Добрый день, нужен монтаж видеонаблюдения на складе 600 м2 в Подольске, сколько будет стоить?",
    "Hi, could you quote 15 Dell OptiPlex 7010 with delivery to Almaty?",
    "Наш сайт teplo-service.ru, реквизиты там. Выставьте счёт на 12 радиаторов Rifar.",
]


async def _post_all(broker: BrokerProcess, topics: Topics, texts: list[str]) -> list[uuid.UUID]:
    """Posts each text the way a browser does 40 s after the page rendered."""
    rendered = make_render_token(SECRET, "contact", datetime.now(UTC) - timedelta(seconds=40))
    ids = []
    async with Publisher(broker.bootstrap_servers, topics, timeout_s=5.0) as publisher:
        form = make_form()
        connector = WebFormConnector(publisher, {form.slug: form}.get, render_secret=SECRET)
        app = web.Application(middlewares=[problem_middleware])
        app.add_routes(connector.routes())
        async with TestClient(TestServer(app)) as client:
            for i, text in enumerate(texts):
                data = {
                    "name": f"Sender {i}",
                    "email": f"sender{i}@example.org",
                    "message": text,
                    "_rt": rendered,
                }
                response = await client.post("/forms/contact", data=data)
                assert response.status == 202, await response.text()
                ids.append(uuid.UUID((await response.json())["inquiry_id"]))
    return ids


async def test_a_fresh_install_keeps_spam_out_of_the_queue(
    broker: BrokerProcess, topics: Topics, db: Database
) -> None:
    await seed_team(db)
    ids = await _post_all(broker, topics, SPAM + GENUINE)
    config = ConsumerConfig(
        bootstrap_servers=broker.bootstrap_servers,
        topics=topics,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=20,
    )
    async with InquiryConsumer(config, db, policy=Policy(render_secret=SECRET)) as consumer:
        await consumer.run(until_idle=True)

    async with db.sessions() as session:
        assert await session.scalar(select(SpamModel.name)) is None, "nothing was marked"
        rows = (
            await session.execute(
                select(InquiryRecord.id, Lead.status, Lead.needs_review, Lead.assignee_id)
                .join(Lead, Lead.id == InquiryRecord.lead_id)
                .where(InquiryRecord.id.in_(ids))
            )
        ).all()
    by_id = {row.id: row for row in rows}
    assert len(by_id) == len(ids), "every inquiry became a lead, junk included"
    for inquiry_id, text in zip(ids[: len(SPAM)], SPAM, strict=True):
        lead = by_id[inquiry_id]
        caught = lead.status == "junk" or lead.needs_review
        assert caught, f"spam not caught: {text!r} -> {lead.status}"
    for inquiry_id, text in zip(ids[len(SPAM) :], GENUINE, strict=True):
        lead = by_id[inquiry_id]
        assert lead.status == "new" and not lead.needs_review, f"genuine judged: {text!r}"
        assert lead.assignee_id is not None
