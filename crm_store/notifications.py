"""Who hears about a lead, and how: notification preferences and the Telegram link.

A user's row in `notification_setting` holds `notify_email` / `notify_telegram`
(both on when there is no row), the Telegram chat a manager linked, and the pending
one-time link code, stored as SHA-256 only with its expiry. The console starts a
link (`start_telegram_link`); the ingest consumer redeems the code a manager sent to
the bot (`redeem_telegram_code`, single use); the notifier reads `recipients` and
`lead_facts` and writes its outbound rows once (`insert_outbound_once`). Returns
plain dataclasses and pydantic models. Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import Table, false, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.models import AppUser, Contact, InquiryRecord, Lead, NotificationSetting
from crm_store.models import OutboundRecord as Outbound


class NotificationPrefs(BaseModel):
    """What the console shows a user about their own notifications."""

    email: str
    notify_email: bool = True
    notify_telegram: bool = True
    telegram_linked: bool = False
    telegram_bot: str | None = None
    telegram_linked_at: datetime | None = None
    link_code_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where one user wants notices: an email address and/or a linked Telegram chat."""

    user_id: int
    name: str
    email: str | None
    telegram_chat_id: str | None = None
    telegram_bot: str | None = None
    # The zone the user reads times in (their setting), for deadlines in notices.
    timezone: str = "UTC"
    # Their console language; None: the deployment's default language.
    language: str | None = None


@dataclass(frozen=True, slots=True)
class LeadFacts:
    id: uuid.UUID
    title: str
    channel: str
    assignee_id: int | None
    first_contact_due_at: datetime | None
    name: str | None = None
    email: str | None = None
    phone: str | None = None


def hash_link_code(code: str) -> str:
    """Codes are compared case-insensitively (people retype them)."""
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


async def _row(session: AsyncSession, user_id: int, now: datetime) -> NotificationSetting:
    row = await session.get(NotificationSetting, user_id)
    if row is None:
        row = NotificationSetting(
            user_id=user_id, notify_email=True, notify_telegram=True, updated_at=now
        )
        session.add(row)
    return row


async def preferences(session: AsyncSession, user_id: int, now: datetime) -> NotificationPrefs:
    email = await session.scalar(select(AppUser.email).where(AppUser.id == user_id))
    row = await session.get(NotificationSetting, user_id)
    if row is None:
        return NotificationPrefs(email=email or "")
    pending = row.link_code_expires_at if row.link_code_hash else None
    return NotificationPrefs(
        email=email or "",
        notify_email=row.notify_email,
        notify_telegram=row.notify_telegram,
        telegram_linked=row.telegram_chat_id is not None,
        telegram_bot=row.telegram_bot,
        telegram_linked_at=row.telegram_linked_at,
        link_code_expires_at=pending if pending is not None and pending > now else None,
    )


async def set_preferences(
    session: AsyncSession, user_id: int, *, notify_email: bool, notify_telegram: bool, now: datetime
) -> None:
    row = await _row(session, user_id, now)
    row.notify_email, row.notify_telegram, row.updated_at = notify_email, notify_telegram, now


async def start_telegram_link(
    session: AsyncSession, user_id: int, code_hash: str, expires_at: datetime, now: datetime
) -> None:
    """Keep a fresh code (replacing any pending one) until `expires_at`."""
    row = await _row(session, user_id, now)
    row.link_code_hash, row.link_code_expires_at, row.updated_at = code_hash, expires_at, now


async def unlink_telegram(session: AsyncSession, user_id: int, now: datetime) -> None:
    row = await session.get(NotificationSetting, user_id)
    if row is None:
        return
    row.telegram_chat_id = row.telegram_bot = row.telegram_linked_at = None
    row.link_code_hash = row.link_code_expires_at = None
    row.updated_at = now


async def redeem_telegram_code(
    session: AsyncSession, code_hash: str, *, chat_id: str, bot: str | None, now: datetime
) -> int | None:
    """Link the chat to the user whose unexpired code this is; the code is used up.
    Returns the user id, or None when no such code is pending."""
    user_id = await session.scalar(
        select(NotificationSetting.user_id)
        .where(
            NotificationSetting.link_code_hash == code_hash,
            NotificationSetting.link_code_expires_at > now,
        )
        .with_for_update()
    )
    if user_id is None:
        return None
    await session.execute(
        update(NotificationSetting)
        .where(NotificationSetting.user_id == user_id)
        .values(
            telegram_chat_id=chat_id,
            telegram_bot=bot,
            telegram_linked_at=now,
            link_code_hash=None,
            link_code_expires_at=None,
            updated_at=now,
        )
    )
    return int(user_id)


async def recipients(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, Recipient]:
    """Active users with the channels they chose (email: unless turned off;
    Telegram: when linked and not turned off)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(
            AppUser.id,
            AppUser.name,
            AppUser.email,
            AppUser.timezone,
            AppUser.language,
            NotificationSetting.notify_email,
            NotificationSetting.notify_telegram,
            NotificationSetting.telegram_chat_id,
            NotificationSetting.telegram_bot,
        )
        .outerjoin(NotificationSetting, NotificationSetting.user_id == AppUser.id)
        .where(AppUser.id.in_(ids), AppUser.active.is_(True))
    )
    found: dict[int, Recipient] = {}
    for user_id, name, email, zone, language, by_email, by_telegram, chat_id, bot in rows:
        telegram = chat_id if by_telegram is not False else None
        found[user_id] = Recipient(
            user_id=user_id,
            name=name,
            email=email if by_email is not False else None,
            telegram_chat_id=telegram,
            telegram_bot=bot if telegram else None,
            timezone=zone,
            language=language,
        )
    return found


async def lead_facts(
    session: AsyncSession, lead_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, LeadFacts]:
    ids = sorted(set(lead_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(
            Lead.id,
            Lead.title,
            Lead.channel,
            Lead.assignee_id,
            Lead.first_contact_due_at,
            Contact.name,
            Contact.email,
            Contact.phone,
        )
        .outerjoin(Contact, Contact.id == Lead.contact_id)
        .where(Lead.id.in_(ids))
    )
    return {row[0]: LeadFacts(*row) for row in rows}


async def inquiry_texts(
    session: AsyncSession, inquiry_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The stored payloads of these inquiries (what a "lead updated" notice quotes)."""
    ids = sorted(set(inquiry_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(InquiryRecord.id, InquiryRecord.payload).where(InquiryRecord.id.in_(ids))
    )
    return {inquiry_id: payload for inquiry_id, payload in rows}  # noqa: C416


async def insert_outbound_once(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the outbound rows whose id is not stored yet; returns how many were new."""
    if not rows:
        return 0
    known = set(
        await session.scalars(select(Outbound.id).where(Outbound.id.in_([r["id"] for r in rows])))
    )
    fresh = [r for r in rows if r["id"] not in known]
    if fresh:
        await session.execute(insert(cast(Table, Outbound.__table__)), fresh)
    return len(fresh)


async def unpublished_among(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    if not ids:
        return []
    # Claimed like every outbox read, so another flusher never publishes them too.
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(update(Outbound).where(false()).values(published_at=None))
    rows = await session.execute(
        select(Outbound.id, Outbound.payload)
        .where(Outbound.id.in_(ids), Outbound.published_at.is_(None))
        .order_by(Outbound.created_at)
        .with_for_update(skip_locked=True)
    )
    return [(record_id, payload) for record_id, payload in rows]
