"""The sentence shown beside a refused field, in the reader's language.

pydantic says why a field was refused in English (`String should have at most 200
characters`); the console reads Russian first. `sentence` turns one pydantic error
into a `Sentence`: the English text (the str itself, so the API's `errors` stay
{"field": "text"} for every caller) together with the gettext message and the
error's `ctx` values (limits, allowed values) that say it in another language.
`translated` renders a whole `errors` mapping for one reader, where the problem
response is made (`console.http`). A validator of ours raises `MessageError` (or a
plain `ValueError` whose text is marked with `N_`), and its message is translated
too. An error type without a sentence here keeps pydantic's text. Imports
`console.schemas` (its pattern of required text) and `ingest.contract`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from gettext import NullTranslations
from typing import Any

from pydantic_core import ErrorDetails

from console.schemas import SEEN
from ingest.contract.i18n import N_, NP_, MessageError


class Sentence(str):
    """A field's sentence in English, with what it takes to say it in another language.

    `message` is the gettext msgid, or a pair (`NP_`) of it and its plural, chosen by
    the integer parameter named `counted`; `params` fill their `%(name)s` placeholders.
    """

    message: str
    plural: str | None
    counted: str | None
    params: dict[str, Any]

    def __new__(
        cls,
        message: str | tuple[str, str],
        params: Mapping[str, Any] | None = None,
        *,
        counted: str | None = None,
    ) -> Sentence:
        values = dict(params or {})
        singular, plural = message if isinstance(message, tuple) else (message, None)
        english = plural if plural and counted and values[counted] != 1 else singular
        self = super().__new__(cls, english % values if values else english)
        self.message, self.plural, self.counted, self.params = singular, plural, counted, values
        return self

    def translated(self, translations: NullTranslations) -> str:
        if self.plural is not None and self.counted is not None:
            text = translations.ngettext(self.message, self.plural, int(self.params[self.counted]))
        else:
            text = translations.gettext(self.message)
        try:
            return text % self.params if self.params else text
        except (KeyError, ValueError, TypeError):
            return str(self)  # a broken translation must not break the answer


def _alternatives(expected: object) -> str:
    """pydantic's "'a', 'b' or 'c'" as "'a', 'b', 'c'": its English "or" reads oddly
    inside a Russian sentence, and a list reads well in both."""
    head, sep, last = str(expected).rpartition(" or ")
    return f"{head}, {last}" if sep else str(expected)


def _shown(value: Any) -> Any:
    # A float bound of a float field is 0.0: a person reads and types 0.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _ctx(error: ErrorDetails, *names: str) -> dict[str, Any]:
    ctx = error.get("ctx") or {}
    return {name: _shown(ctx[name]) for name in names}


def _value_error(error: ErrorDetails) -> Sentence | str:
    ctx = error.get("ctx") or {}
    if "reason" in ctx:  # pydantic's EmailStr: email-validator's reason is English only
        return Sentence(N_("This is not a valid email address."))
    cause = ctx.get("error")
    if isinstance(cause, MessageError):
        return Sentence(cause.message, cause.params)
    if isinstance(cause, Exception):
        return Sentence(str(cause))  # a plain ValueError whose text is marked with N_
    return error["msg"]


def _too_short(error: ErrorDetails) -> Sentence:
    params = _ctx(error, "min_length")
    if params["min_length"] == 1:
        return Sentence(N_("This must not be empty."))
    return Sentence(
        NP_(
            "Enter at least %(min_length)d character.",
            "Enter at least %(min_length)d characters.",
        ),
        params,
        counted="min_length",
    )


def _too_long(error: ErrorDetails) -> Sentence:
    return Sentence(
        NP_(
            "Use at most %(max_length)d character.",
            "Use at most %(max_length)d characters.",
        ),
        _ctx(error, "max_length"),
        counted="max_length",
    )


def _pattern(error: ErrorDetails) -> Sentence:
    pattern = str((error.get("ctx") or {}).get("pattern", ""))
    if pattern == SEEN:  # required text, blank
        return Sentence(N_("This must not be empty or blank."))
    if pattern.startswith("^https?://"):
        return Sentence(N_("Enter an address that starts with http:// or https://."))
    return Sentence(N_("This is not in the expected format."))


def _fixed(message: str) -> Callable[[ErrorDetails], Sentence]:
    return lambda _error: Sentence(message)


def _with(message: str, *names: str) -> Callable[[ErrorDetails], Sentence]:
    return lambda error: Sentence(message, _ctx(error, *names))


_NUMBER = _fixed(N_("Enter a number."))
_WHOLE = _fixed(N_("Enter a whole number."))
_YES_NO = _fixed(N_("Choose yes or no (true or false)."))
_URL = _fixed(N_("Enter a web address such as https://example.com."))
_DATETIME = _fixed(N_("Enter a date and time such as 2026-12-31T18:00:00+03:00."))
_DATE = _fixed(N_("Enter a date such as 2026-12-31."))
_TIME = _fixed(N_("Enter a time such as 18:30."))
_UUID = _fixed(N_("Enter an id such as 123e4567-e89b-12d3-a456-426614174000."))

SENTENCES: Mapping[str, Callable[[ErrorDetails], Sentence | str]] = {
    "missing": _fixed(N_("This field is required.")),
    "extra_forbidden": _fixed(N_("This field is not accepted here.")),
    "string_too_short": _too_short,
    "string_too_long": _too_long,
    "too_short": lambda error: Sentence(
        NP_(
            "Give at least %(min_length)d item.",
            "Give at least %(min_length)d items.",
        ),
        _ctx(error, "min_length"),
        counted="min_length",
    ),
    "too_long": lambda error: Sentence(
        NP_(
            "Give at most %(max_length)d item.",
            "Give at most %(max_length)d items.",
        ),
        _ctx(error, "max_length"),
        counted="max_length",
    ),
    "greater_than": _with(N_("Enter a number greater than %(gt)s."), "gt"),
    "greater_than_equal": _with(N_("Enter %(ge)s or more."), "ge"),
    "less_than": _with(N_("Enter a number less than %(lt)s."), "lt"),
    "less_than_equal": _with(N_("Enter %(le)s or less."), "le"),
    "int_parsing": _WHOLE,
    "int_type": _WHOLE,
    "int_from_float": _WHOLE,
    "float_parsing": _NUMBER,
    "float_type": _NUMBER,
    "decimal_parsing": _NUMBER,
    "decimal_type": _NUMBER,
    "finite_number": _fixed(N_("Enter a finite number.")),
    "bool_parsing": _YES_NO,
    "bool_type": _YES_NO,
    "string_type": _fixed(N_("Enter text.")),
    "list_type": _fixed(N_("Send a list.")),
    "dict_type": _fixed(N_("Send an object.")),
    "model_type": _fixed(N_("Send an object.")),
    "literal_error": lambda error: Sentence(
        N_("Choose one of: %(expected)s."),
        {"expected": _alternatives((error.get("ctx") or {}).get("expected", ""))},
    ),
    "enum": lambda error: Sentence(
        N_("Choose one of: %(expected)s."),
        {"expected": _alternatives((error.get("ctx") or {}).get("expected", ""))},
    ),
    "string_pattern_mismatch": _pattern,
    "url_parsing": _URL,
    "url_type": _URL,
    "url_syntax_violation": _URL,
    "url_scheme": lambda error: Sentence(
        N_("The address must start with %(expected_schemes)s."),
        {"expected_schemes": _alternatives((error.get("ctx") or {}).get("expected_schemes"))},
    ),
    "datetime_parsing": _DATETIME,
    "datetime_type": _DATETIME,
    "datetime_from_date_parsing": _DATETIME,
    "timezone_aware": _fixed(N_("Give the time with its UTC offset, such as +03:00.")),
    "date_parsing": _DATE,
    "date_type": _DATE,
    "date_from_datetime_parsing": _DATE,
    "time_parsing": _TIME,
    "time_type": _TIME,
    "json_invalid": _fixed(N_("This is not valid JSON.")),
    "uuid_parsing": _UUID,
    "uuid_type": _UUID,
    "value_error": _value_error,
}


def sentence(error: ErrorDetails) -> Sentence | str:
    """The sentence for one pydantic error; pydantic's own text for a type not listed
    (or when the `ctx` lacks a value the sentence needs)."""
    make = SENTENCES.get(error["type"])
    if make is None:
        return error["msg"]
    try:
        return make(error)
    except (KeyError, TypeError, ValueError):
        return error["msg"]


def translated(errors: Mapping[str, str], translations: NullTranslations) -> dict[str, str]:
    """`errors` in the reader's language: each `Sentence` translated, other text as is."""
    return {
        key: text.translated(translations) if isinstance(text, Sentence) else text
        for key, text in errors.items()
    }
