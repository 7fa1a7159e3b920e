"""My notifications: the channels I am told about my leads on, and the Telegram link.

A signed-in user turns email and Telegram notices on or off, and links Telegram with
a one-time code: `POST /api/v1/me/telegram-link` shows a fresh 8-character code once
(stored as SHA-256 only, valid 15 minutes, replacing any pending one); the user
sends `/link CODE` to the company's LeadFlow bot, and the ingest consumer links that
chat. `DELETE` unlinks (and drops a pending code). Imports `crm_store` and `console`
helpers only.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from console.http import Call, Endpoint, Reply, collect, route
from console.schemas import NotificationsBody, TelegramLinkCode
from crm_store import notifications
from crm_store.database import Database
from crm_store.notifications import NotificationPrefs

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: people retype it
CODE_LENGTH = 8
CODE_TTL = timedelta(minutes=15)


def new_link_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


class NotificationEndpoints:
    def __init__(self, db: Database) -> None:
        self._db = db

    def endpoints(self) -> list[Endpoint]:
        return collect(self, tag="notifications")

    @route(
        "GET",
        "/api/v1/me/notifications",
        "My notification channels and whether Telegram is linked",
        response=NotificationPrefs,
    )
    async def get_preferences(self, call: Call) -> NotificationPrefs:
        async with self._db.sessions() as session:
            return await notifications.preferences(session, call.who.user_id, call.now)

    @route(
        "PUT",
        "/api/v1/me/notifications",
        "Choose my notification channels",
        body=NotificationsBody,
        response=NotificationPrefs,
    )
    async def set_preferences(self, call: Call) -> NotificationPrefs:
        body = call.body_as(NotificationsBody)
        async with self._db.sessions() as session, session.begin():
            await notifications.set_preferences(
                session,
                call.who.user_id,
                notify_email=body.notify_email,
                notify_telegram=body.notify_telegram,
                now=call.now,
            )
        async with self._db.sessions() as session:
            return await notifications.preferences(session, call.who.user_id, call.now)

    @route(
        "POST",
        "/api/v1/me/telegram-link",
        "Start linking Telegram: a one-time code to send the bot (shown once)",
        response=TelegramLinkCode,
        status=201,
    )
    async def start_link(self, call: Call) -> Reply:
        code = new_link_code()
        expires_at = call.now + CODE_TTL
        async with self._db.sessions() as session, session.begin():
            await notifications.start_telegram_link(
                session,
                call.who.user_id,
                notifications.hash_link_code(code),
                expires_at,
                call.now,
            )
        command = f"/link {code}"
        return Reply(
            TelegramLinkCode(
                code=code,
                command=command,
                expires_at=expires_at,
                instructions=(
                    f"Send '{command}' to the company's LeadFlow bot in Telegram within "
                    f"{int(CODE_TTL.total_seconds() // 60)} minutes."
                ),
            ),
            status=201,
        )

    @route(
        "DELETE",
        "/api/v1/me/telegram-link",
        "Unlink Telegram (and drop a pending code)",
        status=204,
    )
    async def unlink(self, call: Call) -> None:
        async with self._db.sessions() as session, session.begin():
            await notifications.unlink_telegram(session, call.who.user_id, call.now)
