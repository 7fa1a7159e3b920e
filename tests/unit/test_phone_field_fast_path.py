"""A phone field of phone characters only is parsed as one number: same answer as the search.

`read_phone_field` skips phonenumbers' matcher when the field holds nothing but a
number's characters. These tables and a seeded sweep of written forms check that
the shortcut answers exactly what the search (`_search_phone_field`) answers, or
leaves the field to it.
"""

from __future__ import annotations

import random

import pytest

from ingest.contract import InvalidIdentity
from ingest.contract.phones import PhoneField, _search_phone_field, read_phone_field

REGIONS = ("RU", "GB", "US", "DE")


def _outcome(read: object, raw: str, region: str) -> PhoneField | str:
    try:
        return read(raw, region)  # type: ignore[operator, no-any-return]
    except InvalidIdentity:
        return "invalid"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("+7 912 345-67-89", id="international"),
        pytest.param("8 (912) 345-67-89", id="trunk-prefix-brackets"),
        pytest.param("89123456789", id="trunk-prefix-bare"),
        pytest.param("79123456789", id="seven-without-plus"),
        pytest.param("9123456789", id="national-ten-digits"),
        pytest.param("(912) 345-67-89", id="no-prefix-brackets"),
        pytest.param("+7 912 345-67-89.", id="trailing-dot"),
        pytest.param("8-800-555-35-35", id="free-phone"),
        pytest.param("+44 20 7946 0958", id="london"),
        pytest.param("07700 900157", id="uk-national-under-ru"),
        pytest.param("+1 (415) 555-2671", id="us"),
        pytest.param("12", id="too-short"),
        pytest.param("8 912 345 67 89 8 912 345 67 90", id="two-numbers"),
        pytest.param("8 912 345-67-89 (123)", id="bracketed-extension"),
        pytest.param("+7 912 345-67-89 доб. 12", id="words-are-searched"),
        pytest.param("8 039.6043.81", id="german-lenient-parse-is-searched"),
    ],
)
@pytest.mark.parametrize("region", REGIONS)
def test_the_shortcut_answers_what_the_search_answers(raw: str, region: str) -> None:
    assert _outcome(read_phone_field, raw, region) == _outcome(_search_phone_field, raw, region)


def test_a_sweep_of_written_numbers_reads_the_same_either_way() -> None:
    rng = random.Random(11)
    seps = [" ", "-", "", ".", " - "]
    checked = 0
    for _ in range(3000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 14)))
        head = rng.choice(["", "+", "+7 ", "+7", "8 ", "8", "+44 ", "+1 ", "+49 ", "7"])
        groups, i = [], 0
        while i < len(digits):
            step = rng.randint(2, 4)
            groups.append(digits[i : i + step])
            i += step
        if len(groups) > 2 and rng.random() < 0.3:
            groups[0] = f"({groups[0]})"
        raw = head + rng.choice(seps).join(groups)
        region = rng.choice((*REGIONS, "RU", "RU"))
        assert _outcome(read_phone_field, raw, region) == _outcome(
            _search_phone_field, raw, region
        ), raw
        checked += 1
    assert checked == 3000


def test_russian_numbers_written_nationally_read_the_same_either_way() -> None:
    rng = random.Random(7)
    shapes = (
        "{0}{1}{2}{3}{4}",
        "{0}({1}) {2}-{3}-{4}",
        "{0}{1} {2} {3} {4}",
        "{0}{1}-{2}-{3}-{4}",
        "{0}({1}){2}{3}{4}",
    )
    valid = 0
    for _ in range(2000):
        d = rng.choice("34589") + "".join(rng.choice("0123456789") for _ in range(9))
        head = rng.choice(["", "8", "7", "8 ", "7 ", "+7 ", "+7"])
        raw = rng.choice(shapes).format(head, d[:3], d[3:6], d[6:8], d[8:])
        new = _outcome(read_phone_field, raw, "RU")
        assert new == _outcome(_search_phone_field, raw, "RU"), raw
        valid += new != "invalid"
    assert valid > 300, "the sweep reads real numbers, not only invalid ones"
