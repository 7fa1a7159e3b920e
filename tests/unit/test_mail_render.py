"""Email rendering and headers (pure), and the email settings' validation."""

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtplib.email import flatten_message
from pydantic import ValidationError

from connectors.imap_session import (
    count_size_report,
    parse_fetch,
    parse_search,
    parse_select,
    uid_set,
)
from connectors.mail_config import MailboxConfig, MailTemplate, SmtpConfig, is_loopback
from connectors.mail_policy import PROCESS_BOUNDARY
from connectors.mail_render import MailRenderer, Skip, TemplateProblem, is_robot_address
from ingest.contract import OutboundMessage
from leadflow.mail_settings import MailboxSettings, SmtpSettings
from leadflow.settings import Settings

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
LEAD = uuid.UUID("7d4f3d0e-0000-4000-8000-000000000001")
SMTP = SmtpConfig(
    host="127.0.0.1",
    port=25,
    security="plain",
    from_address="Example Sales <robot@example.test>",
    console_url="https://crm.example.test/",
    sla_minutes={"email": 60},
)
MAILBOX = MailboxConfig(
    name="sales",
    host="127.0.0.1",
    security="plain",
    username="sales@example.test",
    password="x",
    ack=MailTemplate("Re: {{ subject }} [received]", "Hello {{ name }},\n\nwe got it.\n\nBye"),
)


def message(**overrides: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "channel": "email",
        "purpose": "acknowledgement",
        "connector": "sales",
        "to": "ivan@example.com",
        "subject": "Re: Price",
        "template": "ack",
        "context": {"lead_id": str(LEAD), "name": "Иван <b>", "subject": "Price"},
        "headers": {
            "Auto-Submitted": "auto-replied",
            "Message-ID": f"<ack-{LEAD}@leadflow.invalid>",
            "In-Reply-To": "<orig@client.test>",
            "References": "<root@client.test> <orig@client.test>",
        },
        "lead_id": LEAD,
        "created_at": NOW,
    }
    values.update(overrides)
    return OutboundMessage(**values)


def render(msg: OutboundMessage, **forms: MailTemplate) -> EmailMessage:
    out = MailRenderer(SMTP, mailboxes={"sales": MAILBOX}, forms=forms).render(msg, NOW)
    assert isinstance(out, EmailMessage), out
    return out


def parts(mail: EmailMessage) -> tuple[str, str]:
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_mailbox_ack_has_threading_headers_and_comes_from_the_mailbox() -> None:
    mail = render(message())
    assert mail["From"] == "Example Sales <sales@example.test>"
    assert mail["To"] == "ivan@example.com"
    assert mail["Subject"] == "Re: Price [received]"
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["Message-ID"] == f"<ack-{LEAD}@leadflow.invalid>"
    assert mail["In-Reply-To"] == "<orig@client.test>"
    assert mail["References"] == "<root@client.test> <orig@client.test>"
    assert mail["X-Auto-Response-Suppress"] == "All"
    text, html = parts(mail)
    assert text.startswith("Hello Иван <b>,\n\nwe got it.")
    assert "Иван &lt;b&gt;" in html and "<b>," not in html


def test_form_ack_uses_the_form_template_and_the_smtp_from() -> None:
    form = MailTemplate("Thanks", "We got your form, {{ name }}.")
    mail = render(message(connector="form:contact", headers={}), contact=form)
    assert mail["From"] == "Example Sales <robot@example.test>"
    assert mail["Subject"] == "Thanks"
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["Message-ID"].startswith("<acknowledgement-")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        pytest.param({"connector": "form:contact"}, "no_template", id="form-without-template"),
        pytest.param({"connector": "gone"}, "unknown_connector", id="unknown-mailbox"),
        pytest.param({"to": "no-reply@shop.test"}, "robot_recipient", id="no-reply"),
        pytest.param({"to": "MAILER-DAEMON@mx.test"}, "robot_recipient", id="daemon"),
        pytest.param({"to": "bounces+123@list.test"}, "robot_recipient", id="bounces"),
    ],
)
def test_acks_that_are_not_sent(overrides: dict[str, Any], reason: str) -> None:
    out = MailRenderer(SMTP, mailboxes={"sales": MAILBOX}).render(message(**overrides), NOW)
    assert isinstance(out, Skip) and out.reason == reason


