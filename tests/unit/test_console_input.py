"""The console's input rules, pure: client IP behind proxies, time zones and hours,
text cleaning and the bounds of the request models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from console.client_ip import client_ip, networks
from console.schemas import (
    ListQuery,
    ManualLeadBody,
    TeamPatch,
    UserBody,
    UserPatch,
)
from ingest.hours import check_hours, check_timezone
from leadflow.settings import load_settings

PROXY = networks(["10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        pytest.param("203.0.113.9", None, "203.0.113.9", id="direct"),
        pytest.param("203.0.113.9", "198.51.100.1", "203.0.113.9", id="untrusted-peer-ignored"),
        pytest.param("10.0.0.2", "198.51.100.1", "198.51.100.1", id="one-proxy"),
        pytest.param("10.0.0.2", "1.2.3.4, 198.51.100.1, 10.0.0.7", "198.51.100.1", id="rightmost"),
        pytest.param("10.0.0.2", "198.51.100.1, x" * 1, "10.0.0.2", id="garbage-stops"),
        pytest.param("10.0.0.2", "a" * 5000, "10.0.0.2", id="overlong"),
        pytest.param(None, None, "unknown", id="no-peer"),
    ],
)
def test_client_ip_reads_forwarded_for_right_to_left(
    peer: str | None, forwarded: str | None, expected: str
) -> None:
    assert client_ip(peer, forwarded, PROXY) == expected


@pytest.mark.parametrize(
    "name", ["Europe/Moskow", "Mars/Olympus", "../../etc/passwd", "", "localtime"]
)
def test_unknown_time_zones_are_refused_with_a_sentence(name: str) -> None:
    with pytest.raises(ValueError, match="not a time zone"):
        check_timezone(name)


def test_known_time_zones_pass() -> None:
    assert check_timezone("Europe/Moscow") == "Europe/Moscow"
    assert check_timezone("UTC") == "UTC"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({"mon": [("25:00", "26:00")]}, "between 00:00 and 24:00", id="hour-25"),
        pytest.param({"mon": [("09:60", "18:00")]}, "between 00:00 and 24:00", id="minute-60"),
        pytest.param({"mon": [("18:00", "09:00")]}, "start before", id="reversed"),
        pytest.param({"mon": [("09:00", "09:00")]}, "start before", id="empty"),
        pytest.param({"mon": [("9", "18:00")]}, "HH:MM", id="not-hhmm"),
        pytest.param({"mo": [("09:00", "18:00")]}, "not a weekday", id="weekday"),
        pytest.param(
            {"mon": [("09:00", "13:00"), ("12:00", "18:00")]}, "overlap", id="overlapping"
        ),
    ],
)
def test_impossible_hours_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_hours(spec)


def test_whole_days_and_split_days_pass() -> None:
    spec = {"mon": [("14:00", "18:00"), ("09:00", "13:00")], "sat": [("00:00", "24:00")]}
    assert check_hours(spec) == {
        "mon": [("09:00", "13:00"), ("14:00", "18:00")],
        "sat": [("00:00", "24:00")],
    }


@pytest.mark.parametrize(
    ("model", "data"),
    [
        pytest.param(ListQuery, {"offset": "5274503832905145666813"}, id="huge-offset"),
        pytest.param(ListQuery, {"assignee_id": "0"}, id="zero-id"),
        pytest.param(ListQuery, {"assignee_id": str(2**31)}, id="id-over-int32"),
        pytest.param(TeamPatch, {"escalation": None}, id="null-escalation"),
        pytest.param(TeamPatch, {"name": None}, id="null-team-name"),
        pytest.param(UserPatch, {"active": None}, id="null-active"),
        pytest.param(UserPatch, {"timezone": "Europe/Moskow"}, id="bad-zone"),
        pytest.param(UserBody, {"email": "a@x.test", "name": "n" * 201}, id="name-over-column"),
        pytest.param(UserBody, {"email": "a@x.test", "name": " \x00\x01 "}, id="only-controls"),
        pytest.param(ManualLeadBody, {"company": "c" * 301}, id="company-over-column"),
    ],
)
def test_out_of_bounds_input_is_refused(model: Any, data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(data)


def test_control_characters_are_stripped_from_text() -> None:
    body = ManualLeadBody.model_validate(
        {"name": "a\x00b\x07c", "text": "line one\r\nline\x00 two\x1b", "company": " Acme\t"}
    )
    assert body.name == "abc"
    assert body.text == "line one\r\nline two"
    assert body.company == "Acme"


def test_nullable_patch_fields_still_take_null() -> None:
    patch = TeamPatch.model_validate({"head_user_id": None})
    assert patch.model_dump(exclude_unset=True) == {"head_user_id": None}
    assert UserPatch.model_validate({"working_hours": None}).working_hours is None


def _toml(tmp_path: Path, member: str) -> Path:
    path = tmp_path / "leadflow.toml"
    path.write_text(
        '[[teams]]\nname = "Sales"\n[[teams.members]]\nemail = "anna@x.test"\n'
        f'name = "Anna"\n{member}\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("member", "message"),
    [
        pytest.param('timezone = "Europe/Moskow"', "not a time zone", id="zone-typo"),
        pytest.param(
            'working_hours = { mon = [["09:00", "25:00"]] }', "between 00:00 and 24:00", id="25h"
        ),
        pytest.param(
            'working_hours = { mon = [["18:00", "09:00"]] }', "start before", id="reversed"
        ),
    ],
)
def test_toml_teams_refuse_unusable_zones_and_hours(
    tmp_path: Path, member: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        load_settings(_toml(tmp_path, member))


def test_toml_teams_take_real_zones_and_hours(tmp_path: Path) -> None:
    member = 'timezone = "Europe/Moscow"\nworking_hours = { mon = [["09:00", "18:00"]] }'
    settings = load_settings(_toml(tmp_path, member))
    anna = settings.teams[0].members[0]
    assert anna.timezone == "Europe/Moscow"
    assert anna.working_hours == {"mon": [("09:00", "18:00")]}
