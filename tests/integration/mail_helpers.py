"""Shared bits of the email tests: corpus messages, mailbox configs, an in-memory state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.mail_config import MailboxConfig

from ..servers import PASSWORD, Dovecot

CORPUS = Path(__file__).parent.parent / "fixtures" / "email"


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def mailbox_config(dovecot: Dovecot, user: str, **overrides: Any) -> MailboxConfig:
    values: dict[str, Any] = {
        "name": "sales",
        "host": "127.0.0.1",
        "port": dovecot.port,
        "security": "plain",
        "username": user,
        "password": PASSWORD,
        "address": user,
        "team": "Sales",
        "poll_interval_s": 0.2,
        "timeout_s": 5.0,
    }
    values.update(overrides)
    return MailboxConfig(**values)


def simple_mail(
    *,
    sender: str = "Olga Kim <olga.kim@hotel-vega.test>",
    subject: str = "Renovation of 40 hotel rooms",
    body: str = "Hello, we plan to renovate 40 rooms.\n\nOlga Kim\n+7 926 700-11-22\n",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = "sales@example.test"
    mail["Subject"] = subject
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = message_id or make_msgid(domain="client.test")
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(body)
    return mail.as_bytes()


class MemoryState:
    """A `MailboxState` in a dict, for the connector's own tests."""

    def __init__(self) -> None:
        self.cursors: dict[str, tuple[int, int]] = {}
        self.ids: dict[str, set[str]] = {}
        self.health: list[tuple[str, str | None]] = []

    async def load(self, name: str) -> tuple[int, int] | None:
        return self.cursors.get(name)

    async def save(
        self, name: str, uidvalidity: int, last_uid: int, message_ids: Sequence[str] = ()
    ) -> None:
        self.cursors[name] = (uidvalidity, last_uid)
        self.ids.setdefault(name, set()).update(message_ids)

    async def known_message_ids(self, name: str, message_ids: Sequence[str]) -> set[str]:
        return self.ids.get(name, set()) & set(message_ids)

    async def record_health(self, name: str, error: str | None) -> None:
        self.health.append((name, error))


async def topic_size(bootstrap: str, topic: str) -> int:
    """Messages in `topic` (every publish is its own batch here, so end offsets are exact)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        await consumer.stop()


def raw_header(raw: bytes, name: bytes) -> bytes:
    """The header's bytes as sent, its folds (CRLF + space) included."""
    head = b"\r\n" + raw.split(b"\r\n\r\n", 1)[0]  # so the first header is found too
    start = head.index(b"\r\n" + name + b":") + 2
    end = start
    while True:
        end = head.find(b"\r\n", end + 1)
        if end == -1 or head[end + 2 : end + 3] not in (b" ", b"\t"):
            return head[start:] if end == -1 else head[start:end]
