"""The "test connection" action of the console: reach the service a connector talks to.

The console must not import connectors, so the runtime hands it `test_connection`.
A Telegram bot is asked `getMe`; a mailbox logs in and selects its folder. Webhook
connectors (WhatsApp, Twilio, generic phone) have nothing to connect to: the
provider calls us, so the answer says their secrets are set and how to test them.
The answer is (ok, a gettext message, its parameters), so the console shows the
sentence in the reader's language; it never contains a secret.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError

from connectors.imap_session import ImapSession
from ingest.contract.i18n import N_
from leadflow.channel_settings import KINDS
from leadflow.mail_settings import MailboxSettings

TIMEOUT_S = 10.0
INCOMPLETE = N_("the configuration is incomplete: %(reason)s")
NOTHING_TO_CONNECT = N_(
    "the configuration and secrets are complete; a webhook connector has nothing to "
    "connect to: send a test event from the provider to its webhook URL"
)
Answer = tuple[bool | None, str, dict[str, str]]


async def test_connection(
    kind: str, name: str, settings: dict[str, Any], secrets: dict[str, str]
) -> Answer:
    """(ok, message, params); ok is None when there is nothing to connect to (a webhook)."""
    try:
        return await asyncio.wait_for(_test(kind, name, settings, secrets), TIMEOUT_S)
    except TimeoutError:
        return False, N_("no answer within %(seconds)s s"), {"seconds": f"{TIMEOUT_S:g}"}


async def _test(kind: str, name: str, settings: dict[str, Any], secrets: dict[str, str]) -> Answer:
    if kind == MailboxSettings.KIND:
        return await _imap(name, settings, secrets)
    model_type = KINDS.get(kind)
    if model_type is None:
        return False, N_("unknown connector kind %(kind)s"), {"kind": repr(kind)}
    try:
        model = model_type.from_store(name=name, team=None, settings=settings, secrets=secrets)
    except ValidationError as exc:
        return False, INCOMPLETE, {"reason": str(exc.errors()[0]["msg"])}
    if kind == "telegram":
        # python-telegram-bot is imported when a bot is used (see connectors.telegram_bot).
        from connectors.telegram_client import make_bot, safe_reason

        config = model.to_config(None)
        try:
            async with make_bot(config) as bot:  # type: ignore[arg-type]
                me = await bot.get_me()
        except Exception as exc:  # any failure is the answer, as a sentence
            reason = safe_reason(exc)
            return False, N_("Telegram did not accept the bot: %(reason)s"), {"reason": reason}
        return True, N_("reached the bot @%(username)s"), {"username": str(me.username)}
    return None, NOTHING_TO_CONNECT, {}


async def _imap(name: str, settings: dict[str, Any], secrets: dict[str, str]) -> Answer:
    try:
        config = MailboxSettings.from_store(
            name=name, team=None, settings=settings, secrets=secrets
        ).to_config()
    except (ValidationError, ValueError) as exc:
        return False, INCOMPLETE, {"reason": str(exc).splitlines()[0]}
    try:
        async with ImapSession(config) as session:
            info = session.info
    except Exception as exc:  # any failure is the answer, as a sentence
        where = f"{config.host}:{config.port}"
        reason = f"{type(exc).__name__}: {exc}"
        return (
            False,
            N_("could not log in to %(where)s: %(reason)s"),
            {"where": where, "reason": reason},
        )
    opened = {"host": config.host, "folder": config.folder}
    if info is None:
        return True, N_("logged in to %(host)s and opened %(folder)s"), opened
    message = N_("logged in to %(host)s and opened %(folder)s (UIDVALIDITY %(uidvalidity)s)")
    return True, message, {**opened, "uidvalidity": str(info.uidvalidity)}
