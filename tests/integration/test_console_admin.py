"""The admin API on both stores: forms, connectors (write-only encrypted secrets),
people, rules; only admins may call it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from crm_store import connectors as connector_store
from crm_store.database import Database
from crm_store.models import ConnectorConfig

from .console_helpers import console_client, make_user, sign_in, token_of

pytestmark = pytest.mark.integration

FORM = {
    "slug": "demo",
    "name": "Request a demo",
    "fields": [
        {"name": "name", "label": "Name", "maps_to": "name"},
        {"name": "email", "label": "Email", "maps_to": "email", "kind": "email"},
    ],
    "allowed_origins": ["*"],
}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/admin/forms",
        "/api/v1/admin/connectors",
        "/api/v1/admin/users",
        "/api/v1/admin/teams",
        "/api/v1/admin/routing-rules",
        "/api/v1/admin/settings",
        "/api/v1/admin/blocklist",
        "/api/v1/admin/absences",
    ],
)
async def test_only_admins_may_call_admin_endpoints(db: Database, path: str) -> None:
    head = await make_user(db, "head@x.test", "head")
    async with console_client(db) as client:
        assert (await client.get(path)).status == 401
        resp = await client.get(path, headers=await token_of(db, head))
        assert resp.status == 403
        assert resp.content_type == "application/problem+json"


async def test_form_crud_and_validation(db: Database) -> None:
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    async with console_client(db) as client:
        made = await client.post("/api/v1/admin/forms", json=FORM, headers=admin)
        assert made.status == 201, await made.text()
        assert (await client.post("/api/v1/admin/forms", json=FORM, headers=admin)).status == 409
        unreachable = {
            **FORM,
            "slug": "x",
            "fields": [{"name": "n", "label": "N", "maps_to": "name"}],
        }
        resp = await client.post("/api/v1/admin/forms", json=unreachable, headers=admin)
        assert resp.status == 422
        bad_slug = await client.post(
            "/api/v1/admin/forms", json={**FORM, "slug": "Has Space"}, headers=admin
        )
        assert "slug" in (await bad_slug.json())["errors"]
        assert (await made.json())["language"] is None, "by default the browser decides"
        changed = {k: v for k, v in FORM.items() if k != "slug"} | {"name": "Demo"}
        put = await client.put(
            "/api/v1/admin/forms/demo", json=changed | {"language": "ru"}, headers=admin
        )
        assert (await put.json())["name"] == "Demo"
        assert (await put.json())["language"] == "ru"
        unknown = changed | {"language": "de"}
        resp = await client.put("/api/v1/admin/forms/demo", json=unknown, headers=admin)
        assert resp.status == 422 and "language" in (await resp.json())["errors"]
        listed = await (await client.get("/api/v1/admin/forms", headers=admin)).json()
        assert [f["slug"] for f in listed["items"]] == ["demo"]
        test = await (await client.post("/api/v1/admin/forms/demo/test", headers=admin)).json()
        assert test["ok"] is False and test["url"].endswith("/forms/demo")
        assert (await client.delete("/api/v1/admin/forms/demo", headers=admin)).status == 204
        assert (await client.get("/api/v1/admin/forms/demo", headers=admin)).status == 404


async def test_connector_secrets_are_write_only_and_encrypted(db: Database) -> None:
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    body = {
        "kind": "telegram",
        "name": "salesbot",
        "settings": {"mode": "polling"},
        "secrets": {"token": "123:SECRET"},
    }
    async with console_client(db) as client:
        made = await client.post("/api/v1/admin/connectors", json=body, headers=admin)
        assert made.status == 201, await made.text()
        view = await made.json()
        assert view["secrets"] == {"token": "set"}
        assert "123:SECRET" not in await made.text()
        assert (
            await client.post("/api/v1/admin/connectors", json=body, headers=admin)
        ).status == 409
        kept = await client.put(
            "/api/v1/admin/connectors/salesbot",
            json={"settings": {"mode": "polling", "poll_timeout_s": 10}, "active": False},
            headers=admin,
        )
        assert (await kept.json())["secrets"] == {"token": "set"}
        assert (await kept.json())["settings"]["poll_timeout_s"] == 10
        invalid = await client.put(
            "/api/v1/admin/connectors/salesbot",
            json={"settings": {"mode": "carrier-pigeon"}},
            headers=admin,
        )
        assert invalid.status == 422 and "settings.mode" in (await invalid.json())["errors"]
        unknown = await client.post(
            "/api/v1/admin/connectors", json={**body, "kind": "fax", "name": "f"}, headers=admin
        )
        assert unknown.status == 422 and "kind" in (await unknown.json())["errors"]
        missing = await client.post(
            "/api/v1/admin/connectors",
            json={"kind": "whatsapp", "name": "wa", "secrets": {"app_secret": "s"}},
            headers=admin,
        )
        assert "secrets.verify_token" in (await missing.json())["errors"]
        test = await client.post("/api/v1/admin/connectors/salesbot/test", headers=admin)
        assert test.status == 501 and test.content_type == "application/problem+json"
        async with db.sessions() as session, session.begin():
            await connector_store.record_health(
                session, "salesbot", error="getMe failed", error_at=datetime.now(UTC)
            )
        health = (
            await (await client.get("/api/v1/admin/connectors/salesbot", headers=admin)).json()
        )["health"]
        assert health["last_error"] == "getMe failed"
        assert (
            await client.delete("/api/v1/admin/connectors/salesbot", headers=admin)
        ).status == 204
        assert (await client.get("/api/v1/admin/connectors/salesbot", headers=admin)).status == 404
    async with db.sessions() as session:
        assert await session.scalar(select(ConnectorConfig.secrets)) is None


async def test_a_secret_sent_among_the_settings_is_refused_not_dropped(db: Database) -> None:
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    body = {"kind": "telegram", "name": "bot", "settings": {"mode": "polling", "token": "1:S"}}
    async with console_client(db) as client:
        refused = await client.post("/api/v1/admin/connectors", json=body, headers=admin)
        assert refused.status == 422
        assert "settings.token" in (await refused.json())["errors"]
        assert "1:S" not in await refused.text()
        assert (await client.get("/api/v1/admin/connectors/bot", headers=admin)).status == 404


async def test_connector_secrets_at_rest_are_ciphertext(db: Database) -> None:
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    body = {"kind": "phone_webhook", "name": "pbx", "secrets": {"secret": "hmac-key-value"}}
    async with console_client(db) as client:
        assert (
            await client.post("/api/v1/admin/connectors", json=body, headers=admin)
        ).status == 201
    async with db.sessions() as session:
        stored = await session.scalar(select(ConnectorConfig.secrets))
    assert stored and "hmac-key-value" not in stored


async def test_users_teams_members_absences(db: Database) -> None:
    root = await make_user(db, "root@x.test", "admin")
    admin = await token_of(db, root)
    async with console_client(db) as client:
        user = await client.post(
            "/api/v1/admin/users",
            json={
                "email": "Olga@Corp.test",
                "name": "Olga",
                "password": "long enough pw",
                "working_hours": {"mon": [["09:00", "18:00"]]},
            },
            headers=admin,
        )
        assert user.status == 201, await user.text()
        olga = await user.json()
        assert olga["email"] == "olga@corp.test" and olga["has_password"] is True
        dup = await client.post(
            "/api/v1/admin/users", json={"email": "olga@corp.test", "name": "O"}, headers=admin
        )
        assert dup.status == 409
        bad = await client.post(
            "/api/v1/admin/users", json={"email": "not-an-email", "name": "O"}, headers=admin
        )
        assert "email" in (await bad.json())["errors"]
        assert (
            await client.patch(
                f"/api/v1/admin/users/{root}", json={"role": "manager"}, headers=admin
            )
        ).status == 409
        patched = await client.patch(
            f"/api/v1/admin/users/{olga['id']}", json={"role": "head"}, headers=admin
        )
        assert (await patched.json())["role"] == "head"
        team = await (
            await client.post(
                "/api/v1/admin/teams",
                json={"name": "Enterprise", "head_user_id": olga["id"]},
                headers=admin,
            )
        ).json()
        assert team["head_user_id"] == olga["id"]
        member = await client.put(
            f"/api/v1/admin/teams/{team['id']}/members/{olga['id']}",
            json={"capacity": 20, "daily_cap": 5, "weight": 3},
            headers=admin,
        )
        assert (await member.json())["members"][0]["weight"] == 3
        assert (
            await client.delete(
                f"/api/v1/admin/teams/{team['id']}/members/{olga['id']}", headers=admin
            )
        ).status == 204
        assert (
            await client.delete(
                f"/api/v1/admin/teams/{team['id']}/members/{olga['id']}", headers=admin
            )
        ).status == 404
        reversed_ = await client.post(
            "/api/v1/admin/absences",
            json={
                "user_id": olga["id"],
                "starts_at": "2026-12-10T00:00:00Z",
                "ends_at": "2026-12-01T00:00:00Z",
            },
            headers=admin,
        )
        assert reversed_.status == 422
        absence = await client.post(
            "/api/v1/admin/absences",
            json={
                "user_id": olga["id"],
                "starts_at": "2026-12-01T00:00:00Z",
                "ends_at": "2026-12-10T00:00:00Z",
                "reason": "vacation",
            },
            headers=admin,
        )
        assert absence.status == 201
        listed = await (await client.get("/api/v1/admin/absences", headers=admin)).json()
        assert listed["items"][0]["reason"] == "vacation"
        assert (
            await client.delete(f"/api/v1/admin/absences/{listed['items'][0]['id']}", headers=admin)
        ).status == 204


async def test_rules_settings_and_blocklist(db: Database) -> None:
    root = await make_user(db, "root@x.test", "admin")
    async with console_client(db) as client:
        csrf = await sign_in(client, "root@x.test")
        team = await (
            await client.post("/api/v1/admin/teams", json={"name": "EU"}, headers=csrf)
        ).json()
        rule = await client.post(
            "/api/v1/admin/routing-rules",
            json={"team_id": team["id"], "phone_country": "DE", "priority": 5},
            headers=csrf,
        )
        assert rule.status == 201
        rule_id = (await rule.json())["id"]
        no_team = await client.post(
            "/api/v1/admin/routing-rules", json={"team_id": 999}, headers=csrf
        )
        assert no_team.status == 409
        put = await client.put(
            f"/api/v1/admin/routing-rules/{rule_id}",
            json={"team_id": team["id"], "channel": "email"},
            headers=csrf,
        )
        assert (await put.json())["channel"] == "email"
        assert (
            await client.delete(f"/api/v1/admin/routing-rules/{rule_id}", headers=csrf)
        ).status == 204
        sla = await client.put(
            "/api/v1/admin/settings/sla_minutes", json={"minutes": {"email": 120}}, headers=csrf
        )
        assert (await sla.json())["sla_minutes"]["email"] == 120
        bad_sla = await client.put(
            "/api/v1/admin/settings/sla_minutes", json={"minutes": {"fax": 1}}, headers=csrf
        )
        assert bad_sla.status == 422
        # Each refusal names its field, so the rules page can show it beside that field.
        zero = await client.put(
            "/api/v1/admin/settings/sla_minutes",
            json={"minutes": {"email": 90, "phone": 0}},
            headers=csrf,
        )
        assert zero.status == 422
        assert set((await zero.json())["errors"]) == {"minutes.phone"}
        spam = await client.put(
            "/api/v1/admin/settings/spam_thresholds",
            json={"suspicious": 2, "junk": 1},
            headers=csrf,
        )
        assert spam.status == 422
        assert "at least the suspicious" in (await spam.json())["errors"]["junk"]
        escalation = await client.patch(
            f"/api/v1/admin/teams/{team['id']}",
            json={"escalation": "notify_head", "escalation_grace_minutes": -1},
            headers=csrf,
        )
        assert set((await escalation.json())["errors"]) == {"escalation_grace_minutes"}
        escalation = await client.patch(
            f"/api/v1/admin/teams/{team['id']}",
            json={"escalation": "none", "escalation_grace_minutes": 40},
            headers=csrf,
        )
        assert (await escalation.json())["escalation"] == "none"
        # The page edits all of it with form controls, no JSON, showing what is stored.
        page = await (await client.get("/admin/rules")).text()
        assert "data-json" not in page and '<textarea name="minutes"' not in page
        assert 'name="minutes.email" type="number" min="1" max="100000"' in page
        assert 'value="120"' in page  # email, saved above
        assert 'name="minutes.import"' in page and 'name="classifier_weight"' in page
        assert '<option value="none" selected>' in page
        assert 'name="escalation_grace_minutes" type="number" min="0" max="10000"' in page
        assert 'value="40"' in page
        spam = await client.put(
            "/api/v1/admin/settings/spam_thresholds",
            json={"suspicious": 0.7, "junk": 1.5},
            headers=csrf,
        )
        assert (await spam.json())["spam_thresholds"]["junk"] == 1.5
        entry = await client.post(
            "/api/v1/admin/blocklist",
            json={"kind": "domain", "value": "Spam.Example"},
            headers=csrf,
        )
        assert (await entry.json())["value"] == "spam.example"
        assert (
            await client.post(
                "/api/v1/admin/blocklist",
                json={"kind": "domain", "value": "spam.example"},
                headers=csrf,
            )
        ).status == 409
        assert (
            await client.delete(
                f"/api/v1/admin/blocklist/{(await entry.json())['id']}", headers=csrf
            )
        ).status == 204
        assert root


async def test_connection_test_reaches_the_service(db: Database) -> None:
    from leadflow.broker import free_port
    from leadflow.connection_tests import test_connection

    from .fake_telegram import FakeBotApi

    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    token = "7012345678:AAE-test-token"
    fake = FakeBotApi()
    async with (
        fake.serve() as root,
        console_client(db, connection_tester=test_connection) as client,
    ):
        for name, base in (("good", root), ("dead", f"http://127.0.0.1:{free_port()}")):
            body = {
                "kind": "telegram",
                "name": name,
                "settings": {"api_base_url": base},
                "secrets": {"token": token},
            }
            assert (
                await client.post("/api/v1/admin/connectors", json=body, headers=admin)
            ).status == 201
        good = await (await client.post("/api/v1/admin/connectors/good/test", headers=admin)).json()
        dead = await (await client.post("/api/v1/admin/connectors/dead/test", headers=admin)).json()
        webhook = {
            "kind": "whatsapp",
            "name": "wa",
            "secrets": {"app_secret": "s", "verify_token": "v"},
        }
        assert (
            await client.post("/api/v1/admin/connectors", json=webhook, headers=admin)
        ).status == 201
        wa = await (await client.post("/api/v1/admin/connectors/wa/test", headers=admin)).json()
    assert good["ok"] is True and good["detail"].startswith("reached the bot @")
    assert dead["ok"] is False and token not in dead["detail"]
    assert wa["ok"] is True and "webhook" in wa["detail"]
