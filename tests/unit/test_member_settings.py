"""Stored member settings that cannot be used: the member is ineligible, nothing raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_store.team_reads import MemberRow, TeamRow
from ingest.judgement import team_view
from ingest.routing import TeamState, assign, ineligibility
from ingest.worktime import add_working_time, zone_problem

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # a Friday


def row(user_id: int, name: str, **overrides: Any) -> MemberRow:
    values: dict[str, Any] = {
        "user_id": user_id,
        "name": name,
        "email": f"{name.lower()}@example.test",
        "timezone": "UTC",
        "working_hours": None,
        "capacity": None,
        "daily_cap": None,
        "weight": 1,
    }
    values.update(overrides)
    return MemberRow(**values)


def team(*members: MemberRow) -> TeamRow:
    return TeamRow(
        id=1,
        name="Sales",
        member_ids=tuple(m.user_id for m in members),
        last_user_id=None,
        member_names={m.user_id: m.name for m in members},
        members=members,
    )


BAD_SETTINGS = [
    pytest.param(
        {"timezone": "Europe/Moskow"}, "unknown time zone 'Europe/Moskow'", id="typo-zone"
    ),
    pytest.param({"timezone": ""}, "unknown time zone ''", id="empty-zone"),
    pytest.param({"timezone": "../../etc/passwd"}, "unknown time zone", id="path-zone"),
    pytest.param(
        {"working_hours": {"mon": [["09:00", "25:00"]]}},
        "'25:00' is not a time of day between 00:00 and 24:00",
        id="25h",
    ),
    pytest.param(
        {"working_hours": {"mon": [["18:00", "09:00"]]}},
        "mon: 18:00-09:00 does not start before it ends",
        id="start-after-end",
    ),
    pytest.param(
        {"working_hours": {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}},
        "overlaps",
        id="overlapping",
    ),
    pytest.param({"working_hours": {"someday": [["09:00", "18:00"]]}}, "Unknown weekday", id="day"),
    pytest.param({"working_hours": {"mon": [["9", "18"]]}}, "is not HH:MM", id="not-hhmm"),
    pytest.param({"working_hours": {"mon": [[9, 18]]}}, "is not HH:MM", id="numbers"),
    pytest.param({"working_hours": {"mon": 5}}, "working hours unusable", id="not-a-list"),
    pytest.param({"working_hours": ["mon"]}, "working hours unusable", id="not-a-mapping"),
]


@pytest.mark.parametrize(("setting", "reason"), BAD_SETTINGS)
def test_an_unusable_setting_makes_the_member_ineligible_with_the_reason(
    setting: dict[str, Any], reason: str
) -> None:
    view = team_view(team(row(1, "Ivanova", **setting), row(2, "Petrov")))
    broken, fine = view.member_states()

    why = ineligibility(broken, NOW)
    assert why is not None
    assert reason in why
    assert ineligibility(fine, NOW) is None
    result = assign(TeamState("Sales"), view.member_states(), NOW)
    assert result.user_id == 2
    assert reason in result.reason
    # Any working-time sum over the broken member is harmless too.
    assert add_working_time(NOW, timedelta(minutes=30), broken.working_hours, broken.timezone) > NOW


@pytest.mark.parametrize(("setting", "reason"), BAD_SETTINGS)
def test_a_team_whose_only_member_is_unusable_queues_the_lead(
    setting: dict[str, Any], reason: str
) -> None:
    view = team_view(team(row(1, "Ivanova", **setting)))
    result = assign(TeamState("Sales"), view.member_states(), NOW)
    assert result.user_id is None
    assert result.reason.startswith("queued: no eligible member")
    assert reason in result.reason


@pytest.mark.parametrize(
    "setting",
    [
        pytest.param({"timezone": "Europe/Moscow"}, id="zone"),
        pytest.param({"working_hours": {"fri": [["00:00", "24:00"]]}}, id="whole-day"),
        pytest.param(
            {"working_hours": {"fri": [["09:00", "13:00"], ["14:00", "18:00"]]}}, id="two"
        ),
    ],
)
def test_usable_settings_keep_the_member_eligible(setting: dict[str, Any]) -> None:
    (member,) = team_view(team(row(1, "Ivanova", **setting))).member_states()
    assert member.unusable is None
    assert ineligibility(member, NOW) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        pytest.param("Europe/Moscow", None, id="known"),
        pytest.param("UTC", None, id="utc"),
        pytest.param("Europe/Moskow", "unknown time zone 'Europe/Moskow'", id="typo"),
        pytest.param("Mars/Olympus", "unknown time zone 'Mars/Olympus'", id="unknown"),
        pytest.param("/etc/localtime", "unknown time zone '/etc/localtime'", id="absolute-path"),
    ],
)
def test_zone_problem(name: str, problem: str | None) -> None:
    assert zone_problem(name) == problem


@pytest.mark.parametrize(
    "hours",
    [
        pytest.param({}, id="empty-week"),
        pytest.param(
            {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}, id="all-off"
        ),
    ],
)
def test_every_day_off_is_never_on_duty_but_null_is_always(hours: dict[str, Any]) -> None:
    """An admin who ticks "day off" on every day means a manager who gets no leads;
    only None (no hours set) is round the clock."""
    off, always = team_view(
        team(row(1, "Ivanova", working_hours=hours), row(2, "Petrov", working_hours=None))
    ).member_states()
    for moment in (NOW, NOW + timedelta(hours=14), NOW + timedelta(days=1, hours=3)):
        assert ineligibility(off, moment) == "outside hours"
        assert ineligibility(always, moment) is None
    result = assign(TeamState("Sales"), [off], NOW)
    assert result.user_id is None
