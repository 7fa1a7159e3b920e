"""The shipped spam baseline, and how an installation's own marks combine with it.

The baseline (`data/spam_model.json.gz`, built by `python -m ingest.train_spam` from
`data/spam_corpus.jsonl`) is what a fresh install judges with. The store's
`spam_model` row holds only what this installation's managers taught: their junk
and restore marks, which the SLA watcher folds in as a sparse model trained on top
of the baseline (`marks_from_state`, `TextClassifier.learn(..., base=baseline())`).
`effective_classifier` lays that over the baseline. Both are JSON, never pickle.
Reads package data; imports `ingest.classifier` only.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from ingest.classifier import TextClassifier

log = logging.getLogger(__name__)

BASELINE_PATH = Path(__file__).resolve().parent / "data" / "spam_model.json.gz"
# The state the classifier stored before there was a baseline (naive Bayes counts).
NAIVE_BAYES_VERSION = 1


@functools.cache
def baseline() -> TextClassifier:
    """The shipped baseline, loaded once per process; shared, so never teach it."""
    data = resources.files("ingest").joinpath("data", "spam_model.json.gz").read_bytes()
    return TextClassifier.from_state(json.loads(gzip.decompress(data)))


def effective_classifier(marks: TextClassifier | None) -> TextClassifier:
    """The baseline with this installation's marks on top."""
    if marks is None or not marks.weights:
        return baseline()
    return baseline().combined(marks)


def marks_from_state(state: Mapping[str, Any] | None) -> TextClassifier:
    """The installation's marks model from the store, or an empty one.

    A state from the classifier before the shipped baseline (version 1, naive Bayes
    counts) cannot be laid over it; it is set aside and the marks start afresh."""
    if not state or state.get("version") == NAIVE_BAYES_VERSION:
        return TextClassifier.empty()
    try:
        return TextClassifier.from_state(state)
    except ValueError:
        log.warning("the stored spam marks are unusable; judging with the baseline alone")
        return TextClassifier.empty()


def corpus_rows() -> list[dict[str, Any]]:
    """The bundled labelled corpus the baseline is trained on."""
    text = resources.files("ingest").joinpath("data", "spam_corpus.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]
