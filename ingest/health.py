"""A long-running loop's health, as `/readyz` asks about it: is it getting anywhere?

The loop reports progress (a batch done, or caught up), the fault it is retrying,
and whether messages are waiting. `stalled` turns that into a reason for a 503:
no progress for a while *and* work it cannot finish (a fault, or a backlog). An
idle consumer with nothing to do is healthy however long it waits. Pure state, no
I/O; the clock is injectable. Imports nothing of ours.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class LoopHealth:
    name: str
    clock: Callable[[], float] = time.monotonic
    last_progress: float = field(default=0.0)
    trouble: str | None = None
    backlog: bool = False

    def __post_init__(self) -> None:
        self.last_progress = self.clock()

    def progressed(self, *, caught_up: bool = False) -> None:
        """A batch was handled (or there was nothing to do): the loop moves."""
        self.last_progress = self.clock()
        self.trouble = None
        if caught_up:
            self.backlog = False

    def failing(self, reason: str) -> None:
        """A fault the loop is retrying (the batch in hand waits for it)."""
        self.trouble = reason

    def waiting(self, backlog: bool) -> None:
        self.backlog = backlog

    def seconds_since_progress(self) -> float:
        return max(0.0, self.clock() - self.last_progress)

    def stalled(self, after_s: float) -> str | None:
        """Why the loop is not ready, or None: no progress for `after_s` seconds
        while it has a fault or a backlog."""
        idle = self.seconds_since_progress()
        if idle < after_s or (self.trouble is None and not self.backlog):
            return None
        why = self.trouble or "messages are waiting"
        return f"{self.name}: no progress for {idle:.0f} s ({why})"
