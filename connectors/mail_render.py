"""Turns an `OutboundMessage` of channel "email" into the email to send. Pure: no I/O.

`MailRenderer.render(message, now)` gives an `EmailMessage` (a plain-text part and an
HTML alternative) or a `Skip` with a metric label. Acknowledgements use the
template of the mailbox the inquiry came to (`connector` = its name) or of the web
form (`connector` = "form:<slug>"; a form without a template is skipped); manager
notifications use the files in `mail_templates/` and carry who, what, the deadline
and a link to the lead. Admins' templates run in Jinja2's sandbox; HTML is always
autoescaped. Threading headers come from the message, reduced to well-formed ids and
folded only between them (`mail_policy`), so long Exchange ids are never encoded; an
acknowledgement is never addressed to a no-reply, bounce or daemon address.

Language: a notification is rendered in the manager's language (`language` in its
context, put there by `ingest.notices`); an acknowledgement in its template's
language (a form's), else the language the customer wrote in (`language` in its
context), else the catalogs' default. The built-in acknowledgement text is
translated; an admin's own text is sent as written, in the language's wrapper.
Imports only `ingest.contract` of ours.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from ingest.contract import OutboundMessage
from ingest.contract.i18n import N_, Catalogs, format_moment

from .mail_config import (
    DEFAULT_ACK_BODY,
    DEFAULT_ACK_SUBJECT,
    MailboxConfig,
    MailTemplate,
    SmtpConfig,
)
from .mail_policy import (
    MAIL_POLICY,
    mime_boundary,
    text_transfer_encoding,
    thread_ids,
)

TEMPLATES = Path(__file__).parent / "mail_templates"
MANAGER_TEMPLATES: dict[str, str] = {
    "manager_new_lead": N_("New lead"),
    "manager_lead_reassigned": N_("Lead reassigned to you"),
    "manager_lead_updated": N_("Lead updated"),
    "sla_escalated": N_("SLA escalation"),
}
ROBOT_ADDRESS = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply|mailer[-_.]?daemon|postmaster|"
    r"bounces?|notifications?|robot|auto[-_.]?reply)(?:[-+_.].*)?@",
    re.IGNORECASE,
)
THREAD_HEADERS = ("Message-ID", "In-Reply-To", "References")
_HEADER_LIMIT = 900
_SUBJECT_LIMIT = 250


class TemplateProblem(ValueError):
    """A template that cannot be rendered: the configuration must change, not a retry."""


@dataclass(frozen=True, slots=True)
class Skip:
    """Deliberately not sent; `reason` is a metric label (no_template, robot_recipient ...)."""

    reason: str
    detail: str


def is_robot_address(address: str) -> bool:
    """no-reply, mailer-daemon, postmaster, bounce and notification addresses."""
    return bool(ROBOT_ADDRESS.match(address.strip()))


def clean_header(value: str, limit: int = _HEADER_LIMIT) -> str:
    """One line: CR, LF and runs of whitespace become one space (no header injection)."""
    return re.sub(r"\s+", " ", value).strip()[:limit]


def compile_template(text: str) -> None:
    """Raise `TemplateProblem` when an admin's template does not parse."""
    try:
        _SANDBOX.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(f"template error on line {exc.lineno}: {exc.message}") from exc


_SANDBOX = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


@functools.lru_cache(maxsize=256)
def _compiled(template: str) -> jinja2.Template:
    """An admin's template, compiled once: compiling took about a tenth of the
    connectors process's CPU while it sent a burst's acknowledgements (issue 11).
    Keyed by the text, so an edited template is compiled anew."""
    return _SANDBOX.from_string(template)


