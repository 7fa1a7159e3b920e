# ruff: noqa: RUF001  (Russian text: Cyrillic letters are intended)
"""A 422's sentence beside each field, in the caller's language, on both stores: the
person's own setting first (over the browser's Accept-Language), the field names
unchanged, and a script that names no language reading English."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from crm_store.database import Database
from crm_store.models import AppUser

from .console_helpers import console_client, make_user, sign_in, token_of

pytestmark = pytest.mark.integration
RU = {"Accept-Language": "ru-RU,ru;q=0.9"}
EN = {"Accept-Language": "en-US,en;q=0.9"}

BAD_PATCH: dict[str, Any] = {
    "name": "x" * 201,
    "role": "boss",
    "active": "yes",
    "timezone": "Europe/Moskow",
    "working_hours": {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]},
    "nickname": "Vera",
}
RUSSIAN = {
    "name": "Не более 200 символов.",
    "role": "Выберите одно из значений: 'admin', 'head', 'manager'.",
    "active": "Укажите да или нет (true или false).",
    "timezone": "'Europe/Moskow' — неизвестный серверу часовой пояс; укажите имя IANA, "
    "например 'Europe/Moscow' или 'UTC'.",
    "working_hours": "mon: 09:00-13:00 и 12:00-18:00 пересекаются.",
    "nickname": "Это поле здесь не принимается.",
}
ENGLISH = {
    "name": "Use at most 200 characters.",
    "role": "Choose one of: 'admin', 'head', 'manager'.",
    "active": "Choose yes or no (true or false).",
    "timezone": "'Europe/Moskow' is not a time zone this server knows; use an IANA name "
    "such as 'Europe/Moscow' or 'UTC'.",
    "working_hours": "mon: 09:00-13:00 and 12:00-18:00 overlap.",
    "nickname": "This field is not accepted here.",
}


async def admin_speaking(db: Database, email: str, language: str | None) -> int:
    admin = await make_user(db, email, "admin")
    async with db.sessions() as session, session.begin():
        await session.execute(update(AppUser).where(AppUser.id == admin).values(language=language))
    return admin


async def test_a_patch_with_bad_fields_is_refused_in_each_callers_language(
    db: Database,
) -> None:
    olga = await admin_speaking(db, "olga@example.test", "ru")
    grace = await admin_speaking(db, "grace@example.test", "en")
    script = await admin_speaking(db, "script@example.test", None)
    vera = await make_user(db, "vera@example.test", "manager")
    path = f"/api/v1/admin/users/{vera}"
    async with console_client(db, default_language="ru") as client:
        # Olga in the console (cookie and CSRF), her browser English: her setting wins.
        csrf = await sign_in(client, "olga@example.test")
        russian = await client.patch(path, json=BAD_PATCH, headers={**csrf, **EN})
        russian_body = await russian.json()
        zero = await client.patch("/api/v1/admin/users/0", json={}, headers={**csrf, **EN})
        zero_body = await zero.json()
        empty = await client.patch(path, data=b" ", headers={**csrf, **EN})
        empty_body = await empty.json()
        reversed_period = await client.get(
            "/api/v1/reports?from=2026-02-01&to=2026-01-01", headers={**csrf, **EN}
        )
        reversed_body = await reversed_period.json()
        # Grace by token, her browser Russian: English, her setting.
        english = await client.patch(
            path, json=BAD_PATCH, headers={**await token_of(db, grace), **RU}
        )
        english_body = await english.json()
        # A script: no setting, no Accept-Language.
        plain = await client.patch(path, json={"role": "boss"}, headers=await token_of(db, script))
        plain_body = await plain.json()
        unchanged = await client.get(path, headers=await token_of(db, olga))
        unchanged_body = await unchanged.json()
    assert russian.status == 422 and english.status == 422
    assert russian_body["errors"] == RUSSIAN, "her sentences in Russian, the keys as sent"
    assert russian_body["detail"].startswith("Данные некорректны: ")
    assert "name: Не более 200 символов; role: Выберите" in russian_body["detail"]
    assert english_body["errors"] == ENGLISH
    assert "name: Use at most 200 characters; role: Choose" in english_body["detail"]
    assert zero_body["errors"] == {"user_id": "Введите число от 1 до 2147483647."}
    assert empty_body["errors"] == {
        "body": "Отправьте JSON-объект ({}, если все поля необязательны)."
    }
    assert reversed_body["errors"] == {"from": "Первый день периода («с») позже последнего («по»)."}
    assert plain_body["errors"] == {"role": "Choose one of: 'admin', 'head', 'manager'."}
    assert unchanged_body["name"] == "vera@example.test", "nothing refused was saved"
