# ruff: noqa: RUF001  (Cyrillic words and look-alike letters are the point)
"""Spam scoring: independent signals, each adding a weight and a reason to one score.

Signals: the form's honeypot, time-to-submit read from a signed render token, admin
blocklists, disposable email domains, links (with or without a scheme) and URL
shorteners, words mixing Cyrillic and Latin look-alikes, payment-fraud phrases, no valid way
to reply, the sender's and the IP's recent rate, gibberish text, test submissions,
and the learned classifier's probability (computed elsewhere and passed in). The
band (clean, suspicious, junk) comes from thresholds an admin can tune. Auto-replies
are not spam and are not judged here. Pure: the clock, the rates and the classifier
output are inputs. Imports `ingest.contract`, `ingest.matching` (domain lists) and
`ingest.spam_words` (what each word reads as: look-alikes, keyboard mashing).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Literal

from ingest.contract import (
    Channel,
    Inquiry,
    InvalidIdentity,
    is_canonical_phone,
    normalize_email,
    normalize_phone,
)
from ingest.contract.render_token import make_render_token as make_render_token
from ingest.contract.render_token import read_render_token
from ingest.matching import disposable_domains, email_domain, in_domain_list
from ingest.spam_phrases import fraud_phrase, pitch_phrase
from ingest.spam_words import WORD, Word, gibberish_reason_of, read_words

Band = Literal["clean", "suspicious", "junk"]

URL_SHORTENERS = frozenset(
    {
        "bit.ly", "t.co", "goo.gl", "tinyurl.com", "clck.ru", "ow.ly", "is.gd", "buff.ly",
        "cutt.ly", "rebrand.ly", "shorturl.at", "tiny.cc", "rb.gy", "v.gd", "t.ly",
        "bitly.com", "lnkd.in", "vk.cc", "u.to", "qps.ru", "s.id", "shorte.st", "adf.ly",
        "goo.su", "surl.li", "bit.do", "cutt.us", "tiny.one", "shorturl.ru", "l.ead.me",
    }
)  # fmt: skip
# Top-level domains a bare "name.tld" link is recognised by. Deliberately not every
# TLD: file extensions and versions that are also TLDs ("readme.md", "setup.py",
# "archive.zip", "run.sh", "photo.mov") must stay words.
_LINK_TLDS = frozenset(
    {
        "com", "net", "org", "ru", "su", "xn--p1ai", "рф", "info", "biz", "io", "co", "me",
        "pro", "xyz", "top", "club", "online", "site", "live", "cc", "us", "uk", "de", "kz",
        "by", "ua", "ly", "gl", "gd", "to", "id", "at", "in", "win", "bet", "casino", "cam",
        "loan", "shop", "store", "app", "dev", "agency", "space", "website", "tech", "link",
        "click", "icu", "vip", "fun", "tk", "ml", "ga", "cf", "gq", "ws", "page",
        "money", "email", "trade", "market", "cn", "eu", "fr", "it", "es", "nl",
    }
)  # fmt: skip

# Throwaway words people type when they try a form out. Greetings ("hi", "Здравствуйте")
# and "заявка" alone are not here: real people send them with a phone to be called
# back (the corpus has both kinds; the classifier and the other signals tell them apart).
_TEST_WORDS = frozenset(
    {
        "test", "tests", "testing", "тест", "тестовая", "тестовое", "тестовый", "тестируем",
        "тестирование", "проверка", "asdf", "qwerty", "йцукен", "фыва", "lorem", "ipsum",
        "123", "1234", "12345", "ааа", "aaa", "xxx", "sample", "demo",
    }
)  # fmt: skip
# Words that come with a test word ("test message, please ignore", "тестовая заявка, не
# звонить") without making the text a real request on their own.
_TEST_FILLER = frozenset(
    {"message", "please", "ignore", "form", "submission", "only", "just", "this", "is", "a",
     "do", "not", "reply", "call", "from", "the", "dev", "team", "1", "2", "3", "hi", "hello"}
    | {"сообщение", "пожалуйста", "не", "обращайте", "внимания", "это", "связи", "формы",
       "заявка", "заявок", "заявки", "звонить", "перезванивать", "обрабатывать", "просьба",
       "игнорировать", "удалить", "с", "сайта", "обратной", "работы", "отправки"}
)  # fmt: skip
_URL = re.compile(r"(?:https?://|www\.)([^\s/?#<>\"']+)", re.IGNORECASE)
# A host written without a scheme: labels, a dot, a known TLD, then the end of the
# word. Not after "@" (an email address) or another label character.
_BARE_HOST = re.compile(
    r"(?<![\w@.\-/])((?:[a-zа-яё0-9](?:[a-zа-яё0-9\-]{0,61}[a-zа-яё0-9])?\.)+"
    r"([a-zа-яё][a-zа-яё0-9\-]{1,23}))(?![\w\-@]|\.[a-zа-яё0-9])",
    re.IGNORECASE,
)
# Every link either pattern finds has one of these: most texts have none, and one
# scan for them is cheaper than the two patterns' scans.
_MAYBE_LINK = re.compile(r"://|www\.|\.[a-zа-яё]", re.IGNORECASE)
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Blocklist:
    """Admin-maintained lists; values lower-case (emails, domains, keywords) or E.164."""

    emails: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    ips: frozenset[str] = frozenset()
    keywords: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class SpamContext:
    """Everything the score needs besides the inquiry, gathered by the caller.

    `render_token` comes from the submitted form (None when absent); `secret` is the
    forms' signing key (None switches the timing signal off); `recent_from_sender` and
    `recent_from_ip` count inquiries within the caller's rate window, this one
    excluded; `junk_probability` is the classifier's output for the text."""

    now: datetime
    secret: bytes | None = None
    render_token: str | None = None
    blocklist: Blocklist = field(default_factory=Blocklist)
    recent_from_sender: int = 0
    recent_from_ip: int = 0
    junk_probability: float | None = None


