"""Team rules and member assignment: strategies, eligibility, stickiness, fairness."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.contract import Channel, Inquiry, Routing, Sender, Source
from ingest.routing import (
    Assignment,
    MemberState,
    RoutingRule,
    TeamState,
    assign,
    detect_language,
    ineligibility,
    phone_country,
    pick_team,
)
from ingest.worktime import Interval, WeeklyHours

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # a Friday


def inquiry(**overrides: Any) -> Inquiry:
    values: dict[str, Any] = {
        "idempotency_key": "test:1",
        "channel": Channel.WEB_FORM,
        "received_at": NOW,
        "sender": Sender(name="Ivan", email="ivan@example.com", phone="+79123456789"),
        "text": "Need 20 licenses",
        "routing": Routing(form="contact"),
    }
    values.update(overrides)
    return Inquiry(**values)


def member(user_id: int, name: str, **overrides: Any) -> MemberState:
    return replace(MemberState(user_id=user_id, name=name), **overrides)


IVANOVA = member(1, "Ivanova")
PETROV = member(2, "Petrov")
SIDOROV = member(3, "Sidorov")
TEAM = (IVANOVA, PETROV, SIDOROV)


# --- detect_language / phone_country ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Перезвоните, пожалуйста", "ru", id="russian"),
        pytest.param("Please call me back", "en", id="english"),
        pytest.param("Нужна лицензия Windows", "ru", id="mostly-cyrillic"),
        pytest.param("Need a quote, спасибо", "en", id="mostly-latin"),
        pytest.param("Привет hi", "ru", id="more-cyrillic-letters"),
        pytest.param("Доброго дня! Чи можлива доставка?", "ru", id="ukrainian-is-cyrillic"),
        pytest.param("12345 !!!", None, id="no-letters"),
        pytest.param("", None, id="empty"),
        pytest.param("Guten Tag", "en", id="german-is-latin"),
    ],
)
def test_detect_language(text: str, expected: str | None) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        pytest.param("+79123456789", "RU", id="ru-mobile"),
        pytest.param("+74951234567", "RU", id="ru-moscow"),
        pytest.param("+77011234567", "KZ", id="kz-shares-plus-7"),
        pytest.param("+12125550142", "US", id="us"),
        pytest.param("+4915123456789", "DE", id="de"),
        pytest.param("+380671234567", "UA", id="ua"),
        pytest.param(None, None, id="none"),
        pytest.param("not a phone", None, id="garbage"),
        pytest.param("", None, id="empty"),
    ],
)
def test_phone_country(phone: str | None, expected: str | None) -> None:
    assert phone_country(phone) == expected


# --- pick_team --------------------------------------------------------------------

RULES = (
    RoutingRule(priority=10, team="Telegram desk", channel="telegram"),
    RoutingRule(priority=20, team="Kazakhstan", phone_country="kz"),
    RoutingRule(priority=30, team="Moscow", phone_region_prefix="+7 495"),
    RoutingRule(priority=40, team="English desk", language="en", channel="email"),
    RoutingRule(priority=50, team="Partners", form="partners"),
    RoutingRule(priority=60, team="Ads", utm_source="yandex", utm_campaign="winter"),
    RoutingRule(priority=70, team="Mailbox B", connector="sales@b"),
)


@pytest.mark.parametrize(
    ("overrides", "team", "reason_part"),
    [
        pytest.param({"channel": Channel.TELEGRAM}, "Telegram desk", "channel=telegram", id="tg"),
        pytest.param(
            {"sender": Sender(phone="+77011234567")}, "Kazakhstan", "phone_country=KZ", id="kz"
        ),
        pytest.param(
            {"sender": Sender(phone="+74951234567")}, "Moscow", "phone_region_prefix", id="msk"
        ),
        pytest.param(
            {"sender": Sender(phone="+78121234567")}, "Sales", "default team", id="spb-default"
        ),
        pytest.param(
            {"channel": Channel.EMAIL, "text": "Please send a quote"},
            "English desk",
            "language=en",
            id="english-email",
        ),
        pytest.param(
            {"channel": Channel.EMAIL, "text": "Пришлите счёт", "sender": Sender()},
            "Sales",
            "default",
            id="russian-email-default",
        ),
        pytest.param(
            {"routing": Routing(form="partners"), "sender": Sender()},
            "Partners",
            "form=partners",
            id="form",
        ),
        pytest.param(
            {"source": Source(utm_source="yandex", utm_campaign="winter"), "sender": Sender()},
            "Ads",
            "utm_campaign=winter",
            id="utm-both",
        ),
        pytest.param(
            {"source": Source(utm_source="yandex", utm_campaign="summer"), "sender": Sender()},
            "Sales",
            "default",
            id="utm-one-of-two",
        ),
        pytest.param(
            {"routing": Routing(connector="sales@b"), "sender": Sender()},
            "Mailbox B",
            "connector=sales@b",
            id="connector",
        ),
        pytest.param(
            {"routing": Routing(team="Wholesale"), "sender": Sender()},
            "Wholesale",
            "connector's team",
            id="connector-hint",
        ),
        pytest.param(
            {"channel": Channel.TELEGRAM, "sender": Sender(phone="+77011234567")},
            "Telegram desk",
            "priority 10",
            id="priority-wins",
        ),
    ],
)
def test_pick_team(overrides: dict[str, Any], team: str, reason_part: str) -> None:
    choice = pick_team(inquiry(**overrides), RULES, "Sales")
    assert choice.team == team
    assert reason_part in choice.reason


def test_pick_team_priority_not_list_order() -> None:
    rules = [
        RoutingRule(priority=5, team="Late in list"),
        RoutingRule(priority=1, team="First by priority", channel="web_form"),
    ]
    assert pick_team(inquiry(), rules, "Sales").team == "First by priority"


def test_pick_team_equal_priority_keeps_list_order() -> None:
    rules = [RoutingRule(priority=1, team="A"), RoutingRule(priority=1, team="B")]
    assert pick_team(inquiry(), rules, "Sales") == pick_team(inquiry(), rules, "Sales")
    assert pick_team(inquiry(), rules, "Sales").team == "A"


def test_catch_all_rule_says_any() -> None:
    choice = pick_team(inquiry(), [RoutingRule(priority=1, team="All")], "Sales")
    assert choice.team == "All"
    assert "any" in choice.reason


def test_language_rule_never_matches_without_text() -> None:
    rules = [RoutingRule(priority=1, team="English", language="en")]
    assert pick_team(inquiry(text=None), rules, "Sales").team == "Sales"


# --- eligibility ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({}, None, id="eligible"),
        pytest.param({"active": False}, "deactivated", id="deactivated"),
        pytest.param(
            {"absences": (Interval(NOW - timedelta(days=1), NOW + timedelta(days=1)),)},
            "on absence",
            id="absence",
        ),
        pytest.param(
            {"absences": (Interval(NOW - timedelta(days=2), NOW),)}, None, id="absence-ended"
        ),
        pytest.param(
            {"working_hours": WeeklyHours.weekdays(), "timezone": "Asia/Vladivostok"},
            "outside hours",
            id="vladivostok-20:00",
        ),
        pytest.param(
            {"working_hours": WeeklyHours.weekdays(), "timezone": "Europe/Moscow"},
            None,
            id="moscow-13:00",
        ),
        pytest.param(
            {"working_hours": WeeklyHours.weekdays(), "timezone": "America/New_York"},
            "outside hours",
            id="new-york-05:00",
        ),
        pytest.param({"daily_cap": 20, "assigned_today": 20}, "at daily cap (20/20)", id="cap"),
        pytest.param({"daily_cap": 20, "assigned_today": 19}, None, id="under-cap"),
        pytest.param({"daily_cap": 0}, "at daily cap (0/0)", id="zero-cap"),
        pytest.param({"capacity": 5, "open_leads": 5}, "at capacity (5/5 open)", id="capacity"),
        pytest.param({"capacity": 5, "open_leads": 4}, None, id="under-capacity"),
        pytest.param({"active": False, "daily_cap": 0}, "deactivated", id="first-reason-wins"),
    ],
)
def test_ineligibility(overrides: dict[str, Any], expected: str | None) -> None:
    assert ineligibility(member(1, "Ivanova", **overrides), NOW) == expected


# --- assign: round robin ----------------------------------------------------------


@pytest.mark.parametrize(
    ("cursor", "members", "expected"),
    [
        pytest.param(None, TEAM, 1, id="fresh-team-starts-at-lowest-id"),
        pytest.param(1, TEAM, 2, id="after-1"),
        pytest.param(2, TEAM, 3, id="after-2"),
        pytest.param(3, TEAM, 1, id="wraps"),
        pytest.param(99, TEAM, 1, id="cursor-left-team-wraps"),
        pytest.param(2, (IVANOVA, SIDOROV), 3, id="cursor-member-removed"),
        pytest.param(1, (replace(PETROV, active=False), IVANOVA, SIDOROV), 3, id="skips-inactive"),
        pytest.param(3, (SIDOROV, PETROV, IVANOVA), 1, id="input-order-irrelevant"),
        pytest.param(1, (IVANOVA,), 1, id="single-member-again"),
    ],
)
def test_round_robin(cursor: int | None, members: tuple[MemberState, ...], expected: int) -> None:
    result = assign(TeamState("Sales", last_user_id=cursor), members, NOW)
    assert result.user_id == expected
    assert result.new_team_state.last_user_id == expected


def test_round_robin_explanation_lists_skips() -> None:
    members = (
        IVANOVA,
        replace(PETROV, working_hours=WeeklyHours.weekdays(), timezone="Asia/Vladivostok"),
        replace(SIDOROV, daily_cap=20, assigned_today=20),
    )
    result = assign(TeamState("Sales", last_user_id=3), members, NOW)
    assert result.reason == (
        "round-robin; Ivanova next; Petrov outside hours; Sidorov at daily cap (20/20)"
    )


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        pytest.param((), "queued: team Sales has no members", id="empty-team"),
        pytest.param(
            (replace(PETROV, active=False),),
            "queued: no eligible member (Petrov deactivated)",
            id="one-inactive",
        ),
        pytest.param(
            (
                replace(PETROV, working_hours=WeeklyHours.weekdays(), timezone="Asia/Tokyo"),
                replace(SIDOROV, daily_cap=3, assigned_today=3),
            ),
            "queued: no eligible member (Petrov outside hours; Sidorov at daily cap (3/3))",
            id="everyone-blocked",
        ),
    ],
)
def test_queued_when_nobody_eligible(members: tuple[MemberState, ...], reason: str) -> None:
    team = TeamState("Sales", last_user_id=2)
    result = assign(team, members, NOW)
    assert result == Assignment(None, reason, team)


# --- assign: sticky ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "members", "expected", "reason_part"),
    [
        pytest.param(3, TEAM, 3, "sticky to Sidorov", id="previous-eligible"),
        pytest.param(
            3,
            (IVANOVA, PETROV, replace(SIDOROV, active=False)),
            2,
            "previous manager Sidorov deactivated",
            id="previous-deactivated",
        ),
        pytest.param(
            3,
            (IVANOVA, PETROV, replace(SIDOROV, daily_cap=1, assigned_today=1)),
            2,
            "previous manager Sidorov at daily cap",
            id="previous-at-cap",
        ),
        pytest.param(42, TEAM, 2, "previous manager not in this team", id="previous-elsewhere"),
        pytest.param(None, TEAM, 2, "round-robin", id="no-previous"),
    ],
)
def test_sticky(
    previous: int | None,
    members: tuple[MemberState, ...],
    expected: int,
    reason_part: str,
) -> None:
    team = TeamState("Sales", last_user_id=1)
    result = assign(team, members, NOW, previous_manager=previous)
    assert result.user_id == expected
    assert reason_part in result.reason


def test_sticky_does_not_move_the_rotation() -> None:
    team = TeamState("Sales", last_user_id=1)
    result = assign(team, TEAM, NOW, previous_manager=3)
    assert result.new_team_state == team


# --- assign: least loaded ---------------------------------------------------------


@pytest.mark.parametrize(
    ("loads", "cursor", "expected"),
    [
        pytest.param(((5, 0), (2, 0), (9, 0)), None, 2, id="fewest-open"),
        pytest.param(((1, 3), (2, 0), (9, 0)), None, 2, id="pending-first-contacts-count"),
        pytest.param(((2, 0), (2, 0), (9, 0)), None, 1, id="tie-lowest-after-cursor"),
        pytest.param(((2, 0), (2, 0), (9, 0)), 1, 2, id="tie-rotates"),
        pytest.param(((0, 0), (0, 0), (0, 0)), 3, 1, id="all-zero-wraps"),
    ],
)
def test_least_loaded(
    loads: tuple[tuple[int, int], ...], cursor: int | None, expected: int
) -> None:
    members = [
        replace(m, open_leads=o, pending_first_contacts=p)
        for m, (o, p) in zip(TEAM, loads, strict=True)
    ]
    team = TeamState("Sales", strategy="least_loaded", last_user_id=cursor)
    result = assign(team, members, NOW)
    assert result.user_id == expected
    assert result.reason.startswith("least-loaded;")


# --- assign: weighted -------------------------------------------------------------


def run(team: TeamState, members: list[MemberState], times: int) -> tuple[list[int], TeamState]:
    picks: list[int] = []
    for _ in range(times):
        result = assign(team, members, NOW)
        assert result.user_id is not None
        picks.append(result.user_id)
        team = result.new_team_state
    return picks, team


@pytest.mark.parametrize(
    ("weights", "sequence"),
    [
        pytest.param((5, 1, 1), [1, 1, 2, 1, 3, 1, 1], id="nginx-5-1-1"),
        pytest.param((1, 1, 1), [1, 2, 3, 1, 2, 3], id="equal-is-round-robin"),
        pytest.param((2, 1, 0), [1, 2, 1, 1, 2, 1], id="zero-weight-never"),
        pytest.param((3, 3, 0), [1, 2, 1, 2, 1, 2], id="two-equal"),
    ],
)
def test_weighted_sequence(weights: tuple[int, int, int], sequence: list[int]) -> None:
    members = [replace(m, weight=w) for m, w in zip(TEAM, weights, strict=True)]
    picks, _ = run(TeamState("Sales", strategy="weighted"), members, len(sequence))
    assert picks == sequence


def test_weighted_state_survives_persisting_and_forgets_leavers() -> None:
    members = [replace(m, weight=w) for m, w in zip(TEAM, (3, 2, 1), strict=True)]
    _, state = run(TeamState("Sales", strategy="weighted"), members, 4)
    assert {uid for uid, _ in state.current_weights} == {1, 2, 3}
    result = assign(state, members[:2], NOW)
    assert {uid for uid, _ in result.new_team_state.current_weights} == {1, 2}
    assert "weighted;" in result.reason


# --- properties -------------------------------------------------------------------


@settings(max_examples=200)
@given(size=st.integers(min_value=1, max_value=8), rounds=st.integers(0, 60))
def test_round_robin_is_fair(size: int, rounds: int) -> None:
    members = [member(10 + i, f"M{i}") for i in range(size)]
    picks, _ = run(TeamState("Sales"), members, rounds)
    counts = Counter(picks)
    totals = [counts.get(m.user_id, 0) for m in members]
    assert max(totals) - min(totals) <= 1


@settings(max_examples=100)
@given(
    size=st.integers(min_value=2, max_value=6),
    rounds=st.integers(0, 40),
    blocked=st.integers(min_value=0, max_value=5),
)
def test_round_robin_fair_among_eligible(size: int, rounds: int, blocked: int) -> None:
    members = [member(i + 1, f"M{i}") for i in range(size)]
    off = blocked % size
    members[off] = replace(members[off], active=False)
    picks, _ = run(TeamState("Sales"), members, rounds)
    assert members[off].user_id not in picks
    counts = Counter(picks)
    totals = [counts.get(m.user_id, 0) for m in members if m.active]
    assert max(totals) - min(totals) <= 1


@settings(max_examples=100)
@given(weights=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=5))
def test_weighted_gives_exact_shares_per_cycle(weights: list[int]) -> None:
    members = [member(i + 1, f"M{i}", weight=w) for i, w in enumerate(weights)]
    picks, _ = run(TeamState("Sales", strategy="weighted"), members, sum(weights))
    counts = Counter(picks)
    assert [counts[m.user_id] for m in members] == weights
