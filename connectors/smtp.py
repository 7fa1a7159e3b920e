"""The email channel's sender: `OutboundMessage`s of channel "email" out through SMTP.

`SmtpSender` is what the `OutboundDispatcher` calls for channel "email". It renders
the message (`MailRenderer`), skips what must not go (a robot recipient, a form
without a template, an acknowledgement to someone already acknowledged within the
window: the consumer enforces that window in the store, this in-memory guard catches
redeliveries), then delivers with aiosmtplib over SSL, STARTTLS or plain (loopback
only with credentials), with a timeout. Transient failures (connection refused,
timeouts, 4xx answers) are retried with exponential backoff; a 5xx answer, a broken
template or a send still failing after the last attempt raises
`PermanentSendError`, which the dispatcher dead-letters. Every outcome is counted
through `count(purpose, outcome)`. Imports only `ingest.contract` of ours.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage

import aiosmtplib

from ingest.contract import OutboundMessage

from .mail_config import SmtpConfig
from .mail_render import MailRenderer, Skip, TemplateProblem
from .outbound import PermanentSendError

log = logging.getLogger(__name__)

CountSend = Callable[[str, str], None]
Sleep = Callable[[float], Awaitable[None]]
_GUARD_LIMIT = 50_000


def _no_count(_purpose: str, _outcome: str) -> None:
    """The default counter: count nothing."""


class SmtpSender:
    """Sends rendered email; an `OutboundSender` for the dispatcher's channel "email"."""

    def __init__(
        self,
        config: SmtpConfig,
        renderer: MailRenderer,
        *,
        count: CountSend = _no_count,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._config = config
        self._renderer = renderer
        self._count = count
        self._clock = clock
        self._sleep = sleep
        self._tls = _tls_context(config.ca_file) if config.security != "plain" else None
        # recipient → (message id, monotonic time of the acknowledgement)
        self._acknowledged: dict[str, tuple[str, float]] = {}

    async def send(self, message: OutboundMessage) -> None:
        purpose = message.purpose
        try:
            rendered = self._renderer.render(message, self._clock())
        except TemplateProblem as exc:
            self._count(purpose, "failed")
            raise PermanentSendError(str(exc)) from exc
        if isinstance(rendered, Skip):
            log.info("email %s to %s not sent: %s", message.id, message.to, rendered.detail)
            self._count(purpose, f"skipped_{rendered.reason}")
            return
        if purpose == "acknowledgement" and (skip := self._repeat(message)) is not None:
            self._count(purpose, skip)
            return
        await self._deliver_with_retry(rendered, message)
        if purpose == "acknowledgement":
            self._remember(message)
        self._count(purpose, "sent")

    def _repeat(self, message: OutboundMessage) -> str | None:
        """'skipped_duplicate' for this very message again, 'skipped_window' for another
        acknowledgement to the same recipient inside the window, else None."""
        seen = self._acknowledged.get(message.to.lower())
        if seen is None:
            return None
        message_id, at = seen
        if message_id == str(message.id):
            log.info("acknowledgement %s was already sent; not sent again", message.id)
            return "skipped_duplicate"
        if time.monotonic() - at < self._config.ack_window_s:
            log.info(
                "%s was acknowledged in the last %.0f s; not again",
                message.to,
                self._config.ack_window_s,
            )
            return "skipped_window"
        return None

    def _remember(self, message: OutboundMessage) -> None:
        if len(self._acknowledged) >= _GUARD_LIMIT:
            horizon = time.monotonic() - self._config.ack_window_s
            self._acknowledged = {k: v for k, v in self._acknowledged.items() if v[1] >= horizon}
        self._acknowledged[message.to.lower()] = (str(message.id), time.monotonic())

    async def _deliver_with_retry(self, mail: EmailMessage, message: OutboundMessage) -> None:
        attempts = max(1, self._config.retry_attempts)
        for attempt in range(1, attempts + 1):
            try:
                await self.deliver(mail)
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused) as exc:
                if _permanent(exc):
                    self._count(message.purpose, "failed")
                    raise PermanentSendError(f"the SMTP server refused: {exc}") from exc
                error: Exception = exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                error = exc
            else:
                return
            log.warning(
                "email %s to %s: attempt %d/%d failed: %r",
                message.id,
                message.to,
                attempt,
                attempts,
                error,
            )
            if attempt == attempts:
                self._count(message.purpose, "failed")
                raise PermanentSendError(f"gave up after {attempts} attempts: {error!r}") from error
            self._count(message.purpose, "retried")
            await self._sleep(self._config.retry_backoff_s * 2 ** (attempt - 1))

    async def deliver(self, mail: EmailMessage) -> None:
        """One SMTP session: connect, secure, authenticate, send, quit."""
        c = self._config
        await aiosmtplib.send(
            mail,
            hostname=c.host,
            port=c.port,
            username=c.username,
            password=c.password,
            use_tls=c.security == "ssl",
            start_tls=c.security == "starttls",
            tls_context=self._tls,
            timeout=c.timeout_s,
        )


class NoSmtpSender:
    """Stands in when no SMTP server is configured: counts and logs what it did not send."""

    def __init__(self, *, count: CountSend = _no_count) -> None:
        self._count = count
        self._warned = False

    async def send(self, message: OutboundMessage) -> None:
        if not self._warned:
            log.warning(
                "no [smtp] server is configured: email is not sent (acknowledgements, notices)"
            )
            self._warned = True
        self._count(message.purpose, "skipped_no_smtp")


def _permanent(
    exc: aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused,
) -> bool:
    """A 5xx answer (for every recipient): sending again cannot help."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(r.code >= 500 for r in exc.recipients)
    return exc.code >= 500


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)
