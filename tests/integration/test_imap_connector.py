"""The IMAP connector against a real Dovecot and the real Tansu broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.imap import ImapMailbox, ImapMailboxes
from connectors.imap_session import ImapSession
from connectors.mail_config import MailboxConfig
from connectors.publisher import Publisher, PublishFailed
from crm_store import connectors as store
from crm_store.database import Database
from ingest.contract import Topics
from leadflow.mailboxes import StoreMailboxState

from ..conftest import BrokerProcess
from ..servers import Dovecot, ImapClient
from .channel_helpers import cancel_and_wait, eventually, read_inquiries
from .helpers import seed_team
from .journal_helpers import open_journal
from .mail_helpers import MemoryState, corpus, mailbox_config, simple_mail, topic_size

pytestmark = pytest.mark.integration


async def capture_once(mailbox: ImapMailbox) -> int:
    async with ImapSession(mailbox.config) as session:
        await mailbox.start(session)
        return await mailbox.capture(session)


async def test_capture_publishes_then_marks_seen(
    broker: BrokerProcess, topics: Topics, dovecot: Dovecot
) -> None:
    user = dovecot.add_user()
    async with ImapClient(dovecot.port, user) as client:
        await client.append(corpus("gmail_utf8_b_name.eml"))
        await client.append(corpus("ooo_gmail_vacation.eml"))
    config = mailbox_config(dovecot, user)
    state = MemoryState()
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        assert await capture_once(ImapMailbox(config, publisher, state)) == 2
    lead, vacation = await read_inquiries(broker.bootstrap_servers, topics.inquiries, 2)
    assert (lead.sender.name, lead.sender.email, lead.sender.phone) == (
        "Иван Петров",
        "ivan.petrov@gmail.com",
        "+79123456789",
    )
    assert lead.idempotency_key == "email:sales:CAF8zQyW2pX0Jk=u1e+0vYb9hZ7R3aQ@mail.gmail.com"
    assert lead.routing.team == "Sales" and lead.routing.connector == "sales"
    assert lead.not_a_lead is None
    assert vacation.not_a_lead is not None and vacation.not_a_lead.startswith("auto_reply:")
    assert vacation.idempotency_key.startswith("email:sales:")
    assert vacation.sender.email
    async with ImapClient(dovecot.port, user) as client:
        flags = await client.flags()
    assert all("\\Seen" in f for f in flags.values())
    assert state.cursors["sales"][1] == 2


async def test_a_refusing_journal_leaves_the_mail_unseen_and_the_cursor_still(
    broker: BrokerProcess, topics: Topics, dovecot: Dovecot, tmp_path: Path
) -> None:
    user = dovecot.add_user()
    async with ImapClient(dovecot.port, user) as client:
        await client.append(simple_mail())
    config = mailbox_config(dovecot, user)
    state = MemoryState()
    async with open_journal(tmp_path, max_bytes=1) as full:  # past its bound: refuses
        with pytest.raises(PublishFailed):
            await capture_once(ImapMailbox(config, full, state))
    async with ImapClient(dovecot.port, user) as client:
        assert "\\Seen" not in (await client.flags())[1]
    assert state.cursors["sales"][1] == 0
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        assert await capture_once(ImapMailbox(config, publisher, state)) == 1
    async with ImapClient(dovecot.port, user) as client:
        assert "\\Seen" in (await client.flags())[1]


async def test_restart_reimports_nothing_even_when_marked_unseen(
    broker: BrokerProcess, topics: Topics, dovecot: Dovecot
) -> None:
    user = dovecot.add_user()
    async with ImapClient(dovecot.port, user) as client:
        await client.append(simple_mail())
    config = mailbox_config(dovecot, user)
    state = MemoryState()
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        assert await capture_once(ImapMailbox(config, publisher, state)) == 1
        async with ImapClient(dovecot.port, user) as client:
            await client.imap.select("INBOX")
            await client.imap.uid("store", "1", "-FLAGS.SILENT (\\Seen)")
        assert await capture_once(ImapMailbox(config, publisher, state)) == 0
    assert await topic_size(broker.bootstrap_servers, topics.inquiries) == 1


async def test_first_start_leaves_read_mail_alone(
    broker: BrokerProcess, topics: Topics, dovecot: Dovecot
) -> None:
    user = dovecot.add_user()
    async with ImapClient(dovecot.port, user) as client:
        await client.append(simple_mail(subject="old and read"), flags="\\Seen")
        await client.append(simple_mail(subject="new"))
    state = MemoryState()
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        assert await capture_once(ImapMailbox(mailbox_config(dovecot, user), publisher, state)) == 1
    (only,) = await read_inquiries(broker.bootstrap_servers, topics.inquiries, 1)
    assert only.subject == "new"


async def test_uidvalidity_change_falls_back_to_message_ids(
    broker: BrokerProcess, topics: Topics, dovecot: Dovecot
) -> None:
    user = dovecot.add_user()
    async with ImapClient(dovecot.port, user) as client:
        await client.append(simple_mail())
    config = mailbox_config(dovecot, user)
    state = MemoryState()
    counted: list[str] = []
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        assert await capture_once(ImapMailbox(config, publisher, state)) == 1
        validity = state.cursors["sales"][0]
        state.cursors["sales"] = (validity - 1, 999)  # as if the server renumbered
        async with ImapClient(dovecot.port, user) as client:
            await client.imap.select("INBOX")
            await client.imap.uid("store", "1", "-FLAGS.SILENT (\\Seen)")
        mailbox = ImapMailbox(config, publisher, state, count=counted.append)
        await capture_once(mailbox)
    assert counted == ["duplicate"]
    assert state.cursors["sales"] == (validity, 1)
    assert await topic_size(broker.bootstrap_servers, topics.inquiries) == 1


async def test_move_after_capture(broker: BrokerProcess, topics: Topics, dovecot: Dovecot) -> None:
    user = dovecot.add_user()
    async with ImapClient(dovecot.port, user) as client:
        await client.create("Captured")
        await client.append(simple_mail())
    config = mailbox_config(dovecot, user, after_capture="move", move_to="Captured")
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        assert await capture_once(ImapMailbox(config, publisher, MemoryState())) == 1
    async with ImapClient(dovecot.port, user) as client:
        assert await client.count("INBOX") == 0
        moved = await client.flags("Captured")
    assert [("\\Seen" in f) for f in moved.values()] == [True]


async def test_idle_wakes_up_on_new_mail(
    broker: BrokerProcess, topics: Topics, dovecot: Dovecot
) -> None:
    user = dovecot.add_user()
    config = mailbox_config(dovecot, user, poll_interval_s=600)
    state = MemoryState()
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        task = asyncio.create_task(ImapMailbox(config, publisher, state).run(), name="mailbox")
        try:
            await eventually(lambda: "sales" in state.cursors, what="the first start's cursor")
            await asyncio.sleep(0.3)  # most often in IDLE by now; any moment must do
            async with ImapClient(dovecot.port, user) as client:
                await client.append(simple_mail())
            await eventually(lambda: state.cursors["sales"][1] == 1, what="the new mail captured")
        finally:
            await cancel_and_wait(task)
    assert await topic_size(broker.bootstrap_servers, topics.inquiries) == 1


class DeliversBeforeTheFirstSearch(MemoryState):
    """Delivers a mail just before the connector's first UID SEARCH (on the first start's
    save), from a session that has INBOX selected, as a person's mail client has.

    That SEARCH does not see the message yet; its answer ends with `* 1 EXISTS`, which
    aioimaplib drops, and the other session takes the message's \\Recent, so the IDLE
    that follows has nothing to report either: the mail waits for IDLE's renewal.
    """

    def __init__(self, dovecot: Dovecot, user: str) -> None:
        super().__init__()
        self._dovecot, self._user = dovecot, user

    async def save(
        self, name: str, uidvalidity: int, last_uid: int, message_ids: Sequence[str] = ()
    ) -> None:
        if name not in self.cursors:
            async with ImapClient(self._dovecot.port, self._user) as client:
                await client.imap.select("INBOX")
                await client.append(simple_mail())
        await super().save(name, uidvalidity, last_uid, message_ids)


async def test_mail_reported_between_commands_is_not_left_for_idle(
    broker: BrokerProcess, topics: Topics, dovecot: Dovecot
) -> None:
    user = dovecot.add_user()
    config = mailbox_config(dovecot, user, poll_interval_s=600)  # IDLE renews after 300 s
    state = DeliversBeforeTheFirstSearch(dovecot, user)
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        task = asyncio.create_task(ImapMailbox(config, publisher, state).run(), name="mailbox")
        try:
            await eventually(
                lambda: state.cursors.get("sales", (0, 0))[1] == 1,
                what="the mail that arrived before the first search captured",
            )
        finally:
            await cancel_and_wait(task)


class SwallowsACancellation(MemoryState):
    """A store whose driver eats one cancellation in `record_health` (a wait_for racing
    its own completion, as asyncio's wait_for does on Python 3.11)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_health = asyncio.Event()

    async def record_health(self, name: str, error: str | None) -> None:
        await super().record_health(name, error)
        self.in_health.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)