class MailRenderer:
    """Renders with the current mailboxes and form templates (`update` swaps them)."""

    def __init__(
        self,
        smtp: SmtpConfig,
        *,
        mailboxes: Mapping[str, MailboxConfig] | None = None,
        forms: Mapping[str, MailTemplate] | None = None,
        catalogs: Catalogs | None = None,
    ) -> None:
        self._smtp = smtp
        self._mailboxes = dict(mailboxes or {})
        self._forms = dict(forms or {})
        self._catalogs = catalogs or Catalogs.load()
        self._files = {lang: self._environment(lang) for lang in self._catalogs.languages}

    def _environment(self, language: str) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
            keep_trailing_newline=True,
            extensions=["jinja2.ext.i18n"],
        )
        translations = self._catalogs.get(language)
        env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        env.globals["language"] = language
        return env

    def update(self, mailboxes: Mapping[str, MailboxConfig]) -> None:
        self._mailboxes = dict(mailboxes)

    def render(self, message: OutboundMessage, now: datetime) -> EmailMessage | Skip:
        if message.purpose == "acknowledgement":
            return self._acknowledgement(message, now)
        if message.purpose == "manager_notification":
            return self._notification(message, now)
        return self._reply(message, now)

    # --- the three kinds ---------------------------------------------------------------

    def _acknowledgement(self, message: OutboundMessage, now: datetime) -> EmailMessage | Skip:
        if is_robot_address(message.to):
            return Skip("robot_recipient", f"{message.to} is a no-reply or bounce address")
        found = self._ack_template(message.connector)
        if isinstance(found, Skip):
            return found
        template, sender = found
        context = dict(message.context)
        language = self._catalogs.choose(template.language or context.get("language"), None)
        files = self._files[language]
        if template.subject == DEFAULT_ACK_SUBJECT:
            gettext = self._catalogs.get(language).gettext
            fallback = gettext(N_("your message"))
            subject = f"Re: {context.get('subject') or fallback}"
        else:
            subject = _render_admin(template.subject, context) or message.subject or "Re:"
        if template.body == DEFAULT_ACK_BODY:
            body = files.get_template("ack_default.txt").render(name=context.get("name"))
            body = body.strip()
        else:
            body = _render_admin(template.body, context)
        html = files.get_template("ack.html").render(subject=subject, paragraphs=_paragraphs(body))
        return self._compose(message, now, sender, subject, body, html, "auto-replied")

    def _notification(self, message: OutboundMessage, now: datetime) -> EmailMessage | Skip:
        name = message.template or ""
        if name not in MANAGER_TEMPLATES:
            raise TemplateProblem(f"there is no manager template called {name!r}")
        language = self._catalogs.choose(message.context.get("language"), None)
        gettext = self._catalogs.get(language).gettext
        context = {**message.context, **self._lead_facts(message, language)}
        who = context.get("name") or context.get("email") or context.get("phone")
        who = who or gettext(N_("someone"))
        what = context.get("subject") or (context.get("text") or "").split("\n", 1)[0]
        headline = f"{who}: {what}" if what else context.get("title") or who
        title = clean_header(f"{gettext(MANAGER_TEMPLATES[name])}: {headline}", _SUBJECT_LIMIT)
        context.pop("title", None)
        context.pop("language", None)
        files = self._files[language]
        text = files.get_template(f"{name}.txt").render(**context, title=title)
        html = files.get_template(f"{name}.html").render(**context, title=title)
        return self._compose(
            message, now, self._smtp.from_address, title, text, html, "auto-generated"
        )

    def _reply(self, message: OutboundMessage, now: datetime) -> EmailMessage | Skip:
        if not message.text:
            raise TemplateProblem(f"a {message.purpose} email needs a text")
        sender = self._sender_for(self._mailboxes.get(message.connector or ""))
        files = self._files[self._catalogs.choose(message.context.get("language"), None)]
        html = files.get_template("ack.html").render(
            subject=message.subject or "", paragraphs=_paragraphs(message.text)
        )
        subject = message.subject or "Re:"
        return self._compose(message, now, sender, subject, message.text, html, None)

    # --- pieces ------------------------------------------------------------------------

    def _ack_template(self, connector: str | None) -> tuple[MailTemplate, str] | Skip:
        if connector and connector.startswith("form:"):
            slug = connector.removeprefix("form:")
            form_template = self._forms.get(slug)
            if form_template is None:
                return Skip("no_template", f"form {slug!r} has no acknowledgement template")
            return form_template, self._smtp.from_address
        mailbox = self._mailboxes.get(connector or "")
        if mailbox is None:
            return Skip("unknown_connector", f"there is no mailbox called {connector!r}")
        if mailbox.ack is None:
            return Skip("no_template", f"mailbox {mailbox.name!r} sends no acknowledgement")
        return mailbox.ack, self._sender_for(mailbox)

    def _sender_for(self, mailbox: MailboxConfig | None) -> str:
        """The mailbox's own address (so replies land where LeadFlow reads them), with the
        display name of the SMTP From; else the SMTP From itself."""
        if mailbox is None or mailbox.own_address is None:
            return self._smtp.from_address
        display, _ = parseaddr(self._smtp.from_address)
        return formataddr((display, mailbox.own_address)) if display else mailbox.own_address

    def _lead_facts(self, message: OutboundMessage, language: str) -> dict[str, str]:
        lead = message.context.get("lead_id") or (str(message.lead_id) if message.lead_id else "")
        facts = {"link": f"{self._smtp.console_url.rstrip('/')}/leads/{lead}"}
        deadline = message.context.get("deadline")
        if not deadline and message.template in ("manager_new_lead", "manager_lead_reassigned"):
            minutes = self._smtp.sla_minutes.get(message.context.get("channel", ""))
            if minutes is not None:
                due = message.created_at + timedelta(minutes=minutes)
                deadline = format_moment(due, UTC, language)
        if deadline:
            facts["deadline"] = deadline
        return facts

    def _compose(
        self,
        message: OutboundMessage,
        now: datetime,
        sender: str,
        subject: str,
        text: str,
        html: str,
        auto_submitted: str | None,
    ) -> EmailMessage:
        mail = EmailMessage(policy=MAIL_POLICY)
        mail["From"] = clean_header(sender)
        mail["To"] = _address(message.to)
        mail["Subject"] = clean_header(subject, _SUBJECT_LIMIT)
        mail["Date"] = format_datetime(now.astimezone(UTC))
        mail["Message-ID"] = self._message_id(message, sender)
        for name in THREAD_HEADERS[1:]:
            ids = thread_ids(message.headers.get(name) or "")
            if ids:
                mail[name] = " ".join(ids)
        submitted = message.headers.get("Auto-Submitted") or auto_submitted
        if submitted:
            mail["Auto-Submitted"] = clean_header(submitted)
            # Ask Exchange and friends not to answer a robot with their own robot.
            mail["X-Auto-Response-Suppress"] = "All"
        if message.lead_id is not None:
            mail["X-LeadFlow-Lead"] = str(message.lead_id)
        body = text if text.endswith("\n") else text + "\n"
        mail.set_content(body, cte=text_transfer_encoding(body))
        boundary = mime_boundary(body, html)
        if boundary is not None:
            mail.make_alternative(boundary=boundary)
        mail.add_alternative(html, subtype="html", cte=text_transfer_encoding(html))
        return mail

    @staticmethod
    def _message_id(message: OutboundMessage, sender: str) -> str:
        given = message.headers.get("Message-ID")
        if given:
            return clean_header(given)
        domain = parseaddr(sender)[1].rpartition("@")[2] or "leadflow.invalid"
        # Derived from the message id, so a retried send keeps its Message-ID.
        return f"<{message.purpose}-{message.id}@{domain}>"


def _render_admin(template: str, context: Mapping[str, str]) -> str:
    try:
        return _compiled(template).render(**context).strip()
    except jinja2.TemplateError as exc:
        raise TemplateProblem(f"the acknowledgement template cannot be rendered: {exc}") from exc


def _paragraphs(text: str) -> list[list[str]]:
    blocks = re.split(r"\n\s*\n", text.strip())
    return [block.splitlines() for block in blocks if block.strip()]


def _address(value: str) -> str:
    """A bare address as a header value; refuses anything that is not one address."""
    cleaned = clean_header(value)
    name, address = parseaddr(cleaned)
    if not address or "@" not in address:
        raise TemplateProblem(f"{value!r} is not an email address")
    local, _, domain = address.rpartition("@")
    return str(Address(display_name=name, username=local, domain=domain))
