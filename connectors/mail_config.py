"""Typed configuration of the email channel: IMAP mailboxes, the SMTP server, templates.

`leadflow` validates what admins wrote (TOML or `connector_config` rows of kind
"imap"), decrypts the passwords and hands the connectors these frozen dataclasses.
Passwords are plain strings here (the connector must log in with them) but are kept
out of `repr`. A plain-text connection sends the password in the clear, so it is
refused unless the host is a loopback address (`check_security`). Imports nothing of
ours.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

Security = Literal["ssl", "starttls", "plain"]
AfterCapture = Literal["seen", "move"]

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
DEFAULT_ACK_SUBJECT = "Re: {{ subject or 'your message' }}"
DEFAULT_ACK_BODY = (
    "Hello{% if name %} {{ name }}{% endif %},\n\n"
    "thank you for your message. It has reached our team, and a manager will reply "
    "shortly.\n\nThis is an automatic reply; you can answer it if you want to add "
    "something."
)


def is_loopback(host: str) -> bool:
    """True for localhost and any loopback IP (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_security(what: str, host: str, security: Security, *, has_credentials: bool) -> None:
    """Refuse clear-text credentials to anything but a loopback host, in a clear sentence."""
    if security == "plain" and has_credentials and not is_loopback(host):
        raise ValueError(
            f"{what}: security = 'plain' would send the password unencrypted to {host!r}; "
            "plain is allowed only for a loopback host (127.0.0.1, ::1, localhost). "
            "Use security = 'ssl' (port 993 for IMAP, 465 for SMTP) or 'starttls' "
            "(port 143 for IMAP, 587 for SMTP)."
        )


@dataclass(frozen=True, slots=True)
class MailTemplate:
    """An admin's acknowledgement: Jinja2 subject and plain-text body, and the language
    it is written in (a form's language; None: the inquiry's own language decides the
    wrapper, and the default text is translated into it)."""

    subject: str = DEFAULT_ACK_SUBJECT
    body: str = DEFAULT_ACK_BODY
    language: str | None = None


@dataclass(frozen=True, slots=True)
class MailboxConfig:
    """One IMAP mailbox to watch. `name` is the connector name (and idempotency-key part);
    `address` is the mailbox's own address, used as the From of its acknowledgements."""

    name: str
    host: str
    username: str
    password: str = field(repr=False)
    port: int = 993
    security: Security = "ssl"
    address: str | None = None
    folder: str = "INBOX"
    after_capture: AfterCapture = "seen"
    move_to: str | None = None
    poll_interval_s: float = 60.0
    idle: bool = True
    team: str | None = None
    ack: MailTemplate | None = MailTemplate()
    ca_file: str | None = None
    timeout_s: float = 30.0
    max_attachment_bytes: int = 5_000_000

    def __post_init__(self) -> None:
        check_security(f"mailbox {self.name!r}", self.host, self.security, has_credentials=True)
        if self.after_capture == "move" and not self.move_to:
            raise ValueError(f"mailbox {self.name!r}: after_capture = 'move' needs move_to")

    @property
    def own_address(self) -> str | None:
        if self.address:
            return self.address.lower()
        return self.username.lower() if "@" in self.username else None


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """The SMTP server LeadFlow sends through, and how it sends."""

    host: str
    from_address: str
    port: int = 587
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    retry_attempts: int = 3
    retry_backoff_s: float = 2.0
    ack_window_s: float = 24 * 3600.0
    console_url: str = "http://127.0.0.1:8080"
    ca_file: str | None = None
    sla_minutes: dict[str, int] = field(default_factory=dict)
    # SMTP sessions open at once (hosted servers cap a client's connections).
    max_connections: int = 4

    def __post_init__(self) -> None:
        check_security("smtp", self.host, self.security, has_credentials=self.username is not None)
