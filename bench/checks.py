"""Pure checks behind bench.targets' verdicts: percentiles, fairness, capacity, loss, drain.

No I/O, no clock: the runner measures, these functions judge plain numbers, so the
judging is unit-tested (tests/unit/test_bench_checks.py) and the timings never are.
Imports nothing of ours.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

NOMINAL_RATE = 1000.0
REDUCED_SHARE = 0.8


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p % of values ≤ it."""
    if not values:
        raise ValueError("no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is outside (0, 100]")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary_ms(values_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds of latencies given in seconds."""
    if not values_s:
        return {"n": 0}
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
    }


def verdict(value: float | None, target: float, *, at_most: bool) -> str:
    """'met' or 'missed' (a missing figure is missed)."""
    if value is None:
        return "missed"
    ok = value <= target if at_most else value >= target
    return "met" if ok else "missed"


def latency_rate(capacity_per_s: float) -> tuple[float, bool]:
    """The steady rate for the latency run, and whether it was reduced below 1,000/s.

    At 1,000/s when the measured capacity allows it; otherwise 80 % of capacity, since
    an open-loop load above capacity measures a growing queue, not latency."""
    if capacity_per_s >= NOMINAL_RATE:
        return NOMINAL_RATE, False
    return max(1.0, round(REDUCED_SHARE * capacity_per_s)), True


@dataclass(frozen=True, slots=True)
class Fairness:
    counts: dict[int, int]
    expected: dict[int, float]
    worst_gap: float
    fair: bool


def fairness(counts: Mapping[int, int], weights: Mapping[int, int]) -> Fairness:
    """Round-robin fairness: each member's count within ±1 of its weighted share.

    With equal weights this is "all counts within ±1 of each other" (max - min ≤ 1
    holds then too, since the shares are equal). Members with no leads count as 0."""
    if not weights or any(w <= 0 for w in weights.values()):
        raise ValueError("weights must be positive")
    total = sum(counts.get(m, 0) for m in weights)
    weight_sum = sum(weights.values())
    expected = {m: total * w / weight_sum for m, w in weights.items()}
    full = {m: counts.get(m, 0) for m in weights}
    gap = max(abs(full[m] - expected[m]) for m in weights)
    spread_ok = len(set(weights.values())) > 1 or max(full.values()) - min(full.values()) <= 1
    # Outside the team: an assignment to someone not in it is unfair by definition.
    strangers = any(m not in weights and c for m, c in counts.items())
    return Fairness(full, expected, round(gap, 3), gap < 1 + 1e-9 and spread_ok and not strangers)


def peak_open(ledger: Iterable[tuple[int | None, int | None]]) -> dict[int, int]:
    """Each manager's highest number of open leads over the ledger, in its order.

    Entries are (from_user, to_user) in the order they happened: an assignment to a
    manager opens one, a reassignment away closes one. Leads are not closed during the
    benchmark, so nothing else lowers the count."""
    open_now: Counter[int] = Counter()
    peak: dict[int, int] = {}
    for from_user, to_user in ledger:
        if from_user is not None:
            open_now[from_user] -= 1
        if to_user is not None:
            open_now[to_user] += 1
            peak[to_user] = max(peak.get(to_user, 0), open_now[to_user])
    return peak


def over_capacity(peaks: Mapping[int, int], capacity: Mapping[int, int]) -> dict[int, int]:
    """Managers whose peak passed their capacity: user → by how many leads."""
    return {u: n - capacity[u] for u, n in peaks.items() if u in capacity and n > capacity[u]}


def lost_and_duplicated(expected: Iterable[str], seen: Iterable[str]) -> tuple[int, int]:
    """Of the accepted keys, how many never arrived, and how many extra copies arrived."""
    counts = Counter(seen)
    lost = sum(1 for key in set(expected) if counts[key] == 0)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    return lost, duplicated


@dataclass(frozen=True, slots=True)
class Drain:
    backlog: int
    rate_per_s: float | None
    seconds_to_empty: float | None


def drain(samples: Sequence[tuple[float, int]], load_end: float, total: int) -> Drain:
    """How the backlog left when the load stopped emptied.

    `samples` are (time, committed so far), in time order. The backlog is what was
    accepted but not yet committed at `load_end`; the rate is that backlog over the time
    until the last of the `total` arrived (None when nothing was left, or it never
    emptied)."""
    before = [c for t, c in samples if t <= load_end]
    at_end = before[-1] if before else 0
    backlog = max(0, total - at_end)
    emptied = next((t for t, c in samples if c >= total), None)
    if emptied is None:
        return Drain(backlog, None, None)
    seconds = max(0.0, emptied - load_end)
    if backlog == 0 or seconds == 0:
        return Drain(backlog, None, round(seconds, 3))
    return Drain(backlog, round(backlog / seconds, 1), round(seconds, 3))
