"""The builder's field kinds on the public form: labels per language, a select's
choices, a checkbox, a hidden field; and the builder's schema refusing what the form
could not use."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connectors.form_page import FormPages
from connectors.webform import FormField, FormRejected, Submission, normalize_submission
from console.schemas import FormBody
from ingest.contract import Inquiry

from ..factories import NOW, make_form

FORM = make_form(
    fields=(
        FormField("name", "Name", "name", labels={"ru": "Имя", "en": "Your name"}),
        FormField("email", "Email", "email", kind="email", required=True),
        FormField("plan", "Plan", kind="select", options=("Basic", "Pro")),
        FormField("consent", "I agree", kind="checkbox", required=True, value="agreed"),
        FormField("campaign", "Campaign", kind="hidden", value="winter-<sale>"),
    )
)


def test_labels_follow_the_page_language_and_kinds_render() -> None:
    pages = FormPages()
    ru = pages.form(FORM, "ru", submission_id="s", render_token=None)
    en = pages.form(FORM, "en", submission_id="s", render_token=None)
    assert ">Имя<" in ru and ">Your name<" in en
    assert "<option>Pro</option>" in en
    assert 'type="checkbox" value="agreed"' in en
    assert 'type="hidden" name="campaign" value="winter-&lt;sale&gt;"' in en
    assert "Campaign" not in en, "a hidden field shows no label"


def submit(data: dict[str, str]) -> Inquiry | FormRejected:
    return normalize_submission(FORM, Submission(data=data, received_at=NOW))


def test_a_choice_outside_the_select_and_an_unticked_required_box_are_refused() -> None:
    refused = submit({"email": "a@example.com", "plan": "Enterprise"})
    assert isinstance(refused, FormRejected)
    assert set(refused.errors) == {"plan", "consent"}
    inquiry = submit(
        {"email": "a@example.com", "plan": "Pro", "consent": "agreed", "campaign": "winter"}
    )
    assert isinstance(inquiry, Inquiry)
    assert inquiry.fields == {"plan": "Pro", "consent": "agreed", "campaign": "winter"}


def body(**field: Any) -> dict[str, Any]:
    return {
        "name": "Demo",
        "fields": [{"name": "email", "label": "Email", "maps_to": "email"}, field],
    }


@pytest.mark.parametrize(
    ("field", "says"),
    [
        pytest.param({"name": "p", "label": "P", "kind": "select"}, "needs at least one", id="select-empty"),
        pytest.param({"name": "p", "label": "P", "options": ["a"]}, "only a select", id="options-on-text"),
        pytest.param({"name": "p", "label": "P", "kind": "hidden", "required": True}, "hidden", id="hidden-required"),
        pytest.param({"name": "p", "label": "P", "labels": {"de": "X"}}, "labels.de", id="unknown-language"),
        pytest.param({"name": "website", "label": "W"}, "honeypot", id="honeypot-clash"),
    ],
)  # fmt: skip
def test_the_schema_refuses_fields_the_form_could_not_use(field: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        FormBody.model_validate(body(**field))
    assert says.lower() in str(caught.value).lower()


def test_a_full_field_is_accepted_and_runs_on_the_connector() -> None:
    form = FormBody.model_validate(
        body(name="plan", label="Plan", labels={"ru": "Тариф"}, kind="select", options=["A", "B"])
    )
    dumped = form.model_dump(mode="json")["fields"][1]
    assert FormField(**dumped).label_in("ru") == "Тариф"