async def test_a_swallowed_cancellation_still_ends_the_mailbox(
    broker: BrokerProcess, topics: Topics, dovecot: Dovecot
) -> None:
    config = mailbox_config(dovecot, dovecot.add_user(), poll_interval_s=600)
    state = SwallowsACancellation()
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        task = asyncio.create_task(ImapMailbox(config, publisher, state).run(), name="mailbox")
        await eventually(state.in_health.is_set, what="the first pass's health report")
        # Next it would IDLE for 300 s; the cancel it swallowed must end it before that.
        await cancel_and_wait(task)


async def test_one_failing_mailbox_does_not_stop_the_others(
    broker: BrokerProcess, topics: Topics, dovecot: Dovecot
) -> None:
    user = dovecot.add_user()
    async with ImapClient(dovecot.port, user) as client:
        await client.append(simple_mail())
    good = mailbox_config(dovecot, user, name="good")
    bad = mailbox_config(dovecot, user, name="bad", password="wrong")
    state = MemoryState()
    stop = asyncio.Event()
    async with Publisher(broker.bootstrap_servers, topics) as publisher:
        mailboxes = ImapMailboxes(lambda c: ImapMailbox(c, publisher, state))
        mailboxes.update({"good": good, "bad": bad})
        task = asyncio.create_task(mailboxes.run(stop), name="mailboxes")
        try:
            await eventually(lambda: state.cursors.get("good", (0, 0))[1] == 1, within=30)
            await eventually(lambda: any(n == "bad" and e for n, e in state.health), within=30)
        finally:
            stop.set()
            await task
    errors = [e for n, e in state.health if n == "bad" and e]
    assert "LOGIN failed" in errors[0]
    assert ("good", None) in state.health