@dataclass(frozen=True, slots=True)
class SpamThresholds:
    """Band cut-offs on the summed score, and the limits the signals use."""

    suspicious: float = 0.5
    junk: float = 1.0
    min_seconds_to_submit: float = 3.0
    max_token_age: timedelta = timedelta(days=1)
    max_recent_from_sender: int = 3
    max_recent_from_ip: int = 10
    max_links: int = 2
    # Measured by grouped cross-validation on the corpus (bench/spam_eval.py).
    classifier_weight: float = 1.25


@dataclass(frozen=True, slots=True)
class SpamReason:
    signal: str
    weight: float
    detail: str


@dataclass(frozen=True, slots=True)
class SpamVerdict:
    score: float
    band: Band
    reasons: tuple[SpamReason, ...]

    @property
    def explanation(self) -> str:
        if not self.reasons:
            return "clean: no spam signal"
        listed = "; ".join(f"{r.detail} (+{r.weight:g})" for r in self.reasons)
        return f"{self.band} ({self.score:g}): {listed}"


def score(inquiry: Inquiry, context: SpamContext, thresholds: SpamThresholds) -> SpamVerdict:
    """Sum every signal that fires; the band follows from `thresholds`."""
    reasons = tuple(_signals(inquiry, context, thresholds))
    total = round(sum(r.weight for r in reasons), 3)
    band: Band = "clean"
    if total >= thresholds.junk:
        band = "junk"
    elif total >= thresholds.suspicious:
        band = "suspicious"
    return SpamVerdict(total, band, reasons)


def _signals(
    inquiry: Inquiry, context: SpamContext, limits: SpamThresholds
) -> Iterator[SpamReason]:
    text = inquiry_text(inquiry)
    # The words, found and read once for the signals that look at them.
    words = WORD.findall(text)
    read = read_words(words)
    if inquiry.honeypot:
        yield SpamReason("honeypot", 1.0, "the hidden honeypot field was filled in")
    if inquiry.channel is Channel.WEB_FORM and context.secret is not None:
        yield from _timing(inquiry, context, limits)
    yield from _blocklisted(inquiry, text, context.blocklist)
    yield from _disposable(inquiry.sender.email)
    yield from _links(text, len(words), limits)
    yield from _no_contact(inquiry)
    yield from _rate(context, limits)
    yield from _test_submission(text)
    yield from _homoglyphs(words, read)
    yield from _gibberish(read)
    yield from _pitch(text)
    yield from _fraud(text)
    yield from _classifier(context.junk_probability, limits)


