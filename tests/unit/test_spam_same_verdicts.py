# ruff: noqa: RUF001, RUF003  (Cyrillic words and look-alike letters are the point)
"""The cheaper spam judgement (issue 11) gives exactly the verdicts it gave before.

Three ways. (1) Every golden case (`tests/spam_golden.py`: the corpus, the holdout and
texts at the edges) gets, from `score` with the recorded classifier probability, the
verdict the code of commit 0b816df gave: same score, band and reasons, word for word.
(2) `probability_junk` equals, to the last bit, the plain computation kept here (hash
every word and n-gram, `fsum` the weights), on the golden texts and generated ones;
and `judge_spam` is `score` with that probability. (3) The text signals that now read
each word once (and remember it) agree with the letter-by-letter versions kept here,
on generated text mixing Latin, Cyrillic, look-alikes, case folds and punctuation,
both before and after their per-word tables are filled. And the pitch and fraud
phrases, now searched in lower case, are found exactly where a case-insensitive
search finds them, and quoted as written.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import zlib
from dataclasses import replace
from itertools import chain

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest import classifier, spam, spam_phrases, spam_words
from ingest.classifier import FULL_EVIDENCE_WORDS, N_FEATURES, TextClassifier
from ingest.decisions import Policy, Snapshot
from ingest.pipeline import judge_spam
from ingest.spam import (
    SpamThresholds,
    inquiry_text,
    link_hosts,
    score,
)
from ingest.spam_model import baseline
from ingest.spam_words import gibberish_reason, homoglyph_words

from ..spam_golden import BLOCKLIST, GOLDEN, NOW, SECRET, Case, cases, verdict_json

_CASES = cases()
_GOLDEN = json.loads(gzip.decompress(GOLDEN.read_bytes()))


def _probability(case_id: str) -> float | None:
    recorded = _GOLDEN[case_id]["probability"]
    return None if recorded is None else float.fromhex(recorded)


@pytest.mark.parametrize("source", ["corpus", "holdout", "edge"])
def test_every_golden_case_gets_the_verdict_it_had(source: str) -> None:
    chosen = [case for case in _CASES if case.id.startswith(f"{source}-")]
    assert chosen
    wrong = []
    for case in chosen:
        context = replace(case.context, junk_probability=_probability(case.id))
        verdict = verdict_json(score(case.inquiry, context, SpamThresholds()))
        expected = {k: _GOLDEN[case.id][k] for k in ("score", "band", "reasons")}
        if json.loads(json.dumps(verdict)) != expected:
            wrong.append((case.id, verdict, expected))
    assert wrong == []


# --- the classifier, the long way ---------------------------------------------------

_WORD = re.compile(r"[^\W_]+|https?://\S+", re.UNICODE)


def _features_reference(text: str) -> frozenset[int]:
    tokens = []
    for found in _WORD.findall(text.casefold()):
        word = re.sub(r"\d", "0", found)
        padded = f" {word} "
        tokens.append("w:" + word)
        for size in (2, 3, 4):
            tokens.extend(padded[i : i + size] for i in range(len(padded) - size + 1))
    return frozenset(zlib.crc32(t.encode("utf-8")) % N_FEATURES for t in tokens)


def _probability_reference(model: TextClassifier, text: str) -> float:
    present = list(_features_reference(text))
    logit = 0.0
    if present:
        total = math.fsum(model.weights.get(f, 0.0) for f in present)
        logit = model.bias + total / math.sqrt(len(present))
    z = logit * min(1.0, len(_WORD.findall(text)) / FULL_EVIDENCE_WORDS)
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def test_the_golden_texts_get_the_plain_computations_probability() -> None:
    model = baseline()
    wrong = []
    for case in _CASES:
        text = inquiry_text(case.inquiry)
        if not text:
            continue
        expected = _probability_reference(model, text)
        first, again = model.probability_junk(text), model.probability_junk(text)
        if not first == again == expected:
            wrong.append((case.id, first, again, expected))
    assert wrong == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gets_the_plain_computations_probability(text: str) -> None:
    model = baseline()
    assert model.probability_junk(text) == _probability_reference(model, text)


def test_a_model_taught_after_judging_judges_with_its_new_weights() -> None:
    model = TextClassifier.empty().combined(baseline())  # a copy: never teach the baseline
    text = "Нужен счёт на 25 лицензий, перезвоните"
    before = model.probability_junk(text)
    model.learn(text, is_junk=True)
    after = model.probability_junk(text)
    assert after == _probability_reference(model, text)
    assert after > before


@pytest.mark.parametrize("case", _CASES[::37] + _CASES[-60:], ids=lambda c: c.id)
def test_judge_spam_is_score_with_the_classifiers_probability(case: Case) -> None:
    model = baseline()
    text = inquiry_text(case.inquiry)
    probability = _probability_reference(model, text) if text else None
    snapshot = Snapshot(
        contacts={},
        teams={},
        blocklist=BLOCKLIST,
        classifier=model,
        recent_from_sender={case.inquiry.key: case.context.recent_from_sender},
        recent_from_ip={case.inquiry.client.ip or "": case.context.recent_from_ip},
    )
    policy = Policy(render_secret=SECRET)
    secret = SECRET if case.inquiry.channel == "web_form" else None
    context = replace(case.context, secret=secret, junk_probability=probability)
    expected = score(case.inquiry, context, policy.spam)
    assert judge_spam(case.inquiry, snapshot, NOW, policy) == expected


# --- the text signals, letter by letter ----------------------------------------------

_SPAM_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _homoglyph_words_reference(text: str) -> list[str]:
    found = []
    for word in _SPAM_WORD.findall(text):
        latin = [ch for ch in word if "a" <= ch.lower() <= "z"]
        cyrillic = [ch for ch in word if "\u0400" <= ch <= "\u04ff"]
        if not latin or not cyrillic or len(word) < 3:
            continue
        if all(ch in spam_words._LOOKALIKE_LATIN for ch in latin) or all(
            ch in spam_words._LOOKALIKE_CYRILLIC for ch in cyrillic
        ):
            found.append(word)
    return found


def _entropy_reference(letters: str) -> float:
    counts = {ch: letters.count(ch) for ch in set(letters)}
    return -sum(n / len(letters) * math.log2(n / len(letters)) for n in counts.values())


def _gibberish_reference(text: str) -> str | None:
    words = [w.casefold() for w in _SPAM_WORD.findall(text)]
    letters = "".join(words)
    if len(letters) < 4:
        return None
    mashed = [w for w in words if len(w) >= 4 and spam_words._looks_mashed(w)]
    if len(mashed) * 2 >= len(words):
        return f"keyboard mashing: {', '.join(mashed[:3])}"
    prose = "".join(
        w.casefold()
        for w in _SPAM_WORD.findall(text)
        if len(w) > 2 and sum(ch.isupper() for ch in w) < 2
    )
    if len(prose) >= 8:
        vowel_ratio = sum(ch in spam_words._VOWELS for ch in prose) / len(prose)
        if not 0.12 <= vowel_ratio <= 0.75:
            return f"vowel ratio {vowel_ratio:.2f} is unlike any language"
    if len(letters) >= 12 and _entropy_reference(letters) < 2.5:
        return f"too few distinct letters (entropy {_entropy_reference(letters):.1f} bits)"
    return None


def _link_hosts_reference(text: str) -> list[str]:
    hosts = [h.lower().rstrip(".,;:!?").removeprefix("www.") for h in spam._URL.findall(text)]
    for match in spam._BARE_HOST.finditer(spam._URL.sub(" ", text)):
        host, tld = match.group(1), match.group(2)
        if tld.lower() in spam._LINK_TLDS and not host.isupper():
            hosts.append(host.lower().removeprefix("www."))
    return hosts


def _test_tokens_reference(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


# Latin and Cyrillic in both cases, their look-alikes, letters whose case fold is longer
# or odd (İ, ß, ﬁ, ǅ, K as the Kelvin sign, ſ), combining marks, digits, and what splits
# words or makes links.
_LETTERS = (
    "aeopcxykmtbhAEOPCXYKMTBHqwrsdfgzvnlju"
    "аеорсхукмтвнАЕОРСХУКМТВНіІзжщъыэюяЁё"
    "İıßẞﬁǅΣσς\u212a\u017f\u0301\u0308"
)
_SEPARATORS = " \n.-_/:@0123456789!?,😀"
_TLDS = st.sampled_from(["ru", "com", "рф", "md", "NET", "io", "ly", "py"])
_PIECES = st.one_of(
    st.text(alphabet=_LETTERS, min_size=1, max_size=12),
    st.text(alphabet=_SEPARATORS, min_size=1, max_size=3),
    st.sampled_from(["qwer", "asdf", "йцук", "bcdfgh", "ааааа", "www.", "https://", "bit.ly/"]),
    st.builds(lambda host, tld: f"{host}.{tld}", st.text(alphabet=_LETTERS, min_size=1), _TLDS),
)
_TEXTS = st.lists(_PIECES, max_size=40).map("".join)


def _signal_outputs(text: str) -> tuple[object, ...]:
    return (
        gibberish_reason(text),
        homoglyph_words(text),
        link_hosts(text),
        list(spam._test_submission(text)),
    )


def _reference_outputs(text: str) -> tuple[object, ...]:
    tokens = _test_tokens_reference(text)
    test = []
    if (
        tokens
        and len(tokens) <= 6
        and spam._TEST_WORDS.intersection(tokens)
        and all(t in spam._TEST_WORDS or t in spam._TEST_FILLER for t in tokens)
    ):
        test = [spam.SpamReason("test_submission", 0.8, f"looks like a test: {' '.join(tokens)!r}")]
    return (
        _gibberish_reference(text),
        _homoglyph_words_reference(text),
        _link_hosts_reference(text),
        test,
    )


@settings(max_examples=1500, deadline=None)
@given(_TEXTS)
def test_the_text_signals_read_any_text_as_letter_by_letter(text: str) -> None:
    spam_words.clear_caches()
    assert _signal_outputs(text) == _reference_outputs(text)
    assert _signal_outputs(text) == _reference_outputs(text)  # from the per-word table


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("ааааааааааааа бббб", id="one-letter-entropy"),
        pytest.param("abababababab abab", id="two-letters"),
        pytest.param("abcabcabcabcabcabc", id="three-letters"),
        pytest.param("abcdabcdabcdabcd", id="four-letters-exactly-two-bits"),
        pytest.param("aabbccddeeff" * 3, id="six-letters"),
        pytest.param("aaaaaabbbbccddeeffgg", id="a-third-one-letter"),
        pytest.param("ǅemal İstanbul ﬁnance straße", id="odd-case-folds"),
        pytest.param("test test test test test test test", id="seven-tokens"),
        pytest.param("тест 123", id="test-two-tokens"),
        pytest.param("see README.md or site.ru. Ok.", id="dot-then-letter"),
        pytest.param("WWW.1 http://localhost", id="links-without-a-dotted-host"),
    ],
)
def test_the_text_signals_at_their_edges(text: str) -> None:
    assert _signal_outputs(text) == _reference_outputs(text)


def test_the_per_word_tables_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spam_words, "_WORDS_KEPT", 50)
    monkeypatch.setattr(classifier, "_WORDS_KEPT", 50)
    spam_words.clear_caches()
    classifier.clear_caches()
    words = [f"слово{chr(0x430 + i % 32)}{chr(0x430 + i // 32)}" for i in range(400)]
    for start in range(0, 400, 10):
        text = " ".join(words[start : start + 10])
        gibberish_reason(text)
        classifier.features_of(text)
        assert len(spam_words._WORDS) <= 50 + 10
        assert len(classifier._WORD_FEATURES) <= 50 + 10
    spam_words.clear_caches()
    classifier.clear_caches()
    assert set(chain(spam_words._WORDS, classifier._WORD_FEATURES)) == set()


# Phrases the pitch and fraud patterns look for, and near misses, in any case; with
# the letters whose case `str.lower` and `re.IGNORECASE` read differently (İ, ı, ſ,
# the Kelvin sign, ß) put in where they look like "i", "s", "k".
_PHRASES = st.sampled_from(
    [
        "seo", "we offer", "our agency", "outsourcing", "business proposal", "gift cards",
        "wire transfer", "keep this between us", "продвижение", "рассылка", "хотим предложить",
        "реквизиты изменились", "сотрудник фсб", "we are a leading manufacturer",
        "link-building", "15-minute call", "gift card", "web design", "busines proposal",
    ]
)  # fmt: skip
_ODD = {"i": ["İ", "ı", "I", "i"], "s": ["ſ", "S", "s", "ß"], "k": ["\u212a", "K", "k"]}


@st.composite
def _any_case(draw: st.DrawFn) -> str:
    phrase = draw(_PHRASES)
    letters = []
    for ch in phrase:
        choices = _ODD.get(ch, [ch.upper(), ch])
        letters.append(draw(st.sampled_from(choices)))
    return "".join(letters)


_PHRASE_TEXTS = st.lists(st.one_of(_PIECES, _any_case()), max_size=12).map("".join)


@settings(max_examples=1500, deadline=None)
@given(_PHRASE_TEXTS)
def test_pitch_and_fraud_in_lower_case_read_as_case_insensitive_search(text: str) -> None:
    for pattern, signal, kind in (
        (spam_phrases.PITCH, spam._pitch, "a sales pitch"),
        (spam_phrases.FRAUD, spam._fraud, "payment fraud"),
    ):
        reference = re.compile(pattern.pattern, re.IGNORECASE).search(text)
        expected = [] if reference is None else [f"reads like {kind} ({reference.group(0)!r})"]
        assert [r.detail for r in signal(text)] == expected
