"""The foundation's decisions: contact matching, round-robin, SLA, honeypot."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ingest.contract import Channel, Inquiry, Routing, Sender
from ingest.decisions import AppendToLead, NewLead, Policy, Snapshot
from ingest.pipeline import decide, plan_batch
from ingest.row_ids import derived_id

from ..factories import NOW, make_inquiry, make_snapshot, make_team


def decide_new(inquiry: Inquiry, snapshot: Snapshot, now: datetime, policy: Policy) -> NewLead:
    decision = decide(inquiry, snapshot, now, policy)
    assert isinstance(decision, NewLead), decision
    return decision


def test_batch_rotates_through_the_team() -> None:
    inquiries = [make_inquiry(sender=Sender(email=f"c{i}@example.com")) for i in range(7)]
    plan = plan_batch(inquiries, make_snapshot(), NOW, Policy())
    assert [d.assignee_id for d in plan.decisions if isinstance(d, NewLead)] == [
        1,
        2,
        3,
        1,
        2,
        3,
        1,
    ]
    assert plan.team_cursors == {1: 1}


def test_rotation_continues_from_the_stored_cursor() -> None:
    snapshot = make_snapshot(teams={"Sales": make_team(last_user_id=2)})
    d = decide_new(make_inquiry(), snapshot, NOW, Policy())
    assert d.assignee_id == 3
    assert d.assignment_reason == "round-robin; Sidorov next"


def test_existing_contact_is_reused_by_email() -> None:
    contact = derived_id(make_inquiry().id, "someone")
    snapshot = make_snapshot(contacts={("email", "ivan@example.com"): contact})
    d = decide_new(make_inquiry(), snapshot, NOW, Policy())
    assert d.contact_id == contact
    assert d.contact.new is None


def test_existing_contact_is_reused_by_phone() -> None:
    contact = derived_id(make_inquiry().id, "someone")
    snapshot = make_snapshot(contacts={("phone", "+79123456789"): contact})
    inquiry = make_inquiry(sender=Sender(name="Ivan", phone="+79123456789"))
    assert decide_new(inquiry, snapshot, NOW, Policy()).contact_id == contact


def test_new_contact_keeps_every_identity() -> None:
    d = decide_new(make_inquiry(), make_snapshot(), NOW, Policy())
    assert isinstance(d, NewLead)
    assert d.contact.new is not None
    assert d.contact.new.identities == (("email", "ivan@example.com"), ("phone", "+79123456789"))


def test_second_inquiry_from_a_new_sender_in_one_batch_joins_the_first_lead() -> None:
    a, b = make_inquiry(), make_inquiry(sender=Sender(phone="+79123456789"))
    first, second = plan_batch([a, b], make_snapshot(), NOW, Policy()).decisions
    assert isinstance(first, NewLead)
    assert first.contact.new is not None
    assert isinstance(second, AppendToLead)
    assert second.contact.new is None
    assert second.contact.id == first.contact.id
    assert second.lead_id == first.lead_id


@pytest.mark.parametrize(
    ("channel", "minutes", "kind"),
    [
        pytest.param(Channel.WEB_FORM, 30, "call", id="web-form"),
        pytest.param(Channel.EMAIL, 60, "email", id="email"),
        pytest.param(Channel.PHONE, 15, "call", id="missed-call"),
        pytest.param(Channel.TELEGRAM, 15, "message", id="telegram"),
        pytest.param(Channel.WHATSAPP, 15, "message", id="whatsapp"),
    ],
)
def test_first_contact_deadline_by_channel(channel: Channel, minutes: int, kind: str) -> None:
    d = decide_new(make_inquiry(channel=channel), make_snapshot(), NOW, Policy())
    assert d.first_contact is not None
    assert d.first_contact.due_at == NOW + timedelta(minutes=minutes)
    assert d.first_contact.kind == kind


def test_sla_is_configurable_per_channel() -> None:
    policy = Policy(sla_minutes={"web_form": 5})
    d = decide_new(make_inquiry(), make_snapshot(), NOW, policy)
    assert d.first_contact is not None
    assert d.first_contact.due_at == NOW + timedelta(minutes=5)


def test_honeypot_makes_a_junk_lead_without_assignment() -> None:
    d = decide_new(make_inquiry(honeypot=True), make_snapshot(), NOW, Policy())
    assert d.status == "junk"
    assert d.assignee_id is None
    assert d.first_contact is None
    assert d.spam_reasons == ("the hidden honeypot field was filled in",)


def test_unknown_team_falls_back_to_default_team() -> None:
    snapshot = make_snapshot(default_team="Sales")
    d = decide_new(make_inquiry(routing=Routing(team="Nope")), snapshot, NOW, Policy())
    assert d.team_id == 1
    assert d.assignee_id == 1


def test_no_team_queues_the_lead() -> None:
    d = decide_new(make_inquiry(routing=Routing(team=None)), make_snapshot(teams={}), NOW, Policy())
    assert d.assignee_id is None
    assert d.assignment_reason.startswith("queued")
    assert d.first_contact is not None, "the deadline still runs while it waits"


def test_team_without_active_members_queues_the_lead() -> None:
    snapshot = make_snapshot(teams={"Sales": make_team(member_ids=())})
    d = decide_new(make_inquiry(), snapshot, NOW, Policy())
    assert d.assignee_id is None
    assert d.assignment_reason == "queued: team Sales has no members"


def test_replaying_an_inquiry_plans_identical_rows() -> None:
    inquiry = make_inquiry()
    first = decide_new(inquiry, make_snapshot(), NOW, Policy())
    again = decide_new(inquiry, make_snapshot(), NOW, Policy())
    assert first == again


def test_routing_rule_picks_the_team() -> None:
    from ingest.routing import RoutingRule

    vip = make_team(id=2, name="VIP", member_ids=(9,), member_names={9: "Orlova"})
    snapshot = make_snapshot(
        teams={"Sales": make_team(), "VIP": vip},
        rules=(RoutingRule(priority=1, team="VIP", utm_campaign="enterprise"),),
    )
    inquiry = make_inquiry(source={"utm_campaign": "enterprise"})
    d = decide_new(inquiry, snapshot, NOW, Policy())
    assert d.team_id == 2
    assert d.assignee_id == 9
    assert d.explanation["team"].startswith("rule #1")


def test_member_outside_working_hours_is_skipped_and_deadline_counts_working_time() -> None:
    from ingest.routing import MemberState
    from ingest.worktime import WeeklyHours

    # NOW is Friday 2026-11-27 10:00 UTC; Ivanova works 11:00-19:00 UTC, Petrov 09-18.
    late = MemberState(1, "Ivanova", working_hours=WeeklyHours.weekdays("11:00", "19:00"))
    early = MemberState(2, "Petrov", working_hours=WeeklyHours.weekdays("09:00", "18:00"))
    team = make_team(member_ids=(1, 2), members=(late, early))
    d = decide_new(make_inquiry(), make_snapshot(teams={"Sales": team}), NOW, Policy())
    assert d.assignee_id == 2
    assert "Ivanova outside hours" in d.assignment_reason
    assert d.first_contact is not None
    assert d.first_contact.due_at == NOW + timedelta(minutes=30)


def test_friday_evening_form_is_due_monday_morning() -> None:
    from ingest.routing import MemberState
    from ingest.worktime import WeeklyHours

    member = MemberState(1, "Ivanova", working_hours=WeeklyHours.weekdays("09:00", "20:00"))
    team = make_team(member_ids=(1,), members=(member,))
    friday_1955 = datetime(2026, 11, 27, 19, 55, tzinfo=NOW.tzinfo)
    d = decide_new(make_inquiry(), make_snapshot(teams={"Sales": team}), friday_1955, Policy())
    assert d.first_contact is not None
    assert d.first_contact.due_at == datetime(2026, 11, 30, 9, 25, tzinfo=NOW.tzinfo)


def test_nobody_eligible_queues_the_lead_with_the_reasons() -> None:
    from ingest.routing import MemberState
    from ingest.worktime import WeeklyHours

    off = MemberState(1, "Ivanova", working_hours=WeeklyHours.weekdays("12:00", "13:00"))
    capped = MemberState(2, "Petrov", daily_cap=3, assigned_today=3)
    team = make_team(member_ids=(1, 2), members=(off, capped))
    d = decide_new(make_inquiry(), make_snapshot(teams={"Sales": team}), NOW, Policy())
    assert d.assignee_id is None
    assert d.assignment_reason.startswith("queued: no eligible member")
    assert "Ivanova outside hours" in d.assignment_reason


def test_blocklisted_email_makes_a_junk_lead() -> None:
    from ingest.spam import Blocklist

    snapshot = make_snapshot(blocklist=Blocklist(emails=frozenset({"ivan@example.com"})))
    d = decide_new(make_inquiry(), snapshot, NOW, Policy())
    assert d.status == "junk"
    assert d.assignee_id is None
    assert d.explanation["spam"].startswith("junk")


def test_suspicious_inquiry_is_assigned_but_flagged_for_review() -> None:
    from ingest.spam import SpamThresholds

    inquiry = make_inquiry(text="see http://a.example http://b.example http://c.example now")
    d = decide_new(inquiry, make_snapshot(), NOW, Policy(spam=SpamThresholds(suspicious=0.1)))
    assert d.status == "new"
    assert d.needs_review
    assert d.assignee_id is not None


def test_batch_assignment_respects_daily_caps_as_it_goes() -> None:
    from ingest.contract import Sender
    from ingest.routing import MemberState

    members = (MemberState(1, "Ivanova", daily_cap=1), MemberState(2, "Petrov", daily_cap=1))
    team = make_team(member_ids=(1, 2), members=members)
    inquiries = [make_inquiry(sender=Sender(email=f"x{i}@example.com")) for i in range(3)]
    plan = plan_batch(inquiries, make_snapshot(teams={"Sales": team}), NOW, Policy())
    assignees = [d.assignee_id for d in plan.decisions if isinstance(d, NewLead)]
    assert assignees == [1, 2, None]


def test_a_hand_made_lead_goes_to_whom_its_creator_said_and_the_rotation_stays() -> None:
    from ingest.decision_parts import manual_ids

    def manual(email: str, owner: tuple[int, str] | None) -> Inquiry:
        return make_inquiry(
            channel=Channel.MANUAL,
            sender=Sender(email=email),
            channel_ids=manual_ids(3, owner),
            routing=Routing(team="Sales"),
        )

    inquiries = [
        manual("a@client.example", (3, "Sidorov")),  # its creator
        manual("b@client.example", (2, "Petrov")),  # the person the creator chose
        manual("c@client.example", None),  # an admin's: routed
        make_inquiry(sender=Sender(email="d@client.example")),
    ]
    plan = plan_batch(inquiries, make_snapshot(), NOW, Policy())
    decisions = [d for d in plan.decisions if isinstance(d, NewLead)]
    assert [d.assignee_id for d in decisions] == [3, 2, 1, 2]
    assert decisions[0].assignment_reason == "made by hand for Sidorov"
    forged = make_inquiry(sender=Sender(email="e@client.example"), channel_ids={"assign_to": "3"})
    chosen = decide_new(forged, make_snapshot(), NOW, Policy()).assignee_id
    assert chosen == 1, "only the manual channel chooses its manager"
