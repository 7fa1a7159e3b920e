"""IMAP ingest benchmark: how many messages per second one mailbox publishes from Dovecot.

Run `python -m bench.imap_ingest [--messages N]`. It starts a throwaway Dovecot on
loopback (as the tests do, tests/servers.py) and the embedded Tansu broker, APPENDs
N realistic messages (a mix of the test corpus's client styles, each with its own
Message-ID and sender) to one mailbox, then times the IMAP connector capturing them
all: connect, SELECT, UID SEARCH, UID FETCH in chunks, parse, publish each inquiry
and wait for the broker's ack, mark \\Seen, save the cursor. The figure is N divided
by that time. The APPENDs are not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Sequence
from pathlib import Path

from connectors.imap import ImapMailbox
from connectors.imap_session import ImapSession
from connectors.mail_config import MailboxConfig
from connectors.publisher import Publisher
from ingest.contract import Topics
from leadflow.broker import EmbeddedBroker, create_topics
from tests.servers import DOVECOT, PASSWORD, Dovecot, ImapClient

CORPUS = Path(__file__).parent.parent / "tests" / "fixtures" / "email"
SAMPLES = (
    "gmail_utf8_b_name.eml",
    "outlook_cp1251_q.eml",
    "thunderbird_koi8r_flowed.eml",
    "reply_yandex_html_only.eml",
    "attachment_outlook_related_logo.eml",
    "ooo_gmail_vacation.eml",
)


class _State:
    """A `MailboxState` in memory: the bench measures IMAP and the broker, not the store."""

    def __init__(self) -> None:
        self.cursors: dict[str, tuple[int, int]] = {}

    async def load(self, name: str) -> tuple[int, int] | None:
        return self.cursors.get(name)

    async def save(
        self, name: str, uidvalidity: int, last_uid: int, message_ids: Sequence[str] = ()
    ) -> None:
        del message_ids
        self.cursors[name] = (uidvalidity, last_uid)

    async def known_message_ids(self, name: str, message_ids: Sequence[str]) -> set[str]:
        del name, message_ids
        return set()

    async def record_health(self, name: str, error: str | None) -> None:
        del name, error


def _messages(n: int) -> list[bytes]:
    samples = [(CORPUS / name).read_bytes() for name in SAMPLES]
    out = []
    for i in range(n):
        raw = samples[i % len(samples)]
        raw = re.sub(rb"(?im)^Message-ID:.*$", f"Message-ID: <bench-{i}@bench.test>".encode(), raw)
        out.append(raw)
    return out


async def run(n: int) -> float:
    dovecot = Dovecot.start()
    try:
        user = dovecot.add_user()
        async with ImapClient(dovecot.port, user) as client:
            for raw in _messages(n):
                await client.append(raw)
        async with EmbeddedBroker() as broker:
            topics = Topics("bench.")
            await create_topics(broker.bootstrap_servers, topics, partitions=6)
            config = MailboxConfig(
                name="bench",
                host="127.0.0.1",
                port=dovecot.port,
                security="plain",
                username=user,
                password=PASSWORD,
            )
            async with Publisher(broker.bootstrap_servers, topics) as publisher:
                mailbox = ImapMailbox(config, publisher, _State())
                started = time.perf_counter()
                async with ImapSession(config) as session:
                    await mailbox.start(session)
                    captured = await mailbox.capture(session)
                elapsed = time.perf_counter() - started
        if captured != n:
            raise RuntimeError(f"captured {captured} of {n} messages")
        return n / elapsed
    finally:
        dovecot.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    if not DOVECOT.exists():
        raise SystemExit("Dovecot is not installed: run scripts/ensure-services")
    rate = asyncio.run(run(args.messages))
    print(f"imap ingest: {args.messages} messages from one Dovecot mailbox, {rate:,.0f} messages/s")


if __name__ == "__main__":
    main()
