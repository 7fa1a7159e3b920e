"""Web-form submissions → Inquiry, or a rejection a web developer can act on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.form_submission import _inquiry
from connectors.webform import FormField, FormRejected, Submission, normalize_submission
from ingest.contract import Channel, ClientInfo, Inquiry, Routing, Sender, Source

from ..factories import NOW, make_form

GOOD = {
    "name": "Ivan Petrov",
    "email": "Ivan@Example.com",
    "phone": "8 (912) 345-67-89",
    "message": "Need 20 licenses",
}


def submit(data: dict[str, str], **kwargs: object) -> Inquiry | FormRejected:
    form = kwargs.pop("form", make_form())
    return normalize_submission(form, Submission(data=data, received_at=NOW, **kwargs))  # type: ignore[arg-type]


def test_good_submission_is_normalized() -> None:
    inquiry = submit(GOOD)
    assert isinstance(inquiry, Inquiry)
    assert inquiry.channel == Channel.WEB_FORM
    assert inquiry.sender.email == "ivan@example.com"
    assert inquiry.sender.phone == "+79123456789"
    assert inquiry.sender.name == "Ivan Petrov"
    assert inquiry.text == "Need 20 licenses"
    assert inquiry.routing.team == "Sales"
    assert inquiry.routing.form == "contact"
    assert not inquiry.honeypot


@pytest.mark.parametrize(
    ("phone", "e164", "fields"),
    [
        pytest.param(
            "+7 903 555-12-34 (Telegram)", "+79035551234", {"phone_note": "Telegram"}, id="telegram"
        ),
        pytest.param(
            "8 903 555 12 34 доб. 7, после обеда",
            "+79035551234",
            {"phone_note": "после обеда", "phone_ext": "7"},
            id="words-and-extension",
        ),
        pytest.param("8 (912) 345-67-89", "+79123456789", {}, id="plain-has-no-note"),
    ],
)
def test_an_annotated_phone_is_accepted_with_its_words(
    phone: str, e164: str, fields: dict[str, str]
) -> None:
    inquiry = submit({**GOOD, "phone": phone})
    assert isinstance(inquiry, Inquiry)
    assert inquiry.sender.phone == e164
    assert inquiry.fields == fields


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        pytest.param({**GOOD, "email": "ivan@"}, "email", "not a valid email", id="bad-email"),
        pytest.param({**GOOD, "phone": "12"}, "phone", "phone", id="bad-phone"),
        pytest.param(
            {**GOOD, "phone": "позвоните вечером"}, "phone", "no valid phone", id="words-only-phone"
        ),
        pytest.param(
            {"name": "Ivan", "message": "hi"}, "_form", "email address or a phone", id="no-contact"
        ),
        pytest.param(
            {"name": "Ivan", "email": " ", "phone": ""},
            "_form",
            "email address or a phone",
            id="blank-contact",
        ),
    ],
)
def test_rejections_name_the_field(data: dict[str, str], field: str, words: str) -> None:
    outcome = submit(data)
    assert isinstance(outcome, FormRejected)
    assert words in outcome.errors[field]


def test_a_foreign_national_number_is_kept_as_written_when_email_can_answer() -> None:
    inquiry = submit({**GOOD, "phone": "07700 900157"})
    assert isinstance(inquiry, Inquiry)
    assert inquiry.sender.phone is None
    assert inquiry.fields == {"phone_note": "07700 900157 (not recognised as a phone number)"}


def test_a_foreign_national_number_alone_is_refused_so_it_can_be_corrected() -> None:
    outcome = submit({"name": "Sam", "phone": "07700 900157", "message": "call me"})
    assert isinstance(outcome, FormRejected)
    assert "phone" in outcome.errors


def test_required_field_is_enforced() -> None:
    form = make_form(
        fields=(*make_form().fields, FormField("company", "Company", "company", required=True))
    )
    outcome = submit(GOOD, form=form)
    assert isinstance(outcome, FormRejected)
    assert outcome.errors["company"] == "Company is required."


def test_honeypot_is_flagged_not_dropped() -> None:
    inquiry = submit({**GOOD, "website": "http://spam.example"})
    assert isinstance(inquiry, Inquiry)
    assert inquiry.honeypot
    assert "website" not in inquiry.fields


def test_unmapped_and_unknown_fields_are_kept_as_extras() -> None:
    inquiry = submit({**GOOD, "budget": "100k", "_internal": "x"})
    assert isinstance(inquiry, Inquiry)
    assert inquiry.fields == {"budget": "100k"}


def test_utm_tags_become_the_source() -> None:
    inquiry = submit(
        {**GOOD, "utm_source": "google", "utm_campaign": "spring"}, referrer="https://a.example/"
    )
    assert isinstance(inquiry, Inquiry)
    assert inquiry.source.utm_source == "google"
    assert inquiry.source.utm_campaign == "spring"
    assert inquiry.source.referrer == "https://a.example/"


def test_identical_double_submit_has_one_idempotency_key() -> None:
    a = submit(GOOD)
    b = normalize_submission(
        make_form(), Submission(data=GOOD, received_at=NOW + timedelta(seconds=3))
    )
    assert isinstance(a, Inquiry) and isinstance(b, Inquiry)
    assert a.idempotency_key == b.idempotency_key
    assert a.id != b.id


def test_different_submissions_have_different_keys() -> None:
    a = submit(GOOD)
    b = submit({**GOOD, "message": "Need 30 licenses"})
    assert isinstance(a, Inquiry) and isinstance(b, Inquiry)
    assert a.idempotency_key != b.idempotency_key


def test_explicit_submission_id_is_the_idempotency_key() -> None:
    a = submit(GOOD, submission_id="abc123")
    assert isinstance(a, Inquiry)
    assert a.idempotency_key == "form:contact:abc123"
    assert a.channel_ids["submission_id"] == "abc123"


def test_origin_check() -> None:
    form = make_form()
    assert form.allows_origin("https://shop.example.com")
    assert form.allows_origin("https://shop.example.com/")
    assert not form.allows_origin("https://evil.example")
    assert make_form(allowed_origins=("*",)).allows_origin("https://any.example")


def _values(**sender: object) -> dict[str, object]:
    return {
        "idempotency_key": "form:contact:1",
        "channel": Channel.WEB_FORM,
        "received_at": NOW,
        "sender": {"name": "Ivan", "email": None, "phone": None, "company": None, **sender},
        "subject": None,
        "text": "Hi",
        "source": {"referrer": None},
        "routing": {"team": "Sales", "form": "contact"},
        "client": {"ip": "127.0.0.1", "user_agent": None},
        "channel_ids": {"form": "contact"},
        "fields": {},
        "honeypot": False,
    }


def _one_by_one(values: dict[str, Any]) -> Inquiry:
    parts = {"sender": Sender, "source": Source, "routing": Routing, "client": ClientInfo}
    return Inquiry(**{**values, **{k: model(**values[k]) for k, model in parts.items()}})


@pytest.mark.parametrize(
    "sender",
    [
        {"email": "ivan@example.com"},
        {"phone": "+79123456789"},
        # Not as validation leaves it: the key must come from the validated value.
        {"email": " ivan@example.com\x00 "},
    ],
)
def test_one_validation_gives_the_inquiry_the_parts_made_one_by_one_give(
    sender: dict[str, str],
) -> None:
    values = _values(**sender)
    fast, usual = _inquiry(values), _one_by_one(values)
    assert fast.model_dump(exclude={"id"}) == usual.model_dump(exclude={"id"})
    assert fast.key == usual.key


def test_a_part_that_fails_validation_is_named_as_before() -> None:
    values = {**_values(email="ivan@example.com"), "routing": {"team": "T" * 201, "form": "c"}}
    with pytest.raises(ValidationError) as fast:
        _inquiry(values)
    with pytest.raises(ValidationError) as usual:
        _one_by_one(values)
    assert fast.value.title == usual.value.title == "Routing"
    assert fast.value.errors() == usual.value.errors()
