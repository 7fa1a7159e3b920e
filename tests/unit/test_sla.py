"""SLA decisions on leads in the store: queue, breach, grace, reassignment, head."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from ingest.routing import MemberState
from ingest.sla import (
    Assign,
    EscalationPolicy,
    MarkBreached,
    NotifyHead,
    OpenFirstContact,
    Wait,
    decide_sla,
)
from ingest.worktime import WeeklyHours

from ..factories import NOW, make_team

SLA = timedelta(minutes=30)


def lead(**kw: object) -> OpenFirstContact:
    values: dict[str, object] = {
        "lead_id": uuid.uuid4(), "activity_id": uuid.uuid4(), "channel": "web_form",
        "assignee_id": 1, "team_id": 1, "due_at": NOW - timedelta(minutes=1),
        "breached_at": None, "hops": 0, "escalated": False,
    }  # fmt: skip
    values.update(kw)
    return OpenFirstContact(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "policy", "expected"),
    [
        pytest.param(
            {"due_at": NOW + timedelta(minutes=5)}, EscalationPolicy(), Wait, id="not-due"
        ),
        pytest.param({}, EscalationPolicy(), MarkBreached, id="just-overdue"),
        pytest.param({"breached_at": NOW}, EscalationPolicy(), Wait, id="inside-grace"),
        pytest.param(
            {"breached_at": NOW, "due_at": NOW - timedelta(minutes=20)},
            EscalationPolicy(),
            Assign,
            id="past-grace-reassign",
        ),
        pytest.param(
            {"breached_at": NOW, "due_at": NOW - timedelta(minutes=20), "hops": 2},
            EscalationPolicy(head_user_id=7),
            NotifyHead,
            id="hop-limit-notifies-head",
        ),
        pytest.param(
            {
                "breached_at": NOW,
                "due_at": NOW - timedelta(minutes=20),
                "hops": 2,
                "escalated": True,
            },
            EscalationPolicy(head_user_id=7),
            Wait,
            id="head-notified-once",
        ),
        pytest.param(
            {"breached_at": NOW, "due_at": NOW - timedelta(minutes=20)},
            EscalationPolicy(mode="notify_head", head_user_id=7),
            NotifyHead,
            id="notify-head-mode",
        ),
        pytest.param(
            {"breached_at": NOW, "due_at": NOW - timedelta(minutes=20)},
            EscalationPolicy(mode="notify_head"),
            Wait,
            id="no-head-to-notify",
        ),
        pytest.param(
            {"assignee_id": None, "due_at": NOW + timedelta(minutes=5)},
            EscalationPolicy(),
            Assign,
            id="queued-gets-assigned",
        ),
    ],
)
def test_decide_sla(kw: dict[str, object], policy: EscalationPolicy, expected: type) -> None:
    assert isinstance(decide_sla(lead(**kw), make_team(), policy, SLA, NOW), expected)


def test_reassignment_skips_the_manager_who_missed_it() -> None:
    action = decide_sla(
        lead(breached_at=NOW, due_at=NOW - timedelta(hours=1), assignee_id=2),
        make_team(last_user_id=1),
        EscalationPolicy(),
        SLA,
        NOW,
    )
    assert isinstance(action, Assign)
    assert action.to_user == 3
    assert action.kind == "reassigned"
    assert action.reason.startswith("SLA escalation 1: Petrov missed the first contact")
    assert action.due_at == NOW + SLA


def test_queued_lead_waits_while_nobody_is_eligible() -> None:
    nobody = make_team(
        member_ids=(1,),
        members=(MemberState(1, "Ivanova", working_hours=WeeklyHours.weekdays("12:00", "13:00")),),
    )
    action = decide_sla(lead(assignee_id=None), nobody, EscalationPolicy(), SLA, NOW)
    assert isinstance(action, Wait)
    assert "Ivanova outside hours" in action.reason


def test_queued_lead_is_due_in_the_new_managers_working_time() -> None:
    team = make_team(
        member_ids=(1,),
        members=(MemberState(1, "Ivanova", working_hours=WeeklyHours.weekdays("09:00", "10:15")),),
    )
    action = decide_sla(lead(assignee_id=None), team, EscalationPolicy(), SLA, NOW)
    assert isinstance(action, Assign)
    # 15 minutes left today (10:00-10:15), 15 more on Monday from 09:00.
    assert action.due_at == NOW.replace(day=30, hour=9, minute=15)
