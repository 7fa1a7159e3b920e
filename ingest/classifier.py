"""A junk / not-junk text classifier that learns from managers' marks, one at a time.

Multinomial naive Bayes over hashed features (character 2- to 4-grams inside words,
plus whole words), with binary counts per text because inquiries are short. Every
mark updates the counts in place (`learn`; `forget` undoes a mark a manager took
back), and the whole state is plain JSON-able data for the store: no pickle, so a
stored model can never run code when loaded. Hand-rolled rather than scikit-learn:
the same model there costs ~150 MB of numpy/scipy, ~4 s of import time in every
ingest process, has no type information, and rebuilding a fitted `MultinomialNB`
from saved arrays needs its private methods. Pure; imports nothing of ours.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

STATE_VERSION = 1
N_FEATURES = 1 << 20
ALPHA = 0.5
# Measured by cross-validation on the shipped corpus (bench/spam_eval.py).
EVIDENCE_SCALE = 10.0
_WORD = re.compile(r"[^\W_]+|https?://\S+", re.UNICODE)
_DIGITS = re.compile(r"\d")
HAM, JUNK = 0, 1


@dataclass(slots=True)
class TextClassifier:
    """Counts per hashed feature: `counts[feature] == [in_ham_texts, in_junk_texts]`."""

    docs: list[int] = field(default_factory=lambda: [0, 0])
    totals: list[int] = field(default_factory=lambda: [0, 0])
    counts: dict[int, list[int]] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> TextClassifier:
        return cls()

    def learn(self, text: str, is_junk: bool) -> None:
        """Take one manager's mark into account."""
        self._add(text, JUNK if is_junk else HAM, +1)

    def forget(self, text: str, is_junk: bool) -> None:
        """Undo an earlier `learn(text, is_junk)`, e.g. when a junk lead is restored."""
        self._add(text, JUNK if is_junk else HAM, -1)

    def probability_junk(self, text: str) -> float:
        """P(junk | text); 0.5 until both kinds of text have been seen."""
        if min(self.docs) == 0:
            return 0.5
        features = features_of(text)
        if not features:
            return 0.5
        vocabulary = len(self.counts) + 1
        evidence = 0.0
        for feature in features:
            ham, junk = self.counts.get(feature, (0, 0))
            p_junk = (junk + ALPHA) / (self.totals[JUNK] + ALPHA * vocabulary)
            p_ham = (ham + ALPHA) / (self.totals[HAM] + ALPHA * vocabulary)
            evidence += math.log(p_junk / p_ham)
        # Overlapping n-grams are far from independent, so plain naive Bayes sums the
        # same clue dozens of times and answers 0 or 1 for almost any text. Averaging
        # the evidence per feature keeps the output graded; see bench/spam_eval.py.
        prior = math.log((self.docs[JUNK] + 1) / (self.docs[HAM] + 1))
        return _sigmoid(prior + EVIDENCE_SCALE * evidence / len(features))

    def to_state(self) -> dict[str, Any]:
        """JSON-able state; `counts` as sorted `[feature, ham, junk]` triples."""
        return {
            "version": STATE_VERSION,
            "n_features": N_FEATURES,
            "docs": list(self.docs),
            "totals": list(self.totals),
            "counts": [[f, h, j] for f, (h, j) in sorted(self.counts.items())],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TextClassifier:
        """Rebuild from `to_state()`; raises `ValueError` on any other shape."""
        if state.get("version") != STATE_VERSION or state.get("n_features") != N_FEATURES:
            raise ValueError("classifier state from another version or feature space")
        try:
            docs = [int(n) for n in state["docs"]]
            totals = [int(n) for n in state["totals"]]
            counts = {int(f): [int(h), int(j)] for f, h, j in state["counts"]}
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed classifier state: {exc}") from exc
        if len(docs) != 2 or len(totals) != 2:
            raise ValueError("malformed classifier state: docs and totals need two entries")
        return cls(docs, totals, counts)

    def _add(self, text: str, label: int, sign: int) -> None:
        features = features_of(text)
        if sign < 0 and self.docs[label] == 0:
            return
        self.docs[label] += sign
        for feature in features:
            pair = self.counts.setdefault(feature, [0, 0])
            pair[label] = max(pair[label] + sign, 0)
            if pair == [0, 0]:
                del self.counts[feature]
        self.totals[label] = max(self.totals[label] + sign * len(features), 0)


def features_of(text: str) -> frozenset[int]:
    """Hashed features of a text: its words and the character n-grams inside them."""
    words = [_DIGITS.sub("0", w) for w in _WORD.findall(text.casefold())]
    return frozenset(_hash(token) for token in _tokens(words))


def _tokens(words: Iterable[str]) -> Iterable[str]:
    for word in words:
        yield "w:" + word
        padded = f" {word} "
        for size in (2, 3, 4):
            for i in range(len(padded) - size + 1):
                yield padded[i : i + size]


def _hash(token: str) -> int:
    # crc32, not hash(): Python salts str hashes per process, and the state must
    # mean the same thing in every process that loads it.
    return zlib.crc32(token.encode("utf-8")) % N_FEATURES


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)
