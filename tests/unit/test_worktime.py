"""Working-time arithmetic: weekly hours, closed periods, DST and weekends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.worktime import (
    Interval,
    WeeklyHours,
    add_working_time,
    is_working,
    next_working_start,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MOSCOW = ZoneInfo("Europe/Moscow")
OFFICE = WeeklyHours.weekdays("09:00", "18:00")
SPLIT = WeeklyHours.from_mapping(
    {day: [("09:00", "13:00"), ("14:00", "18:00")] for day in ("mon", "tue", "wed", "thu", "fri")}
)
NIGHT_SUNDAY = WeeklyHours.from_mapping({"sun": [("01:00", "04:00")]})
SATURDAY_SHORT = WeeklyHours.from_mapping(
    {"fri": [("09:00", "18:00")], "sat": [("10:00", "14:00")]}
)


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- WeeklyHours ------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"mon": [("18:00", "09:00")]}, id="end-before-start"),
        pytest.param({"mon": [("09:00", "13:00"), ("12:00", "18:00")]}, id="overlap"),
        pytest.param({"mon": [("9", "18:00")]}, id="not-hhmm"),
        pytest.param({"mon": [("09:60", "18:00")]}, id="bad-minutes"),
        pytest.param({"mon": [("09:00", "24:30")]}, id="past-midnight"),
        pytest.param({"monday": [("09:00", "18:00")]}, id="unknown-day"),
        pytest.param({"mon": [("09:00", "09:00")]}, id="empty-interval"),
    ],
)
def test_weekly_hours_rejects(spec: dict[str, list[tuple[str, str]]]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        WeeklyHours.from_mapping(spec)


@pytest.mark.parametrize(
    ("spec", "monday"),
    [
        pytest.param({"mon": [("09:00", "18:00")]}, ((540, 1080),), id="single"),
        pytest.param({"mon": [("00:00", "24:00")]}, ((0, 1440),), id="whole-day"),
        pytest.param(
            {"mon": [("14:00", "18:00"), ("09:00", "13:00")]},
            ((540, 780), (840, 1080)),
            id="sorted",
        ),
        pytest.param({"tue": [("09:00", "18:00")]}, (), id="monday-off"),
    ],
)
def test_weekly_hours_parses(spec: dict[str, list[tuple[str, str]]], monday: object) -> None:
    assert WeeklyHours.from_mapping(spec).days[0] == monday


def test_interval_rejects_naive_and_reversed() -> None:
    with pytest.raises(ValueError, match="aware"):
        Interval(datetime(2026, 1, 1), datetime(2026, 1, 2))  # noqa: DTZ001
    with pytest.raises(ValueError, match="before"):
        Interval(utc(2026, 1, 2), utc(2026, 1, 1))


# --- is_working -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "zone", "moment", "expected"),
    [
        pytest.param(OFFICE, BERLIN, at(BERLIN, 2026, 11, 27, 9, 0), True, id="fri-09:00-opens"),
        pytest.param(OFFICE, BERLIN, at(BERLIN, 2026, 11, 27, 8, 59), False, id="fri-08:59"),
        pytest.param(OFFICE, BERLIN, at(BERLIN, 2026, 11, 27, 17, 59), True, id="fri-17:59"),
        pytest.param(OFFICE, BERLIN, at(BERLIN, 2026, 11, 27, 18, 0), False, id="fri-18:00-shut"),
        pytest.param(OFFICE, BERLIN, at(BERLIN, 2026, 11, 28, 12, 0), False, id="saturday"),
        pytest.param(OFFICE, BERLIN, at(BERLIN, 2026, 11, 29, 12, 0), False, id="sunday"),
        pytest.param(OFFICE, BERLIN, utc(2026, 11, 27, 8, 30), True, id="utc-input-berlin-09:30"),
        pytest.param(OFFICE, BERLIN, utc(2026, 7, 3, 7, 30), True, id="summer-utc-07:30-is-09:30"),
        pytest.param(OFFICE, BERLIN, utc(2026, 7, 3, 6, 30), False, id="summer-utc-06:30"),
        pytest.param(OFFICE, MOSCOW, utc(2026, 11, 27, 6, 0), True, id="moscow-09:00"),
        pytest.param(OFFICE, MOSCOW, utc(2026, 11, 27, 15, 0), False, id="moscow-18:00"),
        pytest.param(OFFICE, NEW_YORK, utc(2026, 11, 27, 14, 0), True, id="ny-09:00-est"),
        pytest.param(OFFICE, NEW_YORK, utc(2026, 7, 3, 13, 0), True, id="ny-09:00-edt"),
        pytest.param(OFFICE, NEW_YORK, utc(2026, 11, 27, 13, 59), False, id="ny-08:59-est"),
        pytest.param(SPLIT, BERLIN, at(BERLIN, 2026, 11, 26, 13, 30), False, id="lunch-break"),
        pytest.param(SPLIT, BERLIN, at(BERLIN, 2026, 11, 26, 14, 0), True, id="after-lunch"),
        pytest.param(SPLIT, BERLIN, at(BERLIN, 2026, 11, 26, 12, 59), True, id="before-lunch"),
        pytest.param(WeeklyHours.always(), BERLIN, utc(2026, 3, 29, 1, 0), True, id="always"),
        pytest.param(
            NIGHT_SUNDAY, BERLIN, utc(2026, 3, 29, 1, 30), True, id="berlin-spring-gap-03:30"
        ),
        pytest.param(NIGHT_SUNDAY, BERLIN, utc(2026, 3, 29, 2, 0), False, id="berlin-spring-04:00"),
        pytest.param(
            NIGHT_SUNDAY, BERLIN, utc(2026, 10, 25, 2, 30), True, id="berlin-fall-second-03:30"
        ),
        pytest.param(NIGHT_SUNDAY, BERLIN, utc(2026, 10, 25, 3, 0), False, id="berlin-fall-04:00"),
        pytest.param(
            NIGHT_SUNDAY, NEW_YORK, utc(2026, 3, 8, 6, 30), True, id="ny-spring-02:30-gap-is-03:30"
        ),
        pytest.param(NIGHT_SUNDAY, NEW_YORK, utc(2026, 11, 1, 8, 30), True, id="ny-fall-03:30-est"),
    ],
)
def test_is_working(hours: WeeklyHours, zone: ZoneInfo, moment: datetime, expected: bool) -> None:
    assert is_working(hours, zone, moment) is expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(at(BERLIN, 2026, 12, 24, 12, 0), False, id="inside-holiday"),
        pytest.param(at(BERLIN, 2026, 12, 23, 17, 0), True, id="before-holiday"),
        pytest.param(at(BERLIN, 2026, 12, 28, 9, 0), True, id="holiday-ended"),
    ],
)
def test_is_working_respects_closed(moment: datetime, expected: bool) -> None:
    holiday = Interval(at(BERLIN, 2026, 12, 24, 0, 0), at(BERLIN, 2026, 12, 28, 0, 0))
    assert is_working(OFFICE, "Europe/Berlin", moment, [holiday]) is expected


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        is_working(OFFICE, BERLIN, datetime(2026, 11, 27, 10, 0))  # noqa: DTZ001


# --- next_working_start -----------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "zone", "moment", "expected"),
    [
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 11, 27, 10, 0),
            at(BERLIN, 2026, 11, 27, 10, 0),
            id="already-working",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 11, 27, 19, 55),
            at(BERLIN, 2026, 11, 30, 9, 0),
            id="friday-evening-to-monday",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 11, 26, 7, 0),
            at(BERLIN, 2026, 11, 26, 9, 0),
            id="early-morning",
        ),
        pytest.param(
            SPLIT,
            BERLIN,
            at(BERLIN, 2026, 11, 26, 13, 10),
            at(BERLIN, 2026, 11, 26, 14, 0),
            id="after-lunch",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 3, 27, 18, 30),
            utc(2026, 3, 30, 7, 0),
            id="weekend-over-berlin-spring-forward",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 10, 23, 18, 30),
            utc(2026, 10, 26, 8, 0),
            id="weekend-over-berlin-fall-back",
        ),
        pytest.param(
            OFFICE,
            NEW_YORK,
            at(NEW_YORK, 2026, 3, 6, 18, 30),
            utc(2026, 3, 9, 13, 0),
            id="weekend-over-ny-spring-forward",
        ),
        pytest.param(
            OFFICE,
            NEW_YORK,
            at(NEW_YORK, 2026, 10, 30, 18, 30),
            utc(2026, 11, 2, 14, 0),
            id="weekend-over-ny-fall-back",
        ),
        pytest.param(
            SATURDAY_SHORT,
            MOSCOW,
            at(MOSCOW, 2026, 11, 27, 19, 0),
            at(MOSCOW, 2026, 11, 28, 10, 0),
            id="saturday-shift",
        ),
    ],
)
def test_next_working_start(
    hours: WeeklyHours, zone: ZoneInfo, moment: datetime, expected: datetime
) -> None:
    result = next_working_start(moment, hours, zone)
    assert result == expected
    assert result.tzinfo is UTC


def test_next_working_start_skips_absence() -> None:
    vacation = Interval(at(BERLIN, 2026, 11, 30, 0, 0), at(BERLIN, 2026, 12, 5, 0, 0))
    result = next_working_start(at(BERLIN, 2026, 11, 27, 19, 0), OFFICE, BERLIN, [vacation])
    assert result == at(BERLIN, 2026, 12, 7, 9, 0)


def test_next_working_start_mid_day_absence_ends() -> None:
    dentist = Interval(at(BERLIN, 2026, 11, 26, 10, 0), at(BERLIN, 2026, 11, 26, 12, 30))
    result = next_working_start(at(BERLIN, 2026, 11, 26, 10, 15), OFFICE, BERLIN, [dentist])
    assert result == at(BERLIN, 2026, 11, 26, 12, 30)


def test_no_working_time_at_all_raises() -> None:
    never = WeeklyHours.from_mapping({})
    with pytest.raises(ValueError, match="no working time"):
        next_working_start(utc(2026, 11, 27, 10, 0), never, BERLIN)
    with pytest.raises(ValueError, match="no working time"):
        add_working_time(utc(2026, 11, 27, 10, 0), timedelta(minutes=1), never, BERLIN)


# --- add_working_time -------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "zone", "start", "minutes", "expected"),
    [
        pytest.param(
            OFFICE,
            MOSCOW,
            at(MOSCOW, 2026, 11, 27, 19, 55),
            30,
            at(MOSCOW, 2026, 11, 30, 9, 30),
            id="friday-19:55-sla-due-monday-09:30",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 11, 26, 10, 0),
            30,
            at(BERLIN, 2026, 11, 26, 10, 30),
            id="inside-hours",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 11, 27, 17, 45),
            30,
            at(BERLIN, 2026, 11, 30, 9, 15),
            id="spills-over-weekend",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 11, 27, 17, 30),
            30,
            at(BERLIN, 2026, 11, 27, 18, 0),
            id="ends-exactly-at-close",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 11, 28, 11, 0),
            60,
            at(BERLIN, 2026, 11, 30, 10, 0),
            id="saturday-start",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 11, 26, 7, 0),
            60,
            at(BERLIN, 2026, 11, 26, 10, 0),
            id="before-opening",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 11, 26, 10, 0),
            9 * 60,
            at(BERLIN, 2026, 11, 27, 10, 0),
            id="one-full-day",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 11, 23, 9, 0),
            5 * 9 * 60,
            at(BERLIN, 2026, 11, 27, 18, 0),
            id="one-full-week",
        ),
        pytest.param(
            SPLIT,
            BERLIN,
            at(BERLIN, 2026, 11, 26, 12, 45),
            30,
            at(BERLIN, 2026, 11, 26, 14, 15),
            id="over-lunch",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 3, 27, 17, 45),
            30,
            utc(2026, 3, 30, 7, 15),
            id="berlin-over-spring-forward-weekend",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 10, 23, 17, 45),
            30,
            utc(2026, 10, 26, 8, 15),
            id="berlin-over-fall-back-weekend",
        ),
        pytest.param(
            OFFICE,
            NEW_YORK,
            at(NEW_YORK, 2026, 3, 6, 17, 45),
            30,
            utc(2026, 3, 9, 13, 15),
            id="ny-over-spring-forward-weekend",
        ),
        pytest.param(
            OFFICE,
            NEW_YORK,
            at(NEW_YORK, 2026, 10, 30, 17, 45),
            30,
            utc(2026, 11, 2, 14, 15),
            id="ny-over-fall-back-weekend",
        ),
        pytest.param(
            WeeklyHours.always(),
            BERLIN,
            utc(2026, 3, 29, 0, 30),
            60,
            utc(2026, 3, 29, 1, 30),
            id="round-the-clock-spring-real-hour",
        ),
        pytest.param(
            WeeklyHours.always(),
            BERLIN,
            utc(2026, 10, 25, 0, 30),
            60,
            utc(2026, 10, 25, 1, 30),
            id="round-the-clock-fall-real-hour",
        ),
        pytest.param(
            NIGHT_SUNDAY,
            BERLIN,
            at(BERLIN, 2026, 3, 29, 1, 0),
            120,
            utc(2026, 3, 29, 2, 0),
            id="berlin-spring-night-shift-is-2h",
        ),
        pytest.param(
            NIGHT_SUNDAY,
            BERLIN,
            at(BERLIN, 2026, 3, 29, 1, 0),
            150,
            utc(2026, 4, 4, 23, 30),
            id="berlin-spring-night-shift-overflows",
        ),
        pytest.param(
            NIGHT_SUNDAY,
            BERLIN,
            utc(2026, 10, 24, 23, 0),
            240,
            utc(2026, 10, 25, 3, 0),
            id="berlin-fall-night-shift-is-4h",
        ),
        pytest.param(
            NIGHT_SUNDAY,
            NEW_YORK,
            utc(2026, 3, 8, 6, 0),
            120,
            utc(2026, 3, 8, 8, 0),
            id="ny-spring-night-shift-is-2h",
        ),
        pytest.param(
            NIGHT_SUNDAY,
            NEW_YORK,
            utc(2026, 11, 1, 5, 0),
            240,
            utc(2026, 11, 1, 9, 0),
            id="ny-fall-night-shift-is-4h",
        ),
        pytest.param(
            SATURDAY_SHORT,
            MOSCOW,
            at(MOSCOW, 2026, 11, 27, 17, 0),
            120,
            at(MOSCOW, 2026, 11, 28, 11, 0),
            id="saturday-shift-used",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 11, 26, 10, 0),
            0,
            at(BERLIN, 2026, 11, 26, 10, 0),
            id="zero-inside",
        ),
        pytest.param(
            OFFICE,
            BERLIN,
            at(BERLIN, 2026, 11, 28, 10, 0),
            0,
            at(BERLIN, 2026, 11, 28, 10, 0),
            id="zero-outside-is-start",
        ),
    ],
)
def test_add_working_time(
    hours: WeeklyHours, zone: ZoneInfo, start: datetime, minutes: int, expected: datetime
) -> None:
    result = add_working_time(start, timedelta(minutes=minutes), hours, zone)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("closed", "expected"),
    [
        pytest.param([], at(BERLIN, 2026, 12, 24, 10, 0), id="no-holiday"),
        pytest.param(
            [Interval(at(BERLIN, 2026, 12, 24, 0, 0), at(BERLIN, 2026, 12, 27, 0, 0))],
            at(BERLIN, 2026, 12, 28, 10, 0),
            id="christmas",
        ),
        pytest.param(
            [
                Interval(at(BERLIN, 2026, 12, 24, 0, 0), at(BERLIN, 2026, 12, 25, 0, 0)),
                Interval(at(BERLIN, 2026, 12, 25, 0, 0), at(BERLIN, 2026, 12, 26, 0, 0)),
            ],
            at(BERLIN, 2026, 12, 28, 10, 0),
            id="adjacent-holidays",
        ),
        pytest.param(
            [Interval(at(BERLIN, 2026, 12, 24, 9, 30), at(BERLIN, 2026, 12, 24, 10, 0))],
            at(BERLIN, 2026, 12, 24, 10, 30),
            id="half-hour-meeting",
        ),
        pytest.param(
            [Interval(at(BERLIN, 2026, 12, 24, 12, 0), at(BERLIN, 2026, 12, 24, 13, 0))],
            at(BERLIN, 2026, 12, 24, 10, 0),
            id="absence-after-deadline",
        ),
    ],
)
def test_add_working_time_skips_closed(closed: list[Interval], expected: datetime) -> None:
    start = at(BERLIN, 2026, 12, 24, 9, 0)
    assert add_working_time(start, timedelta(hours=1), OFFICE, BERLIN, closed) == expected


def test_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working_time(utc(2026, 11, 27, 10, 0), timedelta(minutes=-1), OFFICE, BERLIN)


# --- properties -------------------------------------------------------------------

ZONES = st.sampled_from(["Europe/Berlin", "America/New_York", "Europe/Moscow", "UTC"])
CALENDARS = st.sampled_from([OFFICE, SPLIT, NIGHT_SUNDAY, SATURDAY_SHORT, WeeklyHours.always()])
# 2026 holds both transitions of both zones; minute resolution keeps shrinking readable.
STARTS = st.integers(min_value=0, max_value=365 * 24 * 60).map(
    lambda minute: utc(2026, 1, 1) + timedelta(minutes=minute, seconds=minute % 7)
)
DURATIONS = st.integers(min_value=1, max_value=3 * 24 * 60).map(lambda m: timedelta(minutes=m))


@settings(max_examples=150, deadline=None)
@given(start=STARTS, duration=DURATIONS, hours=CALENDARS, zone=ZONES)
def test_deadline_falls_in_working_time(
    start: datetime, duration: timedelta, hours: WeeklyHours, zone: str
) -> None:
    due = add_working_time(start, duration, hours, zone)
    # Inclusive of the closing instant: a deadline can use up a period exactly.
    assert is_working(hours, zone, due - timedelta(microseconds=1))
    assert due - start >= duration


@settings(max_examples=150, deadline=None)
@given(start=STARTS, a=DURATIONS, b=DURATIONS, hours=CALENDARS, zone=ZONES)
def test_deadline_is_monotonic_and_additive(
    start: datetime, a: timedelta, b: timedelta, hours: WeeklyHours, zone: str
) -> None:
    shorter, longer = sorted((a, b))
    assert add_working_time(start, shorter, hours, zone) <= add_working_time(
        start, longer, hours, zone
    )
    step = add_working_time(add_working_time(start, a, hours, zone), b, hours, zone)
    assert step == add_working_time(start, a + b, hours, zone)


@settings(max_examples=100, deadline=None)
@given(start=STARTS, hours=CALENDARS, zone=ZONES)
def test_next_start_is_working_and_not_earlier(
    start: datetime, hours: WeeklyHours, zone: str
) -> None:
    begin = next_working_start(start, hours, zone)
    assert begin >= start
    assert is_working(hours, zone, begin)
    assert is_working(hours, zone, start) == (begin == start)
