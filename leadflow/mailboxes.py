"""The email channel of the connectors role: IMAP mailboxes in, SMTP out, wired to the store.

`MailChannel` is an async context manager. On enter it upserts the mailboxes declared
in settings (`[[mailboxes]]`) into `connector_config` (kind "imap", password
encrypted), then loads every active imap connector FROM the store, so a mailbox an
admin added there is watched too, and reloads that set every few seconds. `sender`
is the `OutboundDispatcher`'s sender for channel "email" (SMTP, or a stand-in that
counts what it could not send when `[smtp]` is unset); `run(stop)` watches the
mailboxes. `StoreMailboxState` is the connector's `MailboxState` on `crm_store`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from connectors.imap import ImapMailbox, ImapMailboxes
from connectors.mail_config import MailboxConfig, MailTemplate
from connectors.mail_render import MailRenderer, TemplateProblem, compile_template
from connectors.outbound import OutboundSender
from connectors.publisher import InquirySink
from connectors.smtp import NoSmtpSender, SmtpSender
from crm_store import connectors as store
from crm_store import mailboxes as cursors
from crm_store.database import Database
from ingest.contract.i18n import Catalogs
from leadflow.mail_settings import MailboxSettings, form_template
from leadflow.secrets import SecretBox, SecretsUnreadable, load_secret_box
from leadflow.settings import Settings

log = logging.getLogger(__name__)

RELOAD_S = 10.0
HEALTH_SUCCESS_EVERY_S = 60.0


class StoreMailboxState:
    """Cursors, captured Message-IDs and health of mailboxes, in the store."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._last_success: dict[str, float] = {}

    async def load(self, name: str) -> tuple[int, int] | None:
        async with self._db.sessions() as session:
            return await cursors.load_cursor(session, name)

    async def save(
        self, name: str, uidvalidity: int, last_uid: int, message_ids: Sequence[str] = ()
    ) -> None:
        async with self._db.sessions() as session, session.begin():
            await cursors.save_cursor(
                session,
                name,
                uidvalidity=uidvalidity,
                last_uid=last_uid,
                message_ids=message_ids,
                now=datetime.now(UTC),
            )

    async def known_message_ids(self, name: str, message_ids: Sequence[str]) -> set[str]:
        async with self._db.sessions() as session:
            return await cursors.known_message_ids(session, name, message_ids)

    async def record_health(self, name: str, error: str | None) -> None:
        """Successes at most once a minute per mailbox; every error."""
        now = time.monotonic()
        if error is None:
            last = self._last_success.get(name, -HEALTH_SUCCESS_EVERY_S)
            if now - last < HEALTH_SUCCESS_EVERY_S:
                return
            self._last_success[name] = now
        else:
            self._last_success.pop(name, None)
        at = datetime.now(UTC)
        try:
            async with self._db.sessions() as session, session.begin():
                if error is None:
                    await store.record_health(session, name, success_at=at)
                else:
                    await store.record_health(session, name, error=error, error_at=at)
        except Exception:  # health is advisory; never let it stop a mailbox
            log.warning("could not record the health of mailbox %s", name, exc_info=True)


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "leadflow_imap_messages_total",
            "Messages captured from IMAP mailboxes: published, recorded_<reason>, duplicate.",
            ["mailbox", "outcome"],
            registry=registry,
        )
        self.sent = Counter(
            "leadflow_email_sent_total",
            "Outbound email by purpose and outcome: sent, retried, failed, skipped_<reason>.",
            ["purpose", "outcome"],
            registry=registry,
        )


