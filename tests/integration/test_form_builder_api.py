"""What the form builder and the hours grid save, through the admin API on both
stores: every field kind round-trips and reaches the web-form connector as it was
built; refusals name the field the page shows them beside; a zone the server does
not know, or hours that overlap, are a 422."""

from __future__ import annotations

from typing import Any

import pytest

from crm_store.database import Database
from leadflow.runtime import FormRegistry

from .console_helpers import console_client, make_user, token_of

pytestmark = pytest.mark.integration

BUILT: dict[str, Any] = {
    "slug": "partner",
    "name": "Partner request",
    "language": "ru",
    "fields": [
        {"name": "name", "label": "Name", "labels": {"en": "Name", "ru": "Имя"}, "maps_to": "name"},
        {"name": "email", "label": "Email", "maps_to": "email", "kind": "email", "required": True},
        {"name": "plan", "label": "Plan", "labels": {"ru": "Тариф"}, "kind": "select",
         "options": ["Базовый", "Про"]},
        {"name": "consent", "label": "I agree", "kind": "checkbox", "required": True,
         "value": "agreed"},
        {"name": "campaign", "label": "campaign", "kind": "hidden", "value": "winter"},
    ],
    "honeypot_field": "website",
    "allowed_origins": ["https://partner.example", "http://127.0.0.1:8080"],
    "redirect_url": "https://partner.example/thanks",
}  # fmt: skip


async def test_a_built_form_round_trips_and_reaches_the_connector(db: Database) -> None:
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    async with console_client(db) as client:
        made = await client.post("/api/v1/admin/forms", json=BUILT, headers=admin)
        assert made.status == 201, await made.text()
        reordered = {**BUILT, "fields": [BUILT["fields"][2], *BUILT["fields"][:2]]}
        del reordered["slug"]
        put = await client.put("/api/v1/admin/forms/partner", json=reordered, headers=admin)
        assert put.status == 200, await put.text()
        got = await (await client.get("/api/v1/admin/forms/partner", headers=admin)).json()
    assert [f["name"] for f in got["fields"]] == ["plan", "name", "email"]
    assert got["fields"][0]["options"] == ["Базовый", "Про"]
    registry = FormRegistry()
    await registry.refresh(db)
    form = registry.get("partner")
    assert form is not None
    assert form.fields[0].kind == "select" and list(form.fields[0].options) == ["Базовый", "Про"]
    assert form.fields[1].label_in("ru") == "Имя" and form.fields[2].label_in("ru") == "Email"
    assert form.allows_origin("http://127.0.0.1:8080") and not form.allows_origin("https://x.test")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"fields": [BUILT["fields"][1], {"name": "p", "label": "P", "kind": "select"}]},
                     "fields.1", id="select-without-choices"),
        pytest.param({"allowed_origins": ["https://ok.example", "partner.example/contact"]},
                     "allowed_origins.1", id="origin-with-a-path"),
        pytest.param({"redirect_url": "javascript:alert(1)"}, "redirect_url", id="redirect-scheme"),
        pytest.param({"fields": [BUILT["fields"][1], {"name": "website", "label": "W"}]},
                     "body", id="honeypot-is-a-field"),
    ],
)  # fmt: skip
async def test_refusals_name_the_field(db: Database, change: dict[str, Any], field: str) -> None:
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    async with console_client(db) as client:
        resp = await client.post("/api/v1/admin/forms", json={**BUILT, **change}, headers=admin)
        assert resp.status == 422
        assert field in (await resp.json())["errors"]
        listed = await (await client.get("/api/v1/admin/forms", headers=admin)).json()
    assert listed["items"] == [], "nothing saved"


async def test_zones_and_hours_are_checked_and_the_grid_s_json_is_kept(db: Database) -> None:
    admin = await token_of(db, await make_user(db, "root@x.test", "admin"))
    grid = {"mon": [["09:00", "13:00"], ["14:00", "24:00"]], "sat": [["10:00", "14:00"]]}
    user = {"email": "kate@x.test", "name": "Kate", "timezone": "Asia/Yekaterinburg"}
    async with console_client(db) as client:
        bad_zone = await client.post(
            "/api/v1/admin/users", json={**user, "timezone": "Europe/Moskow"}, headers=admin
        )
        assert bad_zone.status == 422
        assert "timezone" in (await bad_zone.json())["errors"]
        overlap = {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}
        bad_hours = await client.post(
            "/api/v1/admin/users", json={**user, "working_hours": overlap}, headers=admin
        )
        assert bad_hours.status == 422
        assert "overlap" in (await bad_hours.json())["detail"]
        made = await client.post(
            "/api/v1/admin/users", json={**user, "working_hours": grid}, headers=admin
        )
        assert made.status == 201, await made.text()
        kate = await made.json()
        patch = await client.patch(
            f"/api/v1/admin/users/{kate['id']}", json={"timezone": "Moscow"}, headers=admin
        )
        assert patch.status == 422, "a city is the picker's help, not a zone the API takes"
        users = await (await client.get("/api/v1/admin/users", headers=admin)).json()
    kept = next(u for u in users["items"] if u["email"] == "kate@x.test")
    # A day the grid does not send is a day off, stored as one: only null is "always".
    week = {d: grid.get(d, []) for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    assert kept["working_hours"] == week and kept["timezone"] == "Asia/Yekaterinburg"
