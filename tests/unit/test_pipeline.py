"""The foundation's decisions: contact matching, round-robin, SLA, honeypot."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.contract import Channel, Inquiry, Routing, Sender
from ingest.pipeline import (
    AppendToLead,
    NewLead,
    Policy,
    Snapshot,
    decide,
    derived_id,
    next_in_rotation,
    plan_batch,
)

from ..factories import NOW, make_inquiry, make_snapshot, make_team


def decide_new(inquiry: Inquiry, snapshot: Snapshot, now: datetime, policy: Policy) -> NewLead:
    decision = decide(inquiry, snapshot, now, policy)
    assert isinstance(decision, NewLead), decision
    return decision


@pytest.mark.parametrize(
    ("members", "last", "expected"),
    [
        pytest.param((1, 2, 3), None, 1, id="starts-at-lowest"),
        pytest.param((1, 2, 3), 1, 2, id="next-after-last"),
        pytest.param((1, 2, 3), 3, 1, id="wraps-around"),
        pytest.param((3, 1, 2), 1, 2, id="order-of-input-irrelevant"),
        pytest.param((1, 3), 2, 3, id="last-left-the-team"),
        pytest.param((1, 3), 5, 1, id="last-beyond-everyone"),
        pytest.param((7,), 7, 7, id="single-member"),
        pytest.param((), None, None, id="empty-team"),
        pytest.param((), 4, None, id="empty-team-with-cursor"),
        pytest.param((2, 4, 6), 4, 6, id="sparse-ids"),
    ],
)
def test_next_in_rotation(members: tuple[int, ...], last: int | None, expected: int | None) -> None:
    assert next_in_rotation(members, last) == expected


@given(
    members=st.sets(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=12),
    n=st.integers(min_value=0, max_value=200),
    start=st.none() | st.integers(min_value=0, max_value=10_000),
)
def test_round_robin_is_fair(members: set[int], n: int, start: int | None) -> None:
    counts: Counter[int] = Counter()
    last = start
    for _ in range(n):
        last = next_in_rotation(tuple(members), last)
        assert last is not None
        counts[last] += 1
    spread = [counts[m] for m in members]
    assert max(spread) - min(spread) <= 1


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
    assert "Sidorov next after Petrov" in d.assignment_reason


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
    assert d.spam_reasons == ("honeypot",)


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
    assert "no active member" in d.assignment_reason


def test_replaying_an_inquiry_plans_identical_rows() -> None:
    inquiry = make_inquiry()
    first = decide_new(inquiry, make_snapshot(), NOW, Policy())
    again = decide_new(inquiry, make_snapshot(), NOW, Policy())
    assert first == again
