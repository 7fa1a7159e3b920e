"""Cross-validated quality of spam scoring on the labelled corpus.

Each fold trains `TextClassifier` on the other folds' texts, then scores the held-out
inquiries with `ingest.spam.score`, the classifier's probability passed in the way
the consumer passes it. Reports "junk" recall, "junk or suspicious" recall, junk
precision and the share of genuine inquiries marked junk or suspicious. The goals:
>= 95 % of spam caught, <= 2 % of genuine marked junk.

Run: `.venv/bin/python -m bench.spam_eval`
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from ingest.classifier import TextClassifier
from ingest.contract import Channel, Inquiry, Routing, Sender
from ingest.spam import SpamContext, SpamThresholds, SpamVerdict, make_render_token, score

FOLDS = 5
SEED = 20261127
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
SECRET = b"bench-secret"
FORM = "contact"


@dataclass(frozen=True, slots=True)
class Example:
    inquiry: Inquiry
    context: SpamContext
    text: str
    is_spam: bool


def load_corpus() -> list[dict[str, Any]]:
    text = resources.files("ingest").joinpath("data", "spam_corpus.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def to_example(row: dict[str, Any], index: int) -> Example:
    seconds = row["seconds_to_submit"]
    token = None
    if seconds is not None:
        token = make_render_token(SECRET, FORM, NOW - timedelta(seconds=seconds))
    inquiry = Inquiry(
        idempotency_key=f"bench:{index}",
        channel=Channel.WEB_FORM,
        received_at=NOW,
        sender=Sender(name=row["name"], email=row["email"], phone=row["phone"]),
        text=row["text"],
        routing=Routing(form=FORM),
        honeypot=row["honeypot"],
    )
    context = SpamContext(now=NOW, secret=SECRET, render_token=token)
    return Example(inquiry, context, row["text"], row["label"] == "spam")


def folds(count: int, k: int, seed: int) -> list[list[int]]:
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return [order[i::k] for i in range(k)]


def cross_validate(
    examples: Sequence[Example], thresholds: SpamThresholds, use_classifier: bool = True
) -> list[tuple[Example, SpamVerdict]]:
    results: list[tuple[Example, SpamVerdict]] = []
    for held_out in folds(len(examples), FOLDS, SEED):
        test = set(held_out)
        model = TextClassifier.empty()
        for i, example in enumerate(examples):
            if i not in test:
                model.learn(example.text, example.is_spam)
        for i in held_out:
            example = examples[i]
            probability = model.probability_junk(example.text) if use_classifier else None
            context = SpamContext(
                now=example.context.now,
                secret=example.context.secret,
                render_token=example.context.render_token,
                junk_probability=probability,
            )
            results.append((example, score(example.inquiry, context, thresholds)))
    return results


def metrics(results: Sequence[tuple[Example, SpamVerdict]]) -> dict[str, float]:
    spam = [v for e, v in results if e.is_spam]
    genuine = [v for e, v in results if not e.is_spam]
    junk = [e for e, v in results if v.band == "junk"]
    return {
        "spam": len(spam),
        "genuine": len(genuine),
        "junk_recall": _share(spam, {"junk"}),
        "caught_recall": _share(spam, {"junk", "suspicious"}),
        "junk_precision": sum(e.is_spam for e in junk) / len(junk) if junk else 1.0,
        "false_junk_rate": _share(genuine, {"junk"}),
        "false_suspicious_rate": _share(genuine, {"suspicious"}),
    }


def _share(verdicts: Sequence[SpamVerdict], bands: set[str]) -> float:
    return sum(v.band in bands for v in verdicts) / len(verdicts) if verdicts else 0.0


def evaluate(thresholds: SpamThresholds | None = None, verbose: bool = True) -> dict[str, Any]:
    """Cross-validated metrics with and without the learned classifier."""
    limits = thresholds or SpamThresholds()
    examples = [to_example(row, i) for i, row in enumerate(load_corpus())]
    with_model = cross_validate(examples, limits)
    report: dict[str, Any] = {
        "with_classifier": metrics(with_model),
        "rules_only": metrics(cross_validate(examples, limits, use_classifier=False)),
        "folds": FOLDS,
        "seed": SEED,
    }
    if verbose:
        _print_table(report)
        _print_mistakes(with_model)
    return report


def _print_table(report: dict[str, Any]) -> None:
    rows = (
        "junk_recall",
        "caught_recall",
        "junk_precision",
        "false_junk_rate",
        "false_suspicious_rate",
    )
    print(f"{FOLDS}-fold cross-validation, seed {SEED}")
    print(f"{'metric':<24}{'with classifier':>18}{'rules only':>14}")
    for name in rows:
        with_model = report["with_classifier"][name]
        rules = report["rules_only"][name]
        print(f"{name:<24}{with_model:>18.1%}{rules:>14.1%}")
    counts = report["with_classifier"]
    print(f"(spam {counts['spam']}, genuine {counts['genuine']})")


def _print_mistakes(results: Sequence[tuple[Example, SpamVerdict]]) -> None:
    for example, verdict in results:
        missed = example.is_spam and verdict.band == "clean"
        false_alarm = not example.is_spam and verdict.band != "clean"
        if missed or false_alarm:
            kind = "missed spam" if missed else f"genuine as {verdict.band}"
            print(f"  {kind}: {example.text[:60]!r} -> {verdict.explanation}")


if __name__ == "__main__":
    evaluate()
