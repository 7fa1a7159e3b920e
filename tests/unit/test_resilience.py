"""Fault handling: which errors are transient, how a batch is split around poison,
and when a loop's health turns `/readyz` to 503."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    UnknownError,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from ingest.errors import Interrupted, Poison
from ingest.health import LoopHealth
from ingest.resilience import Backoff, describe, is_transient, isolate, retry_transient


class PgError(Exception):
    """Stands for a driver error carrying a SQLSTATE, as asyncpg's do."""

    def __init__(self, sqlstate: str, message: str = "error") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def wrapped(orig: BaseException, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        pytest.param(wrapped(PgError("40001")), True, id="serialization-failure"),
        pytest.param(wrapped(PgError("40P01")), True, id="deadlock"),
        pytest.param(wrapped(PgError("08006")), True, id="connection-failure"),
        pytest.param(wrapped(PgError("57P01")), True, id="admin-shutdown"),
        pytest.param(wrapped(PgError("57P03")), True, id="cannot-connect-now"),
        pytest.param(wrapped(PgError("55000")), True, id="not-accepting-connections"),
        pytest.param(wrapped(PgError("53300")), True, id="too-many-connections"),
        pytest.param(wrapped(PgError("22021")), False, id="nul-byte"),
        pytest.param(wrapped(PgError("22001")), False, id="value-too-long"),
        pytest.param(wrapped(PgError("42703")), False, id="undefined-column"),
        pytest.param(wrapped(PgError("42P01")), True, id="not-migrated"),
        pytest.param(wrapped(PgError("3D000")), True, id="database-missing"),
        pytest.param(wrapped(PgError("28P01")), True, id="login-refused"),
        pytest.param(
            OperationalError("x", {}, sqlite3.OperationalError("near 'x': syntax error")),
            False,
            id="sqlite-bug",
        ),
        pytest.param(wrapped(PgError("XX000"), invalidated=True), True, id="invalidated"),
        pytest.param(
            OperationalError("x", {}, sqlite3.OperationalError("database is locked")),
            True,
            id="sqlite-locked",
        ),
        pytest.param(
            OperationalError("x", {}, sqlite3.OperationalError("no such table: lead")),
            True,
            id="sqlite-not-migrated",
        ),
        pytest.param(
            IntegrityError("x", {}, PgError("23505", "duplicate key")), False, id="integrity"
        ),
        pytest.param(wrapped(ConnectionRefusedError("refused")), True, id="refused-in-driver"),
        pytest.param(ConnectionRefusedError("refused"), True, id="refused"),
        pytest.param(TimeoutError(), True, id="timeout"),
        pytest.param(KafkaConnectionError(), True, id="broker-unreachable"),
        pytest.param(KafkaTimeoutError(), True, id="broker-timeout"),
        pytest.param(NotLeaderForPartitionError(), True, id="broker-not-leader"),
        pytest.param(UnknownError(), True, id="broker-unknown-error"),
        pytest.param(MessageSizeTooLargeError(), False, id="broker-message-too-large"),
        pytest.param(ValueError("bad"), False, id="bug-value-error"),
        pytest.param(KeyError("x"), False, id="bug-key-error"),
    ],
)
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def store_failing_on(
    bad: set[int], stored: list[int], calls: list[list[int]]
) -> Callable[[Sequence[int]], Awaitable[None]]:
    async def store(batch: Sequence[int]) -> None:
        calls.append(list(batch))
        hit = bad.intersection(batch)
        if hit:
            raise Poison(ValueError(f"item {min(hit)} is bad"))
        stored.extend(batch)

    return store


@pytest.mark.parametrize(
    ("size", "bad"),
    [
        pytest.param(1, set(), id="one-good"),
        pytest.param(1, {0}, id="one-bad"),
        pytest.param(10, set(), id="all-good"),
        pytest.param(10, {0}, id="first"),
        pytest.param(10, {9}, id="last"),
        pytest.param(10, {4}, id="middle"),
        pytest.param(10, {2, 7}, id="two"),
        pytest.param(7, {1, 2, 3}, id="adjacent"),
        pytest.param(8, set(range(8)), id="all-bad"),
        pytest.param(500, {317}, id="one-in-500"),
    ],
)
async def test_isolate_dead_letters_exactly_the_bad_items_and_stores_the_rest_in_order(
    size: int, bad: set[int]
) -> None:
    stored: list[int] = []
    calls: list[list[int]] = []
    failed = await isolate(list(range(size)), store_failing_on(bad, stored, calls))
    assert [item for item, _ in failed] == sorted(bad)
    assert stored == [i for i in range(size) if i not in bad]
    for item, failure in failed:
        assert describe(failure) == f"ValueError: item {item} is bad"


