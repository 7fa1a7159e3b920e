"""Login rate limiting: at most N failures per key (account, IP) in a sliding window.

In memory, per process: with several console replicas behind a balancer each one
counts alone (a limit of N becomes N per replica), which still stops password
guessing at scale. The clock is an argument, so tests need no sleeps. Imports
nothing of ours.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

MAX_KEYS = 50_000


class LoginLimiter:
    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_failures
        self._window = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds until one more attempt is allowed, or None when it is allowed now."""
        now = self._clock()
        waits = []
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self._max:
                waits.append(times[0] + self._window - now)
        return max(1, int(max(waits)) + 1) if waits else None

    def fail(self, keys: Iterable[str]) -> None:
        now = self._clock()
        if len(self._failures) >= MAX_KEYS:
            self._prune(now)
        for key in keys:
            self._recent(key, now).append(now)

    def succeed(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        return times

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            if not self._recent(key, now):
                del self._failures[key]
        while len(self._failures) >= MAX_KEYS:
            del self._failures[next(iter(self._failures))]
