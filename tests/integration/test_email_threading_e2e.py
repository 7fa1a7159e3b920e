"""An Outlook customer's long message ids, end to end: Dovecot → IMAP connector → Tansu →
consumer → store → SMTP → aiosmtpd. The acknowledgement names them byte for byte, so
the customer's client threads it under their own message (issue 10: Exchange ids are
80 characters and more, and used to be RFC 2047-encoded on the way out).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from connectors.publisher import Publisher
from crm_store.database import Database
from ingest.contract import Topics

from ..conftest import BrokerProcess
from ..servers import Dovecot, ImapClient, MailSink
from .helpers import seed_team
from .mail_helpers import raw_header
from .test_email_e2e import captured_up_to, consume, dispatch, make_settings, running_mail

pytestmark = pytest.mark.integration

ORIGINAL = "<DB9PR02MB1234567890ABCDEF1234567890ABCDEF@DB9PR02MB1234.eurprd02.prod.outlook.com>"
ROOT = "<AM6PR03MB9876543210FEDCBA9876543210FEDCBA@AM6PR03MB9876.eurprd03.prod.outlook.com>"


def outlook_mail() -> bytes:
    """As Exchange writes it: the long ids unfolded or folded only between ids."""
    return (
        "From: Ivan Petrov <ivan.petrov@corp.example>\r\n"
        "To: sales@example.test\r\n"
        "Subject: RE: Price for 40 rooms\r\n"
        "Date: Wed, 02 Dec 2026 09:15:00 +0000\r\n"
        f"Message-ID: {ORIGINAL}\r\n"
        f"In-Reply-To: {ROOT}\r\n"
        f"References: {ROOT}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "\r\n"
        "Please send the price for 40 rooms.\r\n\r\nIvan Petrov\r\n+7 926 700-11-22\r\n"
    ).encode()


async def test_an_ack_to_an_exchange_message_id_threads(
    broker: BrokerProcess,
    topics: Topics,
    db: Database,
    dovecot: Dovecot,
    smtp_sink: MailSink,
    tmp_path: Path,
) -> None:
    assert len(ORIGINAL) >= 80
    await seed_team(db)
    user = dovecot.add_user()
    settings = make_settings(tmp_path, dovecot, user, smtp_sink)
    group = uuid.uuid4().hex[:6]
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        async with ImapClient(dovecot.port, user) as client:
            await client.append(outlook_mail())
        async with running_mail(settings, db, publisher) as mail:
            await captured_up_to(mail, 1)
        await consume(broker, topics, db, f"in-{group}")
        async with running_mail(settings, db, publisher) as mail:
            await dispatch(broker, topics, mail, f"out-{group}")
    received = await smtp_sink.wait_for(2)
    (ack,) = [r for r in received if r.rcpt_tos == ["ivan.petrov@corp.example"]]
    assert raw_header(ack.raw, b"In-Reply-To") == b"In-Reply-To: " + ORIGINAL.encode()
    references = raw_header(ack.raw, b"References")
    assert b"=?" not in references
    assert references == f"References: {ROOT}\r\n {ORIGINAL}".encode(), "folded between ids"
