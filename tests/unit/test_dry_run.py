"""The dry run's pure half: a pipeline decision as the admin reads it."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from console.reason_text import reason_text
from ingest.contract import Routing
from ingest.contract.i18n import Catalogs
from ingest.decisions import LeadRef, Policy, RecordOnly, Snapshot
from ingest.dry_run import describe
from ingest.pipeline import decide
from ingest.reasons import Reason, explain
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


def _explained(snapshot: Snapshot, **inquiry: Any) -> dict[str, Reason]:
    made = make_inquiry(**inquiry)
    return explain(decide(made, snapshot, NOW, Policy()), made, snapshot, NOW)


def test_reasons_as_codes_name_the_rule_the_manager_and_the_deadline() -> None:
    vip = make_team(id=2, name="VIP", member_ids=(7,), member_names={7: "Vera"})
    snapshot = make_snapshot(
        teams={"Sales": make_team(), "VIP": vip},
        rules=(RoutingRule(priority=4, team="VIP", channel="web_form"),),
    )
    reasons = _explained(snapshot)
    assert reasons["team"] == Reason(
        "rule", {"number": 1, "priority": 4, "conditions": "channel=web_form", "team": "VIP"}
    )
    assert reasons["assignment"].code == "assigned"
    assert reasons["assignment"].params["manager"] == "Vera"
    assert reasons["spam"].code == "spam_clean"
    due = datetime.fromisoformat(str(reasons["deadline"].params["due_at"]))
    assert due == NOW + timedelta(minutes=30)  # a web form, Vera always working

    # Read by a Russian admin in Moscow and an English one in New York.
    ru = Catalogs.load().get("ru").gettext
    moscow = reason_text(reasons["deadline"], ru, "ru", ZoneInfo("Europe/Moscow"), NOW)
    assert moscow is not None and "13:30" in moscow and "через 30 мин" in moscow
    york = reason_text(reasons["deadline"], _same, "en", ZoneInfo("America/New_York"), NOW)
    assert york is not None and "5:30" in york and "in 30 min" in york and "EST" in york
    rule = reason_text(reasons["team"], ru, "ru", ZoneInfo("Europe/Moscow"), NOW)
    assert rule == "Сработало правило №1 (приоритет 4): channel=web_form."


def test_queued_reasons_list_every_skip_with_its_numbers() -> None:
    members = (
        MemberState(1, "Ivanova", capacity=0),
        MemberState(2, "Petrov", daily_cap=1, assigned_today=1),
    )
    snapshot = make_snapshot(teams={"Sales": make_team(member_ids=(1, 2), members=members)})
    reasons = _explained(snapshot)
    assert reasons["team"] == Reason("connector_team", {"team": "Sales"})
    defaulted = replace(snapshot, default_team="Sales")
    assert _explained(defaulted, routing=Routing(form="contact"))["team"].code == "default_team"
    assignment = reasons["assignment"]
    assert assignment.code == "queued_no_eligible"
    assert assignment.params["skipped"] == [
        {"name": "Ivanova", "code": "capacity", "count": 0, "limit": 0},
        {"name": "Petrov", "code": "daily_cap", "count": 1, "limit": 1},
    ]
    ru = Catalogs.load().get("ru").gettext
    text = reason_text(assignment, ru, "ru", ZoneInfo("Europe/Moscow"), NOW)
    assert text is not None and text.startswith("Сейчас никто в команде Sales")
    assert "Petrov достиг(ла) дневного лимита (1/1)" in text


def test_an_unknown_code_falls_back_to_the_pipeline_sentence() -> None:
    assert reason_text(Reason("new_code"), _same, "en", ZoneInfo("UTC"), NOW) is None


def _same(text: str) -> str:
    return text
