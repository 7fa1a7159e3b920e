"""A connector's health over the last day as a strip of hours, in the viewer's zone.

`strip` puts the stored hours (successes, errors, tests: UTC hours) and the times of
the connector's inquiries into 24 cells that start on the viewer's local hours, and
gives each cell a state: "error" (an error or a failed test in it), "ok" (a success,
a good test or an inquiry), or "idle" (nothing heard). The page draws the cells as a
small SVG (`_health_strip.html`): a bar as tall as the hour's inquiries, coloured by
state. `utc_hours` is the API's plain UTC version. Pure: no I/O, the clock is an
argument. Imports `crm_store`'s plain rows only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from crm_store.connector_health import HealthHour

HOURS = 24
ONE_HOUR = timedelta(hours=1)
State = Literal["error", "ok", "idle"]


@dataclass(frozen=True, slots=True)
class Cell:
    start: datetime  # in the viewer's zone
    inquiries: int
    successes: int
    errors: int
    tests_ok: int
    tests_failed: int
    last_error: str | None
    height: int  # of the bar, 0-100

    @property
    def state(self) -> State:
        if self.errors or self.tests_failed:
            return "error"
        if self.successes or self.tests_ok or self.inquiries:
            return "ok"
        return "idle"


@dataclass(frozen=True, slots=True)
class Strip:
    cells: tuple[Cell, ...]
    inquiries: int
    errors: int


def utc_hours(now: datetime, count: int = HOURS) -> list[datetime]:
    """The starts of the last `count` UTC hours, oldest first, the current one last."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [current - ONE_HOUR * (count - 1 - i) for i in range(count)]


def local_hours(now: datetime, where: tzinfo, count: int = HOURS) -> list[datetime]:
    """The starts of the viewer's last `count` local hours (as UTC instants), oldest first."""
    current = now.astimezone(where).replace(minute=0, second=0, microsecond=0)
    last = current.astimezone(UTC)
    return [last - ONE_HOUR * (count - 1 - i) for i in range(count)]


def strip(
    now: datetime,
    where: tzinfo,
    hours: Sequence[HealthHour],
    inquiry_times: Sequence[datetime],
    count: int = HOURS,
) -> Strip:
    starts = local_hours(now, where, count)

    def index(moment: datetime) -> int | None:
        at = int((moment - starts[0]) // ONE_HOUR)
        return at if 0 <= at < count else None

    inquiries = [0] * count
    for moment in inquiry_times:
        if (i := index(moment)) is not None:
            inquiries[i] += 1
    kept: list[list[HealthHour]] = [[] for _ in range(count)]
    for hour in hours:
        if (i := index(hour.hour_at)) is not None:
            kept[i].append(hour)
    top = max(inquiries) or 1
    cells = tuple(
        Cell(
            start=starts[i].astimezone(where),
            inquiries=inquiries[i],
            successes=sum(h.successes for h in kept[i]),
            errors=sum(h.errors for h in kept[i]),
            tests_ok=sum(h.tests_ok for h in kept[i]),
            tests_failed=sum(h.tests_failed for h in kept[i]),
            last_error=next((h.last_error for h in reversed(kept[i]) if h.last_error), None),
            height=round(100 * inquiries[i] / top),
        )
        for i in range(count)
    )
    return Strip(cells, sum(inquiries), sum(c.errors for c in cells))
