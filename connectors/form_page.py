"""The public form's pages, in the form's language: the form, the form again, thanks.

A person whose plain HTML post was refused gets the form back (422) with what they
typed and, beside each refused field, a sentence in the form's language.
`field_messages` is the pure part: it words each refusal of `normalize_submission`
by what the refused field is (empty and required, too long, an email or a phone
that is not one); refusals of no field of the form become one sentence above it.
`FormPages` renders with one autoescaping Jinja2 environment per language, so
customer text stays inert. Language: the form's own setting, else the browser's
Accept-Language, else English (`ingest.contract.i18n`). Imports only
`ingest.contract` of ours (and the webform's types, for the type checker).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from babel.numbers import format_decimal

from ingest.contract.i18n import N_, Catalogs, localized_environments

if TYPE_CHECKING:  # the webform imports this module to render its pages
    from .form_submission import FormConfig, FormField, FormRejected, MapsTo

TEMPLATES = Path(__file__).parent / "templates"

REQUIRED = N_("Please fill in this field.")
TOO_LONG = N_("Please shorten this to {limit} characters.")
NOT_EMAIL = N_("This does not look like an email address.")
NOT_PHONE = N_("This does not look like a phone number.")
NOT_VALID = N_("Please check this value.")
NO_CONTACT = N_("Please give an email address or a phone number so that we can answer.")
NOT_ACCEPTED = N_("Some of what was sent cannot be accepted; please check the form.")


@dataclass(frozen=True, slots=True)
class Message:
    """A message id of the catalog and the values for its placeholders."""

    text: str
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class PageErrors:
    """What the page says: per field of the form, and once above it."""

    fields: Mapping[str, Message] = field(default_factory=dict)
    form: Message | None = None


def field_messages(
    form: FormConfig,
    values: Mapping[str, str],
    rejected: FormRejected,
    limits: Mapping[MapsTo | None, int],
) -> PageErrors:
    """Words each refused field of `form`; anything else is one sentence for the form.

    `limits` is the length each kind of field may have (keyed by `maps_to`)."""
    by_name = {f.name: f for f in form.fields}
    fields: dict[str, Message] = {}
    other = False
    for name in rejected.errors:
        spec = by_name.get(name)
        if spec is None:
            other = True
        else:
            value = (values.get(name) or "").strip()
            fields[name] = _field_message(spec, value, limits[spec.maps_to])
    if "_form" in rejected.errors and not _has_contact(form, values):
        return PageErrors(fields, Message(NO_CONTACT))
    return PageErrors(fields, Message(NOT_ACCEPTED) if other else None)


def _field_message(spec: FormField, value: str, limit: int) -> Message:
    if not value:
        return Message(REQUIRED)
    if len(value) > limit:
        return Message(TOO_LONG, limit)
    if spec.maps_to == "email":
        return Message(NOT_EMAIL)
    if spec.maps_to == "phone":
        return Message(NOT_PHONE)
    return Message(NOT_VALID)


def _has_contact(form: FormConfig, values: Mapping[str, str]) -> bool:
    return any(
        (values.get(f.name) or "").strip() for f in form.fields if f.maps_to in ("email", "phone")
    )


class FormPages:
    """Renders the form and thanks pages; `language` picks the language of a request."""

    def __init__(self, catalogs: Catalogs | None = None) -> None:
        self._catalogs = catalogs or Catalogs.load()
        self._environments = localized_environments(
            jinja2.FileSystemLoader(TEMPLATES), self._catalogs
        )

    def language(self, form: FormConfig, accept_language: str | None) -> str:
        return self._catalogs.choose(form.language, accept_language)

    def form(
        self,
        form: FormConfig,
        language: str,
        *,
        submission_id: str,
        render_token: str | None,
        values: Mapping[str, str] | None = None,
        errors: PageErrors | None = None,
    ) -> str:
        said = errors or PageErrors()
        return self._template(language, "form.html").render(
            form=form,
            submission_id=submission_id,
            render_token=render_token,
            action=f"/forms/{form.slug}",
            values={f.name: (values or {}).get(f.name, "") for f in form.fields},
            errors={name: self._say(m, language) for name, m in said.fields.items()},
            form_error=self._say(said.form, language) if said.form else None,
        )

    def thanks(self, form: FormConfig, language: str) -> str:
        return self._template(language, "thanks.html").render(form=form)

    def _template(self, language: str, name: str) -> jinja2.Template:
        env = self._environments.get(language) or self._environments[self._catalogs.default]
        return env.get_template(name)

    def _say(self, message: Message, language: str) -> str:
        text = self._catalogs.get(language).gettext(message.text)
        if message.limit is None:
            return text
        return text.format(limit=format_decimal(message.limit, locale=language))
