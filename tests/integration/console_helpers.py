"""Wiring for console tests: a test client over `ConsoleApi`, users with passwords,
leads made by the real pipeline planner, and a signed-in browser-like session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from sqlalchemy import select

from console.api import ConsoleApi
from console.passwords import hash_password
from console.ratelimit import LoginLimiter
from crm_store import accounts, sessions
from crm_store.database import Database
from crm_store.models import AppUser, Lead
from ingest.contract import Inquiry
from ingest.contract.problem import problem_middleware
from leadflow.connector_kinds import CONNECTOR_KINDS
from leadflow.secrets import SecretBox

from .test_console_api import make_leads

Client = TestClient[web.Request, web.Application]
PASSWORD = "correct horse battery"


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def console_client(
    db: Database,
    *,
    publish: Callable[[Inquiry], Awaitable[None]] | None = None,
    clock: Clock | None = None,
    **kwargs: Any,
) -> AsyncIterator[Client]:
    # Most console tests read the English text; tests of the language choice pass
    # their own default (the product's is Russian, `IngestSettings.default_language`).
    kwargs.setdefault("default_language", "en")
    kwargs.setdefault("secret_box", SecretBox(Fernet.generate_key()))
    kwargs.setdefault("connector_kinds", CONNECTOR_KINDS)
    api = ConsoleApi(
        db, publish=publish, limiter=LoginLimiter(db, clock=clock or Clock()), **kwargs
    )
    app = web.Application(middlewares=[problem_middleware])
    app.add_routes(api.routes())
    async with TestClient(TestServer(app)) as client:
        yield client


async def make_user(db: Database, email: str, role: str, password: str = PASSWORD) -> int:
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        user_id = await accounts.upsert_user(session, email=email, name=email, role=role, now=now)
        await sessions.set_password_hash(session, user_id, hash_password(password))
    return user_id


async def token_of(db: Database, user_id: int) -> dict[str, str]:
    async with db.sessions() as session, session.begin():
        token = await accounts.add_token(session, user_id=user_id, name="t", now=datetime.now(UTC))
    return {"Authorization": f"Bearer {token}"}


async def sign_in(client: Client, email: str, password: str = PASSWORD) -> dict[str, str]:
    """Sign the client's cookie jar in; returns the CSRF header for writes."""
    resp = await client.post("/api/v1/session", json={"email": email, "password": password})
    assert resp.status == 200, await resp.text()
    return {"X-CSRF-Token": (await resp.json())["csrf_token"]}


async def seeded(db: Database, n: int = 3) -> tuple[list[int], dict[int, list[Any]]]:
    """Team Sales with managers m0..m2 (password PASSWORD) and n leads round-robin."""
    members = await make_leads(db, n)
    async with db.sessions() as session, session.begin():
        for user_id in members:
            await sessions.set_password_hash(session, user_id, hash_password(PASSWORD))
        rows = (await session.execute(select(Lead.assignee_id, Lead.id))).all()
    by_user: dict[int, list[Any]] = {}
    for assignee, lead_id in rows:
        assert assignee is not None
        by_user.setdefault(assignee, []).append(lead_id)
    return members, by_user


async def email_of(db: Database, user_id: int) -> str:
    async with db.sessions() as session:
        email = await session.scalar(select(AppUser.email).where(AppUser.id == user_id))
    assert email is not None
    return email
