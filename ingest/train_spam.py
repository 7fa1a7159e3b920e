"""Builds the shipped spam baseline from the bundled corpus: `python -m ingest.train_spam`.

Reads `ingest/data/spam_corpus.jsonl`, fits `TextClassifier` (logistic regression) on
every row whose label rests on its text (rows that are spam only because of how they
were sent, category `metadata`, would teach it that "Нужно КП на 10 лицензий" is
junk), drops near-zero weights, and writes `ingest/data/spam_model.json.gz`: sorted, compact JSON in
a gzip stream with no timestamp or file name, so a rerun writes identical bytes and
a test can check that the committed file is what this module builds. `--check`
only compares. Imports `ingest.classifier` and `ingest.spam_model`.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ingest.classifier import TextClassifier
from ingest.spam_model import BASELINE_PATH, corpus_rows

# Weights closer to zero are dropped: most of the size, no loss measured in
# bench/spam_eval.py's grouped cross-validation.
MIN_WEIGHT = 0.01
TEXT_BLIND = frozenset({"metadata"})


def trainable(row: Mapping[str, Any]) -> bool:
    return row.get("category") not in TEXT_BLIND and bool(str(row.get("text") or "").strip())


def train(rows: Iterable[Mapping[str, Any]]) -> TextClassifier:
    """The baseline's training procedure; the evaluation calls it on each fold."""
    examples = [(str(row["text"]), row["label"] == "spam") for row in rows if trainable(row)]
    return TextClassifier.fit(examples).pruned(MIN_WEIGHT)


def encode(model: TextClassifier) -> bytes:
    text = json.dumps(model.to_state(), sort_keys=True, separators=(",", ":"))
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as out:
        out.write(text.encode("ascii"))
    return buffer.getvalue()


def build() -> bytes:
    return encode(train(corpus_rows()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the file")
    parser.add_argument("--out", type=Path, default=BASELINE_PATH)
    args = parser.parse_args(argv)
    data = build()
    if args.check:
        same = args.out.exists() and args.out.read_bytes() == data
        print(f"{args.out}: {'up to date' if same else 'stale, run python -m ingest.train_spam'}")
        return 0 if same else 1
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
