"""Working time: weekly hours in a member's own timezone, minus holidays and absences.

Answers "is this person working at that instant?", "when do they next start?" and
"what is the deadline N working minutes after this?" (the first-contact SLA). Hours
are wall-clock intervals per weekday in an IANA zone, so they follow DST; closed
periods (holidays, absences) are UTC intervals. Pure: no clock, no I/O; every result
is an aware UTC datetime. Imports nothing of ours.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTES_PER_DAY = 24 * 60
# How far ahead to look for working time before calling the calendar empty.
HORIZON_DAYS = 400
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open UTC interval `[start, end)`, e.g. a holiday or an absence."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Interval bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"Interval ends ({self.end}) before it starts ({self.start})")

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


DayHours = tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """Working intervals per weekday (Monday first), in minutes from local midnight.

    Each day holds sorted, non-overlapping `(start, end)` pairs with
    `0 <= start < end <= 1440`; 1440 is the next midnight ("24:00").
    """

    days: tuple[DayHours, DayHours, DayHours, DayHours, DayHours, DayHours, DayHours]
    # Routing asks every member's hours this for every inquiry (issue 11): answered
    # once here, as the hours never change. Not part of equality, hash or repr.
    is_always: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, day in zip(WEEKDAY_NAMES, self.days, strict=True):
            previous_end = 0
            for start, end in day:
                shown = f"{_hhmm(start)}-{_hhmm(end)}"
                if not 0 <= start < end <= MINUTES_PER_DAY:
                    raise ValueError(f"{name}: {shown} does not start before it ends")
                if start < previous_end:
                    raise ValueError(f"{name}: {shown} overlaps the previous interval")
                previous_end = end
        always = all(day == ((0, MINUTES_PER_DAY),) for day in self.days)
        object.__setattr__(self, "is_always", always)  # frozen: set once, at birth

    @classmethod
    def weekdays(cls, start: str = "09:00", end: str = "18:00") -> WeeklyHours:
        """The same single interval Monday to Friday, weekends off."""
        return cls.from_mapping({day: [(start, end)] for day in WEEKDAY_NAMES[:5]})

    @classmethod
    def always(cls) -> WeeklyHours:
        """Round the clock, every day."""
        whole: DayHours = ((0, MINUTES_PER_DAY),)
        return cls((whole,) * 7)

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Sequence[tuple[str, str]]]) -> WeeklyHours:
        """Build from `{"mon": [("09:00", "13:00"), ("14:00", "18:00")], ...}`."""
        unknown = set(spec) - set(WEEKDAY_NAMES)
        if unknown:
            raise ValueError(f"Unknown weekday names: {sorted(unknown)}")
        days = [
            tuple(sorted((parse_hhmm(a), parse_hhmm(b)) for a, b in spec.get(name, ())))
            for name in WEEKDAY_NAMES
        ]
        return cls((days[0], days[1], days[2], days[3], days[4], days[5], days[6]))


def zone_problem(name: str) -> str | None:
    """Why `name` is not a usable IANA time zone ("Europe/Moskow"), or None when it is."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return f"unknown time zone {name!r}"
    return None


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_hhmm(hhmm: object) -> int:
    """Minutes since midnight of an "HH:MM" time, 00:00 to 24:00; `ValueError` with a
    sentence otherwise. The one parser behind stored hours and the API's checks."""
    if not isinstance(hhmm, str):  # stored JSON may hold anything
        raise ValueError(f"{hhmm!r} is not HH:MM")
    found = _HHMM.match(hhmm.strip())
    if found is None:
        raise ValueError(f"{hhmm!r} is not HH:MM")
    hours, minutes = int(found.group(1)), int(found.group(2))
    if minutes >= 60 or hours * 60 + minutes > MINUTES_PER_DAY:
        raise ValueError(f"{hhmm!r} is not a time of day between 00:00 and 24:00")
    return hours * 60 + minutes


def is_working(
    hours: WeeklyHours, tz: str | tzinfo, at: datetime, closed: Sequence[Interval] = ()
) -> bool:
    """Whether `at` falls inside the working hours and outside every closed interval."""
    if hours.is_always and not closed:
        return True
    first = next(_open_intervals(hours, _zone(tz), closed, _utc(at)), None)
    return first is not None and first.start == _utc(at)


def next_working_start(
    at: datetime, hours: WeeklyHours, tz: str | tzinfo, closed: Sequence[Interval] = ()
) -> datetime:
    """`at` itself when working then, else the start of the next working period.

    Raises `ValueError` when there is no working time within `HORIZON_DAYS`.
    """
    return _first_open(_open_intervals(hours, _zone(tz), closed, _utc(at))).start


def add_working_time(
    start: datetime,
    duration: timedelta,
    hours: WeeklyHours,
    tz: str | tzinfo,
    closed: Sequence[Interval] = (),
) -> datetime:
    """The instant by which `duration` of working time has passed since `start`.

    A deadline that uses up a period exactly ends at that period's end (18:00 Friday,
    not 09:00 Monday). A zero duration returns `start` unchanged, which keeps
    `add(add(s, a), b) == add(s, a + b)`. Raises `ValueError` for a negative duration
    or a calendar with no working time within `HORIZON_DAYS`.
    """
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    origin = _utc(start)
    if duration == timedelta(0):
        return origin
    if hours.is_always and not closed:
        # Round the clock: working time is wall time (the common default).
        return origin + duration
    remaining = duration
    for period in _open_intervals(hours, _zone(tz), closed, origin):
        length = period.end - period.start
        if remaining <= length:
            return period.start + remaining
        remaining -= length
    raise ValueError(f"no working time within {HORIZON_DAYS} days")


def _first_open(periods: Iterator[Interval]) -> Interval:
    first = next(periods, None)
    if first is None:
        raise ValueError(f"no working time within {HORIZON_DAYS} days")
    return first


def _open_intervals(
    hours: WeeklyHours, zone: tzinfo, closed: Sequence[Interval], since: datetime
) -> Iterator[Interval]:
    """Working periods from `since` on, in order, with closed periods cut out."""
    blocked = sorted(closed, key=lambda iv: iv.start)
    cursor = since
    first_day = since.astimezone(zone).date() - timedelta(days=1)
    for offset in range(HORIZON_DAYS + 1):
        day = first_day + timedelta(days=offset)
        for start_min, end_min in hours.days[day.weekday()]:
            start = _local_to_utc(day, start_min, zone)
            end = _local_to_utc(day, end_min, zone)
            # Clipping to the cursor keeps periods ordered even when a wall time
            # falls into a spring-forward gap and maps onto the next period.
            start = max(start, cursor)
            if end <= start:
                continue
            yield from _subtract(Interval(start, end), blocked)
            cursor = end


def _subtract(period: Interval, blocked: Sequence[Interval]) -> Iterator[Interval]:
    start = period.start
    for block in blocked:
        if block.end <= start:
            continue
        if block.start >= period.end:
            break
        if block.start > start:
            yield Interval(start, block.start)
        start = max(start, block.end)
        if start >= period.end:
            return
    if start < period.end:
        yield Interval(start, period.end)


def _local_to_utc(day: date, minute: int, zone: tzinfo) -> datetime:
    # Naive arithmetic first, so 24:00 becomes the next local midnight; fold=0 picks
    # the earlier reading of an ambiguous wall time (the first 01:30 on fall-back day).
    naive = datetime.combine(day, time()) + timedelta(minutes=minute)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def _zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"{at!r} is naive; pass a timezone-aware datetime")
    return at.astimezone(UTC)
