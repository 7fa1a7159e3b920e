"""The junk classifier: offline fitting, one manager's mark at a time, JSON state."""

# ruff: noqa: RUF001  (Cyrillic sample texts are meant)
from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.classifier import LEARN_TARGET, TextClassifier, features_of

JUNK = (
    "Выведем ваш сайт в ТОП Яндекса за 2 недели, гарантия",
    "SEO promotion: first page of Google in 30 days, free audit",
    "Займ на карту без отказа, одобрение за 5 минут",
    "Best online casino, 200% bonus and free spins",
    "Earn $5000 per week with our crypto trading bot",
    "Купите базу клиентов, скидка 50% только сегодня",
)
GENUINE = (
    "Прошу выставить счёт на 25 лицензий, реквизиты во вложении",
    "Please send a quote for 40 seats on the annual plan",
    "Нужна доставка в Казань, сколько стоит и какие сроки?",
    "Could someone from sales call me back about the enterprise license?",
    "Интересует интеграция с 1С, пришлите презентацию",
    "We need 200 units delivered to Denver next month",
)


@functools.cache
def fitted() -> TextClassifier:
    """Shared by the tests (cached): none of them may teach it."""
    examples = [(t, True) for t in JUNK] + [(t, False) for t in GENUINE]
    return TextClassifier.fit(examples, epochs=30, rate=0.5)


def test_empty_model_is_undecided() -> None:
    assert TextClassifier.empty().probability_junk("anything at all") == 0.5


def test_text_without_features_is_undecided() -> None:
    assert fitted().probability_junk("!!! ???") == 0.5


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Продвижение сайта в ТОП Яндекса, гарантия результата", id="seo-ru"),
        pytest.param("Free spins and casino bonus today", id="casino-en"),
        pytest.param("Займ без отказа на карту за 5 минут", id="loan-ru"),
        pytest.param("crypto trading bot, earn per week", id="crypto-en"),
    ],
)
def test_fit_learns_junk(text: str) -> None:
    assert fitted().probability_junk(text) > 0.6


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Выставьте счёт на 10 лицензий", id="invoice-ru"),
        pytest.param("Please send a quote for 15 seats", id="quote-en"),
        pytest.param("Сколько стоит доставка в Казань?", id="delivery-ru"),
        pytest.param("Call me back about the license", id="callback-en"),
    ],
)
def test_fit_learns_genuine(text: str) -> None:
    assert fitted().probability_junk(text) < 0.4


def test_fit_is_deterministic() -> None:
    examples = [(t, True) for t in JUNK] + [(t, False) for t in GENUINE]
    again = TextClassifier.fit(examples, epochs=30, rate=0.5)
    assert again.to_state() == fitted().to_state()


def test_one_word_says_less_than_a_sentence() -> None:
    model = fitted()
    sentence = model.probability_junk("casino casino bonus spins")
    word = model.probability_junk("casino")
    assert 0.5 < word < sentence


def test_a_junk_mark_makes_that_text_junk() -> None:
    base = fitted()
    marks = TextClassifier.empty()
    text = "Предлагаем партнёрство и взаимовыгодное сотрудничество"
    assert base.probability_junk(text) < LEARN_TARGET
    marks.learn(text, is_junk=True, base=base)
    assert base.combined(marks).probability_junk(text) >= LEARN_TARGET
    assert marks.marks == 1


def test_a_restore_mark_makes_that_text_genuine() -> None:
    base = fitted()
    marks = TextClassifier.empty()
    text = "SEO audit for our own website, please send the price"
    marks.learn(text, is_junk=False, base=base)
    assert base.combined(marks).probability_junk(text) <= 1 - LEARN_TARGET


def test_a_mark_leaves_unrelated_texts_on_their_side() -> None:
    base = fitted()
    marks = TextClassifier.empty()
    marks.learn("Ищем партнёров для сотрудничества, доход от 200 000", is_junk=True, base=base)
    adapted = base.combined(marks)
    for text in GENUINE:
        assert adapted.probability_junk(text) < 0.5


def test_marks_on_top_leave_the_baseline_untouched() -> None:
    base = fitted()
    before = base.to_state()
    marks = TextClassifier.empty()
    marks.learn("casino", is_junk=False, base=base)
    assert base.to_state() == before
    assert set(marks.weights) <= features_of("casino")


def test_state_is_json_and_round_trips() -> None:
    model = fitted()
    stored = json.loads(json.dumps(model.to_state()))
    restored = TextClassifier.from_state(stored)
    for text in (*JUNK, *GENUINE, "something new"):
        assert restored.probability_junk(text) == model.probability_junk(text)


def test_pruning_drops_only_small_weights() -> None:
    model = fitted()
    pruned = model.pruned(0.05)
    assert pruned.weights and all(abs(w) >= 0.05 for w in pruned.weights.values())
    assert len(pruned.weights) < len(model.weights)


@pytest.mark.parametrize(
    "state",
    [
        pytest.param({}, id="empty"),
        pytest.param({"version": 3, "n_features": 1 << 20}, id="future-version"),
        pytest.param(
            {"version": 1, "n_features": 1 << 20, "docs": [1, 1], "totals": [1, 1], "counts": []},
            id="naive-bayes-state-before-the-baseline",
        ),
        pytest.param({"version": 2, "n_features": 1 << 10}, id="other-feature-space"),
        pytest.param({"version": 2, "n_features": 1 << 20}, id="missing-weights"),
        pytest.param(
            {"version": 2, "n_features": 1 << 20, "bias": 0, "weights": [[1]]}, id="short-pair"
        ),
        pytest.param(
            {"version": 2, "n_features": 1 << 20, "bias": "x", "weights": []}, id="not-a-number"
        ),
        pytest.param(
            {"version": 2, "n_features": 1 << 20, "bias": 0, "weights": [[1, float("nan")]]},
            id="nan-weight",
        ),
    ],
)
def test_from_state_rejects_malformed(state: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"classifier state|finite"):
        TextClassifier.from_state(state)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param("Casino BONUS", "casino bonus", True, id="case-folded"),
        pytest.param("order 12345", "order 99999", True, id="digits-folded"),
        pytest.param("Счёт", "счёт", True, id="cyrillic-case"),
        pytest.param("casino", "licence", False, id="different-words"),
    ],
)
def test_features_normalize(a: str, b: str, same: bool) -> None:
    assert (features_of(a) == features_of(b)) is same


@settings(max_examples=200)
@given(text=st.text(max_size=300))
def test_probability_is_a_probability(text: str) -> None:
    probability = fitted().probability_junk(text)
    assert 0.0 <= probability <= 1.0


@settings(max_examples=50, deadline=None)
@given(texts=st.lists(st.tuples(st.text(max_size=80), st.booleans()), max_size=12))
def test_any_history_of_marks_serializes(texts: list[tuple[str, bool]]) -> None:
    base = fitted()
    marks = TextClassifier.empty()
    for text, label in texts:
        marks.learn(text, label, base=base)
    state = json.loads(json.dumps(marks.to_state()))
    assert TextClassifier.from_state(state).to_state() == marks.to_state()
