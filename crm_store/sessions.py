"""Console sign-in: password hashes and server-side browser sessions.

The store only ever sees hashes: the caller hashes passwords (scrypt, in
`console.passwords`) and session cookies (SHA-256, like API tokens) before they
arrive here. An expired or deleted session, or a deactivated user, resolves to
nobody. Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.models import AppUser, WebSession

TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Credentials:
    user_id: int
    password_hash: str | None
    active: bool


async def credentials(session: AsyncSession, email: str) -> Credentials | None:
    row = (
        await session.execute(
            select(AppUser.id, AppUser.password_hash, AppUser.active).where(
                AppUser.email == email.strip().lower()
            )
        )
    ).first()
    return Credentials(row[0], row[1], row[2]) if row else None


async def set_password_hash(session: AsyncSession, user_id: int, password_hash: str) -> None:
    await session.execute(
        update(AppUser).where(AppUser.id == user_id).values(password_hash=password_hash)
    )


async def open_session(
    session: AsyncSession,
    *,
    user_id: int,
    token_hash: str,
    now: datetime,
    ttl: timedelta,
    ip: str | None,
    user_agent: str | None,
) -> None:
    session.add(
        WebSession(
            token_hash=token_hash,
            user_id=user_id,
            created_at=now,
            expires_at=now + ttl,
            last_seen_at=now,
            ip=ip[:64] if ip else None,
            user_agent=user_agent[:300] if user_agent else None,
        )
    )
    await session.flush()


async def principal_for_session(
    session: AsyncSession, token_hash: str, now: datetime
) -> Principal | None:
    """Who holds this session, if it is live; notes the visit every few minutes."""
    row = (
        await session.execute(
            select(
                AppUser.id,
                AppUser.name,
                AppUser.role,
                AppUser.timezone,
                AppUser.language,
                WebSession.id,
                WebSession.last_seen_at,
            )
            .join(WebSession, WebSession.user_id == AppUser.id)
            .where(
                WebSession.token_hash == token_hash,
                WebSession.expires_at > now,
                AppUser.active.is_(True),
            )
        )
    ).first()
    if row is None:
        return None
    if now - row[6] > TOUCH_EVERY:
        await session.execute(
            update(WebSession).where(WebSession.id == row[5]).values(last_seen_at=now)
        )
    return Principal(row[0], row[1], row[2], row[3], row[4])


async def close_session(session: AsyncSession, token_hash: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))


async def close_user_sessions(session: AsyncSession, user_id: int) -> None:
    """Sign a user out everywhere (deactivated, or their password changed)."""
    await session.execute(delete(WebSession).where(WebSession.user_id == user_id))


async def purge_expired(session: AsyncSession, now: datetime) -> None:
    await session.execute(delete(WebSession).where(WebSession.expires_at <= now))
