"""The email channel as settings: `[[mailboxes]]` (IMAP) and `[smtp]`, validated.

A mailbox is what an admin writes in the TOML file or what a `connector_config` row
of kind "imap" holds: `split` divides it into plain settings JSON and the password
(stored encrypted), `from_store` validates a row back, `to_config` makes the
`MailboxConfig` the connector receives. `SmtpSettings` is the `[smtp]` section
(`LEADFLOW_SMTP__HOST` ...). Both refuse a clear-text password to a host that is
not loopback, and templates that do not parse, with a sentence saying what to change.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.mail_config import (
    DEFAULT_ACK_BODY,
    DEFAULT_ACK_SUBJECT,
    AfterCapture,
    MailboxConfig,
    MailTemplate,
    Security,
    SmtpConfig,
    check_security,
)
from connectors.mail_render import TemplateProblem, compile_template
from ingest.contract.i18n import N_

MAILBOX_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,199}$"
IMAP_PORTS = {"ssl": 993, "starttls": 143, "plain": 143}
SMTP_PORTS = {"ssl": 465, "starttls": 587, "plain": 25}


def _template(value: str | None) -> str | None:
    if value is not None:
        try:
            compile_template(value)
        except TemplateProblem as exc:
            raise ValueError(str(exc)) from exc
    return value


class MailboxSettings(BaseModel):
    """One IMAP mailbox: where it is, how to log in, what to do with captured mail."""

    model_config = ConfigDict(extra="forbid")
    KIND: ClassVar[str] = "imap"
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("password",)

    name: str = Field(pattern=MAILBOX_NAME, description="Connector name, e.g. the address.")
    team: str | None = None
    active: bool = True
    host: str = Field(min_length=1, description=N_("The IMAP server, e.g. imap.example.com."))
    port: int | None = Field(
        default=None, ge=1, le=65535, description=N_("Empty: 993 with TLS, else 143.")
    )
    security: Security = Field(
        default="ssl",
        description=N_("A password goes in clear text only to this machine (loopback)."),
    )
    username: str = Field(min_length=1, description=N_("The login, often the address itself."))
    password: SecretStr = Field(description=N_("The mailbox's password or app password."))
    address: str | None = Field(
        default=None, description=N_("The mailbox's own address: acknowledgements come from it.")
    )
    folder: str = Field(default="INBOX", description=N_("The folder new inquiries arrive in."))
    after_capture: AfterCapture = Field(
        default="seen", description=N_("What happens to a captured message on the server.")
    )
    move_to: str | None = Field(
        default=None, description=N_("The folder for captured messages, when they are moved.")
    )
    poll_interval_s: float = Field(
        default=60.0, ge=1, description=N_("How often to look for new mail without IDLE.")
    )
    idle: bool = Field(
        default=True, description=N_("New mail arrives within seconds when the server has IDLE.")
    )
    ack: bool = Field(default=True, description=N_("Send acknowledgements for its new leads."))
    ack_subject: str = Field(
        default=DEFAULT_ACK_SUBJECT, description=N_("A template: {{ subject }}, {{ name }}.")
    )
    ack_body: str = Field(
        default=DEFAULT_ACK_BODY, description=N_("A template: {{ subject }}, {{ name }}.")
    )
    ca_file: str | None = Field(
        default=None, description=N_("A CA file on the server, for a private certificate.")
    )
    timeout_s: float = Field(
        default=30.0, gt=0, description=N_("How long to wait for the server before giving up.")
    )
    max_attachment_bytes: int = Field(
        default=5_000_000, ge=0, description=N_("Larger attachments are left out of the lead.")
    )

    @field_validator("ack_subject", "ack_body")
    @classmethod
    def _parses(cls, value: str) -> str:
        _template(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_security(f"mailbox {self.name!r}", self.host, self.security, has_credentials=True)
        if self.after_capture == "move" and not self.move_to:
            raise ValueError(f"mailbox {self.name!r}: after_capture = 'move' needs move_to")
        return self

    def split(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(plain settings for the JSON column, the clear password to encrypt)."""
        plain = self.model_dump(mode="json", exclude={"name", "team", "active", "password"})
        return plain, {"password": self.password.get_secret_value()}

    @classmethod
    def from_store(
        cls, *, name: str, team: str | None, settings: dict[str, Any], secrets: dict[str, str]
    ) -> Self:
        return cls.model_validate({**settings, **secrets, "name": name, "team": team})

    def to_config(self) -> MailboxConfig:
        return MailboxConfig(
            name=self.name,
            host=self.host,
            port=self.port or IMAP_PORTS[self.security],
            security=self.security,
            username=self.username,
            password=self.password.get_secret_value(),
            address=self.address,
            folder=self.folder,
            after_capture=self.after_capture,
            move_to=self.move_to,
            poll_interval_s=self.poll_interval_s,
            idle=self.idle,
            team=self.team,
            ack=MailTemplate(self.ack_subject, self.ack_body) if self.ack else None,
            ca_file=self.ca_file,
            timeout_s=self.timeout_s,
            max_attachment_bytes=self.max_attachment_bytes,
        )


class SmtpSettings(BaseModel):
    """The `[smtp]` section: the server acknowledgements and notifications go through."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Security = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = Field(description='e.g. "Example Sales <sales@example.com>"')
    timeout_s: float = Field(default=30.0, gt=0)
    retry_attempts: int = Field(default=3, ge=1, le=20)
    retry_backoff_s: float = Field(default=2.0, ge=0)
    ack_window_hours: float = Field(default=24.0, ge=0)
    console_url: str | None = Field(default=None, pattern=r"^https?://")
    ca_file: str | None = None
    max_connections: int = Field(default=4, ge=1, le=32)

    @field_validator("from_address")
    @classmethod
    def _an_address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError(f"{value!r} is not an email address")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_security("smtp", self.host, self.security, has_credentials=self.username is not None)
        if self.username is not None and self.password is None:
            raise ValueError("smtp: a username needs a password")
        return self

    def to_config(self, console_url: str, sla_minutes: dict[str, int]) -> SmtpConfig:
        return SmtpConfig(
            host=self.host,
            port=self.port or SMTP_PORTS[self.security],
            security=self.security,
            username=self.username,
            password=self.password.get_secret_value() if self.password else None,
            from_address=self.from_address,
            timeout_s=self.timeout_s,
            retry_attempts=self.retry_attempts,
            retry_backoff_s=self.retry_backoff_s,
            ack_window_s=self.ack_window_hours * 3600,
            console_url=self.console_url or console_url,
            ca_file=self.ca_file,
            sla_minutes=dict(sla_minutes),
            max_connections=self.max_connections,
        )


def form_template(
    ack_subject: str | None, ack_body: str | None, language: str | None = None
) -> MailTemplate | None:
    """A form's acknowledgement, when it has a body (no body: the form sends none), in
    the form's language."""
    if not ack_body:
        return None
    return MailTemplate(ack_subject or DEFAULT_ACK_SUBJECT, ack_body, language)
