"""The consumer's short cuts give exactly what the long way gives.

`normalize_email` skips the full validation for an address already in normal form;
`features_of` looks hashes up in a table. Both are pinned here to the plain
computation, on generated input (hypothesis) and on the cases that sit at the
edges of the short cut. The stored inquiry payload, encoded once by pydantic, reads
back as the dict it used to be encoded from.
"""

from __future__ import annotations

import json
import string
import zlib

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.classifier import _DIGITS, _WORD, N_FEATURES, features_of
from ingest.contract import Channel, InvalidIdentity, Sender, normalize_email
from ingest.contract.identity import _PLAIN_EMAIL
from ingest.spam_words import _KEYBOARD_RUNS, _VOWELS, _looks_mashed

from ..factories import make_inquiry


def _validated(raw: str) -> str | None:
    try:
        result = validate_email(raw.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return None
    return f"{result.local_part.lower()}@{result.ascii_domain.lower()}"


def _normalized(raw: str) -> str | None:
    try:
        return normalize_email.__wrapped__(raw)
    except InvalidIdentity:
        return None


@settings(max_examples=400, deadline=None)
@given(st.from_regex(_PLAIN_EMAIL, fullmatch=True))
def test_an_address_in_normal_form_normalizes_as_the_validator_says(raw: str) -> None:
    assert _normalized(raw) == _validated(raw)


_ALPHABET = string.ascii_letters + string.digits + ".-_+@ \"'ÄÖé"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_ALPHABET, min_size=1, max_size=40))
def test_any_text_normalizes_as_the_validator_says(raw: str) -> None:
    assert _normalized(raw) == _validated(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("ivan@example.com", id="plain"),
        pytest.param("Ivan@Example.com", id="upper-case"),
        pytest.param("ivan@localhost.localhost", id="reserved-domain"),
        pytest.param("ivan@host.arpa", id="reserved-arpa"),
        pytest.param("ivan@ab--cd.com", id="double-dash-label"),
        pytest.param("ivan@xn--80ak6aa92e.com", id="punycode"),
        pytest.param("ivan@mail.test", id="test-domain"),
        pytest.param("a" * 65 + "@example.com", id="long-local"),
        pytest.param(
            "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 63 + ".com",
            id="long-domain",
        ),
        pytest.param("ivan.@example.com", id="trailing-dot"),
        pytest.param("ivan@example.c0m", id="digit-tld"),
    ],
)
def test_edge_addresses_normalize_as_the_validator_says(raw: str) -> None:
    assert _normalized(raw) == _validated(raw)


def _features_reference(text: str) -> frozenset[int]:
    words = [_DIGITS.sub("0", w) for w in _WORD.findall(text.casefold())]
    tokens = []
    for word in words:
        tokens.append("w:" + word)
        padded = f" {word} "
        for size in (2, 3, 4):
            tokens.extend(padded[i : i + size] for i in range(len(padded) - size + 1))
    return frozenset(zlib.crc32(t.encode("utf-8")) % N_FEATURES for t in tokens)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_features_are_the_hashed_words_and_ngrams(text: str) -> None:
    assert features_of(text) == _features_reference(text)
    assert features_of(text) == _features_reference(text)  # from the table, too


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="web-form"),
        pytest.param(
            {
                "channel": Channel.TELEGRAM,
                "sender": Sender(name="Ольга «Ъ»", messenger_ids={"telegram": "42"}),
                "text": 'Здравствуйте 😀 \u2028 \\ "quoted"',
                "channel_ids": {"chat_id": "42"},
                "fields": {"budget": "1e3", "nested": "a\x00b"},
            },
            id="unicode-and-escapes",
        ),
    ],
)
def test_the_payload_encoded_once_reads_back_as_the_model_dump(
    overrides: dict[str, object],
) -> None:
    inquiry = make_inquiry(**overrides)
    assert json.loads(inquiry.model_dump_json()) == inquiry.model_dump(mode="json")


def _mashed_reference(word: str) -> bool:
    if any(word[i : i + 4] in _KEYBOARD_RUNS for i in range(len(word) - 3)):
        return True
    run = longest = 0
    for ch in word:
        run = 0 if ch in _VOWELS else run + 1
        longest = max(longest, run)
    return longest >= 6 or (len(word) >= 6 and not any(ch in _VOWELS for ch in word))


# Latin and Cyrillic lower-case letters, and characters a regex class treats specially.
_WORD_LETTERS = string.ascii_lowercase + "".join(map(chr, range(0x430, 0x452))) + "-]^\\"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=_WORD_LETTERS, max_size=16))
def test_keyboard_mashing_reads_words_as_the_letter_by_letter_count(word: str) -> None:
    assert _looks_mashed(word) == _mashed_reference(word)
