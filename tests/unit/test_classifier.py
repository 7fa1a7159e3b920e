"""The incremental junk classifier: learning, forgetting, JSON state."""

# ruff: noqa: RUF001  (Cyrillic sample texts are meant)
from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.classifier import TextClassifier, features_of

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


def trained() -> TextClassifier:
    model = TextClassifier.empty()
    for text in JUNK:
        model.learn(text, is_junk=True)
    for text in GENUINE:
        model.learn(text, is_junk=False)
    return model


def test_empty_model_is_undecided() -> None:
    assert TextClassifier.empty().probability_junk("anything") == 0.5


def test_one_sided_model_is_undecided() -> None:
    model = TextClassifier.empty()
    model.learn("casino bonus", is_junk=True)
    assert model.probability_junk("casino bonus") == 0.5


def test_text_without_features_is_undecided() -> None:
    assert trained().probability_junk("!!! ???") == 0.5


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Продвижение сайта в ТОП Яндекса, гарантия результата", id="seo-ru"),
        pytest.param("Free spins and casino bonus today", id="casino-en"),
        pytest.param("Займ без отказа на карту за 5 минут", id="loan-ru"),
        pytest.param("crypto trading bot, earn per week", id="crypto-en"),
    ],
)
def test_learns_junk(text: str) -> None:
    assert trained().probability_junk(text) > 0.6


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Выставьте счёт на 10 лицензий", id="invoice-ru"),
        pytest.param("Please send a quote for 15 seats", id="quote-en"),
        pytest.param("Сколько стоит доставка в Казань?", id="delivery-ru"),
        pytest.param("Call me back about the license", id="callback-en"),
    ],
)
def test_learns_genuine(text: str) -> None:
    assert trained().probability_junk(text) < 0.4


def test_more_marks_move_the_probability() -> None:
    model = trained()
    before = model.probability_junk("партнёрство и сотрудничество")
    model.learn("Предлагаем партнёрство и взаимовыгодное сотрудничество", is_junk=True)
    assert model.probability_junk("партнёрство и сотрудничество") > before


def test_forget_undoes_learn() -> None:
    model = trained()
    state = model.to_state()
    model.learn("Restored lead: need 5 licenses", is_junk=True)
    model.forget("Restored lead: need 5 licenses", is_junk=True)
    assert model.to_state() == state


def test_forget_on_empty_is_harmless() -> None:
    model = TextClassifier.empty()
    model.forget("nothing learned", is_junk=True)
    assert model.to_state() == TextClassifier.empty().to_state()


def test_learning_order_does_not_matter() -> None:
    forward, backward = TextClassifier.empty(), TextClassifier.empty()
    pairs = [(t, True) for t in JUNK] + [(t, False) for t in GENUINE]
    for text, label in pairs:
        forward.learn(text, label)
    for text, label in reversed(pairs):
        backward.learn(text, label)
    assert forward.to_state() == backward.to_state()


def test_state_is_json_and_round_trips() -> None:
    model = trained()
    stored = json.loads(json.dumps(model.to_state()))
    restored = TextClassifier.from_state(stored)
    for text in (*JUNK, *GENUINE, "something new"):
        assert restored.probability_junk(text) == model.probability_junk(text)
    restored.learn("more junk: casino", is_junk=True)
    assert restored.docs == [len(GENUINE), len(JUNK) + 1]


@pytest.mark.parametrize(
    "state",
    [
        pytest.param({}, id="empty"),
        pytest.param({"version": 2, "n_features": 1 << 20}, id="future-version"),
        pytest.param({"version": 1, "n_features": 1 << 10}, id="other-feature-space"),
        pytest.param({"version": 1, "n_features": 1 << 20}, id="missing-counts"),
        pytest.param(
            {"version": 1, "n_features": 1 << 20, "docs": [1], "totals": [1, 1], "counts": []},
            id="short-docs",
        ),
        pytest.param(
            {
                "version": 1,
                "n_features": 1 << 20,
                "docs": [1, 1],
                "totals": [1, 1],
                "counts": [[1, 2]],
            },
            id="short-triple",
        ),
        pytest.param(
            {
                "version": 1,
                "n_features": 1 << 20,
                "docs": ["x", 1],
                "totals": [1, 1],
                "counts": [],
            },
            id="not-a-number",
        ),
    ],
)
def test_from_state_rejects_malformed(state: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="classifier state"):
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
    probability = trained().probability_junk(text)
    assert 0.0 <= probability <= 1.0


@settings(max_examples=50)
@given(texts=st.lists(st.tuples(st.text(max_size=80), st.booleans()), max_size=12))
def test_any_history_serializes(texts: list[tuple[str, bool]]) -> None:
    model = TextClassifier.empty()
    for text, label in texts:
        model.learn(text, label)
    state = json.loads(json.dumps(model.to_state()))
    assert TextClassifier.from_state(state).to_state() == model.to_state()