def test_manager_notification_says_who_what_deadline_and_links_the_lead() -> None:
    notice = message(
        purpose="manager_notification",
        connector=None,
        to="anna@example.test",
        template="manager_new_lead",
        context={
            "lead_id": str(LEAD),
            "name": "Ivan Petrov",
            "email": "ivan@example.com",
            "phone": "+79123456789",
            "subject": "Need 20 licenses",
            "text": "Hello <script>x</script>",
            "channel": "email",
        },
        headers={},
    )
    mail = render(notice)
    assert mail["Subject"] == "New lead: Ivan Petrov: Need 20 licenses"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["From"] == "Example Sales <robot@example.test>"
    text, html = parts(mail)
    assert f"https://crm.example.test/leads/{LEAD}" in text
    assert "first contact by Nov 27, 2026, 11:00\u202fAM UTC" in text
    assert "+79123456789" in text and "Need 20 licenses" in text
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert f'href="https://crm.example.test/leads/{LEAD}"' in html


@pytest.mark.parametrize(
    ("language", "subject", "lines"),
    [
        pytest.param(
            "ru",
            "Новый лид: Ivan Petrov: Need 20 licenses",
            ["Вам назначен новый лид.", "Кто: Ivan Petrov", "Открыть лид: https://"],
            id="ru",
        ),
        pytest.param(
            "en",
            "New lead: Ivan Petrov: Need 20 licenses",
            ["A new lead is assigned to you.", "Who: Ivan Petrov", "Open the lead: https://"],
            id="en",
        ),
    ],
)
def test_a_notification_is_written_in_the_managers_language(
    language: str, subject: str, lines: list[str]
) -> None:
    notice = message(
        purpose="manager_notification",
        connector=None,
        to="anna@corp.test",
        template="manager_new_lead",
        context={"name": "Ivan Petrov", "subject": "Need 20 licenses", "language": language},
        headers={},
    )
    mail = render(notice)
    assert mail["Subject"] == subject
    text, html = parts(mail)
    for line in lines:
        assert line in text
    assert f'<html lang="{language}">' in html


@pytest.mark.parametrize(
    ("form_language", "written_in", "subject", "greeting"),
    [
        pytest.param(None, "ru", "Re: ваше сообщение", "Здравствуйте, Иван!", id="customer-ru"),
        pytest.param(None, "en", "Re: your message", "Hello Иван,", id="customer-en"),
        pytest.param("ru", "en", "Re: ваше сообщение", "Здравствуйте, Иван!", id="form-ru-wins"),
    ],
)
def test_the_built_in_acknowledgement_speaks_the_form_or_the_customers_language(
    form_language: str | None, written_in: str, subject: str, greeting: str
) -> None:
    ack = message(
        connector="form:contact",
        subject=None,
        context={"lead_id": str(LEAD), "name": "Иван", "language": written_in},
    )
    mail = render(ack, contact=MailTemplate(language=form_language))
    assert mail["Subject"] == subject
    text, _html = parts(mail)
    assert text.startswith(greeting)


def test_an_admins_own_acknowledgement_is_sent_as_written() -> None:
    mail = render(message(context={"name": "Ivan", "subject": "Price", "language": "ru"}))
    assert mail["Subject"] == "Re: Price [received]"
    text, html = parts(mail)
    assert text.startswith("Hello Ivan,")
    assert '<html lang="ru">' in html


def test_header_injection_is_flattened() -> None:
    mail = render(message(context={"subject": "Hi\r\nBcc: victim@example.test"}))
    assert "\n" not in mail["Subject"] and mail["Bcc"] is None


def test_a_broken_template_is_a_template_problem() -> None:
    broken = MailboxConfig(
        name="sales",
        host="127.0.0.1",
        security="plain",
        username="u",
        password="x",
        ack=MailTemplate("{{ subject", "x"),
    )
    with pytest.raises(TemplateProblem):
        MailRenderer(SMTP, mailboxes={"sales": broken}).render(message(), NOW)


