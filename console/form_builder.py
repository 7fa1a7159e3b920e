"""What the form builder page (`/admin/forms`) hands its script: the form being
edited, where its public pages are, and the words of the embed snippet in each
language the forms speak.

The builder edits a form as the admin API's `FormBody` (plus `slug` when new) and
saves it through `POST`/`PUT /api/v1/admin/forms`, so the page and the API keep one
set of rules; this module only shapes data for the template. Pure: no I/O. Imports
`crm_store` views and `ingest.contract.i18n`.
"""

from __future__ import annotations

from typing import Any

from crm_store.configuration import FormView
from ingest.contract.i18n import Catalogs

# The fields a new form starts with: what most contact forms ask.
STARTER_FIELDS: list[dict[str, Any]] = [
    {"name": "name", "label": "Name", "labels": {"ru": "Имя", "en": "Name"}, "maps_to": "name"},
    {"name": "email", "label": "Email", "labels": {"ru": "Эл. почта", "en": "Email"},
     "maps_to": "email", "kind": "email"},
    {"name": "phone", "label": "Phone", "labels": {"ru": "Телефон", "en": "Phone"},
     "maps_to": "phone", "kind": "tel"},
    {"name": "message", "label": "Message", "labels": {"ru": "Сообщение", "en": "Message"},
     "maps_to": "message", "kind": "textarea"},
]  # fmt: skip
# The words the public form page itself uses (connectors/templates/form.html).
SNIPPET_WORDS = {"send": "Send", "honeypot": "Leave this empty"}


def editable(form: FormView | None) -> dict[str, Any]:
    """The form as the builder edits it: the API's body, `slug` included."""
    if form is None:
        return {
            "slug": "",
            "name": "",
            "team": None,
            "fields": STARTER_FIELDS,
            "honeypot_field": "website",
            "allowed_origins": [],
            "redirect_url": None,
            "language": None,
            "active": True,
        }
    return form.model_dump(mode="json", exclude={"id", "updated_at"})


def builder_data(form: FormView | None, base: str, catalogs: Catalogs) -> dict[str, Any]:
    """Everything the builder's script reads (rendered as a JSON data block)."""
    words = {
        language: {key: catalogs.get(language).gettext(text) for key, text in SNIPPET_WORDS.items()}
        for language in catalogs.languages
    }
    return {"form": editable(form), "base": base, "creating": form is None, "words": words}
