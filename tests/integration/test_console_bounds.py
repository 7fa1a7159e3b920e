"""The console API never answers 5xx to bad input, on both stores, through the real
app: bounded integers (declared in the OpenAPI), no null in required fields, NUL and
control characters, text over its column, time zones and hours, forms with a team,
and a manager's company search scoped to their own leads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm_store.database import Database
from crm_store.models import AppUser, Company, Contact, FormDefinition, Lead, Team
from ingest.contract import Inquiry
from leadflow.seed import apply_configuration
from leadflow.settings import load_settings

from .console_helpers import console_client, email_of, make_user, seeded, sign_in, token_of

pytestmark = pytest.mark.integration

MAX_ID = 2**31 - 1


async def admin_headers(db: Database) -> dict[str, str]:
    return await token_of(db, await make_user(db, "root@x.test", "admin"))


async def make_team(client: Any, headers: dict[str, str], name: str = "Sales") -> int:
    resp = await client.post("/api/v1/admin/teams", json={"name": name}, headers=headers)
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/api/v1/leads?offset=5274503832905145666813", id="huge-offset"),
        pytest.param("GET", "/api/v1/leads?offset=1000001", id="offset-over-cap"),
        pytest.param("GET", "/api/v1/queue?assignee_id=-1971", id="negative-id"),
        pytest.param("GET", "/api/v1/queue?assignee_id=99999999999999999999", id="huge-query-id"),
        pytest.param("GET", "/api/v1/admin/users/1805046816059412660180614443157159936", id="path"),
        pytest.param("GET", f"/api/v1/admin/users/{MAX_ID + 1}", id="path-int32-plus-one"),
        pytest.param("DELETE", "/api/v1/admin/blocklist/0", id="path-zero"),
        pytest.param("GET", "/api/v1/reports?from=0001-01-01&to=0001-01-02", id="date-floor"),
        pytest.param("GET", "/api/v1/reports?from=9999-12-30&to=9999-12-31", id="date-ceiling"),
    ],
)
async def test_integers_and_dates_out_of_bounds_are_422(
    db: Database, method: str, path: str
) -> None:
    headers = await admin_headers(db)
    async with console_client(db) as client:
        resp = await client.request(method, path, headers=headers)
        assert resp.status == 422, await resp.text()
        assert resp.content_type == "application/problem+json"


async def test_in_bounds_ids_that_do_not_exist_are_404(db: Database) -> None:
    headers = await admin_headers(db)
    async with console_client(db) as client:
        assert (await client.get(f"/api/v1/admin/users/{MAX_ID}", headers=headers)).status == 404
        resp = await client.delete(f"/api/v1/admin/routing-rules/{MAX_ID}", headers=headers)
        assert resp.status == 404


async def test_the_openapi_declares_the_bounds(db: Database) -> None:
    async with console_client(db) as client:
        doc = await (await client.get("/api/v1/openapi.json")).json()
    leads = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/leads"]["get"]["parameters"]}
    assert leads["offset"]["maximum"] == 1_000_000 and leads["offset"]["minimum"] == 0
    assert leads["limit"]["maximum"] <= 500
    user = doc["paths"]["/api/v1/admin/users/{user_id}"]["get"]["parameters"][0]["schema"]
    assert user == {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    team = doc["components"]["schemas"]["TeamBody"]["properties"]["name"]
    assert team["maxLength"] == 200
    # Every integer anywhere in the document has both bounds.
    unbounded: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "integer" and not {"minimum", "maximum"} <= set(node):
                unbounded.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(doc["paths"], "paths")
    request_models = [
        name for name in doc["components"]["schemas"] if name.endswith(("Body", "Patch", "Query"))
    ]
    for name in request_models:
        walk(doc["components"]["schemas"][name], name)
    assert unbounded == []


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param({"escalation": None}, id="escalation"),
        pytest.param({"name": None}, id="name"),
        pytest.param({"strategy": None}, id="strategy"),
        pytest.param({"escalation_grace_minutes": None}, id="grace"),
    ],
)
async def test_explicit_null_on_a_required_team_field_is_422(
    db: Database, patch: dict[str, Any]
) -> None:
    headers = await admin_headers(db)
    async with console_client(db) as client:
        team_id = await make_team(client, headers)
        resp = await client.patch(f"/api/v1/admin/teams/{team_id}", json=patch, headers=headers)
        assert resp.status == 422, await resp.text()
        field = next(iter(patch))
        assert field in (await resp.json())["errors"]
        # A nullable field still takes null; omitting a field keeps it.
        resp = await client.patch(
            f"/api/v1/admin/teams/{team_id}", json={"head_user_id": None}, headers=headers
        )
        assert resp.status == 200
        assert (await resp.json())["escalation"] == "reassign"


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param({"active": None}, id="active"),
        pytest.param({"role": None}, id="role"),
        pytest.param({"timezone": None}, id="timezone"),
    ],
)
async def test_explicit_null_on_a_required_user_field_is_422(
    db: Database, patch: dict[str, Any]
) -> None:
    headers = await admin_headers(db)
    user_id = await make_user(db, "anna@x.test", "manager")
    async with console_client(db) as client:
        resp = await client.patch(f"/api/v1/admin/users/{user_id}", json=patch, headers=headers)
        assert resp.status == 422, await resp.text()


async def test_a_patch_without_a_body_is_422(db: Database) -> None:
    headers = await admin_headers(db)
    async with console_client(db) as client:
        team_id = await make_team(client, headers)
        resp = await client.patch(f"/api/v1/admin/teams/{team_id}", headers=headers)
        assert resp.status == 422


async def test_nul_and_controls_are_stripped_before_the_database(db: Database) -> None:
    headers = await admin_headers(db)
    async with console_client(db) as client:
        body = {"email": "nul@x.test", "name": "An\x00na\x07 Iva\x1bnova"}
        resp = await client.post("/api/v1/admin/users", json=body, headers=headers)
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["name"] == "Anna Ivanova"
        resp = await client.post("/api/v1/admin/teams", json={"name": "\x00\x01 "}, headers=headers)
        assert resp.status == 422
        resp = await client.get("/api/v1/companies", params={"q": "a\x00b"}, headers=headers)
        assert resp.status == 200
        rule = {"team_id": await make_team(client, headers), "utm_source": "x\x00y"}
        resp = await client.post("/api/v1/admin/routing-rules", json=rule, headers=headers)
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["utm_source"] == "xy"
        # A NUL in a key of free-form settings is dropped too (PostgreSQL JSON refuses it).
        resp = await client.post(
            "/api/v1/admin/blocklist",
            json={"kind": "keyword", "value": "sp\x00am"},
            headers=headers,
        )
        assert resp.status == 201 and (await resp.json())["value"] == "spam"
    async with db.sessions() as session:
        names = list(await session.scalars(select(AppUser.name)))
    assert "Anna Ivanova" in names


async def test_a_lone_surrogate_is_422_not_a_driver_error(db: Database) -> None:
    headers = await admin_headers(db)
    async with console_client(db) as client:
        resp = await client.post(
            "/api/v1/admin/teams",
            data=b'{"name": "bad \\udb57 text"}',
            headers={**headers, "Content-Type": "application/json"},
        )
        assert resp.status == 422, await resp.text()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/api/v1/admin/users", {"email": "a@x.test", "name": "n" * 201}, id="user"),
        pytest.param("/api/v1/admin/teams", {"name": "t" * 201}, id="team"),
        pytest.param("/api/v1/tokens", {"name": "t" * 201}, id="token"),
        pytest.param("/api/v1/admin/absences", {"user_id": 1, "reason": "r" * 201}, id="absence"),
    ],
)
async def test_text_over_its_column_is_422(db: Database, path: str, body: dict[str, Any]) -> None:
    headers = await admin_headers(db)
    body = {"starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-02T00:00:00Z", **body}
    if "absences" not in path:
        body = {k: v for k, v in body.items() if k not in ("starts_at", "ends_at")}
    async with console_client(db) as client:
        resp = await client.post(path, json=body, headers=headers)
        assert resp.status == 422, await resp.text()


@pytest.mark.parametrize("length", [301, 500])
async def test_a_manual_lead_with_a_company_over_300_characters_is_422(
    db: Database, length: int
) -> None:
    published: list[Inquiry] = []

    async def publish(inquiry: Inquiry) -> None:
        published.append(inquiry)

    headers = await admin_headers(db)
    async with console_client(db, publish=publish) as client:
        body = {"email": "c@example.com", "company": "c" * length}
        resp = await client.post("/api/v1/leads", json=body, headers=headers)
        assert resp.status == 422, await resp.text()
        assert "company" in (await resp.json())["errors"]
        body = {"email": "c@example.com", "company": "c" * 300, "name": "Cu\x00stomer"}
        assert (await client.post("/api/v1/leads", json=body, headers=headers)).status == 202
    assert [i.sender.name for i in published] == ["Customer"]


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        pytest.param({"timezone": "Europe/Moskow"}, "not a time zone", id="zone-typo"),
        pytest.param({"working_hours": {"mon": [["25:00", "26:00"]]}}, "00:00 and 24:00", id="25"),
        pytest.param({"working_hours": {"mon": [["18:00", "09:00"]]}}, "start before", id="back"),
        pytest.param({"working_hours": {"xyz": [["09:00", "18:00"]]}}, "mon", id="weekday"),
    ],
)
async def test_unusable_zones_and_hours_are_422_with_a_sentence(
    db: Database, change: dict[str, Any], sentence: str
) -> None:
    headers = await admin_headers(db)
    user_id = await make_user(db, "anna@x.test", "manager")
    async with console_client(db) as client:
        resp = await client.patch(f"/api/v1/admin/users/{user_id}", json=change, headers=headers)
        assert resp.status == 422
        assert sentence in (await resp.json())["detail"]
        body = {"email": "new@x.test", "name": "New", **change}
        resp = await client.post("/api/v1/admin/users", json=body, headers=headers)
        assert resp.status == 422
        good = {"timezone": "Europe/Moscow", "working_hours": {"mon": [["09:00", "24:00"]]}}
        resp = await client.patch(f"/api/v1/admin/users/{user_id}", json=good, headers=headers)
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["timezone"] == "Europe/Moscow"


async def test_a_form_can_be_created_with_a_team(db: Database) -> None:
    headers = await admin_headers(db)
    form = {
        "slug": "sales-form",
        "name": "Talk to sales",
        "team": "Sales",
        "fields": [{"name": "email", "label": "Email", "maps_to": "email", "kind": "email"}],
    }
    async with console_client(db) as client:
        team_id = await make_team(client, headers, "Sales")
        resp = await client.post("/api/v1/admin/forms", json=form, headers=headers)
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["team"] == "Sales"
        unknown = {**form, "slug": "other", "team": "Nobody"}
        resp = await client.post("/api/v1/admin/forms", json=unknown, headers=headers)
        assert resp.status == 409
    async with db.sessions() as session:
        stored = await session.scalar(
            select(FormDefinition.team_id).where(FormDefinition.slug == "sales-form")
        )
        assert stored == team_id
        assert await session.scalar(select(Team.name).where(Team.id == team_id)) == "Sales"


async def test_a_manager_finds_only_the_companies_of_their_own_leads(db: Database) -> None:
    members, by_user = await seeded(db, 2)
    mine, theirs = members[0], members[1]
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        for user_id, name in ((mine, "Acme Mine"), (theirs, "Acme Theirs")):
            company = Company(id=uuid.uuid4(), name=name, domain=None, created_at=now)
            session.add(company)
            await session.flush()
            lead = await session.get(Lead, by_user[user_id][0])
            assert lead is not None and lead.contact_id is not None
            contact = await session.get(Contact, lead.contact_id)
            assert contact is not None
            contact.company_id = company.id
    admin = await admin_headers(db)
    async with console_client(db) as client:
        resp = await client.get(
            "/api/v1/companies", params={"q": "acme"}, headers=await token_of(db, mine)
        )
        assert [c["name"] for c in (await resp.json())["items"]] == ["Acme Mine"]
        resp = await client.get("/api/v1/companies", params={"q": "acme"}, headers=admin)
        assert [c["name"] for c in (await resp.json())["items"]] == ["Acme Mine", "Acme Theirs"]


async def test_an_undeclared_method_is_405_naming_the_allowed_ones(db: Database) -> None:
    async with console_client(db) as client:
        resp = await client.request("TRACE", "/api/v1/tokens")
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, POST"
        assert resp.content_type == "application/problem+json"
        resp = await client.request("PATCH", "/api/v1/admin/users/1")
        assert resp.status == 401  # a declared method reaches its endpoint
        resp = await client.request("PUT", "/api/v1/admin/users/1")
        assert resp.status == 405 and resp.headers["Allow"] == "GET, PATCH"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/admin/forms/a%00b",
        "/api/v1/admin/connectors/a%00b",
        "/api/v1/admin/forms/%ED%A0%80",
        "/api/v1/admin/forms/" + "x" * 201,
    ],
)
async def test_a_path_name_with_nul_or_no_text_is_404(db: Database, path: str) -> None:
    headers = await admin_headers(db)
    async with console_client(db) as client:
        resp = await client.get(path, headers=headers)
        assert resp.status == 404, await resp.text()


async def test_the_queue_page_ignores_an_unknown_channel(db: Database) -> None:
    members, _ = await seeded(db, 1)
    async with console_client(db) as client:
        email = await email_of(db, members[0])
        await sign_in(client, email)
        resp = await client.get("/queue", params={"channel": "a\x00b"})
        assert resp.status == 200


async def test_toml_working_hours_reach_the_store(db: Database, tmp_path: Path) -> None:
    config = tmp_path / "leadflow.toml"
    config.write_text(
        '[[teams]]\nname = "Sales"\n[[teams.members]]\nemail = "olga@x.test"\nname = "Olga"\n'
        'timezone = "Europe/Moscow"\nworking_hours = { mon = [["09:00", "18:00"]] }\n',
        encoding="utf-8",
    )
    await apply_configuration(db, load_settings(config), demo=False)
    async with db.sessions() as session:
        user = await session.scalar(select(AppUser).where(AppUser.email == "olga@x.test"))
    assert user is not None
    assert user.timezone == "Europe/Moscow"
    assert user.working_hours == {"mon": [["09:00", "18:00"]]}