def test_the_sandbox_refuses_unsafe_attribute_access() -> None:
    evil = MailTemplate("x", "{{ name.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateProblem):
        render(message(connector="form:contact", headers={}), contact=evil)


@pytest.mark.parametrize(
    ("address", "robot"),
    [
        ("noreply@x.test", True),
        ("do-not-reply@x.test", True),
        ("postmaster@x.test", True),
        ("notifications+abc@github.test", True),
        ("ivan@x.test", False),
        ("reply@x.test", False),
    ],
)
def test_robot_addresses(address: str, robot: bool) -> None:
    assert is_robot_address(address) is robot


# --- settings -------------------------------------------------------------------------

MAILBOX_TOML: dict[str, Any] = {
    "name": "sales@example.com",
    "host": "imap.example.com",
    "username": "sales@example.com",
    "password": "pw",
    "team": "Sales",
}


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.53", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("10.0.0.1", False), ("imap.example.com", False)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_plain_imap_is_refused_off_loopback_with_a_clear_sentence() -> None:
    with pytest.raises(ValidationError, match="plain is allowed only for a loopback host"):
        MailboxSettings(**{**MAILBOX_TOML, "security": "plain"})
    loopback = MailboxSettings(**{**MAILBOX_TOML, "security": "plain", "host": "127.0.0.1"})
    assert loopback.security == "plain"


def test_mailbox_defaults_and_secret_split() -> None:
    mailbox = MailboxSettings(**MAILBOX_TOML)
    config = mailbox.to_config()
    assert (config.port, config.security, config.folder, config.after_capture) == (
        993,
        "ssl",
        "INBOX",
        "seen",
    )
    assert "pw" not in repr(config) and "pw" not in repr(mailbox)
    plain, secrets = mailbox.split()
    assert secrets == {"password": "pw"} and "password" not in plain
    again = MailboxSettings.from_store(
        name=mailbox.name, team="Sales", settings=plain, secrets=secrets
    )
    assert again.to_config() == config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"after_capture": "move"}, "needs move_to", id="move-without-folder"),
        pytest.param({"ack_body": "{% if %}"}, "template error", id="broken-template"),
        pytest.param({"name": "a b"}, "String should match pattern", id="bad-name"),
        pytest.param({"security": "tls"}, "Input should be", id="unknown-security"),
        pytest.param({"colour": "red"}, "Extra inputs", id="unknown-key"),
    ],
)
def test_mailbox_settings_refuse(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MailboxSettings(**{**MAILBOX_TOML, **overrides})


def test_smtp_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_SMTP__HOST", "smtp.example.com")
    monkeypatch.setenv("LEADFLOW_SMTP__FROM_ADDRESS", "Sales <sales@example.com>")
    monkeypatch.setenv("LEADFLOW_SMTP__USERNAME", "sales@example.com")
    monkeypatch.setenv("LEADFLOW_SMTP__PASSWORD", "pw")
    monkeypatch.setenv("LEADFLOW_SMTP__SECURITY", "ssl")
    settings = Settings()
    assert settings.smtp is not None
    config = settings.smtp.to_config("http://127.0.0.1:8080", {"email": 60})
    assert (config.host, config.port, config.security) == ("smtp.example.com", 465, "ssl")
    assert config.password == "pw" and "pw" not in repr(config)
    assert config.ack_window_s == 24 * 3600
    assert config.max_connections == 4
    monkeypatch.setenv("LEADFLOW_SMTP__MAX_CONNECTIONS", "2")
    assert Settings().smtp.to_config("http://x", {}).max_connections == 2  # type: ignore[union-attr]


def test_smtp_settings_refuse() -> None:
    base = {"host": "smtp.example.com", "from_address": "sales@example.com"}
    with pytest.raises(ValidationError, match="loopback"):
        SmtpSettings(**base, security="plain", username="u", password="p")
    with pytest.raises(ValidationError, match="not an email address"):
        SmtpSettings(host="smtp.example.com", from_address="sales")
    for typo in (0, 33):
        with pytest.raises(ValidationError, match="max_connections"):
            SmtpSettings(**base, max_connections=typo)
    assert SmtpSettings(**base, security="plain").to_config("http://x", {}).port == 25


# --- IMAP responses -------------------------------------------------------------------


def test_uid_set() -> None:
    assert uid_set([7, 1, 2, 3, 9, 10]) == "1:3,7,9:10"
    assert uid_set([5]) == "5"


def test_parse_select_search_and_fetch() -> None:
    info = parse_select([b"OK [UIDVALIDITY 4000000001] UIDs valid", b"OK [UIDNEXT 8] next"])
    assert (info.uidvalidity, info.uidnext) == (4_000_000_001, 8)
    assert parse_search([b"3 1 2", b"Search completed."]) == [1, 2, 3]
    assert parse_search([b"Search completed."]) == []
    lines: list[bytes | bytearray] = [
        b'1 FETCH (UID 5 INTERNALDATE "27-Nov-2026 03:32:18 +0300" BODY[] {5}',
        bytearray(b"hello"),
        b")",
        b"2 FETCH (BODY[] {3}",
        bytearray(b"abc"),
        b" UID 6)",
        b"Fetch completed.",
    ]
    first, second = parse_fetch(lines)
    assert (first.uid, first.raw, second.uid, second.raw) == (5, b"hello", 6, b"abc")
    assert first.internal_date == datetime(2026, 11, 27, 0, 32, 18, tzinfo=UTC)
    assert second.internal_date is None


@pytest.mark.parametrize(
    ("size", "line", "expected"),
    [
        pytest.param(None, b"* 0 EXISTS", (0, 0), id="select-sets-the-size"),
        pytest.param(3, b"* 4 EXISTS", (4, 1), id="grew"),
        pytest.param(4, b"* 4 EXISTS", (4, 0), id="same-size-again"),
        pytest.param(4, b"* 2 EXPUNGE", (3, 0), id="expunge-takes-one"),
        pytest.param(3, b"* 4 EXISTS", (4, 1), id="grew-after-an-expunge"),
        pytest.param(0, b"* 1 EXPUNGE", (0, 0), id="never-below-zero"),
        pytest.param(3, b"* 1 RECENT", (3, 0), id="recent-is-not-size"),
        pytest.param(3, b"* 5 FETCH (UID 9 FLAGS (\\Seen))", (3, 0), id="fetch"),
        pytest.param(3, b"* SEARCH 4 5", (3, 0), id="search"),
    ],
)
def test_count_size_report(size: int | None, line: bytes, expected: tuple[int | None, int]) -> None:
    assert count_size_report(size, line) == expected


def test_head_escalation_mail_names_the_lead_and_why() -> None:
    notice = message(
        purpose="manager_notification",
        connector=None,
        to="helen@example.test",
        template="sla_escalated",
        context={
            "lead_id": str(LEAD),
            "reason": "first contact overdue; hop limit reached",
            "channel": "web_form",
        },
        headers={},
    )
    mail = render(notice)
    assert mail["Subject"].startswith("SLA escalation")
    text, _html = parts(mail)
    assert "hop limit reached" in text
    assert f"https://crm.example.test/leads/{LEAD}" in text


@pytest.mark.parametrize("name", ["Иван", f"--{PROCESS_BOUNDARY}"], ids=["usual", "boundary"])
def test_a_mail_reads_back_whole_even_when_the_customer_wrote_its_boundary(name: str) -> None:
    mail = render(message(context={"lead_id": str(LEAD), "name": name, "subject": "Price"}))
    back = email.message_from_bytes(flatten_message(mail), policy=email.policy.default)
    assert isinstance(back, EmailMessage)
    text, html = (part.replace("\r\n", "\n") for part in parts(back))  # as SMTP sends it
    assert text.startswith(f"Hello {name},\n\nwe got it.")
    assert f"Hello {name}," in html
    assert (back.get_boundary() == PROCESS_BOUNDARY) is (name == "Иван")
