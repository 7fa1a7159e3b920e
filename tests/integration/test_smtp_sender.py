"""The SMTP sender against aiosmtpd: authentication, headers, retries, refusals, repeats,
and one session for many messages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from connectors.mail_config import MailboxConfig, SmtpConfig
from connectors.mail_render import MailRenderer
from connectors.outbound import PermanentSendError
from connectors.smtp import MESSAGES_PER_SESSION, SESSION_IDLE_S, SmtpSender, SmtpSession
from ingest.contract import OutboundMessage

from ..servers import MailSink, free_port
from .mail_helpers import raw_header

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
MAILBOX = MailboxConfig(
    name="sales",
    host="127.0.0.1",
    security="plain",
    username="sales@example.test",
    password="x",
)


@pytest.fixture
def auth_sink() -> Iterator[MailSink]:
    sink = MailSink(username="robot", password="s3cret").start()
    yield sink
    sink.stop()


def smtp_config(port: int, **overrides: Any) -> SmtpConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "plain",
        "from_address": "Sales <robot@example.test>",
        "timeout_s": 5.0,
        "retry_attempts": 3,
        "retry_backoff_s": 0.01,
    }
    values.update(overrides)
    return SmtpConfig(**values)


def ack(to: str = "ivan@example.com", **overrides: Any) -> OutboundMessage:
    lead = uuid.uuid4()
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "channel": "email",
        "purpose": "acknowledgement",
        "connector": "sales",
        "to": to,
        "template": "ack",
        "context": {"lead_id": str(lead), "name": "Ivan", "subject": "Price"},
        "headers": {
            "Auto-Submitted": "auto-replied",
            "Message-ID": f"<ack-{lead}@leadflow.invalid>",
            "In-Reply-To": "<orig@client.test>",
            "References": "<orig@client.test>",
        },
        "lead_id": lead,
        "created_at": NOW,
    }
    values.update(overrides)
    return OutboundMessage(**values)


_SENDERS: list[SmtpSender] = []


@pytest.fixture(autouse=True)
async def _close_senders() -> AsyncIterator[None]:
    """Each test's senders end their sessions (QUIT) when it ends."""
    yield
    while _SENDERS:
        await _SENDERS.pop().close()


def sender(config: SmtpConfig, counted: list[tuple[str, str]]) -> SmtpSender:
    renderer = MailRenderer(config, mailboxes={"sales": MAILBOX})
    made = SmtpSender(config, renderer, count=lambda p, o: counted.append((p, o)))
    _SENDERS.append(made)
    return made


async def test_sends_with_auth_and_threading_headers(auth_sink: MailSink) -> None:
    counted: list[tuple[str, str]] = []
    config = smtp_config(auth_sink.port, username="robot", password="s3cret")
    message = ack()
    await sender(config, counted).send(message)
    (got,) = await auth_sink.wait_for(1)
    assert got.rcpt_tos == ["ivan@example.com"]
    assert got.mail_from == "sales@example.test"
    mail = got.message
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["Message-ID"] == message.headers["Message-ID"]
    assert mail["In-Reply-To"] == "<orig@client.test>"
    assert mail["References"] == "<orig@client.test>"
    assert mail["Subject"] == "Re: Price"
    assert counted == [("acknowledgement", "sent")]


async def test_wrong_password_is_permanent(auth_sink: MailSink) -> None:
    counted: list[tuple[str, str]] = []
    config = smtp_config(auth_sink.port, username="robot", password="wrong")
    with pytest.raises(PermanentSendError, match="535"):
        await sender(config, counted).send(ack())
    assert counted == [("acknowledgement", "failed")]


async def test_server_down_is_retried_with_backoff_then_given_up() -> None:
    counted: list[tuple[str, str]] = []
    with pytest.raises(PermanentSendError, match="gave up after 3 attempts"):
        await sender(smtp_config(free_port()), counted).send(ack())
    assert counted == [("acknowledgement", "retried")] * 2 + [("acknowledgement", "failed")]


