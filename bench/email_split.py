"""Quote and signature splitting: our `email_body` against well-kept libraries, per case.

Every splitter gets the same plain text (what `parse_email` reads from the message,
HTML already converted) and the same forward hint from the subject, and returns the
sender's new text, the signature and any forwarded message. A case is right for
quotes when the sender's words stay, the quoted history goes and a forwarded message
is kept; right for signatures when the signature leaves the new text and the words
stay. The ground truth is `bench/email_split_truth.py`.

Contenders: ours (`connectors.email_body.split_body`); quotequail (`unwrap`, then
`quote`; it has no signature detection); quotequail followed by our signature cut;
mail-parser-reply (`EmailReplyParser`, languages ru + en: it has no Russian patterns,
so only English ones apply). The libraries are not project dependencies: install
them to compare (`.venv/bin/uv pip install quotequail mail-parser-reply`); a missing
one is reported and skipped.

Run: `.venv/bin/python -m bench.email_split` (`-v` lists each case's failures).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.email_split_truth import EML, TEXTS, Truth
from connectors import email_body
from connectors.email_body import BodySplit, is_forward_subject, split_body
from connectors.email_parse import ParsedEmail, parse_email

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "email"
Splitter = Callable[[str, bool], BodySplit]


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    text: str
    is_forward: bool
    truth: Truth


@dataclass(frozen=True, slots=True)
class Verdict:
    quotes_ok: bool
    signature_ok: bool | None  # None: the case has no signature
    problems: tuple[str, ...]


def load_cases() -> list[Case]:
    cases = []
    for name, truth in sorted(EML.items()):
        parsed = parse_email(
            (CORPUS / name).read_bytes(), mailbox="sales@acme.ru", received_at=datetime.now(UTC)
        )
        if not isinstance(parsed, ParsedEmail):
            raise SystemExit(f"{name} is not a lead: {parsed}")
        forward = is_forward_subject(parsed.inquiry.subject)
        cases.append(Case(name, parsed.full_text, forward, truth))
    for name, case in sorted(TEXTS.items()):
        cases.append(Case(name, case.text, case.is_forward, case.truth))
    return cases


def judge(split: BodySplit, truth: Truth) -> Verdict:
    problems = [f"lost new text {s!r}" for s in truth.new if s not in split.new_text]
    kept = f"{split.new_text}\n{split.signature}"
    problems += [f"kept quoted {s!r}" for s in truth.cut if s in kept]
    problems += [f"lost forwarded {s!r}" for s in truth.fwd if s not in split.text]
    quotes_ok = not problems
    sig_problems = [f"signature left in text {s!r}" for s in truth.sig if s in split.new_text]
    signature_ok = None if not truth.sig else not sig_problems and quotes_ok
    return Verdict(quotes_ok, signature_ok, tuple(problems + sig_problems))


# --- Contenders -----------------------------------------------------------------------


def ours(text: str, is_forward: bool) -> BodySplit:
    return split_body(text, is_forward=is_forward)


def quotequail_split(text: str, is_forward: bool) -> BodySplit:
    quotequail: Any = importlib.import_module("quotequail")
    unwrapped = quotequail.unwrap(text)
    if unwrapped:
        new = "\n\n".join(
            unwrapped.get(k, "") for k in ("text_top", "text_bottom") if unwrapped.get(k)
        )
        inner = unwrapped.get("text", "")
        forwarded = unwrapped.get("type") == "forward" or is_forward
        return BodySplit(new.strip(), "", inner.strip() if forwarded else "")
    parts = quotequail.quote(text, quote_intro_line=True)
    new = "\n".join(part for expanded, part in parts if expanded)
    rest = "\n".join(part for expanded, part in parts if not expanded)
    return BodySplit(new.strip(), "", rest.strip() if is_forward else "")


def quotequail_with_our_signature(text: str, is_forward: bool) -> BodySplit:
    # Only our signature cut: `split_body` would also run our quote detection again.
    quoted = quotequail_split(text, is_forward)
    body, signature = email_body._split_signature(quoted.new_text.split("\n"))
    return BodySplit("\n".join(body).strip(), "\n".join(signature).strip(), quoted.forwarded)


def mail_parser_reply(text: str, is_forward: bool) -> BodySplit:
    module: Any = importlib.import_module("mailparser_reply")
    message = module.EmailReplyParser(languages=["ru", "en"]).read(text)
    first, rest = message.replies[0], message.replies[1:]
    forwarded = "\n\n".join(r.full_body for r in rest) if is_forward else ""
    return BodySplit(first.body.strip(), (first.signatures or "").strip(), forwarded.strip())


CONTENDERS: dict[str, tuple[Splitter, str | None]] = {
    "ours (email_body)": (ours, None),
    "quotequail": (quotequail_split, "quotequail"),
    "quotequail + our signature": (quotequail_with_our_signature, "quotequail"),
    "mail-parser-reply": (mail_parser_reply, "mailparser_reply"),
}


def available(module: str | None) -> bool:
    if module is None:
        return True
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="list each failure")
    args = parser.parse_args()
    cases = load_cases()
    with_signature = sum(1 for c in cases if c.truth.sig)
    print(
        f"{len(cases)} cases ({len(EML)} corpus emails, {len(TEXTS)} written here), "
        f"{with_signature} with a signature"
    )
    print(f"{'splitter':<28} {'quotes':>9} {'signature':>10} {'both':>9}")
    for label, (splitter, module) in CONTENDERS.items():
        if not available(module):
            print(f"{label:<28} not installed ({module})")
            continue
        verdicts = [
            (case, judge(splitter(case.text, case.is_forward), case.truth)) for case in cases
        ]
        quotes = sum(v.quotes_ok for _, v in verdicts)
        sigs = sum(bool(v.signature_ok) for _, v in verdicts)
        both = sum(v.quotes_ok and v.signature_ok is not False for _, v in verdicts)
        print(
            f"{label:<28} {quotes:>4}/{len(cases):<4} {sigs:>4}/{with_signature:<5} "
            f"{both:>4}/{len(cases):<4}"
        )
        if args.verbose:
            for case, verdict in verdicts:
                if verdict.problems:
                    print(f"    {case.name}: {'; '.join(verdict.problems)}")


if __name__ == "__main__":
    main()
