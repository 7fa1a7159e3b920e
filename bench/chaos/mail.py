"""Mail in a fault trial: an SMTP sink that `leadflow up` sends through, and the count
of what the store asked to send against what arrived.

The lead events (to the notifier) and the outbound messages (to the dispatcher) have
no edge journal: a broker that loses them loses them unless the outbox publishes them
again. Counting leads cannot show that; counting mail can. Every acknowledgement and
every notice the store holds (`outbound_record`, channel email) is expected once at
the sink: an acknowledgement by its lead (its Message-ID is `ack-<lead id>@…`), a
notice by its own id (`<purpose>-<id>@…`). A lead with no notice row at all lost its
lead event before the notifier read it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import threading
import time
import uuid
from email import message_from_bytes
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from bench.e2e import free_port
from crm_store.models import Lead, OutboundRecord

FROM_ADDRESS = "Fault trials <sales@chaos.test>"
_ID = re.compile(r"<?(ack|[a-z_]+)-([0-9a-f-]{36})@", re.IGNORECASE)

# (kind, id): ("ack", lead id) or ("notice", outbound row id)
Key = tuple[str, uuid.UUID]


class _Collect:
    def __init__(self) -> None:
        self.keys: collections.Counter[Key] = collections.Counter()
        self.unreadable = 0
        self._lock = threading.Lock()

    # aiosmtpd's hook: its name and arguments are aiosmtpd's.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: ARG002, N802
        key = _key(message_from_bytes(envelope.content).get("Message-ID", ""))
        with self._lock:
            if key is None:
                self.unreadable += 1
            else:
                self.keys[key] += 1
        return "250 OK"


def _key(message_id: str) -> Key | None:
    m = _ID.search(message_id)
    if m is None:
        return None
    kind = "ack" if m.group(1).lower() == "ack" else "notice"
    return kind, uuid.UUID(m.group(2))


class MailSink:
    """aiosmtpd on a free loopback port, in a thread; counts messages by key."""

    def __init__(self) -> None:
        self.port = free_port()
        self._collect = _Collect()
        self._controller = Controller(self._collect, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> MailSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def env(self) -> dict[str, str]:
        """`leadflow up`'s `[smtp]` section pointing here."""
        smtp = {
            "host": "127.0.0.1",
            "port": self.port,
            "security": "plain",
            "from_address": FROM_ADDRESS,
            "timeout_s": 10,
            "retry_backoff_s": 0.2,
        }
        return {"LEADFLOW_SMTP": json.dumps(smtp)}

    def received(self) -> collections.Counter[Key]:
        with self._collect._lock:
            return collections.Counter(self._collect.keys)

    @property
    def unreadable(self) -> int:
        """Messages whose Message-ID names no acknowledgement and no notice."""
        return self._collect.unreadable


async def expected_mail(database_url: str) -> tuple[set[Key], int]:
    """What the store asked to send by email, and how many leads have no notice."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(OutboundRecord.id, OutboundRecord.purpose, OutboundRecord.lead_id).where(
                        OutboundRecord.channel == "email"
                    )
                )
            ).all()
            leads = set((await conn.execute(select(Lead.id))).scalars())
    finally:
        await engine.dispose()
    expected: set[Key] = set()
    noticed: set[uuid.UUID] = set()
    for row_id, purpose, lead_id in rows:
        if purpose != "acknowledgement":
            expected.add(("notice", row_id))
        elif lead_id is not None:
            expected.add(("ack", lead_id))
        if purpose != "acknowledgement" and lead_id is not None:
            noticed.add(lead_id)
    return expected, len(leads - noticed)


async def count_mail(database_url: str, sink: MailSink, within_s: float) -> dict[str, Any]:
    """Wait up to `within_s` for every lead to have its notice and everything the store
    asked to send to arrive; the trial's mail columns: lost (asked, never arrived),
    twice (arrived more than once), leads without a notice (a lead event lost)."""
    deadline = time.monotonic() + within_s
    started = time.monotonic()
    while True:
        expected, without_notice = await expected_mail(database_url)
        got = sink.received()
        missing = expected - set(got)
        settled = not missing and not without_notice
        if settled or time.monotonic() >= deadline:
            break
        await asyncio.sleep(1.0)
    return {
        "mail_expected": len(expected),
        "mail_lost": len(missing),
        "mail_lost_by_kind": dict(collections.Counter(kind for kind, _ in missing)),
        "mail_lost_sample": sorted(f"{kind} {key}" for kind, key in missing)[:20],
        "mail_twice": sum(n - 1 for key, n in got.items() if n > 1 and key in expected),
        "mail_unexpected": sum(n for key, n in got.items() if key not in expected),
        "mail_unreadable": sink.unreadable,
        "leads_without_notice": without_notice,
        "mail_settled_s": round(time.monotonic() - started, 1) if settled else None,
    }
