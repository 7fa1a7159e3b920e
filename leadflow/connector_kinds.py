"""Every connector kind an admin can create in the console, by its `kind` code.

The channel connectors' models (`channel_settings.KINDS`: Telegram, WhatsApp,
Twilio, phone webhooks) and the IMAP mailbox (`mail_settings.MailboxSettings`).
The runtime hands this to the console, which builds its forms and checks its API
bodies with these models; the connectors role reads the same rows back (`ChannelSet`
for the first, `MailChannel` for mailboxes) every few seconds, so a connector made
in the console starts without a restart.
"""

from __future__ import annotations

from pydantic import BaseModel

from leadflow.channel_settings import KINDS
from leadflow.mail_settings import MailboxSettings

CONNECTOR_KINDS: dict[str, type[BaseModel]] = {**KINDS, MailboxSettings.KIND: MailboxSettings}
