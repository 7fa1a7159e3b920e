"""Sign-in throttling in the database: count an attempt atomically, forgive on success.

`count_attempt` is one upsert per key that adds the attempt and returns the count in
the current window in the same statement (a row lock on PostgreSQL, the write lock
on SQLite), so parallel attempts can never all read "below the limit": the N+1th
sees N+1. Keys are opaque strings (the caller hashes account and IP into them).
Times are seconds on the caller's clock. Imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.models import LoginThrottle


async def count_attempt(
    session: AsyncSession, keys: Sequence[str], *, now: float, window_s: float
) -> list[tuple[int, float]]:
    """Add one attempt to each key; per key, (attempts in its window, window start)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    expired = LoginThrottle.window_start <= now - window_s
    counted = []
    for key in keys:
        upsert = insert(LoginThrottle).values(key=key, attempts=1, window_start=now)
        stmt = upsert.on_conflict_do_update(
            index_elements=[LoginThrottle.key],
            set_={
                "attempts": case((expired, 1), else_=LoginThrottle.attempts + 1),
                "window_start": case((expired, now), else_=LoginThrottle.window_start),
            },
        ).returning(LoginThrottle.attempts, LoginThrottle.window_start)
        row = (await session.execute(stmt)).one()
        counted.append((int(row[0]), float(row[1])))
    return counted


async def forgive(
    session: AsyncSession, *, clear: Sequence[str] = (), refund: Sequence[str] = ()
) -> None:
    """After a good sign-in: drop the `clear` keys, and take one attempt off `refund`."""
    if clear:
        await session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(clear)))
    if refund:
        await session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key.in_(refund), LoginThrottle.attempts > 0)
            .values(attempts=LoginThrottle.attempts - 1)
        )


async def purge(session: AsyncSession, *, now: float, window_s: float) -> None:
    """Forget windows that are over."""
    await session.execute(delete(LoginThrottle).where(LoginThrottle.window_start <= now - window_s))
