"""Acknowledgements a decision sends (managers' notices come from lead events)."""

from __future__ import annotations

import pytest

from ingest.contract import Channel, Routing, Sender
from ingest.decisions import NewLead, Policy
from ingest.pipeline import decide
from ingest.replies import ack_message_id, is_no_reply, outbound_for

from ..factories import NOW, make_inquiry, make_snapshot


def new_lead(**kw: object) -> NewLead:
    d = decide(make_inquiry(**kw), make_snapshot(), NOW, Policy())
    assert isinstance(d, NewLead)
    return d


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("noreply@shop.example", True, id="noreply"),
        pytest.param("no-reply@shop.example", True, id="no-reply"),
        pytest.param("do_not_reply@bank.example", True, id="do-not-reply"),
        pytest.param("MAILER-DAEMON@mx.example", True, id="mailer-daemon"),
        pytest.param("postmaster@mx.example", True, id="postmaster"),
        pytest.param("bounces+123@list.example", True, id="bounces"),
        pytest.param("ivan@example.com", False, id="person"),
        pytest.param("replyguy@example.com", False, id="not-a-prefix-match"),
    ],
)
def test_no_reply_addresses(address: str, expected: bool) -> None:
    assert is_no_reply(address) is expected


def test_email_lead_gets_a_threaded_auto_submitted_ack() -> None:
    d = new_lead(
        channel=Channel.EMAIL,
        subject="Quote",
        routing=Routing(team="Sales", connector="sales-inbox"),
        channel_ids={"message_id": "<m1@client>", "references": "<m0@client>"},
    )
    (ack,) = list(outbound_for(d, now=NOW, recently_acknowledged=set()))
    assert ack.channel == "email"
    assert ack.to == "ivan@example.com"
    assert ack.connector == "sales-inbox"
    assert ack.headers["Auto-Submitted"] == "auto-replied"
    assert ack.headers["In-Reply-To"] == "<m1@client>"
    assert ack.headers["References"] == "<m0@client> <m1@client>"
    assert ack.headers["Message-ID"] == f"<{ack_message_id(d.lead_id)}>"
    assert ack.subject == "Re: Quote"


def test_a_new_lead_sends_no_manager_notice_from_ingest() -> None:
    d = new_lead()
    messages = outbound_for(d, now=NOW, recently_acknowledged=set())
    assert [m.purpose for m in messages] == ["acknowledgement"]


@pytest.mark.parametrize(
    "kw",
    [
        pytest.param({"honeypot": True}, id="junk"),
        pytest.param({"sender": Sender(email="noreply@shop.example")}, id="no-reply"),
        pytest.param({"sender": Sender(phone="+79123456789")}, id="no-address"),
        pytest.param({"channel": Channel.IMPORT}, id="import"),
    ],
)
def test_no_ack(kw: dict[str, object]) -> None:
    d = new_lead(**kw)
    acks = [
        m
        for m in outbound_for(d, now=NOW, recently_acknowledged=set())
        if m.purpose == "acknowledgement"
    ]
    assert acks == []


def test_repeat_within_the_window_is_suppressed() -> None:
    d = new_lead()
    recently = {("email", "ivan@example.com")}
    assert outbound_for(d, now=NOW, recently_acknowledged=recently) == []


def test_telegram_ack_goes_to_the_chat_through_the_bot() -> None:
    d = new_lead(
        channel=Channel.TELEGRAM,
        sender=Sender(messenger_ids={"telegram": "555"}),
        routing=Routing(connector="bot-1"),
        channel_ids={"chat_id": "555"},
    )
    (ack,) = outbound_for(d, now=NOW, recently_acknowledged=set())
    assert (ack.channel, ack.to, ack.connector, ack.template) == ("telegram", "555", "bot-1", "ack")


def test_without_smtp_no_email_is_queued() -> None:
    d = new_lead()
    assert (
        outbound_for(d, now=NOW, recently_acknowledged=set(), channels=frozenset({"telegram"}))
        == []
    )
