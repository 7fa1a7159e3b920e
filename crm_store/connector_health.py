"""Connectors' health over time: one row per connector and hour, and inquiries per hour.

`note` adds a success, an error (with its sentence) or a connection test's outcome
to the connector's current hour in one upsert (ON CONFLICT on both databases, so the
connectors and the console may write at once); the first write of an hour prunes
hours older than `KEEP`. `hours` reads them back since a moment, `inquiry_times`
derives inquiries per connector from `inquiry_record` (its routing hint names the
connector), and `last_tests` is each connector's latest test. Plain values out.
Imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.models import ConnectorHealthHour, InquiryRecord

KEEP = timedelta(days=7)
_TEXT_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class HealthHour:
    connector: str
    hour_at: datetime
    successes: int
    errors: int
    last_error: str | None
    tests_ok: int
    tests_failed: int


@dataclass(frozen=True, slots=True)
class LastTest:
    ok: bool
    message: str  # a gettext message with %(name)s placeholders
    params: dict[str, str]
    at: datetime

    @property
    def detail(self) -> str:
        """The sentence in English (the source language)."""
        try:
            return self.message % self.params if self.params else self.message
        except (KeyError, ValueError, TypeError):
            return self.message


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


async def note(
    session: AsyncSession,
    name: str,
    at: datetime,
    *,
    success: bool = False,
    error: str | None = None,
    test: tuple[bool, str, dict[str, str]] | None = None,
) -> None:
    """Count a success, an error and/or a test outcome (ok, message, params) in `name`'s
    hour of `at`."""
    table = ConnectorHealthHour
    tested_ok = test is not None and test[0]
    values: dict[str, Any] = {
        "successes": int(success),
        "errors": int(error is not None),
        "tests_ok": int(tested_ok),
        "tests_failed": int(test is not None and not tested_ok),
    }
    changes: dict[str, Any] = {
        "successes": table.successes + values["successes"],
        "errors": table.errors + values["errors"],
        "tests_ok": table.tests_ok + values["tests_ok"],
        "tests_failed": table.tests_failed + values["tests_failed"],
    }
    if error is not None:
        values |= {"last_error": error[:_TEXT_LIMIT], "last_error_at": at}
        changes |= {"last_error": values["last_error"], "last_error_at": at}
    if test is not None:
        values |= {"last_test_ok": test[0], "last_test_detail": test[1][:_TEXT_LIMIT]}
        values |= {"last_test_params": dict(test[2]), "last_test_at": at}
        last = ("last_test_ok", "last_test_detail", "last_test_params", "last_test_at")
        changes |= {k: values[k] for k in last}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    hour = hour_of(at)
    existed = await session.scalar(
        select(table.successes).where(table.connector == name, table.hour_at == hour)
    )
    stmt = insert(table).values(connector=name, hour_at=hour, **values)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=[table.connector, table.hour_at], set_=changes)
    )
    if existed is None:  # a new hour: forget the ones nobody shows any more
        await session.execute(delete(table).where(table.hour_at < hour - KEEP))


async def hours(
    session: AsyncSession, names: Sequence[str], since: datetime
) -> dict[str, list[HealthHour]]:
    table = ConnectorHealthHour
    rows = await session.scalars(
        select(table)
        .where(table.connector.in_(list(names)), table.hour_at >= hour_of(since))
        .order_by(table.connector, table.hour_at)
    )
    found: dict[str, list[HealthHour]] = {n: [] for n in names}
    for r in rows:
        found[r.connector].append(
            HealthHour(
                r.connector,
                r.hour_at,
                r.successes,
                r.errors,
                r.last_error,
                r.tests_ok,
                r.tests_failed,
            )
        )
    return found


async def last_tests(session: AsyncSession, names: Sequence[str]) -> dict[str, LastTest]:
    table = ConnectorHealthHour
    rows = await session.execute(
        select(
            table.connector,
            table.last_test_ok,
            table.last_test_detail,
            table.last_test_params,
            table.last_test_at,
        )
        .where(table.connector.in_(list(names)), table.last_test_at.is_not(None))
        .order_by(table.connector, table.hour_at)
    )
    found: dict[str, LastTest] = {}
    for name, ok, message, params, at in rows:  # ordered by hour: the last one wins
        if at is not None:
            texts = {str(k): str(v) for k, v in (params or {}).items()}
            found[name] = LastTest(bool(ok), message or "", texts, at)
    return found


async def inquiry_times(
    session: AsyncSession, names: Sequence[str], since: datetime
) -> dict[str, list[datetime]]:
    """When each connector's inquiries since `since` were received (from the records)."""
    connector = InquiryRecord.payload["routing"]["connector"].as_string()
    rows = await session.execute(
        select(connector, InquiryRecord.received_at).where(
            InquiryRecord.received_at >= since, connector.in_(list(names))
        )
    )
    found: dict[str, list[datetime]] = {n: [] for n in names}
    for name, received_at in rows:
        found[name].append(received_at)
    return found


async def forget(session: AsyncSession, name: str) -> None:
    """A deleted connector's history goes with it (a new one of that name starts clean)."""
    await session.execute(delete(ConnectorHealthHour).where(ConnectorHealthHour.connector == name))
