"""The review's pure parts: the kind of each record that made no lead, and the pipeline
making a lead of what a person confirmed, whatever the repeat, loop-guard and spam
rules say."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from crm_store.review import kind_of
from ingest.contract import Inquiry, Review, Sender
from ingest.decisions import LeadRef, NewLead, Policy, RecordOnly
from ingest.pipeline import decide, plan_batch
from ingest.records import rows_for

from ..factories import NOW, make_inquiry, make_snapshot

CONTACT = uuid.UUID("00000000-0000-0000-0000-0000000000c1")
OPEN_LEAD = uuid.UUID("00000000-0000-0000-0000-0000000000a1")
ORIGINAL = uuid.UUID("00000000-0000-0000-0000-0000000000f1")
KNOWN = {("email", "ivan@example.com"): CONTACT}


@pytest.mark.parametrize(
    ("outcome", "reason", "kind"),
    [
        pytest.param("recorded", "auto_reply: Auto-Submitted: auto-replied", "auto_reply", id="ar"),
        pytest.param("recorded", "bounce: From: mailer-daemon@x.test", "bounce", id="bounce"),
        pytest.param("recorded", "bulk: Precedence: bulk", "bulk", id="bulk"),
        pytest.param("recorded", "own_address: sent from this mailbox", "own_address", id="own"),
        pytest.param("recorded", "no_sender: The message has no From", "unreadable", id="nofrom"),
        pytest.param("recorded", "unparseable: The message is empty.", "unreadable", id="bytes"),
        pytest.param("recorded", "throttled: more than 20 inquiries", "loop_guard", id="loop"),
        pytest.param("recorded", "a producer's own reason", "other", id="other"),
        pytest.param("recorded", None, "other", id="no-reason"),
        pytest.param("appended", "repeat inquiry on open lead x", "repeat", id="repeat"),
        pytest.param("logged", "answered call from a known customer", "logged_call", id="call"),
        pytest.param("junk_lead", "not assigned: junk (...)", "junk", id="junk"),
        pytest.param("new_lead", "round-robin; Anna next", "junk", id="junked-later"),
    ],
)
def test_kind_of_names_every_reason(outcome: str, reason: str | None, kind: str) -> None:
    assert kind_of(outcome, reason) == kind


def reviewed(**overrides: object) -> Inquiry:
    return make_inquiry(review=Review(of_inquiry=ORIGINAL, by_user=7), **overrides)


def test_the_same_inquiry_without_review_makes_no_lead_but_with_it_does() -> None:
    auto_reply = {"not_a_lead": "auto_reply: Auto-Submitted: auto-replied"}
    assert isinstance(
        decide(make_inquiry(**auto_reply), make_snapshot(), NOW, Policy()), RecordOnly
    )
    d = decide(reviewed(**auto_reply), make_snapshot(), NOW, Policy())
    assert isinstance(d, NewLead)
    assert d.assignee_id == 1 and d.first_contact is not None
    assert d.first_contact.due_at == NOW + timedelta(minutes=30), "the web form's SLA"
    assert "is real" in d.explanation["review"]


def test_a_reviewed_repeat_is_a_new_lead_not_another_append() -> None:
    open_lead = LeadRef(OPEN_LEAD, "new", 2, 1, NOW - timedelta(hours=1))
    snapshot = make_snapshot(contacts=KNOWN, leads_by_contact={CONTACT: (open_lead,)})
    plain = decide(make_inquiry(), snapshot, NOW, Policy())
    assert type(plain).__name__ == "AppendToLead"
    d = decide(reviewed(), snapshot, NOW, Policy())
    assert isinstance(d, NewLead)
    assert d.contact_id == CONTACT and d.repeat_of == OPEN_LEAD


def test_a_reviewed_loop_guard_stop_is_not_throttled_again() -> None:
    inquiry = reviewed()
    snapshot = make_snapshot(recent_from_sender={inquiry.key: 50})
    assert isinstance(decide(inquiry, snapshot, NOW, Policy()), NewLead)


def test_spam_signals_stay_on_the_lead_but_the_person_decides_the_band() -> None:
    spammy = {"honeypot": True, "sender": Sender(email="x@mailinator.com")}
    plain = decide(make_inquiry(**spammy), make_snapshot(), NOW, Policy())
    assert isinstance(plain, NewLead) and plain.status == "junk"
    d = decide(reviewed(**spammy), make_snapshot(), NOW, Policy())
    assert isinstance(d, NewLead)
    assert d.status == "new" and not d.needs_review and d.assignee_id is not None
    assert any("honeypot" in r for r in d.spam_reasons)


def test_the_reviewed_lead_teaches_not_junk_with_its_text() -> None:
    inquiry = reviewed(subject="Automatic reply", text="Actually, please call me back")
    plan = plan_batch([inquiry], make_snapshot(), NOW, Policy())
    rows = rows_for(plan, {1: "Sales"}, NOW)
    assert len(rows.leads) == 1
    [mark] = rows.spam_marks
    assert mark["is_junk"] is False and mark["lead_id"] == rows.leads[0]["id"]
    assert mark["text"] == "Automatic reply\nActually, please call me back"
    unreviewed = plan_batch([make_inquiry()], make_snapshot(), NOW, Policy())
    assert rows_for(unreviewed, {1: "Sales"}, NOW).spam_marks == []
