"""Reports (JSON and CSV) scoped by role, and the OpenAPI document covering every route."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from console.api import ConsoleApi
from crm_store.database import Database
from crm_store.models import Activity, Team

from .console_helpers import console_client, make_user, seeded, token_of

pytestmark = pytest.mark.integration


async def complete_first_contacts_late(db: Database, minutes: int) -> None:
    async with db.sessions() as session, session.begin():
        for activity in await session.scalars(
            select(Activity).where(Activity.is_first_contact.is_(True))
        ):
            activity.status = "done"
            activity.done_at = activity.created_at + timedelta(minutes=minutes)


async def test_manager_report_holds_only_their_own_leads(db: Database) -> None:
    members, _ = await seeded(db, 6)
    await complete_first_contacts_late(db, 10)
    async with console_client(db) as client:
        mine = await (
            await client.get("/api/v1/reports", headers=await token_of(db, members[0]))
        ).json()
        assert mine["total"]["received"] == 2
        assert [m["id"] for m in mine["managers"]] == [members[0]]
        assert mine["total"]["first_response_median_min"] == pytest.approx(10, abs=0.2)
        assert mine["total"]["sla_kept_pct"] == 100.0
        assert mine["total"]["by_channel"] == {"web_form": 2}
        admin = await make_user(db, "root@x.test", "admin")
        everyone = await (
            await client.get("/api/v1/reports", headers=await token_of(db, admin))
        ).json()
        assert everyone["total"]["received"] == 6 and len(everyone["managers"]) == 3
        assert everyone["teams"][0]["name"] == "Sales"
        assert sum(b["count"] for b in everyone["first_response_histogram"]) == 6


async def test_head_report_and_sla_missed(db: Database) -> None:
    await seeded(db, 3)
    head = await make_user(db, "head@x.test", "head")
    await complete_first_contacts_late(db, 90)  # web form SLA is 30 minutes
    async with db.sessions() as session, session.begin():
        await session.execute(update(Team).values(head_user_id=head))
    async with console_client(db) as client:
        rep = await (await client.get("/api/v1/reports", headers=await token_of(db, head))).json()
    assert rep["total"]["received"] == 3
    assert rep["total"]["sla_kept_pct"] == 0.0 and rep["total"]["sla_missed"] == 3


async def test_report_period_is_validated(db: Database) -> None:
    user = await make_user(db, "root@x.test", "admin")
    async with console_client(db) as client:
        h = await token_of(db, user)
        assert (
            await client.get("/api/v1/reports?from=2026-02-01&to=2026-01-01", headers=h)
        ).status == 422
        assert (
            await client.get("/api/v1/reports?from=2020-01-01&to=2026-01-01", headers=h)
        ).status == 422
        bad = await client.get("/api/v1/reports?from=yesterday", headers=h)
        assert bad.status == 422 and "from" in (await bad.json())["errors"]
        future = (datetime.now(UTC) + timedelta(days=3)).date()
        empty = await (
            await client.get(f"/api/v1/reports?from={future}&to={future}", headers=h)
        ).json()
        assert empty["total"]["received"] == 0


async def test_csv_export(db: Database) -> None:
    members, _ = await seeded(db, 3)
    async with console_client(db) as client:
        resp = await client.get("/api/v1/reports.csv", headers=await token_of(db, members[0]))
        assert resp.status == 200 and resp.content_type == "text/csv"
        assert "attachment" in resp.headers["Content-Disposition"]
        # A BOM and ";" by default (see test_console_fixes), so Russian Excel reads it.
        text = (await resp.read()).decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:4] == ["scope", "id", "name", "received"]
    assert "received_web_form" in rows[0]
    assert [r[0] for r in rows[1:]] == ["manager", "team", "total"]


async def test_openapi_documents_every_endpoint(db: Database) -> None:
    api = ConsoleApi(db)
    async with console_client(db) as client:
        resp = await client.get("/api/v1/openapi.json")
        assert resp.status == 200
        doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routed = {(e.method, e.path) for e in api.endpoints()}
    assert routed == documented
    assert len(routed) >= 58
    schemas = doc["components"]["schemas"]
    for name in ("LoginBody", "QueuePage", "LeadCard", "ConnectorView", "Report", "Problem"):
        assert name in schemas
    refs = set(_refs(doc))
    assert all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs)
    queue = doc["paths"]["/api/v1/queue"]["get"]
    assert {p["name"] for p in queue["parameters"]} >= {
        "status",
        "channel",
        "overdue",
        "sort",
        "limit",
        "offset",
    }
    assert doc["paths"]["/api/v1/session"]["post"]["security"] == []


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []
