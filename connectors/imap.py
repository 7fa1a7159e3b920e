"""The email channel's inbound I/O: watch IMAP mailboxes, publish each message as an inquiry.

`ImapMailbox` watches one folder: each pass fetches the messages whose UID is above
the last one captured, parses them (`parse_email`), publishes every result (a
`FilteredMessage` becomes an `Inquiry` with `not_a_lead` set, so the consumer records
it without a lead or a reply), and ONLY once they are durable (journal) marks them
\\Seen or moves them, then saves the last UID. UIDVALIDITY and the last UID live in
the store (`MailboxState`), so a restart never re-imports; a first start, or a
UIDVALIDITY change, begins at the oldest unseen message and skips Message-IDs the
store already knows. Between passes it waits with IDLE when the server has it, else
polls. Failures reconnect with exponential backoff and are reported as the mailbox's
health. A cancellation that a library swallowed still ends the loop before its next
wait. `ImapMailboxes` runs one task per mailbox in a TaskGroup, so one failing
mailbox never stops the others. Imports only `ingest.contract` of ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from typing import Protocol

from ingest.contract import Channel, Inquiry, Routing, Sender, limits

from .email_parse import FilteredMessage, ParsedEmail, header_text, parse_email
from .imap_session import Fetched, ImapSession
from .mail_config import MailboxConfig
from .publisher import InquirySink, PublishFailed

log = logging.getLogger(__name__)

FETCH_CHUNK = 50
IDLE_RENEW_S = 300.0  # RFC 2177: re-issue IDLE well within 29 minutes
STOP_GRACE_S = 1.0  # how long a cancelled mailbox may take to end before we ask again
MAX_BACKOFF_S = 60.0
THREAD_PARSE_BYTES = 256 * 1024  # parse bigger messages off the event loop
_SHORT = min(limits.SUBJECT_MAX, limits.CHANNEL_ID_MAX, limits.NOT_A_LEAD_MAX)
_KEY_LIMIT = limits.IDEMPOTENCY_KEY_MAX
# Filtered mail that may still be a person writing: its words are kept on the record.
KEEP_WORDS = frozenset({"auto_reply", "bounce", "bulk"})

Count = Callable[[str], None]


class MailboxState(Protocol):
    """What a mailbox needs from the store; `leadflow` implements it."""

    async def load(self, name: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last captured UID), or None before the first capture."""

    async def save(
        self, name: str, uidvalidity: int, last_uid: int, message_ids: Sequence[str] = ()
    ) -> None:
        """Store the cursor, and the Message-IDs captured up to it."""

    async def known_message_ids(self, name: str, message_ids: Sequence[str]) -> set[str]:
        """Which of these Message-IDs this mailbox already captured."""

    async def record_health(self, name: str, error: str | None) -> None:
        """None: a pass succeeded; else the error sentence."""


InquiryPublisher = InquirySink  # the older name, kept for callers


def _no_count(_outcome: str) -> None:
    """The default `Count`: count nothing."""


@dataclass(frozen=True, slots=True)
class _Captured:
    uid: int
    message_id: str | None


