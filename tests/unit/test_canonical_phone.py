"""`is_canonical_phone` answers what `normalize_phone(raw) == raw` answers, without parsing.

The consumer checks every sender's phone again (another producer may send a raw
one); `is_canonical_phone` skips phonenumbers' `parse` for a number in E.164. These
tables and seeded sweeps (every country code, valid example numbers, random digits,
national prefixes, leading zeros, other regions) compare it with the uncached
`normalize_phone`.
"""

from __future__ import annotations

import random

import phonenumbers
import pytest

from ingest.contract import InvalidIdentity, is_canonical_phone
from ingest.contract.identity import normalize_phone

REGIONS = ("RU", "KZ", "US", "GB", "DE", "IT")
_uncached = normalize_phone.__wrapped__


def _reference(raw: str, region: str) -> bool:
    try:
        return bool(_uncached(raw, region) == raw)
    except InvalidIdentity:
        return False


def _check(raw: str, region: str) -> bool:
    is_canonical_phone.cache_clear()
    answer = is_canonical_phone.__wrapped__(raw, region)
    assert answer == _reference(raw, region), (raw, region)
    return answer


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        pytest.param("+79123456789", True, id="ru-mobile"),
        pytest.param("+78123456789", True, id="ru-812-starts-with-the-trunk-digit"),
        pytest.param("+77012345678", True, id="kz-mobile"),
        pytest.param("+14155552671", True, id="us"),
        pytest.param("+442079460958", True, id="london"),
        pytest.param("+390612345678", True, id="italy-leading-zero"),
        pytest.param("+79120000001", True, id="ru-bench-number"),
        pytest.param("+76123456789", False, id="ru-unassigned-range"),
        pytest.param("+7912345678", False, id="too-short-for-ru"),
        pytest.param("+7 912 345-67-89", False, id="written-with-spaces"),
        pytest.param("89123456789", False, id="trunk-prefix"),
        pytest.param("+2999123456", False, id="no-such-country-code"),
        pytest.param("+0123456789", False, id="zero-country-code"),
        pytest.param(" +79123456789", False, id="leading-space"),
        pytest.param("", False, id="empty"),
    ],
)
@pytest.mark.parametrize("region", REGIONS)
def test_the_table_answers_as_normalize_phone(raw: str, canonical: bool, region: str) -> None:
    assert _check(raw, region) is canonical


def test_every_regions_example_numbers_answer_as_normalize_phone() -> None:
    checked = canonical = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            raw = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            canonical += _check(raw, "RU")
            checked += 1
    assert checked > 400
    assert canonical > 0.9 * checked, "the sweep reads real numbers, not only invalid ones"


def test_a_sweep_of_e164_strings_answers_as_normalize_phone() -> None:
    rng = random.Random(11)
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    canonical = 0
    for _ in range(8_000):
        code = str(rng.choice(codes))
        metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
            int(code), phonenumbers.region_code_for_country_code(int(code))
        )
        head = rng.choice(["", "", "", "0", "00", (metadata and metadata.national_prefix) or ""])
        size = rng.randint(max(1, 6 - len(code) - len(head)), 15 - len(code) - len(head))
        national = head + "".join(rng.choice("0123456789") for _ in range(max(size, 0)))
        canonical += _check(f"+{code}{national}", rng.choice(REGIONS))
    assert canonical > 150, "the sweep reads real numbers, not only invalid ones"


def test_a_sweep_of_russian_mobiles_and_landlines_answers_as_normalize_phone() -> None:
    rng = random.Random(7)
    canonical = 0
    for _ in range(5_000):
        first = rng.choice("3489")
        raw = (
            "+7"
            + first
            + "".join(rng.choice("0123456789") for _ in range(rng.choice((8, 9, 9, 10))))
        )
        canonical += _check(raw, "RU")
    assert canonical > 1_000


def test_digits_of_every_length_answer_as_normalize_phone() -> None:
    rng = random.Random(3)
    for _ in range(5_000):
        raw = "+" + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 17)))
        _check(raw, rng.choice(REGIONS))