# --- sales pitches and payment fraud ---------------------------------------------


def _fraud(text: str) -> Iterator[SpamReason]:
    phrase = fraud_phrase(text)
    if phrase is not None:
        yield SpamReason("fraud", 0.6, f"reads like payment fraud ({phrase!r})")


def _pitch(text: str) -> Iterator[SpamReason]:
    phrase = pitch_phrase(text)
    if phrase is not None:
        yield SpamReason("pitch", 0.5, f"reads like a sales pitch ({phrase!r})")


# --- render token -----------------------------------------------------------------


def _timing(inquiry: Inquiry, context: SpamContext, limits: SpamThresholds) -> Iterator[SpamReason]:
    assert context.secret is not None
    if not context.render_token:
        # Real people with scripts off or stale cached pages lose the token too.
        yield SpamReason("token_missing", 0.3, "no render token came with the form")
        return
    rendered_at = read_render_token(
        context.secret, context.render_token, inquiry.routing.form or ""
    )
    if rendered_at is None:
        yield SpamReason("token_forged", 0.6, "the render token is forged or for another form")
        return
    elapsed = (context.now - rendered_at).total_seconds()
    if elapsed < limits.min_seconds_to_submit:
        yield SpamReason(
            "too_fast", 0.6, f"submitted {max(elapsed, 0):.1f} s after the form was rendered"
        )
    elif elapsed > limits.max_token_age.total_seconds():
        yield SpamReason("token_stale", 0.2, "the form was rendered more than a day earlier")


# --- lists ------------------------------------------------------------------------


def _blocklisted(inquiry: Inquiry, text: str, blocked: Blocklist) -> Iterator[SpamReason]:
    sender = inquiry.sender
    email = (sender.email or "").lower()
    domain = email_domain(email)
    if email and email in blocked.emails:
        yield SpamReason("blocked_email", 1.0, f"{email} is on the blocklist")
    elif domain and blocked.domains and in_domain_list(domain, blocked.domains):
        yield SpamReason("blocked_domain", 1.0, f"domain {domain} is on the blocklist")
    if sender.phone and sender.phone in blocked.phones:
        yield SpamReason("blocked_phone", 1.0, f"{sender.phone} is on the blocklist")
    if inquiry.client.ip and inquiry.client.ip in blocked.ips:
        yield SpamReason("blocked_ip", 1.0, f"IP {inquiry.client.ip} is on the blocklist")
    if not blocked.keywords:
        return
    lowered = text.casefold()
    hits = sorted(word for word in blocked.keywords if word.casefold() in lowered)
    if hits:
        yield SpamReason("blocked_keyword", 1.0, f"blocked keyword(s): {', '.join(hits)}")


def _disposable(email: str | None) -> Iterator[SpamReason]:
    domain = email_domain(email)
    if domain and _is_disposable(domain):
        yield SpamReason("disposable_email", 0.5, f"{domain} is a disposable mail service")


@functools.lru_cache(maxsize=4096)  # the shipped list never changes; senders' domains repeat
def _is_disposable(domain: str) -> bool:
    return in_domain_list(domain, disposable_domains())


def _links(text: str, words: int, limits: SpamThresholds) -> Iterator[SpamReason]:
    hosts = link_hosts(text)
    if not hosts:
        return
    shorteners = sorted({h for h in hosts if h in URL_SHORTENERS})
    if shorteners:
        yield SpamReason("url_shortener", 0.5, f"shortened link(s) via {', '.join(shorteners)}")
    if len(hosts) > limits.max_links:
        yield SpamReason("many_links", 0.6, f"{len(hosts)} links in the text")
    elif hosts and words < 8 * len(hosts):
        yield SpamReason("link_heavy", 0.3, f"{len(hosts)} link(s) in {words} words")


