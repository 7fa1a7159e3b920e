"""Repeat inquiries, conversations, threads, calls and what is only recorded."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from ingest.contract import Channel, Sender
from ingest.decision_parts import thread_ids_of
from ingest.decisions import (
    AppendToLead,
    Decision,
    LeadRef,
    LogActivity,
    NewLead,
    Policy,
    RecordOnly,
    Snapshot,
)
from ingest.pipeline import decide, plan_batch

from ..factories import NOW, make_inquiry, make_snapshot

CONTACT = uuid.UUID("00000000-0000-0000-0000-0000000000c1")
LEAD = uuid.UUID("00000000-0000-0000-0000-0000000000a1")
KNOWN = {
    ("email", "ivan@example.com"): CONTACT,
    ("phone", "+79123456789"): CONTACT,
    ("telegram", "555"): CONTACT,
}


def lead(
    status: str = "new",
    age: timedelta = timedelta(days=1),
    assignee: int | None = 2,
    lead_id: uuid.UUID = LEAD,
) -> LeadRef:
    return LeadRef(lead_id, status, assignee, 1, NOW - age)


def with_leads(*leads: LeadRef, **kw: object) -> Snapshot:
    return make_snapshot(contacts=KNOWN, leads_by_contact={CONTACT: tuple(leads)}, **kw)


def run(
    inquiry_kw: dict[str, object], *leads: LeadRef, policy: Policy | None = None, **snap: object
) -> Decision:
    return decide(
        make_inquiry(**inquiry_kw),
        with_leads(*leads, **snap),
        NOW,
        policy or Policy(),
    )


@pytest.mark.parametrize(
    ("leads", "expected"),
    [
        pytest.param((lead("new"),), AppendToLead, id="open-new-lead"),
        pytest.param((lead("in_progress"),), AppendToLead, id="open-in-progress"),
        pytest.param((lead("new", timedelta(days=31)),), NewLead, id="open-but-outside-window"),
        pytest.param((lead("converted"),), NewLead, id="all-converted"),
        pytest.param((lead("junk"),), NewLead, id="all-junk"),
        pytest.param((), NewLead, id="known-contact-no-leads"),
        pytest.param(
            (lead("junk"), lead("new", lead_id=uuid.uuid4())),
            AppendToLead,
            id="one-open-among-closed",
        ),
    ],
)
def test_repeat_inquiry_rules(leads: tuple[LeadRef, ...], expected: type) -> None:
    assert isinstance(run({}, *leads), expected)


def test_append_goes_to_the_newest_open_lead_and_keeps_its_manager() -> None:
    newer = uuid.uuid4()
    d = run({}, lead("new", timedelta(days=5)), lead("new", timedelta(hours=1), 3, newer))
    assert isinstance(d, AppendToLead)
    assert d.lead_id == newer
    assert d.assignee_id == 3
    assert d.inbound.direction == "inbound"
    assert d.follow_up is None


def test_window_is_configurable_per_channel() -> None:
    policy = Policy(repeat_window_by_channel={"web_form": timedelta(hours=1)})
    assert isinstance(run({}, lead("new", timedelta(hours=2)), policy=policy), NewLead)
    assert isinstance(
        run({"channel": Channel.EMAIL}, lead("new", timedelta(hours=2)), policy=policy),
        AppendToLead,
    )


def test_channel_can_opt_out_of_appending() -> None:
    policy = Policy(append_channels=frozenset({"email"}))
    assert isinstance(run({}, lead("new"), policy=policy), NewLead)


def test_repeat_lead_goes_back_to_the_previous_manager() -> None:
    d = run({}, lead("converted", assignee=3))
    assert isinstance(d, NewLead)
    assert d.assignee_id == 3
    assert "sticky to Sidorov" in d.assignment_reason
    assert d.repeat_of == LEAD


def test_previous_manager_who_left_the_team_is_not_sticky() -> None:
    d = run({}, lead("junk", assignee=99))
    assert isinstance(d, NewLead)
    assert d.assignee_id == 1
    assert "round-robin; Ivanova next" in d.assignment_reason


def test_identity_conflict_is_recorded_not_merged() -> None:
    other = uuid.uuid4()
    known = {("email", "ivan@example.com"): CONTACT, ("phone", "+79123456789"): other}
    d = decide(make_inquiry(), make_snapshot(contacts=known), NOW, Policy())
    assert isinstance(d, NewLead)
    assert d.contact.id == CONTACT, "the email, the strongest key, wins"
    assert d.contact.conflict == ("phone +79123456789 belongs to another contact",)


def test_telegram_conversation_is_one_lead() -> None:
    sender = Sender(name="Ivan", messenger_ids={"telegram": "555"})
    d = run({"channel": Channel.TELEGRAM, "sender": sender, "text": "and the price?"}, lead())
    assert isinstance(d, AppendToLead)
    assert d.inbound.kind == "message"
    assert d.inbound.result == "and the price?"


@pytest.mark.parametrize("status", ["missed", "busy", "voicemail"])
def test_missed_call_on_open_lead_adds_a_call_back(status: str) -> None:
    d = run(
        {
            "channel": Channel.PHONE,
            "sender": Sender(phone="+79123456789"),
            "fields": {"call_status": status},
            "text": None,
        },
        lead(),
    )
    assert isinstance(d, AppendToLead)
    assert d.inbound.kind == "call"
    assert d.follow_up is not None
    assert d.follow_up.subject == "Call back"
    assert d.follow_up.due_at == NOW + timedelta(minutes=15)


@pytest.mark.parametrize("status", ["missed", "busy", "voicemail"])
def test_missed_call_from_unknown_number_makes_a_lead_with_call_back(status: str) -> None:
    inquiry = make_inquiry(
        channel=Channel.PHONE,
        sender=Sender(phone="+79990001122"),
        fields={"call_status": status},
        text=None,
    )
    d = decide(inquiry, make_snapshot(), NOW, Policy())
    assert isinstance(d, NewLead)
    assert d.first_contact is not None
    assert (d.first_contact.kind, d.first_contact.subject) == ("call", "Call back")
    assert d.first_contact.due_at == NOW + timedelta(minutes=15)
    assert d.inbound is not None and d.inbound.kind == "call"


def test_answered_call_from_known_number_without_open_lead_is_logged() -> None:
    d = run(
        {
            "channel": Channel.PHONE,
            "sender": Sender(phone="+79123456789"),
            "fields": {"call_status": "answered"},
            "channel_ids": {"duration_s": "95"},
        },
        lead("converted"),
    )
    assert isinstance(d, LogActivity)
    assert d.inbound.kind == "call"
    assert d.inbound.result is not None and "duration 95 s" in d.inbound.result


def test_answered_call_from_unknown_number_creates_a_lead_in_progress() -> None:
    inquiry = make_inquiry(
        channel=Channel.PHONE,
        sender=Sender(phone="+79990001122"),
        fields={"call_status": "answered"},
    )
    d = decide(inquiry, make_snapshot(), NOW, Policy())
    assert isinstance(d, NewLead)
    assert d.status == "in_progress"
    assert d.first_contact is None, "the first contact already happened"


def test_answered_call_on_open_lead_is_a_done_activity_there() -> None:
    d = run(
        {
            "channel": Channel.PHONE,
            "sender": Sender(phone="+79123456789"),
            "fields": {"call_status": "answered"},
        },
        lead(),
    )
    assert isinstance(d, AppendToLead)
    assert d.follow_up is None


def test_email_reply_threads_onto_its_lead_even_from_a_new_address() -> None:
    inquiry = make_inquiry(
        channel=Channel.EMAIL,
        sender=Sender(email="ivan.home@example.org"),
        channel_ids={"message_id": "<r1@x>", "in_reply_to": "<ack-1@leadflow.invalid>"},
    )
    snapshot = make_snapshot(threads={"ack-1@leadflow.invalid": LEAD})
    d = decide(inquiry, snapshot, NOW, Policy())
    assert isinstance(d, AppendToLead)
    assert d.lead_id == LEAD
    assert d.reason.startswith("reply in the thread")


def test_reply_to_a_closed_lead_makes_a_new_lead() -> None:
    d = run(
        {"channel": Channel.EMAIL, "channel_ids": {"in_reply_to": "<m@x>"}},
        lead("converted"),
        threads={"m@x": LEAD},
    )
    assert isinstance(d, NewLead)


def test_thread_ids_come_from_in_reply_to_and_references() -> None:
    inquiry = make_inquiry(channel_ids={"in_reply_to": "<a@x>", "references": "<b@x> <a@x>  <c@x>"})
    assert thread_ids_of(inquiry) == ("a@x", "b@x", "c@x")


def test_not_a_lead_is_recorded_with_its_reason() -> None:
    d = decide(
        make_inquiry(not_a_lead="auto_reply: Auto-Submitted: auto-replied"),
        make_snapshot(),
        NOW,
        Policy(),
    )
    assert isinstance(d, RecordOnly)
    assert d.reason.startswith("auto_reply")


def test_loop_guard_throttles_a_flooding_sender() -> None:
    inquiry = make_inquiry()
    snapshot = make_snapshot(recent_from_sender={inquiry.key: 20})
    d = decide(inquiry, snapshot, NOW, Policy())
    assert isinstance(d, RecordOnly)
    assert "throttled" in d.reason


def test_loop_guard_counts_inside_the_batch() -> None:
    inquiries = [make_inquiry(text=f"auto {i}") for i in range(25)]
    plan = plan_batch(inquiries, make_snapshot(), NOW, Policy(sender_limit=20))
    kinds = [type(d).__name__ for d in plan.decisions]
    assert kinds[0] == "NewLead"
    assert kinds[1:20] == ["AppendToLead"] * 19
    assert kinds[20:] == ["RecordOnly"] * 5


def test_business_domain_makes_a_company_and_free_mail_does_not() -> None:
    business = decide(
        make_inquiry(sender=Sender(name="Olga", email="olga@msk.acme.ru", company="ACME LLC")),
        make_snapshot(),
        NOW,
        Policy(),
    )
    free = decide(
        make_inquiry(sender=Sender(email="olga@gmail.com")), make_snapshot(), NOW, Policy()
    )
    assert isinstance(business, NewLead) and isinstance(free, NewLead)
    assert business.contact.new is not None and free.contact.new is not None
    company = business.contact.new.company
    assert company is not None
    assert (company.domain, company.name, company.new) == ("acme.ru", "ACME LLC", True)
    assert free.contact.new.company is None


def test_known_company_is_reused_and_one_batch_makes_it_once() -> None:
    known = uuid.uuid4()
    d = decide(
        make_inquiry(sender=Sender(email="a@acme.ru")),
        make_snapshot(companies={"acme.ru": known}),
        NOW,
        Policy(),
    )
    assert isinstance(d, NewLead) and d.contact.new is not None
    assert d.contact.new.company is not None and d.contact.new.company.id == known
    plan = plan_batch(
        [make_inquiry(sender=Sender(email=f"u{i}@corp.example")) for i in range(3)],
        make_snapshot(),
        NOW,
        Policy(),
    )
    made = [
        d.contact.new.company
        for d in plan.decisions
        if isinstance(d, NewLead) and d.contact.new and d.contact.new.company
    ]
    assert [c.new for c in made] == [True, False, False]
    assert len({c.id for c in made}) == 1


def test_not_duplicate_mark_silences_the_conflict_note() -> None:
    other = uuid.uuid4()
    known = {("email", "ivan@example.com"): CONTACT, ("phone", "+79123456789"): other}
    marked = make_snapshot(contacts=known, not_duplicates=frozenset({frozenset({CONTACT, other})}))
    d = decide(make_inquiry(), marked, NOW, Policy())
    assert isinstance(d, NewLead)
    assert d.contact.id == CONTACT
    assert d.contact.conflict == ()