class SwallowsOneCancellation:
    """A mailbox whose library ate the first cancellation (wait_for racing its timeout)."""

    def __init__(self, config: MailboxConfig) -> None:
        self.config = config
        self.started = asyncio.Event()

    async def run(self) -> None:
        self.started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        await asyncio.sleep(3600)  # the backoff sleep it goes on to


async def test_stop_ends_a_mailbox_that_swallowed_a_cancellation(dovecot: Dovecot) -> None:
    made: list[SwallowsOneCancellation] = []

    def make(config: MailboxConfig) -> SwallowsOneCancellation:
        made.append(SwallowsOneCancellation(config))
        return made[-1]

    mailboxes = ImapMailboxes(make)  # type: ignore[arg-type]
    mailboxes.update({"a": mailbox_config(dovecot, dovecot.add_user(), name="a")})
    stop = asyncio.Event()
    task = asyncio.create_task(mailboxes.run(stop), name="mailboxes")
    await eventually(lambda: bool(made) and made[0].started.is_set())
    stop.set()
    # asyncio.wait does not cancel: the stop alone must end it (bounded, not timed).
    await asyncio.wait({task}, timeout=30)
    try:
        assert task.done(), "stop did not end a mailbox that swallowed one cancellation"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert mailboxes.running == []


async def test_store_state_keeps_cursor_ids_and_health(db: Database) -> None:
    await seed_team(db)
    now = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        await store.upsert_connector(
            session, kind="imap", name="sales", team="Sales", settings={}, secrets=None, now=now
        )
    state = StoreMailboxState(db)
    assert await state.load("sales") is None
    await state.save("sales", 4_000_000_000, 7, ["a@x", "b@x"])
    await state.save("sales", 4_000_000_000, 9, ["b@x", "c@x"])
    assert await state.load("sales") == (4_000_000_000, 9)
    assert await state.known_message_ids("sales", ["a@x", "c@x", "z@x"]) == {"a@x", "c@x"}
    assert await state.known_message_ids("other", ["a@x"]) == set()
    await state.record_health("sales", "LOGIN failed")
    await state.record_health("sales", None)
    async with db.sessions() as session:
        (row,) = await store.list_connectors(session, kinds=["imap"])
    assert row.last_error == "LOGIN failed" and row.last_error_at is not None
    assert row.last_success_at is not None
