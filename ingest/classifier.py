"""A junk / not-junk text classifier: logistic regression over hashed text features.

Features are a text's words and the character 2- to 4-grams inside them, hashed
into 2^20 slots, present or absent (inquiries are short). `fit` trains offline by
seeded, shuffled AdaGrad passes (`python -m ingest.train_spam` builds the shipped
baseline with it); `learn` takes one manager's mark at run time, nudging the weights
of that text's features until the text itself is judged the way the manager said.
An installation keeps its marks as a separate, sparse model laid over the baseline
(`learn(..., base=baseline)`, then `base.combined(marks)`), so a newer baseline keeps
every manager's marks. The state is plain JSON: no pickle, so a stored model can
never run code when loaded.

Logistic regression rather than the naive Bayes this module held before: in grouped
cross-validation on the corpus (bench/spam_eval.py) it catches 81 % of spam texts at
1 % of genuine ones judged junk by the text alone, naive Bayes 40 %. Hand-rolled
rather than scikit-learn: numpy/scipy cost ~150 MB and seconds of import in every
ingest process for a model this small. Pure; imports nothing of ours.
"""

from __future__ import annotations

import math
import random
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain, islice, repeat
from typing import Any

STATE_VERSION = 2
N_FEATURES = 1 << 20
_WORD = re.compile(r"[^\W_]+|https?://\S+", re.UNICODE)
_DIGITS = re.compile(r"\d")
# Online marks: step size, the confidence a marked text is pushed to (with room for
# later marks on similar texts to pull it back a little), and a bound.
LEARN_RATE = 1.0
LEARN_TARGET = 0.95
LEARN_MAX_STEPS = 40
# A text of fewer words says too little to be sure about: "Заявка", "Hey" and "price?"
# come from buyers and from spam alike, so their evidence is shrunk (measured by the
# grouped cross-validation in bench/spam_eval.py: fewer genuine one-liners made junk).
FULL_EVIDENCE_WORDS = 3
# Stored weights are rounded: smaller JSON, and the same bytes on every rebuild.
DECIMALS = 4


