# ruff: noqa: RUF001  (Cyrillic words and look-alike letters are the point)
"""The spam judgement's golden cases: varied inquiries and the verdicts they must get.

`cases()` builds the same inquiries every time: every row of the bundled corpus and
of the independent holdout (as web-form inquiries with their render token, honeypot
and contact details, some with recent-rate counts), and hand-written texts at the
edges (Russian, English, mixed alphabets, look-alike letters, emoji, links in every
spelling, keyboard mashing, abbreviations, upper-case and multi-letter case folds,
empty, one letter, huge). `tests/fixtures/spam/golden.json.gz` holds, per case, the
baseline classifier's probability for its text and the verdict `ingest.spam.score`
gave with that probability, both written by the code of commit 0b816df (before the
judgement was made cheaper, issue 11): `python -m tests.spam_golden` rewrites it with
the code checked out, so only run it from code whose verdicts are known to be right.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ingest.contract import Channel, ClientInfo, Inquiry, Routing, Sender
from ingest.spam import (
    Blocklist,
    SpamContext,
    SpamThresholds,
    SpamVerdict,
    inquiry_text,
    make_render_token,
    score,
)
from ingest.spam_model import baseline

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "spam" / "golden.json.gz"
ROOT = Path(__file__).resolve().parent.parent
SOURCES = (
    ("corpus", ROOT / "ingest" / "data" / "spam_corpus.jsonl"),
    ("holdout", ROOT / "bench" / "data" / "spam_holdout.jsonl"),
)
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
SECRET = b"golden-secret"
FORM = "contact"
BLOCKLIST = Blocklist(
    emails=frozenset({"blocked@example.com"}),
    domains=frozenset({"spam-domain.test"}),
    phones=frozenset({"+79990000000"}),
    ips=frozenset({"10.0.0.66"}),
    keywords=frozenset({"casino", "Казино", "viagra"}),
)

_CYRILLIC = "Здравствуйте! Нужен счёт на 25 лицензий, перезвоните пожалуйста."
_ENGLISH = "Hello, we need 12 licenses for our office, please call back."
# Texts at the edges of the text signals and the classifier's features.
EDGE_TEXTS: tuple[str, ...] = (
    "",
    " ",
    "a",
    "ok",
    "Hi",
    "Заявка",
    "price?",
    _CYRILLIC,
    _ENGLISH,
    _CYRILLIC + " " + _ENGLISH,
    "Зapaбoтoк от 100 000 в месяц, Саsino онлайн",
    "SAP-система, XR-200, iPhone 15 Pro, ВВГнг 3x2.5, км, CRM, ERP, 1С:Бухгалтерия",
    "Привет 😀🔥 нужна консультация 👍 по тарифам 🙏",
    "😀😀😀😀😀😀😀😀😀😀",
    "asdfghjkl qwertyuiop zxcvbnm",
    "йцукен фыва ячсмить",
    "фывапролд",
    "ааааааааааааааааааааааааааааа",
    "ababababababababab",
    "bcdfghjklmnpqrstvwxz",
    "strengths rhythms crwth nth",
    "взбздн",
    "test",
    "тестовая заявка, не звонить",
    "test message, please ignore",
    "123",
    "Visit bit.ly/x7 and clck.ru/abc now",
    "HTTPS://EXAMPLE.COM/PATH and http://www.site.ru/?q=1 and www.Shop.com",
    "site.ru site.com site.net site.org site.io site.xyz and README.md setup.py ASP.NET",
    "пишите на сайт.рф или xn--80ak6aa92e.com",
    "mail me: ivan@example.com, not a link",
    "We offer SEO services and link building, first page of Google guaranteed!",
    "Наша компания предлагает продвижение и рассылки по базе клиентов",
    "Please buy gift cards urgently and keep this between us",
    "Реквизиты изменились, новые реквизиты во вложении, никому не сообщайте",
    "Best CASINO bonus, free spins, viagra",
    "İstanbul straße ﬁnance ǅemal ΣΊΣΥΦΟΣ",
    "Ǉubljana ĲSSEL ŉ Ᾰ ﬀ ﬃ ﬄ ﬅ ﬆ ʼn",
    "a\u0301b\u0301c\u0301d\u0301e\u0301 combining marks e\u0308",
    "zero\u200bwidth\u200cjoin\u200dner",
    "tab\tand\nnew\r\nlines\u2028\u2029here",
    "日本語のテキスト 中文文本 한국어 텍스트",
    "مرحبا بكم في موقعنا עברית",
    "Ελληνικά κείμενα για δοκιμή",
    "____ ---- .... 0000 1111 2222",
    "x1y2z3 a_b_c 3G 4K 5G2",
    "ЗАЯВКА НА ПОСТАВКУ ОБОРУДОВАНИЯ СРОЧНО",
    "URGENT REQUEST FOR QUOTATION PLEASE",
    "cAsInO КаЗиНо",
    "https://a.com https://b.com https://c.com https://d.com",
    "\x00\x01 control \x7f chars",
)


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    inquiry: Inquiry
    context: SpamContext  # junk_probability left None: it comes from the golden file


def cases() -> list[Case]:
    made: list[Case] = []
    for source, path in SOURCES:
        rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
        for i, row in enumerate(rows):
            made.append(_row_case(f"{source}-{i}", i, row))
    texts = [*EDGE_TEXTS, _huge(), _huge_mashed()]
    for i, text in enumerate(texts):
        made.append(_text_case(f"edge-{i}", i, text))
    return made


def _row_case(case_id: str, i: int, row: dict[str, Any]) -> Case:
    seconds = row.get("seconds_to_submit")
    token = None
    if seconds is not None:
        token = make_render_token(SECRET, FORM, NOW - timedelta(seconds=float(seconds)))
    fields = {"website": "http://example.com"} if row.get("honeypot") else {}
    inquiry = _inquiry(
        i,
        text=row.get("text") or None,
        sender=_sender(row.get("name"), row.get("email"), row.get("phone")),
        fields=fields,
        honeypot=bool(row.get("honeypot")),
        render_token=token,
    )
    return Case(case_id, inquiry, _context(i, token))


def _text_case(case_id: str, i: int, text: str) -> Case:
    # The text both as the message and, every third case, split across subject and fields.
    subject, fields = None, {}
    if i % 3 == 1:
        subject, fields = text[:200] or None, {"comment": text[::-1][:5000]}
    inquiry = _inquiry(
        i,
        text=text or None,
        subject=subject,
        fields=fields,
        sender=_sender("Ivan", "ivan@example.com" if i % 2 else None, None),
        channel=Channel.EMAIL if i % 4 == 3 else Channel.WEB_FORM,
    )
    return Case(case_id, inquiry, _context(i, None))


def _sender(name: str | None, email: str | None, phone: str | None) -> Sender:
    return Sender(name=name or None, email=email or None, phone=phone or None)


def _inquiry(i: int, *, render_token: str | None = None, **values: Any) -> Inquiry:
    values.setdefault("channel", Channel.WEB_FORM)
    ip = ["10.0.0.1", None, "10.0.0.2", "10.0.0.66", "10.0.0.1", "10.0.0.3", None][i % 7]
    return Inquiry(
        idempotency_key=f"golden:{i}",
        received_at=NOW,
        routing=Routing(team="Sales", form=FORM),
        client=ClientInfo(ip=ip),
        channel_ids={"render_token": render_token} if render_token else {},
        **values,
    )


def _context(i: int, token: str | None) -> SpamContext:
    return SpamContext(
        now=NOW,
        secret=SECRET if i % 5 else None,
        render_token=token,
        blocklist=BLOCKLIST,
        recent_from_sender=i % 5,
        recent_from_ip=i % 12,
    )


def _huge() -> str:
    """Some 90,000 characters of the corpus's own texts, Russian and English."""
    rows = SOURCES[0][1].read_text("utf-8").splitlines()
    return " ".join(json.loads(line)["text"] for line in rows[:1000])[:90_000]


def _huge_mashed() -> str:
    return " ".join(["qwer", "asdfgh", "zzzzzz", "bcdfgh", "ааааа", "ывап"] * 1500)


def verdict_json(verdict: SpamVerdict) -> dict[str, Any]:
    return {
        "score": verdict.score,
        "band": verdict.band,
        "reasons": [[r.signal, r.weight, r.detail] for r in verdict.reasons],
    }


def main() -> None:
    model = baseline()
    out = {}
    for case in cases():
        text = inquiry_text(case.inquiry)
        probability = model.probability_junk(text) if text else None
        context = replace(case.context, junk_probability=probability)
        verdict = score(case.inquiry, context, SpamThresholds())
        out[case.id] = {
            "probability": probability.hex() if probability is not None else None,
            **verdict_json(verdict),
        }
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(out, ensure_ascii=False, sort_keys=True, indent=0).encode("utf-8")
    GOLDEN.write_bytes(gzip.compress(data, mtime=0))
    print(f"wrote {len(out)} cases to {GOLDEN}")


if __name__ == "__main__":
    main()
