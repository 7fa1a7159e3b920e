"""The dry run's pure half: a pipeline decision as the admin reads it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from ingest.dry_run import describe
from ingest.pipeline import LeadRef, Policy, RecordOnly, decide
from ingest.routing import MemberState, RoutingRule
from tests.factories import NOW, make_inquiry, make_snapshot, make_team


def test_a_new_lead_names_the_manager_the_team_and_the_rule() -> None:
    vip = make_team(id=2, name="VIP", member_ids=(7,), member_names={7: "Vera"})
    snapshot = make_snapshot(
        teams={"Sales": make_team(), "VIP": vip},
        rules=(RoutingRule(priority=1, team="VIP", channel="web_form"),),
    )
    outcome = describe(decide(make_inquiry(), snapshot, NOW, Policy()), snapshot.teams)
    assert (outcome.kind, outcome.assignee_id, outcome.assignee_name, outcome.team) == (
        "new_lead",
        7,
        "Vera",
        "VIP",
    )
    assert outcome.reasons["team"].startswith("rule #1 (priority 1): channel=web_form")
    assert "Vera next" in outcome.reasons["assignment"]


def test_nobody_eligible_is_a_queued_lead_with_every_skip() -> None:
    members = (
        MemberState(1, "Ivanova", capacity=0),
        MemberState(2, "Petrov", daily_cap=1, assigned_today=1),
    )
    snapshot = make_snapshot(teams={"Sales": make_team(member_ids=(1, 2), members=members)})
    outcome = describe(decide(make_inquiry(), snapshot, NOW, Policy()), snapshot.teams)
    assert (outcome.kind, outcome.assignee_id, outcome.team) == ("new_lead", None, "Sales")
    assert "Ivanova at capacity (0/0 open)" in outcome.reasons["assignment"]
    assert "Petrov at daily cap (1/1)" in outcome.reasons["assignment"]


def test_a_returning_customer_is_appended_to_their_open_lead() -> None:
    inquiry = make_inquiry()
    contact = uuid.uuid4()
    lead = LeadRef(uuid.uuid4(), "new", 3, 1, NOW - timedelta(days=1))
    snapshot = make_snapshot(
        contacts={("email", "ivan@example.com"): contact}, leads_by_contact={contact: (lead,)}
    )
    outcome = describe(decide(inquiry, snapshot, NOW, Policy()), snapshot.teams)
    assert (outcome.kind, outcome.assignee_id, outcome.assignee_name) == ("appended", 3, "Sidorov")
    assert outcome.reasons["repeat"]


def test_record_only_keeps_its_reason() -> None:
    outcome = describe(RecordOnly(make_inquiry(), "auto-reply"), {})
    assert (outcome.kind, outcome.assignee_id, outcome.reasons) == (
        "recorded_only",
        None,
        {"record": "auto-reply"},
    )