async def test_a_refused_recipient_is_not_retried(smtp_sink: MailSink) -> None:
    counted: list[tuple[str, str]] = []
    smtp_sink.refuse("gone@example.com")
    with pytest.raises(PermanentSendError, match="550"):
        await sender(smtp_config(smtp_sink.port), counted).send(ack(to="gone@example.com"))
    assert counted == [("acknowledgement", "failed")]


async def test_repeats_and_robots_are_not_sent(smtp_sink: MailSink) -> None:
    counted: list[tuple[str, str]] = []
    send = sender(smtp_config(smtp_sink.port), counted)
    first = ack()
    await send.send(first)
    await send.send(first)  # redelivered
    await send.send(ack())  # another lead of the same person, inside the window
    await send.send(ack(to="noreply@shop.test"))
    await send.send(ack(connector="form:contact"))  # a form without a template
    assert len(await smtp_sink.wait_for(1)) == 1
    assert [o for _, o in counted] == [
        "sent",
        "skipped_duplicate",
        "skipped_window",
        "skipped_robot_recipient",
        "skipped_no_template",
    ]


async def test_no_window_sends_again(smtp_sink: MailSink) -> None:
    counted: list[tuple[str, str]] = []
    send = sender(replace(smtp_config(smtp_sink.port), ack_window_s=0), counted)
    await send.send(ack())
    await send.send(ack())
    assert len(await smtp_sink.wait_for(2)) == 2


# Exchange's ids run past one 78-character line; the email policy used to RFC
# 2047-encode such a header, and the customer's Outlook then did not thread the reply.
EXCHANGE_ID = "<DB9PR02MB1234567890ABCDEF1234567890ABCDEF@DB9PR02MB1234.eurprd02.prod.outlook.com>"
EARLIER_IDS = (
    "<AM6PR03MB9876543210FEDCBA9876543210FEDCBA@AM6PR03MB9876.eurprd03.prod.outlook.com>",
    "<VI1PR04MB5555555555AAAAAAAAAA5555555555AA@VI1PR04MB5555.eurprd04.prod.outlook.com>",
)


async def test_long_exchange_ids_thread_unencoded(smtp_sink: MailSink) -> None:
    assert len(EXCHANGE_ID) >= 80
    references = " ".join((*EARLIER_IDS, EXCHANGE_ID))
    message = ack(
        headers={
            "Auto-Submitted": "auto-replied",
            "Message-ID": "<ack-1@leadflow.invalid>",
            "In-Reply-To": EXCHANGE_ID,
            "References": references,
        }
    )
    await sender(smtp_config(smtp_sink.port), []).send(message)
    (got,) = await smtp_sink.wait_for(1)

    in_reply_to = raw_header(got.raw, b"In-Reply-To")
    assert in_reply_to == b"In-Reply-To: " + EXCHANGE_ID.encode()
    refs = raw_header(got.raw, b"References")
    assert b"=?" not in refs
    # Folded only between ids: every line holds whole ids and nothing else.
    lines = refs.removeprefix(b"References:").split(b"\r\n")
    assert len(lines) == 3
    assert [line.strip() for line in lines] == [i.encode() for i in (*EARLIER_IDS, EXCHANGE_ID)]
    assert all(line.startswith(b" ") for line in lines)
    # What the customer's client reads back is the ids themselves.
    assert got.message["In-Reply-To"] == EXCHANGE_ID
    assert got.message["References"].split() == references.split()


async def test_many_messages_share_a_session_up_to_its_limit(smtp_sink: MailSink) -> None:
    counted: list[tuple[str, str]] = []
    send = sender(smtp_config(smtp_sink.port), counted)
    n = MESSAGES_PER_SESSION + 20
    for i in range(n):
        await send.send(ack(to=f"client{i}@example.com"))
    await send.close()
    got = await smtp_sink.wait_for(n)
    assert sorted(r.rcpt_tos[0] for r in got) == sorted(f"client{i}@example.com" for i in range(n))
    sessions = [r.peer for r in got]
    assert len(set(sessions)) == 2, "a new session after the limit, not one per message"
    assert sessions.count(sessions[0]) == MESSAGES_PER_SESSION
    assert counted == [("acknowledgement", "sent")] * n


