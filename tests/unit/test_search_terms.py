# ruff: noqa: RUF001 - Russian names: Cyrillic letters are intended.
"""How a typed search query is read: the phone it may be, in any format, and its digits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from console.search import SearchQuery, read_terms
from crm_store.search import SearchTerms


@pytest.mark.parametrize(
    "typed",
    ["8 (903) 555-12-34", "+7 903 555 12 34", "89035551234", "79035551234", "903 555-12-34"],
)
def test_a_russian_number_in_any_format_is_read_as_e164(typed: str) -> None:
    terms = read_terms(typed, "RU")
    assert terms.phone == "+79035551234"
    assert terms.digits == "79035551234"


def test_the_tail_of_a_number_is_matched_by_its_digits() -> None:
    assert read_terms("555-12-34", "RU") == SearchTerms("555-12-34", None, "5551234")


def test_a_foreign_number_keeps_its_country() -> None:
    assert read_terms("+1 212-555-0100", "RU").phone == "+12125550100"


@pytest.mark.parametrize("typed", ["Ольга Петрова", "olga@example.com", "ООО Ромашка", "заказ 42"])
def test_words_are_not_a_phone(typed: str) -> None:
    assert read_terms(typed, "RU") == SearchTerms(typed, None, None)


def test_a_phone_among_words_is_found() -> None:
    terms = read_terms("Ольга тел. 8 903 555 12 34", "RU")
    assert terms.phone == "+79035551234"
    assert terms.text == "Ольга тел. 8 903 555 12 34"


@pytest.mark.parametrize("typed", ["", "a", "  a  ", "\x00a", "a\x01", "x" * 201])
def test_a_query_must_hold_two_to_200_characters(typed: str) -> None:
    with pytest.raises(ValidationError):
        SearchQuery.model_validate({"q": typed})


def test_a_query_is_cleaned_of_blanks_and_controls() -> None:
    assert SearchQuery.model_validate({"q": "  Ольга\x07 "}).q == "Ольга"
