# ruff: noqa: RUF001  (Russian text: Cyrillic letters are intended)
"""The sentence beside a refused field, by pydantic error type, in English and Russian:
real pydantic errors from small models (and the console's own), with their limits and
allowed values filled in, and pydantic's text kept for a type without a sentence."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, time
from decimal import Decimal
from gettext import NullTranslations
from typing import Annotated, Any, Literal

import pytest
from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    Json,
    StringConstraints,
    ValidationError,
    field_validator,
)

from console.field_sentences import Sentence, sentence, translated
from console.schemas import SEEN, SpamThresholdsBody, UserPatch
from ingest.contract.i18n import N_, Catalogs, MessageError

CATALOGS = Catalogs.load()
RU, EN = CATALOGS.get("ru"), CATALOGS.get("en")


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    needed: str = "x"
    word: Annotated[str, StringConstraints(min_length=3, max_length=5)] = "abc"
    some: Annotated[str, StringConstraints(min_length=1)] = "x"
    short: Annotated[str, StringConstraints(max_length=21)] = ""
    one: Annotated[str, StringConstraints(max_length=1)] = ""
    tags: list[str] = Field(default_factory=list, max_length=2)
    pair: list[str] = Field(default_factory=lambda: ["a", "b"], min_length=2)
    count: int = Field(default=1, ge=1, le=21)
    ratio: float = Field(default=1.0, gt=0, lt=2)
    price: Decimal = Decimal(1)
    flag: bool = True
    stage: Literal["new", "won", "lost"] = "new"
    color: Color = Color.RED
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z]+$")] = "A"
    seen: Annotated[str, StringConstraints(pattern=SEEN)] = "x"
    hook: Annotated[str, StringConstraints(pattern=r"^https?://")] = "https://x"
    site: AnyHttpUrl | None = None
    at: datetime | None = None
    aware: AwareDatetime | None = None
    day: date | None = None
    clock: time | None = None
    ref: uuid.UUID | None = None
    doc: Json[dict[str, Any]] | None = None
    email: EmailStr | None = None
    fives: int = Field(default=5, multiple_of=5)
    names: list[str] = Field(default_factory=list)
    threshold: int = 0

    @field_validator("names")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError(N_("Field names must be unique."))
        if "plain" in names:
            raise ValueError("plain words from a validator")
        return names

    @field_validator("threshold")
    @classmethod
    def _bounded(cls, value: int) -> int:
        if value > 10:
            raise MessageError(
                N_("Must be at least the suspicious threshold (%(suspicious)s)."), suspicious="10"
            )
        return value


class Needs(BaseModel):
    needed: str


def said(model: type[BaseModel], data: dict[str, Any], field: str) -> Sentence | str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    errors = {".".join(str(p) for p in e["loc"]): e for e in caught.value.errors()}
    return sentence(errors[field])


def in_both(text: Sentence | str) -> tuple[str, str, str]:
    return str(text), translated({"f": text}, EN)["f"], translated({"f": text}, RU)["f"]


@pytest.mark.parametrize(
    ("data", "field", "english", "russian"),
    [
        pytest.param({"extra": 1}, "extra", "This field is not accepted here.",
                     "Это поле здесь не принимается.", id="extra_forbidden"),
        pytest.param({"word": "ab"}, "word", "Enter at least 3 characters.",
                     "Введите не менее 3 символов.", id="string_too_short"),
        pytest.param({"some": ""}, "some", "This must not be empty.",
                     "Не должно быть пустым.", id="string_too_short-1"),
        pytest.param({"word": "abcdef"}, "word", "Use at most 5 characters.",
                     "Не более 5 символов.", id="string_too_long"),
        pytest.param({"short": "x" * 22}, "short", "Use at most 21 characters.",
                     "Не более 21 символа.", id="string_too_long-21"),
        pytest.param({"one": "xy"}, "one", "Use at most 1 character.",
                     "Не более 1 символа.", id="string_too_long-1"),
        pytest.param({"tags": ["a", "b", "c"]}, "tags", "Give at most 2 items.",
                     "Укажите не более 2 элементов.", id="too_long"),
        pytest.param({"pair": ["a"]}, "pair", "Give at least 2 items.",
                     "Укажите не менее 2 элементов.", id="too_short"),
        pytest.param({"count": 0}, "count", "Enter 1 or more.",
                     "Введите 1 или больше.", id="greater_than_equal"),
        pytest.param({"count": 22}, "count", "Enter 21 or less.",
                     "Введите 21 или меньше.", id="less_than_equal"),
        pytest.param({"ratio": 0}, "ratio", "Enter a number greater than 0.",
                     "Введите число больше 0.", id="greater_than"),
        pytest.param({"ratio": 2}, "ratio", "Enter a number less than 2.",
                     "Введите число меньше 2.", id="less_than"),
        pytest.param({"count": "many"}, "count", "Enter a whole number.",
                     "Введите целое число.", id="int_parsing"),
        pytest.param({"ratio": "much"}, "ratio", "Enter a number.",
                     "Введите число.", id="float_parsing"),
        pytest.param({"price": "cheap"}, "price", "Enter a number.",
                     "Введите число.", id="decimal_parsing"),
        pytest.param({"flag": "maybe"}, "flag", "Choose yes or no (true or false).",
                     "Укажите да или нет (true или false).", id="bool_parsing"),
        pytest.param({"stage": "lose"}, "stage", "Choose one of: 'new', 'won', 'lost'.",
                     "Выберите одно из значений: 'new', 'won', 'lost'.", id="literal_error"),
        pytest.param({"color": "green"}, "color", "Choose one of: 'red', 'blue'.",
                     "Выберите одно из значений: 'red', 'blue'.", id="enum"),
        pytest.param({"code": "abc"}, "code", "This is not in the expected format.",
                     "Значение не в том формате.", id="string_pattern_mismatch"),
        pytest.param({"seen": " "}, "seen", "This must not be empty or blank.",
                     "Не должно быть пустым.", id="string_pattern_mismatch-blank"),
        pytest.param({"hook": "ftp://x"}, "hook",
                     "Enter an address that starts with http:// or https://.",
                     "Введите адрес, начинающийся с http:// или https://.",
                     id="string_pattern_mismatch-url"),
        pytest.param({"site": "not a url"}, "site",
                     "Enter a web address such as https://example.com.",
                     "Введите веб-адрес, например https://example.com.", id="url_parsing"),
        pytest.param({"site": "ftp://example.com"}, "site",
                     "The address must start with 'http', 'https'.",
                     "Адрес должен начинаться с 'http', 'https'.", id="url_scheme"),
        pytest.param({"at": "soon"}, "at",
                     "Enter a date and time such as 2026-12-31T18:00:00+03:00.",
                     "Введите дату и время, например 2026-12-31T18:00:00+03:00.",
                     id="datetime_parsing"),
        pytest.param({"aware": "2026-12-31T18:00:00"}, "aware",
                     "Give the time with its UTC offset, such as +03:00.",
                     "Укажите время со смещением от UTC, например +03:00.", id="timezone_aware"),
        pytest.param({"day": "tomorrow"}, "day", "Enter a date such as 2026-12-31.",
                     "Введите дату, например 2026-12-31.", id="date_parsing"),
        pytest.param({"clock": "noon"}, "clock", "Enter a time such as 18:30.",
                     "Введите время, например 18:30.", id="time_parsing"),
        pytest.param({"doc": "{oops"}, "doc", "This is not valid JSON.",
                     "Это некорректный JSON.", id="json_invalid"),
        pytest.param({"ref": "42"}, "ref",
                     "Enter an id such as 123e4567-e89b-12d3-a456-426614174000.",
                     "Введите идентификатор вида 123e4567-e89b-12d3-a456-426614174000.",
                     id="uuid_parsing"),
        pytest.param({"email": "bob@"}, "email", "This is not a valid email address.",
                     "Это не адрес электронной почты.", id="value_error-email"),
        pytest.param({"names": ["a", "a"]}, "names", "Field names must be unique.",
                     "Имена полей должны быть разными.", id="value_error-marked"),
        pytest.param({"threshold": 11}, "threshold",
                     "Must be at least the suspicious threshold (10).",
                     "Должно быть не меньше порога подозрительности (10).",
                     id="value_error-with-params"),
        pytest.param({"names": ["plain"]}, "names", "plain words from a validator",
                     "plain words from a validator", id="value_error-unmarked-as-is"),
    ],
)  # fmt: skip
def test_each_error_type_reads_in_english_and_russian(
    data: dict[str, Any], field: str, english: str, russian: str
) -> None:
    source, en, ru = in_both(said(Sample, data, field))
    assert (source, en, ru) == (english, english, russian)


def test_a_missing_field_is_required_in_both_languages() -> None:
    source, en, ru = in_both(said(Needs, {}, "needed"))
    assert (source, en, ru) == (
        "This field is required.",
        "This field is required.",
        "Заполните это поле.",
    )


def test_strict_json_types_read_as_their_lax_cousins() -> None:
    """The API validates JSON strictly: "1" for an integer is `int_type`, not parsing."""
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate_json('{"count": "1", "flag": 1, "word": 5}', strict=True)
    by_field = {str(e["loc"][0]): sentence(e) for e in caught.value.errors()}
    assert translated(by_field, RU) == {
        "count": "Введите целое число.",
        "flag": "Укажите да или нет (true или false).",
        "word": "Введите текст.",
    }


def test_an_unknown_type_keeps_pydantics_text() -> None:
    text = said(Sample, {"fives": 7}, "fives")
    assert not isinstance(text, Sentence)
    assert in_both(text) == ("Input should be a multiple of 5",) * 3


def test_the_consoles_own_validators_are_translated() -> None:
    zone = said(UserPatch, {"timezone": "Europe/Moskow"}, "timezone")
    hours = said(UserPatch, {"working_hours": {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}},
                 "working_hours")  # fmt: skip
    spam = said(SpamThresholdsBody, {"suspicious": 2, "junk": 1}, "junk")
    assert in_both(zone)[2] == (
        "'Europe/Moskow' — неизвестный серверу часовой пояс; укажите имя IANA, например "
        "'Europe/Moscow' или 'UTC'."
    )
    assert in_both(hours) == (
        "mon: 09:00-13:00 and 12:00-18:00 overlap.",
        "mon: 09:00-13:00 and 12:00-18:00 overlap.",
        "mon: 09:00-13:00 и 12:00-18:00 пересекаются.",
    )
    assert in_both(spam)[2] == "Должно быть не меньше порога подозрительности (2)."


def test_a_broken_translation_falls_back_to_english() -> None:
    class Broken(NullTranslations):
        def gettext(self, message: str) -> str:
            return "%(nothing)s"

    text = Sentence(N_("Enter %(ge)s or more."), {"ge": 1})
    assert translated({"f": text, "g": "as is"}, Broken()) == {
        "f": "Enter 1 or more.",
        "g": "as is",
    }


def test_a_suspicious_threshold_above_the_default_junk_is_refused() -> None:
    # Found by the API fuzzer: the default junk (1.0) skipped the band check, so
    # {"suspicious": 40} was stored and every read of the settings then failed.
    from pydantic import ValidationError

    from console.schemas import SpamThresholdsBody

    with pytest.raises(ValidationError) as caught:
        SpamThresholdsBody.model_validate({"suspicious": 40})
    assert [e["loc"] for e in caught.value.errors()] == [("junk",)]
