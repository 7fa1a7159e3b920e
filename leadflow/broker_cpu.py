"""How busy the embedded broker is: its CPU share of one core over a sliding window.

Tansu 0.6.0's memory engine answers a fetch by listing every record batch the
partition holds (`object_store`'s `list` over the partition's prefix), whenever the
fetch asks for anything below the partition's end. So the CPU of each fetch grows with
everything the broker has taken since it started: about 0.6 µs per batch held on the
AMD EPYC of README, "2026-12-07 (afternoon)". Under a steady load the broker's share
of a core climbs without bound and takes the cores the pipeline needs. Its own work
(produce, fetch, group heartbeats) is a small share; so a share past a bound, held
for a whole window, says the listing dominates, and `EmbeddedBroker.keep_running`
starts it again, empty. Pure but for `cpu_seconds`, which reads `/proc`.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds of process `pid` (Linux `/proc`), None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # The command name may hold spaces and parentheses: fields follow the last ')'.
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class CpuWindow:
    """CPU readings of one process; `share()` is its share of one core over the last
    `window_s`, None until a whole window has been seen."""

    window_s: float
    _readings: deque[tuple[float, float]] = field(default_factory=deque)

    def add(self, at_s: float, cpu_s: float) -> None:
        self._readings.append((at_s, cpu_s))
        # Keep one reading at or before the window's start, so the window is whole.
        while len(self._readings) > 2 and self._readings[1][0] <= at_s - self.window_s:
            self._readings.popleft()

    def share(self) -> float | None:
        if len(self._readings) < 2:
            return None
        (t0, c0), (t1, c1) = self._readings[0], self._readings[-1]
        if t1 - t0 < self.window_s:
            return None
        return max(0.0, c1 - c0) / (t1 - t0)

    def clear(self) -> None:
        self._readings.clear()