async def test_one_poison_in_500_costs_a_logarithmic_number_of_stores() -> None:
    calls: list[list[int]] = []
    await isolate(list(range(500)), store_failing_on({317}, [], calls))
    assert len(calls) <= 2 * 9 + 1


async def test_isolate_lets_other_errors_through() -> None:
    async def store(batch: Sequence[int]) -> None:
        raise Interrupted("stop")

    with pytest.raises(Interrupted):
        await isolate([1, 2, 3], store)


async def test_retry_transient_retries_until_the_fault_passes() -> None:
    faults = [KafkaConnectionError(), wrapped(PgError("40001")), TimeoutError()]
    seen: list[str] = []

    async def op() -> str:
        if faults:
            raise faults.pop(0)
        return "done"

    result = await retry_transient(
        op, what="test", stop=None, backoff=Backoff(first=0.001, cap=0.002),
        on_retry=lambda exc: seen.append(type(exc).__name__),
    )  # fmt: skip
    assert result == "done"
    assert seen == ["KafkaConnectionError", "DBAPIError", "TimeoutError"]


async def test_retry_transient_raises_other_errors_at_once() -> None:
    calls = 0

    async def op() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("bad data")

    with pytest.raises(ValueError, match="bad data"):
        await retry_transient(op, what="test", stop=None)
    assert calls == 1


async def test_retry_transient_stops_when_the_stop_event_is_set() -> None:
    stop = asyncio.Event()
    attempts = 0

    async def op() -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 3:
            stop.set()
        raise KafkaConnectionError()

    with pytest.raises(Interrupted):
        await retry_transient(op, what="test", stop=stop, backoff=Backoff(first=0.001, cap=60))
    assert attempts == 3


@pytest.mark.parametrize(
    ("delays", "expected"),
    [
        pytest.param(1, [0.2], id="first"),
        pytest.param(4, [0.2, 0.4, 0.8, 1.6], id="doubling"),
        pytest.param(10, [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0, 10.0], id="capped"),
    ],
)
def test_backoff_is_capped_exponential(delays: int, expected: list[float]) -> None:
    backoff, delay, seen = Backoff(first=0.2, cap=10.0), None, []
    for _ in range(delays):
        delay = backoff.after(delay)
        seen.append(round(delay, 3))
    assert seen == expected


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        pytest.param(ValueError("bad"), "ValueError: bad", id="plain"),
        pytest.param(Poison(KeyError("k")), "KeyError: 'k'", id="poison-shows-cause"),
        pytest.param(ValueError("a\x00b"), "ValueError: a\\x00b", id="nul-escaped"),
        pytest.param(ValueError("x" * 2000), "ValueError: " + "x" * 987 + "…", id="bounded"),
    ],
)
def test_describe(exc: BaseException, reason: str) -> None:
    assert describe(exc) == reason


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("idle_s", "trouble", "backlog", "stalled"),
    [
        pytest.param(5, "store: down", True, False, id="recent-progress"),
        pytest.param(120, None, False, False, id="idle-with-nothing-to-do"),
        pytest.param(120, "store: down", False, True, id="fault"),
        pytest.param(120, None, True, True, id="backlog"),
    ],
)
def test_loop_health_is_stalled_only_without_progress_and_with_work(
    idle_s: float, trouble: str | None, backlog: bool, stalled: bool
) -> None:
    clock = Clock()
    health = LoopHealth("ingest consumer", clock=clock)
    if trouble:
        health.failing(trouble)
    health.waiting(backlog)
    clock.now += idle_s
    reason = health.stalled(60)
    assert (reason is not None) is stalled
    if reason is not None:
        assert reason.startswith(f"ingest consumer: no progress for {idle_s} s")
        assert (trouble or "messages are waiting") in reason


def test_progress_clears_the_fault() -> None:
    clock = Clock()
    health = LoopHealth("x", clock=clock)
    health.failing("broker: gone")
    clock.now += 100
    assert health.stalled(60) is not None
    health.progressed()
    clock.now += 100
    assert health.stalled(60) is None