class ImapMailbox:
    """One mailbox's capture loop; `run` never returns (cancel it) and never raises."""

    def __init__(
        self,
        config: MailboxConfig,
        publisher: InquirySink,
        state: MailboxState,
        *,
        default_region: str = "RU",
        count: Count = _no_count,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self._publisher = publisher
        self._state = state
        self._region = default_region
        self._count = count
        self._clock = clock
        self._cursor: tuple[int, int] | None = None

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                async with ImapSession(self.config) as session:
                    failures = 0
                    await self._watch(session)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one mailbox's failure stays in this mailbox
                if _cancel_swallowed():
                    raise asyncio.CancelledError from exc
                failures += 1
                await self._report(exc, failures)
                await asyncio.sleep(min(2.0 ** (failures - 1), MAX_BACKOFF_S))

    async def _watch(self, session: ImapSession) -> None:
        await self.start(session)
        while True:
            captured = await self.capture(session)
            await self._state.record_health(self.config.name, None)
            if _cancel_swallowed():
                # A library ate our cancellation (Python 3.11's wait_for does, when the
                # awaited result and the cancel arrive together): honour it here rather
                # than IDLE for minutes with a cancel pending.
                raise asyncio.CancelledError
            if captured or session.reported_new_mail:
                continue  # more may have arrived meanwhile, and IDLE would not say so
            if self.config.idle and session.supports_idle:
                await session.wait_for_mail(
                    min(IDLE_RENEW_S, max(self.config.poll_interval_s, 60.0))
                )
            else:
                await asyncio.sleep(self.config.poll_interval_s)

    async def _report(self, exc: Exception, failures: int) -> None:
        sentence = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        log.warning("mailbox %s: %s (failure %d)", self.config.name, sentence, failures)
        with contextlib.suppress(Exception):
            await self._state.record_health(self.config.name, sentence[:1000])

    async def start(self, session: ImapSession) -> None:
        """Where to start: the stored cursor, or (first start, UIDVALIDITY changed) just
        before the oldest unseen message."""
        assert session.info is not None
        validity = session.info.uidvalidity
        stored = await self._state.load(self.config.name)
        if stored is not None and stored[0] == validity:
            self._cursor = stored
            return
        if stored is not None:
            log.warning(
                "mailbox %s: UIDVALIDITY changed (%d → %d); restarting from the oldest "
                "unseen message, skipping Message-IDs already captured",
                self.config.name, stored[0], validity,
            )  # fmt: skip
        unseen = await session.unseen_uids()
        start = min(unseen) - 1 if unseen else (session.info.uidnext or 1) - 1
        self._cursor = (validity, start)
        await self._state.save(self.config.name, validity, start)

    async def capture(self, session: ImapSession) -> int:
        """One pass: publish, mark and record everything above the cursor; the count."""
        assert self._cursor is not None
        validity, last = self._cursor
        uids = await session.uids_after(last)
        total = 0
        for start in range(0, len(uids), FETCH_CHUNK):
            chunk = uids[start : start + FETCH_CHUNK]
            total += await self._capture_chunk(session, validity, chunk)
        return total

    async def _capture_chunk(self, session: ImapSession, validity: int, uids: list[int]) -> int:
        fetched = sorted(await session.fetch(uids), key=lambda f: f.uid)
        parsed = [(item, await self._parse(item)) for item in fetched]
        ids = [i for _, p in parsed if (i := _message_id(p)) is not None]
        known = await self._state.known_message_ids(self.config.name, ids) if ids else set()
        done: list[_Captured] = []
        failure: PublishFailed | None = None
        for item, result in parsed:
            try:
                await self._publish(result, item, known)
            except PublishFailed as exc:
                failure = exc
                break
            done.append(_Captured(item.uid, _message_id(result)))
        complete = failure is None
        await self._acknowledge(session, validity, done, max(uids) if complete else None)
        if failure is not None:
            raise failure
        return len(done)

    async def _acknowledge(
        self, session: ImapSession, validity: int, done: list[_Captured], upto: int | None
    ) -> None:
        """Once journalled: mark or move what was published, then move the cursor."""
        if done:
            captured = [c.uid for c in done]
            await session.mark_seen(captured)
            if self.config.after_capture == "move" and self.config.move_to:
                await session.move(captured, self.config.move_to)
        last = max([c.uid for c in done] + ([upto] if upto is not None else []), default=None)
        if last is None:
            return
        assert self._cursor is not None
        last = max(last, self._cursor[1])
        ids = [c.message_id for c in done if c.message_id]
        await self._state.save(self.config.name, validity, last, ids)
        self._cursor = (validity, last)

    async def _parse(self, item: Fetched) -> ParsedEmail | FilteredMessage:
        received = item.internal_date or self._clock()

        def parse(classify: bool = True) -> ParsedEmail | FilteredMessage:
            return parse_email(
                item.raw,
                mailbox=self.config.name,
                received_at=received,
                team=self.config.team,
                default_region=self._region,
                max_attachment_bytes=self.config.max_attachment_bytes,
                classify=classify,
            )

        def parse_keeping_words() -> ParsedEmail | FilteredMessage:
            result = parse()
            if isinstance(result, FilteredMessage) and result.reason in KEEP_WORDS:
                read = parse(classify=False)
                if isinstance(read, ParsedEmail):
                    return replace(result, read_as_lead=read.inquiry)
            return result

        if len(item.raw) > THREAD_PARSE_BYTES:
            return await asyncio.to_thread(parse_keeping_words)
        return parse_keeping_words()

    async def _publish(
        self, result: ParsedEmail | FilteredMessage, item: Fetched, known: set[str]
    ) -> None:
        message_id = _message_id(result)
        if message_id is not None and message_id in known:
            self._count("duplicate")
            return
        inquiry = self._inquiry(result, item)
        await self._publisher.publish(inquiry)
        self._count("published" if inquiry.not_a_lead is None else f"recorded_{_reason(result)}")

    def _inquiry(self, result: ParsedEmail | FilteredMessage, item: Fetched) -> Inquiry:
        if isinstance(result, FilteredMessage):
            return recorded_inquiry(
                result, item.raw, self.config, item.internal_date or self._clock()
            )
        own = self.config.own_address
        if own is not None and result.inquiry.sender.email == own:
            # Our own mailbox writing to itself: answering would loop.
            return result.inquiry.model_copy(
                update={"not_a_lead": "own_address: sent from this mailbox's own address"}
            )
        return result.inquiry


def _message_id(result: ParsedEmail | FilteredMessage) -> str | None:
    return result.message_id


def _reason(result: ParsedEmail | FilteredMessage) -> str:
    return result.reason if isinstance(result, FilteredMessage) else "own_address"


def recorded_inquiry(
    filtered: FilteredMessage, raw: bytes, config: MailboxConfig, received_at: datetime
) -> Inquiry:
    """The inquiry that records a message which is not a lead, with the reason."""
    identity = filtered.message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    key = f"email:{config.name}:{identity}"
    if len(key) > _KEY_LIMIT:
        key = "email:sha256:" + hashlib.sha256(key.encode()).hexdigest()
    reason = f"{filtered.reason}: {filtered.detail}"[:_SHORT]
    if filtered.read_as_lead is not None:
        return filtered.read_as_lead.model_copy(
            update={"idempotency_key": key, "received_at": received_at, "not_a_lead": reason}
        )
    ids = {"message_id": filtered.message_id or "", "mailbox": config.name}
    return Inquiry(
        idempotency_key=key,
        channel=Channel.EMAIL,
        received_at=received_at,
        sender=Sender(email=filtered.sender[: limits.EMAIL_MAX] if filtered.sender else None),
        subject=_subject(raw),
        routing=Routing(team=config.team, connector=config.name),
        channel_ids={k: v[:_SHORT] for k, v in ids.items() if v},
        not_a_lead=reason,
    )


def _subject(raw: bytes) -> str | None:
    try:
        headers = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        subject = header_text(headers, "subject")
    except Exception:  # a header block too broken to read: no subject then
        return None
    if not subject:
        return None
    return " ".join(subject.split())[:_SHORT] or None


@dataclass(slots=True)
class _Running:
    mailbox: ImapMailbox
    task: asyncio.Task[None]


MakeMailbox = Callable[[MailboxConfig], ImapMailbox]


class ImapMailboxes:
    """Every configured mailbox, one task each; `update` changes the set while running."""

    def __init__(self, make: MakeMailbox) -> None:
        self._make = make
        self._configs: dict[str, MailboxConfig] = {}
        self._running: dict[str, _Running] = {}
        self._changed = asyncio.Event()

    def update(self, configs: Mapping[str, MailboxConfig]) -> None:
        """Make `configs` the mailboxes to watch; changed ones restart."""
        self._configs = dict(configs)
        self._changed.set()

    @property
    def running(self) -> list[str]:
        return sorted(self._running)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Watch the mailboxes until `stop` is set (or until cancelled)."""
        stop = stop or asyncio.Event()
        async with asyncio.TaskGroup() as group:
            try:
                while not stop.is_set():
                    self._reconcile(group)
                    await _first(self._changed.wait(), stop.wait())
                    self._changed.clear()
            finally:
                for name in list(self._running):
                    await self._stop(name)

    def _reconcile(self, group: asyncio.TaskGroup) -> None:
        for name, running in list(self._running.items()):
            if self._configs.get(name) != running.mailbox.config:
                running.task.cancel()
                del self._running[name]
        for name, config in self._configs.items():
            if name not in self._running:
                mailbox = self._make(config)
                task = group.create_task(mailbox.run(), name=f"imap-mailbox-{name}")
                self._running[name] = _Running(mailbox, task)

    async def _stop(self, name: str) -> None:
        running = self._running.pop(name)
        # Cancel until it ends: a library that swallows one cancellation (a wait_for
        # racing its own timeout) must not leave the mailbox sleeping in its backoff.
        while not running.task.done():
            running.task.cancel()
            await asyncio.wait({running.task}, timeout=STOP_GRACE_S)
        with contextlib.suppress(asyncio.CancelledError):
            running.task.result()


def _cancel_swallowed() -> bool:
    """Whether this task was asked to stop although no CancelledError reached us."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _first(*waits: Awaitable[object]) -> None:
    """Wait until the first of `waits` finishes; cancel the rest."""
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(_as_coroutine(w)) for w in waits]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task not in done:
                task.cancel()


async def _as_coroutine(awaitable: Awaitable[object]) -> None:
    await awaitable
