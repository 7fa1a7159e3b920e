"""A web-form submission as data: the form's definition + submitted fields -> `Inquiry`.

`normalize_submission` is the pure part of the web-form channel (`webform` is its
aiohttp edge): it maps the fields onto an `Inquiry`, or answers `FormRejected` with
per-field reasons, among them any customer field longer than the contract's limit.
Overlong metadata (Referer, User-Agent, `utm_*`) is cut by the contract's types, never
refused. Imports only `ingest.contract` of ours; forms are handed in as data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from ingest.contract import (
    Channel,
    ClientInfo,
    Inquiry,
    InvalidIdentity,
    Routing,
    Sender,
    Source,
    limits,
    normalize_email,
    read_phone_field,
)
from ingest.contract.phones import PHONE_NOTE_FIELD

_T = TypeVar("_T")

UNREAD_PHONE_NOTE = "not recognised as a phone number"
# The shortest national numbers (Norway, Iceland...) have seven digits.
MIN_FOREIGN_PHONE_DIGITS = 7

MapsTo = Literal["name", "email", "phone", "company", "subject", "message"]
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# Identical bodies inside this bucket are one submission (a double-clicked button).
DEDUP_BUCKET_SECONDS = 600
# `json.dumps(..., ensure_ascii=False)` builds this encoder anew on every call.
_CONTENT_JSON = json.JSONEncoder(ensure_ascii=False)
# What each customer field may hold; past it the submission is refused, naming it.
FIELD_LIMITS: Mapping[MapsTo | None, int] = {
    "name": limits.NAME_MAX,
    "email": limits.EMAIL_MAX,
    # A phone field may carry words ("после обеда", "доб. 12"): they become its note.
    "phone": limits.NAME_MAX,
    "company": limits.COMPANY_MAX,
    "subject": limits.SUBJECT_MAX,
    "message": limits.MESSAGE_MAX,
    None: limits.FIELD_VALUE_MAX,
}


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str
    maps_to: MapsTo | None = None
    required: bool = False
    kind: Literal["text", "email", "tel", "textarea", "select", "checkbox", "hidden"] = "text"
    # The label in each page language ("ru", "en"); `label` where a language has none.
    labels: Mapping[str, str] = field(default_factory=dict)
    # A select's choices: anything else is refused, as a person could not have picked it.
    options: Sequence[str] = ()
    # What a hidden field carries, or a ticked checkbox sends.
    value: str | None = None

    def label_in(self, language: str) -> str:
        return self.labels.get(language) or self.label


@dataclass(frozen=True, slots=True)
class FormConfig:
    """A form as an admin defined it; handed to the connector by the runtime."""

    slug: str
    name: str
    fields: tuple[FormField, ...]
    team: str | None = None
    honeypot_field: str | None = "website"
    allowed_origins: tuple[str, ...] = ()
    redirect_url: str | None = None
    # The language of its pages; None: the visitor's Accept-Language decides.
    language: str | None = None

    def allows_origin(self, origin: str) -> bool:
        return "*" in self.allowed_origins or origin.rstrip("/") in {
            o.rstrip("/") for o in self.allowed_origins
        }


@dataclass(frozen=True, slots=True)
class FormRejected:
    """The submission cannot become an inquiry; `errors` maps field → sentence."""

    errors: Mapping[str, str]

    def sentence(self) -> str:
        return " ".join(f"{name}: {why}" for name, why in self.errors.items())


@dataclass(frozen=True, slots=True)
class Submission:
    data: Mapping[str, str]
    received_at: datetime
    client_ip: str | None = None
    user_agent: str | None = None
    referrer: str | None = None
    submission_id: str | None = None
    render_token: str | None = None
    extra_source: Mapping[str, str] = field(default_factory=dict)


def normalize_submission(
    form: FormConfig, sub: Submission, *, default_region: str = "RU"
) -> Inquiry | FormRejected:
    """Map submitted fields onto an Inquiry, validating email and phone."""
    errors: dict[str, str] = {}
    mapped: dict[str, str] = {}
    extras: dict[str, str] = {}
    known = {f.name for f in form.fields}
    for spec in form.fields:
        value = (sub.data.get(spec.name) or "").strip()
        if not value:
            if spec.required:
                errors[spec.name] = f"{spec.label} is required."
            continue
        limit = FIELD_LIMITS[spec.maps_to]
        if spec.options and value not in spec.options:
            errors[spec.name] = f"{spec.label} is not one of its choices."
        elif len(value) > limit:
            errors[spec.name] = f"{spec.label} is longer than {limit:,} characters."
        elif spec.maps_to is None:
            extras[spec.name] = value
        else:
            mapped[spec.maps_to] = value
    for name, value in sub.data.items():
        if _is_extra(name, value, known, form.honeypot_field):
            extras[name] = value.strip()
    _check_extras(extras, errors)
    if sub.submission_id is not None and len(sub.submission_id) > limits.SUBMISSION_ID_MAX:
        errors["Idempotency-Key"] = (
            f"The submission id is longer than {limits.SUBMISSION_ID_MAX} characters."
        )

    email = _checked(mapped.get("email"), normalize_email, "email", form, errors)
    phone = _checked(
        mapped.get("phone"), lambda v: read_phone_field(v, default_region), "phone", form, errors
    )
    if phone is not None:
        # The words around the number stay on the inquiry; a form's own field wins a clash.
        extras = {**phone.fields(), **extras}
    elif email and _unreadable_optional_phone(form, mapped.get("phone"), errors):
        # A number written for another country ("07700 900157" under RU) must not cost
        # the inquiry when we can answer by email: the manager reads it as typed.
        extras = {PHONE_NOTE_FIELD: f"{mapped['phone']} ({UNREAD_PHONE_NOTE})", **extras}
    if not errors and not email and not phone:
        errors["_form"] = "Give an email address or a phone number so that we can answer."
    if errors:
        return FormRejected(errors)

    honeypot = bool(form.honeypot_field and (sub.data.get(form.honeypot_field) or "").strip())
    source_data = {k: sub.data[k] for k in UTM_FIELDS if sub.data.get(k)}
    source_data.update(sub.extra_source)
    return _inquiry(
        {
            "idempotency_key": f"form:{form.slug}:{sub.submission_id or _content_id(form, sub)}",
            "channel": Channel.WEB_FORM,
            "received_at": sub.received_at,
            "sender": {
                "name": mapped.get("name"),
                "email": email,
                "phone": phone.phone if phone else None,
                "company": mapped.get("company"),
            },
            "subject": mapped.get("subject"),
            "text": mapped.get("message"),
            "source": dict(referrer=sub.referrer, **source_data),
            "routing": {"team": form.team, "form": form.slug},
            "client": {"ip": sub.client_ip, "user_agent": sub.user_agent},
            "channel_ids": _channel_ids(form, sub),
            "fields": extras,
            "honeypot": honeypot,
        }
    )


# The inquiry's parts, in the order they were made one by one.
_PARTS: Mapping[str, type[BaseModel]] = {
    "sender": Sender,
    "source": Source,
    "routing": Routing,
    "client": ClientInfo,
}


def _inquiry(values: dict[str, Any]) -> Inquiry:
    """The inquiry validated in one pydantic call, its parts with it, instead of five
    (5-10 us of the edge's ~130 us of normalisation, issue 11).

    Its partition key is then derived from the sender's email and phone as given, which
    our normalisers write as validation leaves them; should they differ, or on any
    validation error, the parts are made one by one as before, so the key comes from
    the validated values and a refusal names the fields it always named.
    """
    try:
        inquiry = Inquiry.model_validate(values)
    except ValidationError:
        pass
    else:
        given = values["sender"]
        if (inquiry.sender.email, inquiry.sender.phone) == (given["email"], given["phone"]):
            return inquiry
    parts = {name: model(**values[name]) for name, model in _PARTS.items()}
    return Inquiry(**{**values, **parts})


def _check_extras(extras: dict[str, str], errors: dict[str, str]) -> None:
    if len(extras) > limits.FIELDS_MAX:
        errors["_form"] = f"The form has more than {limits.FIELDS_MAX} fields."
        return
    for name, value in extras.items():
        if len(name) > limits.FIELD_NAME_MAX:
            errors[name[:40] + "…"] = (
                f"A field name is longer than {limits.FIELD_NAME_MAX} characters."
            )
        elif len(value) > limits.FIELD_VALUE_MAX:
            errors[name] = f"{name} is longer than {limits.FIELD_VALUE_MAX:,} characters."


def _channel_ids(form: FormConfig, sub: Submission) -> dict[str, str]:
    ids = {"form": form.slug}
    if sub.submission_id:
        ids["submission_id"] = sub.submission_id
    if sub.render_token:
        ids["render_token"] = sub.render_token[: limits.CHANNEL_ID_MAX]
    return ids


def _is_extra(name: str, value: str, known: set[str], honeypot: str | None) -> bool:
    reserved = name.startswith("_") or name in UTM_FIELDS or name == honeypot
    return name not in known and not reserved and bool(value.strip())


def _checked(
    value: str | None,
    normalize: Callable[[str], _T],
    role: str,
    form: FormConfig,
    errors: dict[str, str],
) -> _T | None:
    if not value:
        return None
    try:
        return normalize(value)
    except InvalidIdentity as exc:
        field_name = next((f.name for f in form.fields if f.maps_to == role), role)
        errors[field_name] = str(exc)
        return None


def _unreadable_optional_phone(form: FormConfig, raw: str | None, errors: dict[str, str]) -> bool:
    """True, and the phone's error dropped, when the field is optional, its error is the
    only one, and it holds a number's worth of digits (a foreign national format, say):
    the inquiry is then taken with the number kept as written. Words alone or a stray
    "12" are still refused, so the customer can correct them."""
    spec = next((f for f in form.fields if f.maps_to == "phone"), None)
    name = spec.name if spec else "phone"
    if not raw or (spec is not None and spec.required) or set(errors) != {name}:
        return False
    if sum(ch.isdigit() for ch in raw) < MIN_FOREIGN_PHONE_DIGITS:
        return False
    del errors[name]
    return True


def _content_id(form: FormConfig, sub: Submission) -> str:
    bucket = int(sub.received_at.timestamp()) // DEDUP_BUCKET_SECONDS
    body = _CONTENT_JSON.encode(sorted(sub.data.items()))
    return hashlib.sha256(f"{form.slug}|{bucket}|{body}".encode()).hexdigest()[:32]
