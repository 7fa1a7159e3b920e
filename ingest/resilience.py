"""Fault handling shared by the consumer and the notifier: classify, retry, isolate.

`is_transient` says whether an exception is a fault that passes by itself (the
database or broker unreachable, a serialization failure, SQLite busy) rather than
something wrong with the input or the code. `retry_transient` retries the former
with capped exponential backoff for as long as it lasts, and gives up only when the
stop event is set. `isolate` splits a batch whose store failed for another reason
until each failing item is alone, so one poison input never holds up the others.
Imports no store or broker code of ours (only the exception types it classifies).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    ProducerClosed,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
)
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ingest.errors import Interrupted, Poison

log = logging.getLogger(__name__)

T = TypeVar("T")

# SQLSTATE codes and classes that mean "try again": connection exceptions (08),
# serialization failure and deadlock (40001, 40P01), insufficient resources (53),
# operator intervention such as admin shutdown or "cannot connect now" (57), a
# database not accepting connections now (55000, from ALLOW_CONNECTIONS false), a
# lock timeout (55P03). Faults of the deployment rather than of one input are
# waited out too (readyz says so) instead of dead-lettering every inquiry: a
# refused login (28), a missing database (3D000), a missing table (42P01, the
# migrations have not run yet).
_TRANSIENT_STATES = frozenset({"40001", "40P01", "55000", "55P03", "3D000", "42P01"})
_TRANSIENT_CLASSES = frozenset({"08", "28", "53", "57"})
# Broker errors that no amount of waiting fixes; every other one is retried (Tansu
# answers UnknownError to passing trouble too).
_KAFKA_PERMANENT = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
    ProducerClosed,
)
_SQLITE_BUSY = (
    "database is locked",
    "database table is locked",
    "unable to open database",
    "no such table",
    "disk i/o error",
)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential delays: `first`, doubling, never above `cap` (seconds)."""

    first: float = 0.2
    cap: float = 10.0

    def after(self, delay: float | None) -> float:
        return self.first if delay is None else min(delay * 2, self.cap)


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is a fault of the surroundings that may pass if we wait.

    An `IntegrityError` is not transient (it is a conflict with a concurrent writer
    that a fresh snapshot resolves, or bad data): callers handle it themselves.
    """
    if isinstance(exc, IntegrityError):
        return False
    if isinstance(exc, _KAFKA_PERMANENT):
        return False
    if isinstance(exc, KafkaError | DisconnectionError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        return _transient_cause(exc.orig)
    return isinstance(exc, ConnectionError | TimeoutError | OSError)


def _transient_cause(orig: BaseException | None) -> bool:
    seen = 0
    while orig is not None and seen < 5:
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if isinstance(state, str) and (
            state in _TRANSIENT_STATES or state[:2] in _TRANSIENT_CLASSES
        ):
            return True
        text = str(orig).lower()
        if any(marker in text for marker in _SQLITE_BUSY):
            return True
        if isinstance(orig, ConnectionError | TimeoutError | OSError):
            return True
        if "connection" in type(orig).__name__.lower() and "closed" in text:
            return True  # asyncpg's "connection is closed" (an InterfaceError)
        orig = orig.__cause__ or orig.__context__
        seen += 1
    return False


def describe(exc: BaseException, limit: int = 1000) -> str:
    """The exception as a dead-letter reason: its class and message, bounded."""
    cause = exc.cause if isinstance(exc, Poison) else exc
    text = f"{type(cause).__name__}: {cause}".replace("\x00", "\\x00")
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def retry_transient(
    op: Callable[[], Awaitable[T]],
    *,
    what: str,
    stop: asyncio.Event | None,
    backoff: Backoff = Backoff(),
    on_retry: Callable[[BaseException], Awaitable[None] | None] | None = None,
) -> T:
    """`await op()`, retrying transient faults for as long as they last.

    Anything else propagates at once. When `stop` is set while waiting, raises
    `Interrupted` so the caller leaves its batch uncommitted (it will replay).
    """
    delay: float | None = None
    while True:
        try:
            return await op()
        except Exception as exc:
            if not is_transient(exc):
                raise
            delay = backoff.after(delay)
            log.warning(
                "%s failed (%s: %s); retrying in %.1f s", what, type(exc).__name__, exc, delay
            )
            if on_retry is not None:
                pending = on_retry(exc)
                if pending is not None:
                    await pending
        if await pause(delay, stop):
            raise Interrupted(f"stopped while retrying {what}")


async def pause(seconds: float, stop: asyncio.Event | None) -> bool:
    """Sleep `seconds`, or less when `stop` is set; whether it was set."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def isolate(
    items: Sequence[T], store: Callable[[Sequence[T]], Awaitable[None]]
) -> list[tuple[T, Poison]]:
    """Store `items`; when `store` raises `Poison`, split the batch in halves and
    store each, down to the single items that fail alone. Returns those items with
    their failure; everything else was stored, left half before right half, so
    the input order holds. One poison among n costs about 2·log2(n) extra stores.
    """
    if not items:
        return []
    try:
        await store(items)
    except Poison as failure:
        if len(items) == 1:
            return [(items[0], failure)]
        middle = len(items) // 2
        return [*await isolate(items[:middle], store), *await isolate(items[middle:], store)]
    return []
