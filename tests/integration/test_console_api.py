"""The read API: bearer tokens, filters, pagination, and role scoping in the query."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from console.api import ConsoleApi
from crm_store import accounts, intake_write, team_reads
from crm_store.database import Database
from ingest.contract import Sender
from ingest.contract.problem import problem_middleware
from ingest.decisions import NewLead, Policy, Snapshot, TeamView
from ingest.pipeline import plan_batch
from ingest.records import rows_for

from ..factories import make_inquiry
from .helpers import seed_team

pytestmark = pytest.mark.integration
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(db: Database) -> AsyncIterator[Client]:
    app = web.Application(middlewares=[problem_middleware])
    app.add_routes(ConsoleApi(db).routes())
    async with TestClient(TestServer(app)) as c:
        yield c


async def token_for(db: Database, email: str, role: str) -> str:
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        user_id = await accounts.upsert_user(session, email=email, name=email, role=role, now=now)
        return await accounts.add_token(session, user_id=user_id, name="t", now=now)


async def make_leads(db: Database, n: int) -> list[int]:
    members = await seed_team(db)
    async with db.sessions() as session, session.begin():
        teams = await team_reads.load_teams(session, lock=False)
        t = teams["Sales"]
        snapshot = Snapshot(
            {}, {"Sales": TeamView(t.id, t.name, t.member_ids, None, t.member_names)}
        )
        inquiries = [
            make_inquiry(sender=Sender(name=f"C{i}", email=f"c{i}@example.com")) for i in range(n)
        ]
        now = datetime.now(UTC)
        # Distinct creation times make the newest-first order observable.
        for i, inquiry in enumerate(inquiries):
            plan = plan_batch([inquiry], snapshot, now + timedelta(seconds=i), Policy())
            await intake_write.write_intake(
                session, rows_for(plan, {t.id: t.name}, now + timedelta(seconds=i))
            )
            new = plan.decisions[0]
            assert isinstance(new, NewLead)
            snapshot = Snapshot(
                {},
                {"Sales": TeamView(t.id, t.name, t.member_ids, new.assignee_id, t.member_names)},
            )
    return members


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": "Basic abc"}, id="wrong-scheme"),
        pytest.param({"Authorization": "Bearer nope"}, id="unknown-token"),
    ],
)
async def test_without_a_valid_token_is_401(client: Client, headers: dict[str, str]) -> None:
    resp = await client.get("/api/v1/leads", headers=headers)
    assert resp.status == 401
    assert resp.content_type == "application/problem+json"
    assert "WWW-Authenticate" in resp.headers


async def test_admin_lists_all_leads_newest_first_with_pagination(
    client: Client, db: Database
) -> None:
    await make_leads(db, 5)
    token = await token_for(db, "admin@x.test", "admin")
    page = await (await client.get("/api/v1/leads?limit=2", headers=bearer(token))).json()
    assert page["total"] == 5
    assert [item["contact"]["name"] for item in page["items"]] == ["C4", "C3"]
    rest = await (await client.get("/api/v1/leads?limit=2&offset=4", headers=bearer(token))).json()
    assert [item["contact"]["name"] for item in rest["items"]] == ["C0"]
    lead = page["items"][0]
    assert set(lead) >= {
        "id",
        "status",
        "channel",
        "created_at",
        "contact",
        "assignee",
        "first_contact_due_at",
        "activities",
    }
    assert set(lead["activities"][0]) >= {"id", "kind", "status", "due_at"}


async def test_filters(client: Client, db: Database) -> None:
    members = await make_leads(db, 6)
    token = await token_for(db, "admin@x.test", "admin")
    by_email = await (
        await client.get("/api/v1/leads?contact_email=C2@Example.com", headers=bearer(token))
    ).json()
    assert [i["contact"]["email"] for i in by_email["items"]] == ["c2@example.com"]
    mine = await (
        await client.get(f"/api/v1/leads?assignee_id={members[1]}", headers=bearer(token))
    ).json()
    assert mine["total"] == 2
    junk = await (await client.get("/api/v1/leads?status=junk", headers=bearer(token))).json()
    assert junk["total"] == 0


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("limit=0", id="limit-zero"),
        pytest.param("limit=1000", id="limit-huge"),
        pytest.param("offset=-1", id="negative-offset"),
        pytest.param("limit=ten", id="not-a-number"),
        pytest.param("status=won", id="unknown-status"),
    ],
)
async def test_bad_query_is_422(client: Client, db: Database, query: str) -> None:
    token = await token_for(db, "admin@x.test", "admin")
    resp = await client.get(f"/api/v1/leads?{query}", headers=bearer(token))
    assert resp.status == 422


async def test_manager_sees_only_their_own_leads(client: Client, db: Database) -> None:
    await make_leads(db, 3)
    async with db.sessions() as session:
        from sqlalchemy import select

        from crm_store.models import ApiToken, AppUser, Lead

        first = await session.scalar(select(AppUser).where(AppUser.email == "m0@sales.test"))
        assert first is not None
        other_lead = await session.scalar(select(Lead.id).where(Lead.assignee_id != first.id))
        own_lead = await session.scalar(select(Lead.id).where(Lead.assignee_id == first.id))
        del ApiToken
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        token = await accounts.add_token(session, user_id=first.id, name="t", now=now)
    page = await (await client.get("/api/v1/leads", headers=bearer(token))).json()
    assert page["total"] == 1
    assert page["items"][0]["assignee"]["id"] == first.id
    assert (await client.get(f"/api/v1/leads/{own_lead}", headers=bearer(token))).status == 200
    other = await client.get(f"/api/v1/leads/{other_lead}", headers=bearer(token))
    assert other.status == 404, "another manager's lead does not exist for this manager"


async def test_unknown_or_malformed_lead_id_is_404(client: Client, db: Database) -> None:
    token = await token_for(db, "admin@x.test", "admin")
    assert (await client.get(f"/api/v1/leads/{uuid.uuid4()}", headers=bearer(token))).status == 404
    assert (await client.get("/api/v1/leads/not-a-uuid", headers=bearer(token))).status == 404


async def test_revoked_token_is_refused(client: Client, db: Database) -> None:
    token = await token_for(db, "admin@x.test", "admin")
    from sqlalchemy import update

    from crm_store.models import ApiToken

    async with db.sessions() as session, session.begin():
        await session.execute(update(ApiToken).values(revoked_at=datetime.now(UTC)))
    assert (await client.get("/api/v1/leads", headers=bearer(token))).status == 401
