"""The admin's connector forms, generated from each kind's pydantic settings model.

`form_of(kind, model)` reads the model's fields (the console never imports a
connector: the runtime injects the models) and says how to ask for each one: a
number with its bounds, a checkbox, a select for a `Literal`, a password input for
a `SecretStr` (write-only: the page only ever says "set" or "not set"), text
otherwise. Labels and option names are gettext messages here; help text is the
field's `description`, which the model marks for translation. `values_of` gives a
stored connector's settings as the form's initial values. Pure: no I/O.
Imports `ingest.contract.i18n` only.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr

from ingest.contract.i18n import N_

Widget = Literal["text", "textarea", "number", "checkbox", "select", "password"]
COMMON = frozenset({"name", "team", "active"})

# Translated where shown (the template's `_()`); a field not named here shows its name.
LABELS = {
    "token": N_("Bot token"),
    "mode": N_("Mode"),
    "webhook_secret": N_("Webhook secret"),
    "public_url": N_("Public URL"),
    "ack_template": N_("Acknowledgement text"),
    "api_base_url": N_("API base URL"),
    "poll_timeout_s": N_("Long-poll timeout, s"),
    "verify_token": N_("Verify token"),
    "app_secret": N_("App secret"),
    "auth_token": N_("Auth token"),
    "provider": N_("Provider"),
    "secret": N_("Signing secret"),
    "host": N_("Server"),
    "port": N_("Port"),
    "security": N_("Encryption"),
    "username": N_("User name"),
    "password": N_("Password"),
    "address": N_("Mailbox address"),
    "folder": N_("Folder"),
    "after_capture": N_("After capture"),
    "move_to": N_("Move to folder"),
    "poll_interval_s": N_("Poll interval, s"),
    "idle": N_("Use IMAP IDLE"),
    "ack": N_("Send acknowledgements"),
    "ack_subject": N_("Acknowledgement subject"),
    "ack_body": N_("Acknowledgement body"),
    "ca_file": N_("CA certificate file"),
    "timeout_s": N_("Timeout, s"),
    "max_attachment_bytes": N_("Largest attachment, bytes"),
}
CHOICES = {
    "polling": N_("polling (the bot asks Telegram)"),
    "webhook": N_("webhook (Telegram calls us)"),
    "ssl": N_("TLS (port 993)"),
    "starttls": N_("STARTTLS (port 143)"),
    "plain": N_("none (loopback only)"),
    "seen": N_("mark as read"),
    "move": N_("move to a folder"),
}
LONG_TEXT = frozenset({"ack_body", "ack_template"})


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    help: str | None
    widget: Widget
    required: bool
    default: Any = None
    choices: tuple[tuple[str, str], ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    step: str = "1"

    @property
    def secret(self) -> bool:
        return self.widget == "password"


@dataclass(frozen=True, slots=True)
class KindForm:
    kind: str
    fields: tuple[Field, ...]

    @property
    def settings(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.secret)

    @property
    def secrets(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.secret)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) of `X | None`."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _bounds(metadata: list[Any]) -> tuple[float | None, float | None]:
    low = high = None
    for item in metadata:
        for attr in ("ge", "gt"):
            if (value := getattr(item, attr, None)) is not None:
                low = float(value)
        for attr in ("le", "lt"):
            if (value := getattr(item, attr, None)) is not None:
                high = float(value)
    return low, high


def form_of(kind: str, model: type[BaseModel]) -> KindForm:
    fields = []
    for name, info in model.model_fields.items():
        if name in COMMON:
            continue
        kind_of, optional = _unwrap(info.annotation)
        default = None if info.is_required() else info.default
        low, high = _bounds(list(info.metadata))
        spec: dict[str, Any] = {
            "name": name,
            "label": LABELS.get(name, name.replace("_", " ").capitalize()),
            "help": info.description,
            "required": info.is_required() and not optional,
            "default": default,
        }
        if kind_of is SecretStr:
            fields.append(Field(widget="password", **spec))
        elif kind_of is bool:
            fields.append(Field(widget="checkbox", **spec))
        elif get_origin(kind_of) is Literal:
            options = tuple((str(v), CHOICES.get(str(v), str(v))) for v in get_args(kind_of))
            fields.append(Field(widget="select", choices=options, **spec))
        elif kind_of in (int, float):
            step = "1" if kind_of is int else "any"
            fields.append(Field(widget="number", minimum=low, maximum=high, step=step, **spec))
        else:
            widget: Widget = "textarea" if name in LONG_TEXT else "text"
            fields.append(Field(widget=widget, **spec))
    return KindForm(kind, tuple(fields))


def values_of(form: KindForm, settings: dict[str, Any]) -> dict[str, Any]:
    """A stored connector's settings as the form shows them (defaults where unset)."""
    return {f.name: settings.get(f.name, f.default) for f in form.settings}
