"""Wiring for integration tests: a real HTTP edge, real broker, real store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from connectors.publisher import Publisher
from connectors.webform import FormConfig, WebFormConnector
from crm_store import accounts
from crm_store.database import Database
from crm_store.models import Lead
from ingest.batch_store import StoreHook
from ingest.consumer import BatchHook, InquiryConsumer
from ingest.consumer_config import ConsumerConfig
from ingest.contract import Topics
from ingest.contract.problem import problem_middleware
from ingest.metrics import IngestMetrics
from ingest.notifier import LeadNotifier, NotifierConfig

from ..factories import make_form


async def seed_team(db: Database, members: int = 3, team: str = "Sales") -> list[int]:
    now = datetime.now(UTC)
    ids = []
    async with db.sessions() as session, session.begin():
        team_id = await accounts.upsert_team(session, name=team, strategy="round_robin", now=now)
        for i in range(members):
            user_id = await accounts.upsert_user(
                session,
                email=f"m{i}@{team.lower()}.test",
                name=f"Manager {i}",
                role="manager",
                now=now,
            )
            await accounts.upsert_member(
                session, team_id=team_id, user_id=user_id, capacity=50, active=True
            )
            ids.append(user_id)
    return ids


@asynccontextmanager
async def form_client(
    bootstrap: str,
    topics: Topics,
    *,
    timeout_s: float = 5.0,
    max_body: int = 64 * 1024,
    form: FormConfig | None = None,
    render_secret: bytes | None = None,
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with Publisher(bootstrap, topics, timeout_s=timeout_s) as publisher:
        form = form or make_form()
        connector = WebFormConnector(publisher, {form.slug: form}.get, render_secret=render_secret)
        app = web.Application(client_max_size=max_body, middlewares=[problem_middleware])
        app.add_routes(connector.routes())
        async with TestClient(TestServer(app)) as client:
            yield client


def consumer_for(
    bootstrap: str,
    topics: Topics,
    db: Database,
    *,
    group: str | None = None,
    before_offset_commit: BatchHook | None = None,
    before_store: StoreHook | None = None,
    metrics: IngestMetrics | None = None,
    **config_options: Any,
) -> InquiryConsumer:
    config = ConsumerConfig(
        bootstrap_servers=bootstrap,
        topics=topics,
        group_id=group or f"g-{uuid.uuid4().hex[:8]}",
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=20,
        **config_options,
    )
    return InquiryConsumer(
        config,
        db,
        before_offset_commit=before_offset_commit,
        before_store=before_store,
        metrics=metrics,
    )


def notifier_for(
    bootstrap: str,
    topics: Topics,
    db: Database,
    *,
    group: str | None = None,
    console_url: str | None = None,
    **config_options: Any,
) -> LeadNotifier:
    config = NotifierConfig(
        bootstrap_servers=bootstrap,
        topics=topics,
        group_id=group or f"n-{uuid.uuid4().hex[:8]}",
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=20,
        console_url=console_url,
        **config_options,
    )
    return LeadNotifier(config, db)


async def lead_count(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Lead)) or 0)
