# ruff: noqa: RUF001  (Russian text: Cyrillic letters are intended)
"""The console's language, as a person meets it, on both stores: the browser's
Accept-Language, the deployment's default when the browser names none we have, the
person's own setting winning over both (set from the header's switch or by an
admin), and Russian formats and relative deadlines in the viewer's zone."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from crm_store.database import Database
from crm_store.models import AppUser

from .console_helpers import console_client, email_of, make_user, seeded, sign_in, token_of

pytestmark = pytest.mark.integration
RU = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


async def set_zone(db: Database, user_id: int, zone: str) -> None:
    async with db.sessions() as session, session.begin():
        await session.execute(update(AppUser).where(AppUser.id == user_id).values(timezone=zone))


def csrf_field(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, "the page carries the session's CSRF token"
    return found[1]


async def test_the_browser_language_picks_the_pages_language(db: Database) -> None:
    members, by_user = await seeded(db, 3)
    anna = members[0]
    await set_zone(db, anna, "Europe/Moscow")
    lead_id = by_user[anna][0]
    async with console_client(db) as client:
        await sign_in(client, await email_of(db, anna))
        ru_queue = await client.get("/queue", headers=RU)
        ru_text = await ru_queue.text()
        ru_card = await (await client.get(f"/leads/{lead_id}", headers=RU)).text()
        en_queue = await client.get("/queue", headers=EN)
        en_text = await en_queue.text()
        en_card = await (await client.get(f"/leads/{lead_id}", headers=EN)).text()
    assert ru_queue.headers["Content-Language"] == "ru"
    assert '<html lang="ru">' in ru_text
    assert "<h1>Моя очередь</h1>" in ru_text and ">Веб-форма<" in ru_text
    assert re.search(r'<span class="relative">через \d+ мин</span>', ru_text)
    assert "Взять в работу" in ru_card and ">Готово</button>" in ru_card
    assert "<b>Первый контакт</b>" in ru_card and "· Назначен" in ru_card
    assert re.search(r"создан \d{1,2} дек\. \d{4}\u202fг\., \d{2}:\d{2} MSK", ru_card)
    assert en_queue.headers["Content-Language"] == "en"
    assert "<h1>My queue</h1>" in en_text and ">Web form<" in en_text
    assert re.search(r'<span class="relative">in \d+ min</span>', en_text)
    assert "Mark in progress" in en_card and "Моя очередь" not in en_text
    assert re.search(r"created Dec \d{1,2}, \d{4}, \d{1,2}:\d{2}\u202f[AP]M MSK", en_card)


async def test_without_a_language_we_have_the_deployments_default_is_used(db: Database) -> None:
    members, _ = await seeded(db, 3)
    async with console_client(db, default_language="ru") as client:
        login = await (await client.get("/login", headers={"Accept-Language": "de-DE"})).text()
        english = await (await client.get("/login", headers=EN)).text()
        await sign_in(client, await email_of(db, members[0]))
        bare = await (await client.get("/queue")).text()
    assert "<h1>Войти</h1>" in login and "<h1>Sign in</h1>" in english
    assert "<h1>Моя очередь</h1>" in bare


async def test_the_persons_choice_wins_over_the_browser_and_auto_hands_it_back(
    db: Database,
) -> None:
    members, _ = await seeded(db, 3)
    anna = members[0]
    async with console_client(db) as client:
        await sign_in(client, await email_of(db, anna))
        page = await (await client.get("/reports", headers=EN)).text()
        assert '<form method="post" action="/language"' in page, "the switch is in the header"
        token = csrf_field(page)
        chosen = await client.post(
            "/language",
            data={"csrf_token": token, "language": "ru", "next": "/reports"},
            allow_redirects=False,
        )
        assert chosen.status == 303 and chosen.headers["Location"] == "/reports"
        russian = await (await client.get("/reports", headers=EN)).text()
        me = await (await client.get("/api/v1/admin/users", headers=EN)).json()
        back = await client.post(
            "/language",
            data={"csrf_token": token, "language": "auto", "next": "//evil.example"},
            allow_redirects=False,
        )
        english = await (await client.get("/reports", headers=EN)).text()
    assert "<h1>Отчёты</h1>" in russian, "their setting beats an English browser"
    assert '<option value="ru" lang="ru" selected' in russian
    assert me["status"] == 403, "a manager's own choice needs no admin rights"
    assert back.headers["Location"] == "/", "only a path of this site is a place to go back to"
    assert "<h1>Reports</h1>" in english


async def test_the_switch_refuses_a_post_without_the_csrf_token(db: Database) -> None:
    members, _ = await seeded(db, 3)
    async with console_client(db) as client:
        await sign_in(client, await email_of(db, members[0]))
        forged = await client.post(
            "/language", data={"language": "ru", "next": "/queue"}, headers=EN
        )
        forged_text = await forged.text()
        after = await (await client.get("/queue", headers=EN)).text()
    assert forged.status == 403 and "The CSRF token is wrong." in forged_text
    assert "<h1>My queue</h1>" in after, "nothing was stored"


async def test_an_admin_sets_a_persons_language_through_the_api(db: Database) -> None:
    members, _ = await seeded(db, 3)
    admin = await make_user(db, "root@x.test", "admin")
    async with console_client(db) as client:
        h = await token_of(db, admin)
        bad = await client.patch(
            f"/api/v1/admin/users/{members[1]}", json={"language": "xx"}, headers=h
        )
        ok = await client.patch(
            f"/api/v1/admin/users/{members[1]}", json={"language": "ru"}, headers=h
        )
        ok_body = await ok.json()
        made = await client.post(
            "/api/v1/admin/users",
            json={"email": "new@x.test", "name": "New", "language": "en"},
            headers=h,
        )
        made_body = await made.json()
        await sign_in(client, await email_of(db, members[1]))
        page = await (await client.get("/queue", headers=EN)).text()
    assert bad.status == 422
    assert ok.status == 200 and ok_body["language"] == "ru"
    assert made.status == 201 and made_body["language"] == "en"
    assert "<h1>Моя очередь</h1>" in page


async def test_error_sentences_on_pages_are_translated(db: Database) -> None:
    members, _ = await seeded(db, 3)
    async with console_client(db) as client:
        wrong = await client.post(
            "/login", data={"email": "nobody@x.test", "password": "nope"}, headers=RU
        )
        wrong_text = await wrong.text()
        await sign_in(client, await email_of(db, members[0]))
        refused = await client.get("/reports?from=2020-01-01&to=2026-01-01", headers=RU)
        missing = await client.get("/leads/not-a-uuid", headers=RU)
        admin_only = await client.get("/admin/people", headers=RU)
        refused_text = await refused.text()
        missing_text = await missing.text()
        forbidden = await admin_only.text()
    assert wrong.status == 401 and "Неверный email или пароль." in wrong_text
    assert refused.status == 422
    assert "Отчёт охватывает не больше двух лет (731 дн.)" in refused_text
    assert missing.status == 404 and "Лида с таким идентификатором нет." in missing_text
    assert admin_only.status == 403 and "Эту страницу может открыть только администратор." in (
        forbidden
    )


async def test_api_problems_speak_the_callers_language_and_scripts_read_english(
    db: Database,
) -> None:
    members, _ = await seeded(db, 3)
    anna = members[0]
    nowhere = "/api/v1/leads/00000000-0000-4000-8000-000000000000"
    async with console_client(db, default_language="ru") as client:
        h = await token_of(db, anna)
        script = await client.get(nowhere, headers=h)
        script_body = await script.json()
        russian = await client.get(nowhere, headers={**h, **RU})
        russian_body = await russian.json()
        invalid = await client.post("/api/v1/leads", json={"email": 5}, headers={**h, **RU})
        invalid_body = await invalid.json()
        await sign_in(client, await email_of(db, anna))
        forged = await client.post("/api/v1/leads", json={"name": "x"}, headers=RU)
        forged_body = await forged.json()
        async with db.sessions() as session, session.begin():
            await session.execute(update(AppUser).where(AppUser.id == anna).values(language="ru"))
        hers = await client.get(nowhere, headers={**h, **EN})
        hers_body = await hers.json()
    assert script.status == 404 and script_body["detail"] == "There is no lead with this id."
    assert russian_body["detail"] == "Лида с таким идентификатором нет."
    assert invalid.status == 422 and invalid_body["detail"].startswith("Данные некорректны: ")
    assert "email" in invalid_body["errors"], "the field names stay as they are"
    assert forged.status == 403
    assert (
        forged_body["detail"]
        == "CSRF-токен отсутствует или неверен: обновите страницу и повторите."
    )
    assert hers_body["detail"] == "Лида с таким идентификатором нет.", "her setting wins"