def link_hosts(text: str) -> list[str]:
    """The host of every link in the text, with or without a scheme ("clck.ru/abc",
    "site.ru", "https://x.com/y"), lower-case, without "www."."""
    if _MAYBE_LINK.search(text) is None:
        return []
    hosts = [host.lower().rstrip(".,;:!?").removeprefix("www.") for host in _URL.findall(text)]
    schemeless = _URL.sub(" ", text)
    for match in _BARE_HOST.finditer(schemeless):
        host, tld = match.group(1), match.group(2)
        # "ASP.NET", "VB.NET": upper-case product names, not links.
        if tld.lower() in _LINK_TLDS and not host.isupper():
            hosts.append(host.lower().removeprefix("www."))
    return hosts


def _no_contact(inquiry: Inquiry) -> Iterator[SpamReason]:
    if inquiry.sender.messenger_ids or _valid_email(inquiry.sender.email):
        return
    if _valid_phone(inquiry.sender.phone):
        return
    yield SpamReason("no_contact", 0.5, "no valid email, phone or messenger to reply to")


def _valid_email(email: str | None) -> bool:
    if not email:
        return False
    try:
        normalize_email(email)
    except InvalidIdentity:
        return False
    return True


def _valid_phone(phone: str | None) -> bool:
    if not phone:
        return False
    if is_canonical_phone(phone, "RU"):
        # A number `normalize_phone` returns as itself is one it accepts. The consumer
        # asked this already when decoding (cached; parsing again cost ~30 µs for a
        # sender without an email, issue 11).
        return True
    try:
        normalize_phone(phone)
    except InvalidIdentity:
        return False
    return True


def _rate(context: SpamContext, limits: SpamThresholds) -> Iterator[SpamReason]:
    if context.recent_from_sender > limits.max_recent_from_sender:
        count = context.recent_from_sender
        yield SpamReason("sender_rate", 0.5, f"{count} recent inquiries from this sender")
    if context.recent_from_ip > limits.max_recent_from_ip:
        count = context.recent_from_ip
        yield SpamReason("ip_rate", 0.4, f"{count} recent inquiries from this IP")


# --- text -------------------------------------------------------------------------


def _test_submission(text: str) -> Iterator[SpamReason]:
    # Seven tokens are too many for a test: stop looking there.
    tokens = [m.group() for m in islice(_TOKEN.finditer(text.casefold()), 7)]
    if not tokens or len(tokens) > 6 or not _TEST_WORDS.intersection(tokens):
        return
    if all(t in _TEST_WORDS or t in _TEST_FILLER for t in tokens):
        yield SpamReason("test_submission", 0.8, f"looks like a test: {' '.join(tokens)!r}")


def _homoglyphs(words: list[str], read: list[Word]) -> Iterator[SpamReason]:
    mixed = [word for word, info in zip(words, read, strict=True) if info.homoglyph]
    if mixed:
        # One such word can be a layout slip; two are a filter being dodged.
        weight = 1.0 if len(mixed) >= 2 else 0.4
        listed = ", ".join(mixed[:3])
        yield SpamReason(
            "homoglyphs", weight, f"words mixing Latin and Cyrillic look-alikes: {listed}"
        )


def _gibberish(words: list[Word]) -> Iterator[SpamReason]:
    why = gibberish_reason_of(words)
    if why is not None:
        yield SpamReason("gibberish", 0.6, why)


def _classifier(probability: float | None, limits: SpamThresholds) -> Iterator[SpamReason]:
    # Below 0.5 the model leans "genuine"; only the confidence above it counts.
    if probability is None or probability <= 0.5:
        return
    weight = round((probability - 0.5) * 2 * limits.classifier_weight, 3)
    if weight >= 0.05:
        yield SpamReason("classifier", weight, f"learned filter: {probability:.0%} junk")


def inquiry_text(inquiry: Inquiry) -> str:
    """The words a person typed: subject, text and free-form field values."""
    parts = [inquiry.subject or "", inquiry.text or "", *inquiry.fields.values()]
    return "\n".join(part for part in parts if part)