@dataclass(slots=True)
class TextClassifier:
    """`probability_junk = sigmoid(bias + sum(weights[f]) / sqrt(len(features)))`.

    `probability_junk` reads the weights through a table of each word's features and
    their weights, kept per model: change `weights` through `learn` (which empties
    it), or build another model."""

    bias: float = 0.0
    weights: dict[int, float] = field(default_factory=dict)
    marks: int = 0
    _by_word: dict[str, dict[int, float]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def empty(cls) -> TextClassifier:
        return cls()

    @classmethod
    def fit(
        cls,
        examples: Iterable[tuple[str, bool]],
        *,
        epochs: int = 8,
        rate: float = 0.2,
        l2: float = 1e-4,
        seed: int = 20261202,
    ) -> TextClassifier:
        """Train on `(text, is_junk)` pairs; deterministic for the same input and seed."""
        hashed = [(sorted(features_of(text)), 1.0 if junk else 0.0) for text, junk in examples]
        slots = sorted({f for features, _ in hashed for f in features})
        index = {f: i for i, f in enumerate(slots)}
        # Dense lists indexed by slot rather than dicts: the inner loop runs a few
        # million times per fit.
        data = [([index[f] for f in features], label) for features, label in hashed if features]
        weights = [0.0] * len(slots)
        squares = [1e-8] * len(slots)
        bias, bias_square = 0.0, 1e-8
        rng = random.Random(seed)
        sqrt = math.sqrt
        for _ in range(epochs):
            rng.shuffle(data)
            for features, label in data:
                scale = 1.0 / sqrt(len(features))
                error = _sigmoid(bias + scale * sum([weights[i] for i in features])) - label
                bias_square += error * error
                bias -= rate * error / sqrt(bias_square)
                for i in features:
                    w = weights[i]
                    gradient = error * scale + l2 * w
                    square = squares[i] + gradient * gradient
                    squares[i] = square
                    weights[i] = w - rate * gradient / sqrt(square)
        return cls(bias, dict(zip(slots, weights, strict=True))).rounded()

    def probability_junk(self, text: str) -> float:
        """P(junk | text); 0.5 for a text with no features or an empty model."""
        # Past FULL_EVIDENCE_WORDS the count no longer matters: stop counting there.
        words = len(list(islice(_WORD.finditer(text), FULL_EVIDENCE_WORDS)))
        present = self._weighed(text)
        logit = 0.0
        if present:
            # As `logit(features_of(text))`: fsum is exact, in any order.
            logit = self.bias + math.fsum(present.values()) / math.sqrt(len(present))
        return _sigmoid(logit * min(1.0, words / FULL_EVIDENCE_WORDS))

    def _weighed(self, text: str) -> dict[int, float]:
        """`features_of(text)`, each with its weight (0.0 when it has none)."""
        if len(_WORD_FEATURES) > _WORDS_KEPT:
            _WORD_FEATURES.clear()
        by_word = self._by_word
        if len(by_word) > _WEIGHED_WORDS_KEPT:
            by_word.clear()
        get = self.weights.get
        present: dict[int, float] = {}
        # One small dict per word, merged: the model's big one is read only for words
        # this model has not met yet (its lookups miss the CPU's caches).
        for found in _WORD.findall(text.casefold()):
            weighed = by_word.get(found)
            if weighed is None:
                weighed = by_word[found] = {f: get(f, 0.0) for f in _WORD_FEATURES[found]}
            present.update(weighed)
        return present

    def logit(self, features: Iterable[int]) -> float:
        present = features if isinstance(features, frozenset) else list(features)
        if not present:
            return 0.0
        # fsum is exact, so the order the features come in never changes the sum.
        total = math.fsum(map(self.weights.get, present, repeat(0.0, len(present))))
        return self.bias + total / math.sqrt(len(present))

    def learn(self, text: str, is_junk: bool, base: TextClassifier | None = None) -> None:
        """Take one manager's mark: move this text's feature weights until the text
        (judged by `base` plus this model) reads as marked with `LEARN_TARGET` confidence."""
        features = sorted(features_of(text))
        if not features:
            return
        self._by_word.clear()
        self.marks += 1
        scale = 1.0 / math.sqrt(len(features))
        label = 1.0 if is_junk else 0.0
        for _ in range(LEARN_MAX_STEPS):
            z = self.logit(features) + (base.logit(features) if base is not None else 0.0)
            p = _sigmoid(z)
            if (p >= LEARN_TARGET) if is_junk else (p <= 1.0 - LEARN_TARGET):
                break
            step = LEARN_RATE * (p - label) * scale
            for f in features:
                self.weights[f] = self.weights.get(f, 0.0) - step
        self.weights = self.rounded().weights
        self._by_word.clear()

    def combined(self, other: TextClassifier) -> TextClassifier:
        """A new model whose logit is the sum of both (the baseline plus an installation's
        marks)."""
        weights = dict(self.weights)
        for f, w in other.weights.items():
            weights[f] = weights.get(f, 0.0) + w
        return TextClassifier(self.bias + other.bias, weights, self.marks + other.marks)

    def pruned(self, min_weight: float) -> TextClassifier:
        """Without the weights closer to zero than `min_weight` (most of the size)."""
        kept = {f: w for f, w in self.weights.items() if abs(w) >= min_weight}
        return TextClassifier(self.bias, kept, self.marks)

    def rounded(self) -> TextClassifier:
        weights = {f: round(w, DECIMALS) for f, w in self.weights.items()}
        return TextClassifier(
            round(self.bias, DECIMALS), {f: w for f, w in weights.items() if w}, self.marks
        )

    def to_state(self) -> dict[str, Any]:
        """JSON-able state; `weights` as sorted `[feature, weight]` pairs."""
        return {
            "version": STATE_VERSION,
            "n_features": N_FEATURES,
            "bias": self.bias,
            "marks": self.marks,
            "weights": [[f, w] for f, w in sorted(self.weights.items())],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TextClassifier:
        """Rebuild from `to_state()`; raises `ValueError` on any other shape."""
        if state.get("version") != STATE_VERSION or state.get("n_features") != N_FEATURES:
            raise ValueError("classifier state from another version or feature space")
        try:
            bias = _finite(state["bias"])
            marks = int(state.get("marks", 0))
            weights = {int(f): _finite(w) for f, w in state["weights"]}
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed classifier state: {exc}") from exc
        return cls(bias, weights, marks)


def features_of(text: str) -> frozenset[int]:
    """Hashed features of a text: its words and the character n-grams inside them."""
    if len(_WORD_FEATURES) > _WORDS_KEPT:
        _WORD_FEATURES.clear()
    words = _WORD.findall(text.casefold())
    return frozenset(chain.from_iterable(map(_WORD_FEATURES.__getitem__, words)))


def _word_features(found: str) -> tuple[int, ...]:
    """One word's own features: the word and its 2- to 4-grams, padded with spaces."""
    word = _DIGITS.sub("0", found)
    padded = f" {word} "
    n = len(padded)
    tokens = ["w:" + word]
    tokens.extend([padded[i : i + 2] for i in range(n - 1)])
    tokens.extend([padded[i : i + 3] for i in range(n - 2)])
    tokens.extend([padded[i : i + 4] for i in range(n - 3)])
    if len(_HASHES) > _HASHES_KEPT:
        _HASHES.clear()
    return tuple(map(_HASHES.__getitem__, tokens))


class _WordFeatures(dict[str, tuple[int, ...]]):
    """Word (as found in the case-folded text) → its features, filled on first use:
    most words of an inquiry were seen before, and a lookup replaces building and
    hashing a dozen n-grams."""

    def __missing__(self, found: str) -> tuple[int, ...]:
        features = self[found] = _word_features(found)
        return features


class _Hashes(dict[str, int]):
    """Token → feature, filled on first use: n-grams repeat across words (a lookup
    costs a third of hashing them again)."""

    def __missing__(self, token: str) -> int:
        feature = self[token] = _hash(token)
        return feature


_WORD_FEATURES = _WordFeatures()
# ~250 bytes a word; the words of many inquiries repeat, a few do not, so the table
# is emptied when full.
_WORDS_KEPT = 20_000
# Per model, each word's features with their weights: ~700 bytes a word.
_WEIGHED_WORDS_KEPT = 10_000
_HASHES = _Hashes()
# A few MiB at most; n-grams repeat, words do not, so the table is emptied when full.
_HASHES_KEPT = 50_000


def clear_caches() -> None:
    """Empty the per-word tables (benchmarks time a cold start with it)."""
    _WORD_FEATURES.clear()
    _HASHES.clear()


def _hash(token: str) -> int:
    # crc32, not hash(): Python salts str hashes per process, and the state must
    # mean the same thing in every process that loads it.
    return zlib.crc32(token.encode("utf-8")) % N_FEATURES


def _finite(value: object) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)
