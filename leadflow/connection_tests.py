"""The "test connection" action of the console: reach the service a connector talks to.

The console must not import connectors, so the runtime hands it `test_connection`.
A Telegram bot is asked `getMe`; a mailbox logs in and selects its folder. Webhook
connectors (WhatsApp, Twilio, generic phone) have nothing to connect to: the
provider calls us, so the answer says their secrets are set and how to test them.
The answer is (ok, a sentence); the sentence never contains a secret.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError

from connectors.imap_session import ImapSession
from connectors.telegram_bot import _make_bot, _safe
from leadflow.channel_settings import KINDS
from leadflow.mail_settings import MailboxSettings

TIMEOUT_S = 10.0


async def test_connection(
    kind: str, name: str, settings: dict[str, Any], secrets: dict[str, str]
) -> tuple[bool | None, str]:
    """(ok, a sentence); ok is None when there is nothing to connect to (a webhook)."""
    try:
        return await asyncio.wait_for(_test(kind, name, settings, secrets), TIMEOUT_S)
    except TimeoutError:
        return False, f"no answer within {TIMEOUT_S:g} s"


async def _test(
    kind: str, name: str, settings: dict[str, Any], secrets: dict[str, str]
) -> tuple[bool | None, str]:
    if kind == MailboxSettings.KIND:
        return await _imap(name, settings, secrets)
    model_type = KINDS.get(kind)
    if model_type is None:
        return False, f"unknown connector kind {kind!r}"
    try:
        model = model_type.from_store(name=name, team=None, settings=settings, secrets=secrets)
    except ValidationError as exc:
        return False, f"the configuration is incomplete: {exc.errors()[0]['msg']}"
    if kind == "telegram":
        config = model.to_config(None)
        try:
            async with _make_bot(config) as bot:  # type: ignore[arg-type]
                me = await bot.get_me()
        except Exception as exc:  # any failure is the answer, as a sentence
            return False, f"Telegram did not accept the bot: {_safe(exc)}"
        return True, f"reached the bot @{me.username}"
    return None, (
        "the configuration and secrets are complete; a webhook connector has nothing to "
        "connect to: send a test event from the provider to its webhook URL"
    )


async def _imap(name: str, settings: dict[str, Any], secrets: dict[str, str]) -> tuple[bool, str]:
    try:
        config = MailboxSettings.from_store(
            name=name, team=None, settings=settings, secrets=secrets
        ).to_config()
    except (ValidationError, ValueError) as exc:
        return False, f"the configuration is incomplete: {str(exc).splitlines()[0]}"
    try:
        async with ImapSession(config) as session:
            info = session.info
    except Exception as exc:  # any failure is the answer, as a sentence
        where = f"{config.host}:{config.port}"
        return False, f"could not log in to {where}: {type(exc).__name__}: {exc}"
    detail = f" (UIDVALIDITY {info.uidvalidity})" if info else ""
    return True, f"logged in to {config.host} and opened {config.folder}{detail}"
