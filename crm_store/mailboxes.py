"""IMAP mailbox capture state: the cursor (UIDVALIDITY, last UID) and captured Message-IDs.

The IMAP connector saves its cursor only after the broker acknowledged and the
messages were marked, so a restart never re-imports; the Message-IDs are the
fallback when a server renumbers its UIDs (a UIDVALIDITY change). Plain values in
and out, no ORM objects. Imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.models import MailboxCursor, MailboxMessage

_CHUNK = 500
_ID_LIMIT = 998


async def load_cursor(session: AsyncSession, name: str) -> tuple[int, int] | None:
    row = await session.get(MailboxCursor, name)
    return None if row is None else (int(row.uidvalidity), int(row.last_uid))


async def save_cursor(
    session: AsyncSession,
    name: str,
    *,
    uidvalidity: int,
    last_uid: int,
    message_ids: Sequence[str],
    now: datetime,
) -> None:
    """Move the cursor and remember the captured ids (known ones are left alone)."""
    row = await session.get(MailboxCursor, name)
    if row is None:
        session.add(
            MailboxCursor(name=name, uidvalidity=uidvalidity, last_uid=last_uid, updated_at=now)
        )
    else:
        row.uidvalidity, row.last_uid, row.updated_at = uidvalidity, last_uid, now
    wanted = sorted({m[:_ID_LIMIT] for m in message_ids if m})
    known = await known_message_ids(session, name, wanted)
    session.add_all(
        MailboxMessage(mailbox=name, message_id=m, captured_at=now)
        for m in wanted
        if m not in known
    )
    await session.flush()


async def known_message_ids(
    session: AsyncSession, name: str, message_ids: Sequence[str]
) -> set[str]:
    wanted = sorted({m[:_ID_LIMIT] for m in message_ids if m})
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(
            await session.scalars(
                select(MailboxMessage.message_id).where(
                    MailboxMessage.mailbox == name, MailboxMessage.message_id.in_(chunk)
                )
            )
        )
    return found
