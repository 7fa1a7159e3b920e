"""The shipped spam baseline: built reproducibly, loaded when the store has no model,
and adapted by the managers' marks."""

# ruff: noqa: RUF001  (Cyrillic sample texts are meant)
from __future__ import annotations

import pytest

from crm_store.team_reads import JudgementData
from ingest import train_spam
from ingest.classifier import TextClassifier
from ingest.judgement import build_judgement
from ingest.spam_model import BASELINE_PATH, baseline, effective_classifier, marks_from_state

# Written for this test, not in the corpus.
UNSEEN_SPAM = (
    "Раскрутим вашу группу ВКонтакте: 5000 подписчиков за неделю, оплата после результата",
    "Your hosting account will be closed tomorrow, confirm the payment at billing-center.top",
    "Лучшие слоты с выводом на карту, фриспины каждый день, заходи bit.ly/slotz",
)
UNSEEN_GENUINE = (
    "Добрый день, сколько стоит поверка манометров, у нас 14 штук?",
    "Could you send the price for 30 pallet wrappers delivered to Riga?",
    "Нужен счёт на 3 шт",
)


def test_committed_baseline_is_what_train_spam_builds() -> None:
    """Fails when the corpus or the training changed and nobody ran
    `python -m ingest.train_spam`."""
    assert BASELINE_PATH.read_bytes() == train_spam.build()


def test_the_build_is_byte_identical_on_rerun() -> None:
    rows = [
        {"text": "casino bonus spins", "label": "spam", "category": "casino"},
        {"text": "invoice for 20 licences", "label": "genuine", "category": "invoice"},
        {"text": "Здравствуйте", "label": "spam", "category": "metadata"},
    ]
    first = train_spam.encode(train_spam.train(rows))
    assert first == train_spam.encode(train_spam.train(rows))


def test_rows_that_are_spam_only_by_metadata_teach_nothing() -> None:
    assert not train_spam.trainable({"text": "Нужно КП", "label": "spam", "category": "metadata"})
    assert train_spam.trainable({"text": "тест", "label": "spam", "category": "test"})


@pytest.mark.parametrize("text", UNSEEN_SPAM)
def test_baseline_leans_junk_on_unseen_spam(text: str) -> None:
    assert baseline().probability_junk(text) > 0.7


@pytest.mark.parametrize("text", UNSEEN_GENUINE)
def test_baseline_leans_genuine_on_unseen_inquiries(text: str) -> None:
    assert baseline().probability_junk(text) < 0.3


def test_a_fresh_store_judges_with_the_baseline() -> None:
    judgement = build_judgement(JudgementData((), (), None, {}))
    assert judgement.classifier is baseline()


def test_stored_marks_are_laid_over_the_baseline() -> None:
    text = "Need a quote for SEO audit of our own shop, budget 2000 EUR"
    marks = TextClassifier.empty()
    marks.learn(text, is_junk=True, base=baseline())
    judgement = build_judgement(JudgementData((), (), marks.to_state(), {}))
    assert judgement.classifier is not None
    assert judgement.classifier.probability_junk(text) > baseline().probability_junk(text)
    assert judgement.classifier.probability_junk(text) >= 0.9


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(None, id="none"),
        pytest.param({}, id="empty"),
        pytest.param(
            {"version": 1, "n_features": 1 << 20, "docs": [3, 1], "totals": [9, 3], "counts": []},
            id="naive-bayes-before-the-baseline",
        ),
        pytest.param({"version": 2, "weights": "broken"}, id="broken"),
    ],
)
def test_unusable_stored_state_falls_back_to_the_baseline(state: dict[str, object] | None) -> None:
    assert marks_from_state(state).weights == {}
    assert build_judgement(JudgementData((), (), state, {})).classifier is baseline()


def test_effective_classifier_without_marks_is_the_baseline() -> None:
    assert effective_classifier(None) is baseline()
    assert effective_classifier(TextClassifier.empty()) is baseline()
