"""Contact matching, company domains and repeat-inquiry decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.contract import Channel, Inquiry, Sender
from ingest.matching import (
    AppendToLead,
    ContactKey,
    FirstLead,
    IdentityKeys,
    LeadRef,
    Match,
    RepeatLead,
    company_from_email,
    disposable_domains,
    freemail_domains,
    in_domain_list,
    match_contact,
    registrable_domain,
    repeat_decision,
)

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
KNOWN = (
    ContactKey("c1", "email", "ivan@acme.ru"),
    ContactKey("c1", "phone", "+79123456789"),
    ContactKey("c2", "phone", "+79990001122"),
    ContactKey("c2", "telegram", "555"),
    ContactKey("c3", "email", "office@acme.ru"),
    ContactKey("c4", "phone", "+74951234567"),  # a shared office line
    ContactKey("c5", "phone", "+74951234567"),
    ContactKey("c6", "whatsapp", "79990001122"),
)


# --- match_contact ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "contact", "conflict"),
    [
        pytest.param(IdentityKeys(email="ivan@acme.ru"), "c1", None, id="email"),
        pytest.param(IdentityKeys(email="IVAN@acme.ru"), "c1", None, id="email-case"),
        pytest.param(IdentityKeys(phone="+79123456789"), "c1", None, id="phone"),
        pytest.param(IdentityKeys(messenger=(("telegram", "555"),)), "c2", None, id="telegram"),
        pytest.param(IdentityKeys(messenger=(("telegram", "556"),)), None, None, id="other-tg"),
        pytest.param(IdentityKeys(messenger=(("whatsapp", "555"),)), None, None, id="kind-matters"),
        pytest.param(
            IdentityKeys(email="ivan@acme.ru", phone="+79123456789"), "c1", None, id="agree"
        ),
        pytest.param(
            IdentityKeys(email="ivan@acme.ru", phone="+79990001122"),
            "c1",
            ("c1", "c2"),
            id="email-vs-phone-email-wins",
        ),
        pytest.param(
            IdentityKeys(phone="+79123456789", messenger=(("telegram", "555"),)),
            "c1",
            ("c1", "c2"),
            id="phone-vs-telegram-phone-wins",
        ),
        pytest.param(
            IdentityKeys(email="new@acme.ru", phone="+79990001122"), "c2", None, id="unknown-email"
        ),
        pytest.param(
            IdentityKeys(phone="+74951234567"), "c4", ("c4", "c5"), id="shared-phone-conflict"
        ),
        pytest.param(
            IdentityKeys(email="nobody@x.ru", phone="+70000000000"), None, None, id="no-match"
        ),
        pytest.param(IdentityKeys(), None, None, id="no-keys"),
        pytest.param(
            IdentityKeys(
                email="office@acme.ru", phone="+79123456789", messenger=(("telegram", "555"),)
            ),
            "c3",
            ("c3", "c1", "c2"),
            id="three-way",
        ),
    ],
)
def test_match_contact(
    keys: IdentityKeys, contact: str | None, conflict: tuple[str, ...] | None
) -> None:
    result = match_contact(keys, KNOWN, frozenset())
    assert (result.contact_id, result.conflict) == (contact, conflict)


@pytest.mark.parametrize(
    ("marks", "conflict"),
    [
        pytest.param(frozenset({frozenset({"c4", "c5"})}), None, id="marked-not-duplicate"),
        pytest.param(frozenset({frozenset({"c4", "c9"})}), ("c4", "c5"), id="other-pair-marked"),
        pytest.param(frozenset(), ("c4", "c5"), id="no-marks"),
    ],
)
def test_not_duplicate_marks(marks: frozenset[frozenset[str]], conflict: object) -> None:
    result = match_contact(IdentityKeys(phone="+74951234567"), KNOWN, marks)
    assert result.contact_id == "c4"
    assert result.conflict == conflict


def test_partial_marks_keep_the_unmarked_rival() -> None:
    keys = IdentityKeys(
        email="office@acme.ru", phone="+79123456789", messenger=(("telegram", "555"),)
    )
    result = match_contact(keys, KNOWN, frozenset({frozenset({"c3", "c1"})}))
    assert result.conflict == ("c3", "c2")


def test_conflict_reason_says_no_merge() -> None:
    keys = IdentityKeys(email="ivan@acme.ru", phone="+79990001122")
    result = match_contact(keys, KNOWN)
    assert "did not merge" in result.reason
    assert "c2" in result.reason


def test_new_contact_reason() -> None:
    assert match_contact(IdentityKeys(email="a@b.ru"), KNOWN) == Match(
        None, None, "no known contact has these keys; a new contact"
    )


def test_identity_keys_from_inquiry() -> None:
    inquiry = Inquiry(
        idempotency_key="k",
        channel=Channel.TELEGRAM,
        received_at=NOW,
        sender=Sender(email="a@b.ru", messenger_ids={"telegram": "555", "max": "9"}),
    )
    assert IdentityKeys.from_inquiry(inquiry) == IdentityKeys(
        "a@b.ru", None, (("max", "9"), ("telegram", "555"))
    )


# --- company_from_email -----------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "company"),
    [
        pytest.param("ivan@acme.ru", "acme.ru", id="business"),
        pytest.param("Ivan@ACME.RU", "acme.ru", id="case"),
        pytest.param("ivan@msk.acme.ru", "acme.ru", id="subdomain"),
        pytest.param("ivan@acme.co.uk", "acme.co.uk", id="co-uk"),
        pytest.param("ivan@sales.acme.co.uk", "acme.co.uk", id="co-uk-subdomain"),
        pytest.param("ivan@romashka.msk.ru", "romashka.msk.ru", id="msk-ru"),
        pytest.param("ivan@gmail.com", None, id="gmail"),
        pytest.param("ivan@googlemail.com", None, id="googlemail"),
        pytest.param("ivan@yandex.ru", None, id="yandex"),
        pytest.param("ivan@ya.ru", None, id="ya"),
        pytest.param("ivan@mail.ru", None, id="mail-ru"),
        pytest.param("ivan@bk.ru", None, id="bk"),
        pytest.param("ivan@inbox.ru", None, id="inbox"),
        pytest.param("ivan@list.ru", None, id="list"),
        pytest.param("ivan@rambler.ru", None, id="rambler"),
        pytest.param("ivan@outlook.com", None, id="outlook"),
        pytest.param("ivan@hotmail.co.uk", None, id="hotmail-wildcard"),
        pytest.param("ivan@icloud.com", None, id="icloud"),
        pytest.param("ivan@yahoo.com", None, id="yahoo"),
        pytest.param("ivan@yahoo.co.jp", None, id="yahoo-jp"),
        pytest.param("ivan@gmx.de", None, id="gmx-de"),
        pytest.param("ivan@gmx.net", None, id="gmx-net"),
        pytest.param("ivan@proton.me", None, id="proton"),
        pytest.param("bot@mailinator.com", None, id="disposable"),
        pytest.param("bot@x.yopmail.com", None, id="disposable-subdomain"),
        pytest.param("ivan@gmail.company.ru", "company.ru", id="gmail-as-subdomain-label"),
        pytest.param("ivan@localhost", None, id="no-dot"),
        pytest.param("not an address", None, id="no-at"),
        pytest.param("a@b@c.ru", None, id="two-ats"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
    ],
)
def test_company_from_email(email: str | None, company: str | None) -> None:
    assert company_from_email(email) == company


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        pytest.param("acme.ru", "acme.ru", id="plain"),
        pytest.param("a.b.acme.ru", "acme.ru", id="deep"),
        pytest.param("acme.com.au", "acme.com.au", id="com-au"),
        pytest.param("ACME.RU.", "acme.ru", id="trailing-dot"),
    ],
)
def test_registrable_domain(domain: str, expected: str) -> None:
    assert registrable_domain(domain) == expected


@pytest.mark.parametrize(
    ("domain", "listed", "expected"),
    [
        pytest.param("spam.ru", frozenset({"spam.ru"}), True, id="exact"),
        pytest.param("a.spam.ru", frozenset({"spam.ru"}), True, id="parent"),
        pytest.param("notspam.ru", frozenset({"spam.ru"}), False, id="suffix-is-not-parent"),
        pytest.param("gmx.at", frozenset({"gmx.*"}), True, id="wildcard"),
        pytest.param("gmx.example.com", frozenset({"gmx.*"}), False, id="wildcard-brand-only"),
        pytest.param("ru", frozenset({"ru"}), False, id="tld-alone-never"),
    ],
)
def test_in_domain_list(domain: str, listed: frozenset[str], expected: bool) -> None:
    assert in_domain_list(domain, listed) is expected


@pytest.mark.parametrize(
    ("loader", "minimum", "samples"),
    [
        pytest.param(
            freemail_domains,
            100,
            {"gmail.com", "yandex.ru", "mail.ru", "bk.ru", "outlook.com", "gmx.*", "proton.me"},
            id="freemail",
        ),
        pytest.param(
            disposable_domains,
            150,
            {"mailinator.com", "10minutemail.com", "guerrillamail.com", "temp-mail.org"},
            id="disposable",
        ),
    ],
)
def test_shipped_domain_lists(loader: object, minimum: int, samples: set[str]) -> None:
    assert callable(loader)
    domains = loader()
    assert len(domains) >= minimum
    assert samples <= domains
    assert all(d == d.strip().lower() and " " not in d for d in domains)


def test_freemail_and_disposable_do_not_overlap() -> None:
    assert not freemail_domains() & disposable_domains()


# --- repeat_decision --------------------------------------------------------------

WINDOW = timedelta(days=30)


def lead(
    lead_id: str,
    status: str,
    days_ago: float,
    assignee: int | None = 7,
    touched_days_ago: float | None = None,
) -> LeadRef:
    touched = None if touched_days_ago is None else NOW - timedelta(days=touched_days_ago)
    return LeadRef(lead_id, status, assignee, NOW - timedelta(days=days_ago), touched)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("leads", "expected"),
    [
        pytest.param((), FirstLead, id="first"),
        pytest.param((lead("L1", "new", 2),), AppendToLead, id="open-new"),
        pytest.param((lead("L1", "in_progress", 10),), AppendToLead, id="open-in-progress"),
        pytest.param((lead("L1", "in_progress", 40),), RepeatLead, id="open-but-stale"),
        pytest.param(
            (lead("L1", "in_progress", 40, touched_days_ago=3),),
            AppendToLead,
            id="old-but-recently-touched",
        ),
        pytest.param((lead("L1", "converted", 2),), RepeatLead, id="converted"),
        pytest.param((lead("L1", "junk", 2),), RepeatLead, id="junk"),
        pytest.param(
            (lead("L1", "converted", 100), lead("L2", "new", 1)), AppendToLead, id="mixed"
        ),
        pytest.param((lead("L1", "new", 30),), AppendToLead, id="window-edge-inclusive"),
    ],
)
def test_repeat_decision_kind(leads: tuple[LeadRef, ...], expected: type) -> None:
    assert isinstance(repeat_decision(leads, NOW, WINDOW), expected)


def test_appends_to_most_recently_touched() -> None:
    leads = (
        lead("L1", "new", 5),
        lead("L2", "in_progress", 20, touched_days_ago=1),
        lead("L3", "new", 3),
    )
    decision = repeat_decision(leads, NOW, WINDOW)
    assert isinstance(decision, AppendToLead)
    assert decision.lead_id == "L2"
    assert "L2" in decision.reason


@pytest.mark.parametrize(
    ("leads", "manager"),
    [
        pytest.param((lead("L1", "converted", 50, assignee=4),), 4, id="converted-manager"),
        pytest.param(
            (lead("L1", "converted", 50, assignee=4), lead("L2", "converted", 10, assignee=5)),
            5,
            id="most-recent",
        ),
        pytest.param(
            (lead("L1", "converted", 50, assignee=4), lead("L2", "junk", 10, assignee=5)),
            4,
            id="junk-manager-ranks-lower",
        ),
        pytest.param((lead("L1", "junk", 10, assignee=5),), 5, id="only-junk"),
        pytest.param((lead("L1", "converted", 10, assignee=None),), None, id="never-assigned"),
        pytest.param((lead("L1", "in_progress", 90, assignee=8),), 8, id="stale-open"),
    ],
)
def test_repeat_lead_manager(leads: tuple[LeadRef, ...], manager: int | None) -> None:
    decision = repeat_decision(leads, NOW, WINDOW)
    assert isinstance(decision, RepeatLead)
    assert decision.previous_manager == manager


def test_repeat_reasons_read_well() -> None:
    closed = repeat_decision((lead("L1", "converted", 5, assignee=4),), NOW, WINDOW)
    assert closed.reason == (
        "repeat customer: earlier leads all closed (converted or junk); "
        "offered to previous manager 4"
    )
    first = repeat_decision((), NOW, WINDOW)
    assert first == FirstLead("no earlier leads from this sender")