class MailChannel:
    """Every mailbox of this process, and the email sender; an async context manager."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        publisher: InquirySink,
        registry: CollectorRegistry,
        *,
        reload_s: float = RELOAD_S,
    ) -> None:
        self._settings = settings
        self._db = db
        self._publisher = publisher
        self._reload_s = reload_s
        self._box: SecretBox | None = None
        self._entered = False
        self._metrics = _Metrics(registry)
        self.state = StoreMailboxState(db)
        self.mailboxes = ImapMailboxes(self._make_mailbox)
        self.configs: dict[str, MailboxConfig] = {}
        self.renderer: MailRenderer | None = None
        self.sender: OutboundSender = self._make_sender()

    def _make_sender(self) -> OutboundSender:
        count = self._count_sent
        smtp = self._settings.smtp
        if smtp is None:
            return NoSmtpSender(count=count)
        http = self._settings.http
        console = http.public_url or f"http://{http.host}:{http.port}"
        config = smtp.to_config(console, dict(self._settings.ingest.sla_minutes))
        # Mail with no language of its own (the SLA escalation to a head, an
        # acknowledgement with no letters to tell) speaks the deployment's default.
        catalogs = Catalogs.load(default=self._settings.ingest.default_language)
        self.renderer = MailRenderer(config, forms=self._form_templates(), catalogs=catalogs)
        return SmtpSender(config, self.renderer, count=count)

    def _form_templates(self) -> dict[str, MailTemplate]:
        templates: dict[str, MailTemplate] = {}
        for form in self._settings.forms:
            template = form_template(form.ack_subject, form.ack_body, form.language)
            if template is None:
                continue
            try:
                compile_template(template.subject)
                compile_template(template.body)
            except TemplateProblem as exc:
                raise ValueError(f"form {form.slug!r}: acknowledgement {exc}") from exc
            templates[form.slug] = template
        return templates

    def _count_sent(self, purpose: str, outcome: str) -> None:
        self._metrics.sent.labels(purpose, outcome).inc()

    def _make_mailbox(self, config: MailboxConfig) -> ImapMailbox:
        counter = self._metrics.messages
        return ImapMailbox(
            config,
            self._publisher,
            self.state,
            default_region=self._settings.ingest.default_region,
            count=lambda outcome: counter.labels(config.name, outcome).inc(),
        )

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a MailChannel is entered once")
        self._entered = True
        self._box = load_secret_box(self._settings.secret_key, self._settings.data_dir)
        await self._upsert_declared()
        await self.reload()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.configs = {}
        if isinstance(self.sender, SmtpSender):
            await self.sender.close()  # QUIT the session kept open between messages

    async def run(self, stop: asyncio.Event) -> None:
        """Watch the mailboxes, and reload their set from the store, until `stop` is set."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.mailboxes.run(stop), name="imap-mailboxes")
            tasks.create_task(self._reload_until(stop), name="reload-mailboxes")

    async def reload(self) -> None:
        """Load every active imap connector from the store and hand the set over."""
        async with self._db.sessions() as session:
            rows = await store.list_connectors(session, kinds=[MailboxSettings.KIND])
        configs: dict[str, MailboxConfig] = {}
        for row in rows:
            config = await self._config_for(row)
            if config is not None:
                configs[row.name] = config
        self.configs = configs
        self.mailboxes.update(configs)
        if self.renderer is not None:
            self.renderer.update(configs)

    async def _config_for(self, row: store.ConnectorRow) -> MailboxConfig | None:
        assert self._box is not None
        try:
            secrets = self._box.decrypt(row.secrets)
            return MailboxSettings.from_store(
                name=row.name, team=row.team, settings=row.settings, secrets=secrets
            ).to_config()
        except (SecretsUnreadable, ValidationError, ValueError) as exc:
            reason = f"mailbox {row.name!r} is not loaded: {_sentence(exc)}"
            log.error("%s", reason)
            await self.state.record_health(row.name, reason)
            return None

    async def _upsert_declared(self) -> None:
        assert self._box is not None
        now = datetime.now(UTC)
        async with self._db.sessions() as session, session.begin():
            for mailbox in self._settings.mailboxes:
                plain, secrets = mailbox.split()
                await store.upsert_connector(
                    session,
                    kind=MailboxSettings.KIND,
                    name=mailbox.name,
                    team=mailbox.team,
                    settings=plain,
                    secrets=self._box.encrypt(secrets),
                    active=mailbox.active,
                    now=now,
                )

    async def _reload_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._reload_s)
            if stop.is_set():
                return
            try:
                await self.reload()
            except Exception:  # the store may blip; keep the mailboxes we have
                log.exception("could not reload the mailboxes")


def _sentence(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
    return str(exc) or type(exc).__name__
