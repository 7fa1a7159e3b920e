"""The form page: how each refusal is worded, and what the page shows back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.form_page import (
    NO_CONTACT,
    NOT_ACCEPTED,
    NOT_EMAIL,
    NOT_PHONE,
    REQUIRED,
    TOO_LONG,
    FormPages,
    Message,
    PageErrors,
    field_messages,
)
from connectors.webform import FIELD_LIMITS, FormField, FormRejected, Submission
from connectors.webform import normalize_submission as normalize

from ..factories import make_form

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
FORM = make_form(
    fields=(*make_form().fields, FormField("company", "Company", "company", required=True))
)


def refused(data: dict[str, str]) -> FormRejected:
    outcome = normalize(FORM, Submission(data=data, received_at=NOW))
    assert isinstance(outcome, FormRejected)
    return outcome


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            {"email": "ivan@", "company": "ACME"},
            PageErrors({"email": Message(NOT_EMAIL)}),
            id="bad-email",
        ),
        pytest.param(
            {"phone": "12", "company": "ACME"},
            PageErrors({"phone": Message(NOT_PHONE)}),
            id="bad-phone",
        ),
        pytest.param(
            {"email": "ivan@example.com"},
            PageErrors({"company": Message(REQUIRED)}),
            id="required",
        ),
        pytest.param(
            {"email": "ivan@example.com", "company": "ACME", "name": "x" * 1000},
            PageErrors({"name": Message(TOO_LONG, FIELD_LIMITS["name"])}),
            id="too-long",
        ),
        pytest.param(
            {"name": "Ivan", "company": "ACME"},
            PageErrors({}, Message(NO_CONTACT)),
            id="no-contact",
        ),
        pytest.param(
            {"email": "ivan@example.com", "company": "ACME", "extra": "y" * 20_000},
            PageErrors({}, Message(NOT_ACCEPTED)),
            id="not-a-field-of-the-form",
        ),
    ],
)
def test_field_messages(data: dict[str, str], expected: PageErrors) -> None:
    assert field_messages(FORM, data, refused(data), FIELD_LIMITS) == expected


@pytest.mark.parametrize(
    ("language", "required", "too_long"),
    [
        pytest.param("ru", "Заполните, пожалуйста, это поле.", "до 2\xa0000 символов", id="ru"),
        pytest.param("en", "Please fill in this field.", "to 2,000 characters", id="en"),
    ],
)
def test_the_page_speaks_the_language(language: str, required: str, too_long: str) -> None:
    errors = PageErrors({"company": Message(REQUIRED), "name": Message(TOO_LONG, 2000)})
    html = FormPages().form(
        FORM, language, submission_id="s", render_token=None, values={}, errors=errors
    )
    assert f'<html lang="{language}">' in html
    assert required in html and too_long in html


def test_typed_values_come_back_inert() -> None:
    evil = '"><script>alert(1)</script>'
    html = FormPages().form(
        FORM,
        "en",
        submission_id="s",
        render_token=None,
        values={"name": evil, "message": "</textarea><script>x()</script>", "website": "bot"},
        errors=PageErrors({"email": Message(REQUIRED)}),
    )
    assert "<script>" not in html
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert "&lt;/textarea&gt;&lt;script&gt;x()&lt;/script&gt;</textarea>" in html
    assert 'value="bot"' not in html, "the honeypot is never filled back in"
