# ruff: noqa: RUF001, RUF003  (Russian text: Cyrillic letters are intended)
"""Managers' notifications, the pure parts: reading lead events, planning notices,
recognising `/link CODE`, the link's answer, and the rows a link writes."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from crm_store.notifications import LeadFacts, Recipient, hash_link_code
from ingest.contract import Channel, Routing, Sender
from ingest.contract.i18n import Catalogs
from ingest.decisions import LinkTelegram, NewLead, Policy, RecordOnly
from ingest.notices import LeadEventView, notices_for, reachable, read_event, telegram_text
from ingest.pipeline import decide, plan_batch
from ingest.records import rows_for
from ingest.replies import LINK_FAILED_TEXT, LINKED_TEXT, link_reply

from ..factories import NOW, make_inquiry, make_snapshot

LEAD = uuid.UUID("7d0e4c8a-0000-4000-8000-000000000001")
EVENT = uuid.UUID("7d0e4c8a-0000-4000-8000-0000000000e1")
DUE = NOW + timedelta(minutes=30)


def facts(**overrides: object) -> LeadFacts:
    values: dict[str, object] = {
        "id": LEAD,
        "title": "Ivan Petrov: Need 20 licenses",
        "channel": "web_form",
        "assignee_id": 1,
        "first_contact_due_at": DUE,
        "name": "Ivan Petrov",
        "email": "ivan@example.com",
        "phone": "+79123456789",
    }
    values.update(overrides)
    return LeadFacts(**values)  # type: ignore[arg-type]


def event(type_: str = "lead.assigned", **overrides: object) -> LeadEventView:
    values: dict[str, object] = {
        "id": EVENT,
        "type": type_,
        "lead_id": LEAD,
        "assignee_id": 1,
        "reason": "round robin: next after Petrov",
        "due_at": DUE,
    }
    values.update(overrides)
    return LeadEventView(**values)  # type: ignore[arg-type]


NNBSP = "\u202f"  # CLDR's narrow no-break space (before AM/PM, before "г.")
ANNA = Recipient(1, "Anna", "anna@corp.test")
ANNA_TG = Recipient(1, "Anna", "anna@corp.test", telegram_chat_id="555", telegram_bot="sales")


# --- reading events ----------------------------------------------------------------------


def test_reads_an_assignment_event_with_its_outbox_id() -> None:
    raw = json.dumps(
        {
            "event_id": str(EVENT),
            "type": "lead.assigned",
            "lead_id": str(LEAD),
            "assignee_id": 1,
            "reason": "round robin",
            "first_contact_due_at": DUE.isoformat(),
        }
    ).encode()
    read = read_event(raw)
    assert read == LeadEventView(EVENT, "lead.assigned", LEAD, 1, "round robin", DUE)


def test_an_event_without_an_id_gets_a_stable_one() -> None:
    raw = json.dumps({"type": "lead.reassigned", "lead_id": str(LEAD), "assignee_id": 2}).encode()
    first, again = read_event(raw), read_event(raw)
    assert first is not None and again is not None and first.id == again.id


@pytest.mark.parametrize(
    "type_", ["lead.created", "lead.junked", "activity.scheduled", "lead.escalated"]
)
def test_other_event_types_are_not_notices(type_: str) -> None:
    assert read_event(json.dumps({"type": type_, "lead_id": str(LEAD)}).encode()) is None


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b'{"lead_id": "x"}', id="no-type"),
        pytest.param(b'{"type": "lead.assigned", "lead_id": "nope"}', id="bad-lead-id"),
        pytest.param(b'{"type": "lead.assigned"}', id="no-lead-id"),
        pytest.param(
            b'{"type": "lead.assigned", "lead_id": "7d0e4c8a-0000-4000-8000-000000000001",'
            b' "first_contact_due_at": "2026-11-27T10:30:00"}',
            id="naive-deadline",
        ),
    ],
)
def test_what_is_not_a_lead_event_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (any reason is the dead letter's)
        read_event(raw)


# --- planning notices --------------------------------------------------------------------


def test_assignment_emails_the_manager_with_the_facts() -> None:
    (mail,) = notices_for(event(), facts(), ANNA, NOW)
    assert (mail.channel, mail.to, mail.purpose) == (
        "email",
        "anna@corp.test",
        "manager_notification",
    )
    assert mail.template == "manager_new_lead"
    assert mail.lead_id == LEAD
    assert mail.context == {
        "lead_id": str(LEAD),
        "title": "Ivan Petrov: Need 20 licenses",
        "name": "Ivan Petrov",
        "email": "ivan@example.com",
        "phone": "+79123456789",
        "channel": "web_form",
        "deadline": f"Nov 27, 2026, 10:30{NNBSP}AM UTC",
        "reason": "round robin: next after Petrov",
        "language": "en",
    }


def test_a_linked_manager_also_gets_telegram_through_their_bot() -> None:
    mail, tg = notices_for(
        event("lead.reassigned"), facts(), ANNA_TG, NOW, console_url="https://crm.test/"
    )
    assert mail.template == "manager_lead_reassigned"
    assert (tg.channel, tg.connector, tg.to, tg.template) == ("telegram", "sales", "555", None)
    assert tg.text is not None
    assert tg.text.startswith("Lead reassigned to you: Ivan Petrov: Need 20 licenses")
    assert f"First contact by Nov 27, 2026, 10:30{NNBSP}AM UTC" in tg.text
    assert tg.text.endswith(f"https://crm.test/leads/{LEAD}")
    assert mail.id != tg.id


def test_ids_derive_from_the_event_so_a_replay_plans_the_same_messages() -> None:
    first = notices_for(event(), facts(), ANNA_TG, NOW)
    later = notices_for(event(), facts(), ANNA_TG, NOW + timedelta(minutes=5))
    assert [m.id for m in first] == [m.id for m in later]
    other = notices_for(event(id=uuid.uuid4()), facts(), ANNA_TG, NOW)
    assert {m.id for m in other}.isdisjoint(m.id for m in first)


@pytest.mark.parametrize(
    ("recipient", "lead", "channels"),
    [
        pytest.param(None, facts(), [], id="unknown-or-inactive-user"),
        pytest.param(ANNA, None, [], id="unknown-lead"),
        pytest.param(ANNA, facts(assignee_id=2), [], id="lead-moved-on"),
        pytest.param(Recipient(1, "Anna", None), facts(), [], id="email-off-not-linked"),
        pytest.param(
            Recipient(1, "Anna", None, "555", "sales"), facts(), ["telegram"], id="telegram-only"
        ),
    ],
)
def test_who_gets_what(
    recipient: Recipient | None, lead: LeadFacts | None, channels: list[str]
) -> None:
    assert [m.channel for m in notices_for(event(), lead, recipient, NOW)] == channels


@pytest.mark.parametrize(
    ("recipient", "email", "channels"),
    [
        pytest.param(ANNA, True, ["email"], id="address-and-smtp"),
        pytest.param(ANNA, False, [], id="address-without-smtp"),
        pytest.param(ANNA_TG, False, ["telegram"], id="linked-without-smtp"),
        pytest.param(Recipient(1, "Anna", None), True, [], id="no-address-not-linked"),
    ],
)
def test_reachable_says_whether_notices_for_sends_anything(
    recipient: Recipient, email: bool, channels: list[str]
) -> None:
    sent = [m.channel for m in notices_for(event(), facts(), recipient, NOW, email=email)]
    assert sent == channels
    assert reachable(recipient, email=email) == bool(channels)


def test_an_appended_inquiry_quotes_the_customer() -> None:
    (mail,) = notices_for(
        event("lead.inquiry_appended", due_at=None),
        facts(),
        ANNA,
        NOW,
        inquiry={"subject": "Re: Quote", "text": "any news?"},
    )
    assert mail.template == "manager_lead_updated"
    assert (mail.context["subject"], mail.context["text"]) == ("Re: Quote", "any news?")
    assert "deadline" not in mail.context


def test_telegram_text_keeps_customer_text_as_text_and_short() -> None:
    text = telegram_text(
        "lead.assigned",
        {"lead_id": "x", "title": "T", "channel": "email", "text": "<b>hi</b>" + "x" * 5000},
        None,
    )
    assert "<b>hi</b>" in text
    assert len(text) < 800


# --- /link CODE ---------------------------------------------------------------------------


def tg_inquiry(text: str, **overrides: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "channel": Channel.TELEGRAM,
        "text": text,
        "sender": Sender(name="Anna", messenger_ids={"telegram": "555"}),
        "routing": Routing(team="Sales", connector="sales"),
        "channel_ids": {"bot_id": "sales", "chat_id": "555", "update_id": "1"},
    }
    values.update(overrides)
    return make_inquiry(**values)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param("/link ABCD2345", "ABCD2345", id="plain"),
        pytest.param("  /link   abcd2345  ", "abcd2345", id="spaces-lowercase"),
    ],
)
def test_link_command_becomes_a_link_decision(text: str, code: str) -> None:
    d = decide(tg_inquiry(text), make_snapshot(), NOW, Policy())
    assert d == LinkTelegram(d.inquiry, code, "555", "sales")


@pytest.mark.parametrize(
    "kw",
    [
        pytest.param({"text": "/link"}, id="no-code"),
        pytest.param({"text": "/link AB CD"}, id="two-words"),
        pytest.param({"text": "please /link ABCD2345"}, id="not-at-start"),
        pytest.param({"channel": Channel.WHATSAPP}, id="not-telegram"),
        pytest.param({"channel_ids": {"bot_id": "sales"}}, id="no-chat"),
    ],
)
def test_what_is_not_a_link_command(kw: dict[str, object]) -> None:
    text = kw.pop("text", "/link ABCD2345")
    d = decide(tg_inquiry(str(text), **kw), make_snapshot(), NOW, Policy())
    assert not isinstance(d, LinkTelegram)


def test_a_throttled_sender_cannot_try_codes() -> None:
    inquiry = tg_inquiry("/link ABCD2345")
    snapshot = make_snapshot(recent_from_sender={inquiry.key: 20})
    assert isinstance(decide(inquiry, snapshot, NOW, Policy()), RecordOnly)


def test_a_link_makes_no_contact_or_lead_and_the_rest_of_the_batch_goes_on() -> None:
    link, lead = tg_inquiry("/link ABCD2345"), make_inquiry()
    plan = plan_batch([link, lead], make_snapshot(), NOW, Policy())
    assert isinstance(plan.decisions[0], LinkTelegram)
    assert isinstance(plan.decisions[1], NewLead)


@pytest.mark.parametrize(
    ("linked", "outcome", "text"),
    [
        pytest.param(True, "telegram_linked", LINKED_TEXT, id="linked"),
        pytest.param(False, "telegram_link_failed", LINK_FAILED_TEXT, id="not-valid"),
    ],
)
def test_link_rows_answer_in_the_chat_and_never_store_the_code(
    linked: bool, outcome: str, text: str
) -> None:
    inquiry = tg_inquiry("/link ABCD2345")
    plan = plan_batch([inquiry], make_snapshot(), NOW, Policy())
    rows = rows_for(plan, {}, NOW, linked={inquiry.id} if linked else set())
    assert rows.leads == [] and rows.contacts == [] and rows.events == []
    (record,) = rows.inquiries
    assert record["outcome"] == outcome
    assert "ABCD2345" not in json.dumps(record["payload"])
    (reply,) = rows.outbound
    assert (reply["channel"], reply["recipient"]) == ("telegram", "555")
    assert reply["payload"]["text"] == text
    assert reply["payload"]["connector"] == "sales"


def test_link_reply_id_is_stable() -> None:
    d = decide(tg_inquiry("/link ABCD2345"), make_snapshot(), NOW, Policy())
    assert isinstance(d, LinkTelegram)
    assert link_reply(d, linked=True, now=NOW).id == link_reply(d, linked=False, now=NOW).id


def test_codes_hash_case_insensitively() -> None:
    assert hash_link_code("abcd2345") == hash_link_code(" ABCD2345 ")
    assert hash_link_code("ABCD2345") != hash_link_code("ABCD2346")


def test_the_deadline_reads_in_the_managers_time_zone() -> None:
    moscow = Recipient(1, "Anna", "anna@corp.test", "555", "sales", timezone="Europe/Moscow")
    mail, tg = notices_for(event("lead.assigned"), facts(), moscow, NOW)
    assert mail.context["deadline"] == f"Nov 27, 2026, 1:30{NNBSP}PM MSK"
    assert tg.text is not None and f"First contact by Nov 27, 2026, 1:30{NNBSP}PM MSK" in tg.text
    lost = Recipient(1, "Anna", "anna@corp.test", timezone="Mars/Olympus")
    (mail,) = notices_for(event("lead.assigned"), facts(), lost, NOW)
    assert mail.context["deadline"] == f"Nov 27, 2026, 10:30{NNBSP}AM UTC"


@pytest.mark.parametrize(
    ("setting", "default", "headline", "deadline"),
    [
        pytest.param(
            "ru",
            "en",
            "Новый лид: ",
            f"Первый контакт до 27 нояб. 2026{NNBSP}г., 13:30 MSK",
            id="their-ru",
        ),
        pytest.param(
            "en",
            "ru",
            "New lead: ",
            f"First contact by Nov 27, 2026, 1:30{NNBSP}PM MSK",
            id="their-en",
        ),
        pytest.param(
            None,
            "ru",
            "Новый лид: ",
            f"Первый контакт до 27 нояб. 2026{NNBSP}г., 13:30 MSK",
            id="default-ru",
        ),
    ],
)
def test_a_notice_speaks_the_managers_language(
    setting: str | None, default: str, headline: str, deadline: str
) -> None:
    anna = Recipient(
        1, "Anna", "anna@corp.test", "555", "sales", timezone="Europe/Moscow", language=setting
    )
    catalogs = Catalogs.load(default=default)
    mail, tg = notices_for(event("lead.assigned"), facts(), anna, NOW, catalogs=catalogs)
    assert mail.context["language"] == (setting or default)
    assert tg.text is not None and tg.text.startswith(headline)
    assert deadline in tg.text
