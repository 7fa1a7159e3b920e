"""Login rate limiting, shared by every console process through the database.

Each sign-in counts as an attempt BEFORE the password is checked (one atomic upsert
per key, `crm_store.throttle`), so 300 parallel wrong passwords are cut off after the
limit, not after all were hashed. Keys: the (account, client IP) pair, at most
`per_account_ip` attempts per window, and the client IP alone, at most `per_ip`.
There is no per-account key on purpose: failures from other addresses never lock an
account out for its owner. A good password clears its (account, IP) key and gives
back the IP's attempt. Keys are SHA-256 hashes, so no address or email is stored.
The clock is an argument, so tests need no sleeps. Imports `crm_store`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from crm_store import throttle
from crm_store.database import Database

PER_ACCOUNT_IP = 5
PER_IP = 30
WINDOW_S = 300.0


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Attempt:
    """One counted sign-in attempt: its keys, and how long to wait when over the limit."""

    pair_key: str
    ip_key: str
    retry_after: int | None


class LoginLimiter:
    def __init__(
        self,
        db: Database,
        *,
        per_account_ip: int = PER_ACCOUNT_IP,
        per_ip: int = PER_IP,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._limits = (per_account_ip, per_ip)
        self._window = window_s
        self._clock = clock

    async def attempt(self, account: str, ip: str) -> Attempt:
        """Count an attempt for (account, ip) and ip; `retry_after` set when over a limit."""
        now = self._clock()
        keys = [_key("account-ip", account, ip), _key("ip", ip)]
        async with self._db.sessions() as session, session.begin():
            counted = await throttle.count_attempt(session, keys, now=now, window_s=self._window)
            if counted[1][0] == 1:  # a new address or window: forget the windows that ended
                await throttle.purge(session, now=now, window_s=self._window)
        waits = [
            start + self._window - now
            for (attempts, start), limit in zip(counted, self._limits, strict=True)
            if attempts > limit
        ]
        wait = max(1, int(max(waits)) + 1) if waits else None
        return Attempt(keys[0], keys[1], wait)

    async def succeeded(self, attempt: Attempt) -> None:
        now = self._clock()
        async with self._db.sessions() as session, session.begin():
            await throttle.forgive(session, clear=[attempt.pair_key], refund=[attempt.ip_key])
            await throttle.purge(session, now=now, window_s=self._window)
