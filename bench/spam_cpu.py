"""The spam judgement alone: CPU µs per inquiry, on the corpus and on the bench's inquiries.

Times `ingest.pipeline.judge_spam` (what the consumer calls), and its two parts:
`ingest.spam.score` with the classifier's probability already in the context, and
`TextClassifier.probability_junk` of the shipped baseline. Two inputs: every text of
the bundled corpus and the independent holdout, posted through the demo form as
`bench.spam_eval` does (varied: Russian, English, links, mashing), and the web-form
inquiries `bench.consumer_cpu` produces (one sentence, a number changing). Each round
runs in a fresh process, so its first pass meets empty per-word tables ("cold", as
a process that just started); the passes after it are "warm". Only public names are
used, so the same script times an older checkout: run it from that checkout's
directory (`cd OLD && /path/to/.venv/bin/python -m bench.spam_cpu`).

Run: `.venv/bin/python -m bench.spam_cpu [--rounds 5] [--passes 3]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from connectors.webform import FormRejected
from connectors.webform import normalize_submission as normalize_form
from ingest.contract import Inquiry
from ingest.decisions import Policy, Snapshot
from ingest.pipeline import judge_spam
from ingest.spam import SpamContext, inquiry_text, score
from ingest.spam_model import baseline, corpus_rows

SETS = ("corpus", "bench")
CALLS = ("judge_spam", "score", "probability_junk")


def inquiries(which: str) -> list[Inquiry]:
    if which == "bench":
        from bench.consumer_cpu import inquiry

        return [inquiry(i, "spamcpu") for i in range(2000)]
    from bench.spam_eval import FORM, HOLDOUT, _submission, load_jsonl

    rows = corpus_rows() + load_jsonl(HOLDOUT)
    made = [normalize_form(FORM, _submission(row, i)) for i, row in enumerate(rows)]
    return [m for m in made if not isinstance(m, FormRejected)]


def one_round(which: str, call: str, passes: int) -> list[float]:
    """µs per inquiry of one timed call, one figure per pass (the first is cold)."""
    items = inquiries(which)
    model = baseline()
    policy = Policy()
    snapshot = Snapshot(contacts={}, teams={}, classifier=model)
    texts = [inquiry_text(i) for i in items]
    now = items[0].received_at
    contexts = []
    if call == "score":
        probabilities = [model.probability_junk(t) if t else None for t in texts]
        contexts = [SpamContext(now=now, junk_probability=p) for p in probabilities]
        _forget()

    def judged() -> None:
        for inquiry in items:
            judge_spam(inquiry, snapshot, now, policy)

    def scored() -> None:
        for inquiry, context in zip(items, contexts, strict=True):
            score(inquiry, context, policy.spam)

    def classified() -> None:
        for text in texts:
            if text:
                model.probability_junk(text)

    timed = {"judge_spam": judged, "score": scored, "probability_junk": classified}[call]
    out = []
    for _ in range(passes):
        started = time.process_time()
        timed()
        out.append((time.process_time() - started) / len(items) * 1e6)
    return out


def _forget() -> None:
    """Empty the per-word tables, where the code has them, so the first pass is cold."""
    # `ingest.spam_words` holds the spam rules' table since it was split from
    # `ingest.spam`; an older checkout has no such module.
    for module in ("ingest.spam", "ingest.spam_words", "ingest.classifier"):
        clear = getattr(sys.modules.get(module), "clear_caches", None)
        if clear is not None:
            clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--set", choices=SETS, action="append", dest="sets")
    parser.add_argument("--one", nargs=2, metavar=("SET", "CALL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        which, call = args.one
        print(json.dumps(one_round(which, call, args.passes)))
        return
    for which in args.sets or SETS:
        print(f"{which}: CPU µs per inquiry, median of {args.rounds} processes (cold = 1st pass)")
        for call in CALLS:
            rounds = []
            for _ in range(args.rounds):
                command = [sys.executable, "-m", "bench.spam_cpu", "--one", which, call]
                done = subprocess.run(
                    [*command, "--passes", str(args.passes)],
                    capture_output=True,
                    check=True,
                    text=True,
                )
                rounds.append(json.loads(done.stdout))
            cold = statistics.median(r[0] for r in rounds)
            warm = statistics.median(statistics.median(r[1:] or r) for r in rounds)
            print(f"  {call:<18} cold {cold:8.1f}   warm {warm:8.1f}", flush=True)


if __name__ == "__main__":
    main()
