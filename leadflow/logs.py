"""The process's logging: one handler, secrets redacted from every record it writes.

Third-party clients log the URLs they call, and the Telegram Bot API puts the bot
token in the URL (`https://api.telegram.org/bot<TOKEN>/getUpdates`, logged by httpx
at INFO). So two defences: the chatty client loggers (httpx, httpcore, telegram,
aiohttp, aiokafka's INFO chatter stays) are raised to WARNING, and a `RedactSecrets`
filter on the handler rewrites every record (message, arguments and traceback) with
bot tokens, URL passwords, bearer tokens and secret query parameters replaced by
`[redacted]`. A request line or header that aiohttp refuses (too long, not HTTP)
is the client's error, not ours: `ClientErrorsAtInfo` writes it at INFO without a
traceback. Every role's entry point (`leadflow` CLI) calls `configure_logging`.
Imports nothing of ours.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import TextIO

from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, SecretStr

REDACTED = "[redacted]"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers that write request URLs (with tokens in them) or per-request noise.
QUIET_LOGGERS = ("httpx", "httpcore", "telegram", "aiohttp.access", "aiohttp.client")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Telegram bot token, in a Bot API URL or anywhere: <bot id>:<35 characters>.
    (re.compile(r"(/bot)\d+:[^/\s?#'\"]+"), rf"\1{REDACTED}"),
    (re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}"), REDACTED),
    # user:password@ in any URL (database, broker, IMAP ...).
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@", re.IGNORECASE), rf"\1{REDACTED}@"),
    # Authorization headers and bearer tokens.
    (re.compile(r"(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1{REDACTED}"),
    # Secret-looking query or form parameters.
    (
        re.compile(
            r"(\b(?:[a-z_.]*token|[a-z_.]*secret|password|passwd|api_?key|signature)=)"
            r"[^&\s'\"]+",
            re.IGNORECASE,
        ),
        rf"\1{REDACTED}",
    ),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every known secret and secret-shaped value replaced by `[redacted]`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """A handler filter: the record leaves with its message and traceback redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if len(s) >= 6)
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: log it as written, still redacted
            message = f"{record.msg} {record.args}"
        record.msg = redact(message, self._secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._secrets)
        return True


class ClientErrorsAtInfo(logging.Filter):
    """aiohttp's "Error handling request" for a malformed request: INFO, one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.name == "aiohttp.server" and isinstance(exc, HttpProcessingError):
            record.msg = f"{record.getMessage()}: refused a malformed request ({exc.message})"
            record.args = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


def secret_values(value: object) -> list[str]:
    """Every `SecretStr` inside a settings object (nested models, lists, dicts)."""
    if isinstance(value, SecretStr):
        return [value.get_secret_value()]
    if isinstance(value, BaseModel):
        return [s for name in type(value).model_fields for s in secret_values(getattr(value, name))]
    if isinstance(value, list | tuple):
        return [s for item in value for s in secret_values(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in secret_values(item)]
    return []


def configure_logging(
    level: str = "INFO", *, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.Handler:
    """One stream handler on the root logger, redacting; quiet the URL-logging clients."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(ClientErrorsAtInfo())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
