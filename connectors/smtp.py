"""The email channel's sender: `OutboundMessage`s of channel "email" out through SMTP.

`SmtpSender` is what the `OutboundDispatcher` calls for channel "email". It renders
the message (`MailRenderer`), skips what must not go (a robot recipient, a form
without a template, an acknowledgement to someone already acknowledged within the
window: the consumer enforces that window in the store, this in-memory guard catches
redeliveries), then delivers with aiosmtplib over SSL, STARTTLS or plain (loopback
only with credentials), with a timeout. One SMTP session carries many messages
(`SmtpSession`): a session per message (connect, TLS, login, quit) capped the sender
at some hundred messages a second, fewer with TLS, so a burst of inquiries had its
acknowledgements minutes late (issue 11). Messages sent at once (the dispatcher's
lanes) each take a session of their own. Transient failures (connection refused,
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
# Messages one session carries before it is closed and another opened: some servers
# cap a session's messages (100 is a common limit), and a long session is not kept
# open by anyone else either.
MESSAGES_PER_SESSION = 100
# A session unused this long is closed rather than used again: servers drop an idle
# client after a minute or more (RFC 5321 asks for 5), and a send on a session the
# server has already dropped fails and is retried only after a backoff.
SESSION_IDLE_S = 30.0
# How long closing a session waits for the server's answer to QUIT: a connection
# that a firewall dropped without a word would otherwise hold the next mail for the
# whole command timeout.
QUIT_TIMEOUT_S = 2.0


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
        # Sessions not sending now, the last used on top: the dispatcher sends a few
        # messages at once, each on a session of its own, up to `max_connections`.
        self._idle: list[SmtpSession] = []
        self._sessions: list[SmtpSession] = []
        self._slots = asyncio.Semaphore(max(1, config.max_connections))
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
        """Send one message over an idle session (`SmtpSession.send`), or a new one
        when every session is sending and there are fewer than `max_connections`
        (else wait for one)."""
        async with self._slots:
            if self._idle:
                session = self._idle.pop()
            else:
                session = SmtpSession(self._config, tls=self._tls)
                self._sessions.append(session)
            try:
                await session.send(mail)
            finally:
                self._idle.append(session)

    async def close(self) -> None:
        """End the open sessions (QUIT)."""
        for session in self._sessions:
            await session.close()


class SmtpSession:
    """One SMTP session at a time, kept open between messages.

    A message goes over the open session when it is connected, has carried fewer than
    `MESSAGES_PER_SESSION` and was used within `SESSION_IDLE_S`; otherwise that one is
    closed and a new one opened (connect, secure, authenticate). After any failure the
    session is dropped, since its state is unknown: the caller's retry starts afresh.
    Sends are serialised: one SMTP transaction at a time on a session.
    """

    def __init__(
        self,
        config: SmtpConfig,
        *,
        tls: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._clock = clock
        # The sender's one context for all its sessions (None: plain, or the default).
        self._tls = tls
        self._lock = asyncio.Lock()
        self._client: aiosmtplib.SMTP | None = None
        self._sent = 0
        self._used_at = 0.0
        self.opened = 0  # sessions opened so far

    async def send(self, mail: EmailMessage) -> None:
        async with self._lock:
            client = await self._usable()
            try:
                await client.send_message(mail)
            except BaseException:
                await self._drop(quit_first=False)
                raise
            self._sent += 1
            self._used_at = self._clock()

    async def close(self) -> None:
        async with self._lock:
            await self._drop(quit_first=True)

    async def _usable(self) -> aiosmtplib.SMTP:
        client = self._client
        if client is not None and (
            not client.is_connected
            or self._sent >= MESSAGES_PER_SESSION
            or self._clock() - self._used_at >= SESSION_IDLE_S
        ):
            await self._drop(quit_first=client.is_connected)
            client = None
        if client is None:
            client = await self._open()
        return client

    async def _open(self) -> aiosmtplib.SMTP:
        c = self._config
        client = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            username=c.username,
            password=c.password,
            use_tls=c.security == "ssl",
            start_tls=c.security == "starttls",
            tls_context=self._tls,
            timeout=c.timeout_s,
        )
        await client.connect()  # connects, secures and logs in, as `aiosmtplib.send` does
        self._client, self._sent, self._used_at = client, 0, self._clock()
        self.opened += 1
        return client

    async def _drop(self, *, quit_first: bool) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if quit_first and client.is_connected:
                await client.quit(timeout=QUIT_TIMEOUT_S)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.debug("closing an SMTP session: %r", exc)
        finally:
            client.close()


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