async def test_after_a_refusal_the_next_message_goes_on_a_new_session(smtp_sink: MailSink) -> None:
    counted: list[tuple[str, str]] = []
    smtp_sink.refuse("gone@example.com")
    send = sender(smtp_config(smtp_sink.port), counted)
    await send.send(ack(to="first@example.com"))
    with pytest.raises(PermanentSendError, match="550"):
        await send.send(ack(to="gone@example.com"))
    await send.send(ack(to="next@example.com"))
    first, after = await smtp_sink.wait_for(2)
    assert after.rcpt_tos == ["next@example.com"]
    assert first.peer != after.peer
    assert [o for _, o in counted] == ["sent", "failed", "sent"]


async def test_a_server_restarted_between_messages_gets_the_next_one() -> None:
    counted: list[tuple[str, str]] = []
    first_sink = MailSink().start()
    send = sender(smtp_config(first_sink.port), counted)
    try:
        await send.send(ack(to="before@example.com"))
        await first_sink.wait_for(1)
    finally:
        first_sink.stop()  # drops the open session
    second_sink = MailSink(port=first_sink.port).start()
    try:
        await send.send(ack(to="after@example.com"))
        (got,) = await second_sink.wait_for(1)
        assert got.rcpt_tos == ["after@example.com"]
        assert counted[-1] == ("acknowledgement", "sent")
    finally:
        await send.close()
        second_sink.stop()


async def test_an_idle_session_is_closed_and_another_opened(smtp_sink: MailSink) -> None:
    now = [1000.0]
    session = SmtpSession(smtp_config(smtp_sink.port), clock=lambda: now[0])
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "robot@example.test", "ivan@example.com", "Hi"
    mail.set_content("Здравствуйте")
    await session.send(mail)
    now[0] += SESSION_IDLE_S - 1
    await session.send(mail)
    now[0] += SESSION_IDLE_S
    await session.send(mail)
    await session.close()
    got = await smtp_sink.wait_for(3)
    assert [r.peer for r in got].count(got[0].peer) == 2
    assert got[2].peer != got[0].peer
    assert session.opened == 2


async def test_mails_sent_at_once_take_a_session_each_and_keep_them(smtp_sink: MailSink) -> None:
    counted: list[tuple[str, str]] = []
    send = sender(smtp_config(smtp_sink.port), counted)
    for batch in range(2):
        await asyncio.gather(*(send.send(ack(to=f"c{batch}-{i}@example.com")) for i in range(4)))
    got = await smtp_sink.wait_for(8)
    assert len({r.peer for r in got}) == 4, "four at once, four sessions, used again"
    assert counted == [("acknowledgement", "sent")] * 8


async def test_no_more_sessions_than_the_server_allows_one_client(smtp_sink: MailSink) -> None:
    counted: list[tuple[str, str]] = []
    send = sender(smtp_config(smtp_sink.port, max_connections=2), counted)
    await asyncio.gather(*(send.send(ack(to=f"c{i}@example.com")) for i in range(6)))
    got = await smtp_sink.wait_for(6)
    assert len({r.peer for r in got}) == 2, "six at once wait for two sessions"
    assert counted == [("acknowledgement", "sent")] * 6


async def test_a_server_that_never_answers_quit_does_not_hold_the_next_mail(
    smtp_sink: MailSink,
) -> None:
    """Closing an idle session waits briefly for the goodbye, not the whole command
    timeout (a minute here): the next mail goes on a new session."""
    now = [1000.0]
    session = SmtpSession(smtp_config(smtp_sink.port, timeout_s=60.0), clock=lambda: now[0])
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "robot@example.test", "ivan@example.com", "Hi"
    mail.set_content("Здравствуйте")
    await session.send(mail)
    smtp_sink.answer_no_quit()
    now[0] += SESSION_IDLE_S
    await asyncio.wait_for(session.send(mail), 30)
    got = await smtp_sink.wait_for(2)
    assert got[0].peer != got[1].peer
    await session.close()
