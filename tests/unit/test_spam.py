"""Spam signals, bands and the render token; the corpus and its benchmark."""

# ruff: noqa: RUF001  (Cyrillic sample texts are meant)
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest

from ingest.contract import Channel, ClientInfo, Inquiry, Routing, Sender
from ingest.contract.render_token import read_render_token
from ingest.spam import (
    Blocklist,
    SpamContext,
    SpamThresholds,
    link_hosts,
    make_render_token,
    score,
)
from ingest.spam_words import gibberish_reason, homoglyph_words

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
SECRET = b"form-secret"
LIMITS = SpamThresholds()


def inquiry(**overrides: Any) -> Inquiry:
    values: dict[str, Any] = {
        "idempotency_key": "test:1",
        "channel": Channel.WEB_FORM,
        "received_at": NOW,
        "sender": Sender(name="Ivan", email="ivan@acme.ru", phone="+79123456789"),
        "text": "Добрый день! Пришлите, пожалуйста, счёт на 20 лицензий.",
        "routing": Routing(form="contact"),
        "client": ClientInfo(ip="203.0.113.7"),
    }
    values.update(overrides)
    return Inquiry(**values)


def token(seconds_ago: float, form: str = "contact", secret: bytes = SECRET) -> str:
    return make_render_token(secret, form, NOW - timedelta(seconds=seconds_ago))


def context(**overrides: Any) -> SpamContext:
    values: dict[str, Any] = {"now": NOW, "secret": SECRET, "render_token": token(40)}
    values.update(overrides)
    return SpamContext(**values)


def signals(inq: Inquiry, ctx: SpamContext) -> set[str]:
    return {reason.signal for reason in score(inq, ctx, LIMITS).reasons}


# --- render token -----------------------------------------------------------------


def test_token_round_trip() -> None:
    rendered = datetime(2026, 11, 27, 9, 59, 30, 123000, tzinfo=UTC)
    assert read_render_token(SECRET, make_render_token(SECRET, "contact", rendered), "contact") == (
        rendered
    )


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(token(10, secret=b"other"), id="other-secret"),
        pytest.param(token(10, form="partners"), id="other-form"),
        pytest.param(token(10)[:-2] + "AA", id="tampered-signature"),
        pytest.param(token(10).replace(".", ".1", 1), id="tampered-time"),
        pytest.param("", id="empty"),
        pytest.param("a.b", id="two-parts"),
        pytest.param("a.b.c.d", id="four-parts"),
        pytest.param("not a token at all", id="garbage"),
    ],
)
def test_token_rejected(bad: str) -> None:
    assert read_render_token(SECRET, bad, "contact") is None


# --- individual signals -----------------------------------------------------------


@pytest.mark.parametrize(
    ("inquiry_overrides", "context_overrides", "signal"),
    [
        pytest.param({"honeypot": True}, {}, "honeypot", id="honeypot"),
        pytest.param({}, {"render_token": None}, "token_missing", id="token-missing"),
        pytest.param({}, {"render_token": "x.y.z"}, "token_forged", id="token-forged"),
        pytest.param({}, {"render_token": token(1.5)}, "too_fast", id="too-fast"),
        pytest.param({}, {"render_token": token(-5)}, "too_fast", id="from-the-future"),
        pytest.param({}, {"render_token": token(2 * 86400)}, "token_stale", id="stale"),
        pytest.param(
            {"routing": Routing(form="partners")}, {}, "token_forged", id="token-other-form"
        ),
        pytest.param(
            {},
            {"blocklist": Blocklist(emails=frozenset({"ivan@acme.ru"}))},
            "blocked_email",
            id="blocked-email",
        ),
        pytest.param(
            {},
            {"blocklist": Blocklist(domains=frozenset({"acme.ru"}))},
            "blocked_domain",
            id="blocked-domain",
        ),
        pytest.param(
            {},
            {"blocklist": Blocklist(phones=frozenset({"+79123456789"}))},
            "blocked_phone",
            id="blocked-phone",
        ),
        pytest.param(
            {},
            {"blocklist": Blocklist(ips=frozenset({"203.0.113.7"}))},
            "blocked_ip",
            id="blocked-ip",
        ),
        pytest.param(
            {},
            {"blocklist": Blocklist(keywords=frozenset({"ЛИЦЕНЗИЙ"}))},
            "blocked_keyword",
            id="blocked-keyword-any-case",
        ),
        pytest.param(
            {"sender": Sender(email="bot@mailinator.com")}, {}, "disposable_email", id="mailinator"
        ),
        pytest.param(
            {"sender": Sender(email="bot@x.guerrillamail.com")},
            {},
            "disposable_email",
            id="disposable-subdomain",
        ),
        pytest.param({"text": "Скидки тут https://bit.ly/abc"}, {}, "url_shortener", id="bit-ly"),
        pytest.param({"text": "Смотри https://clck.ru/3x"}, {}, "url_shortener", id="clck"),
        pytest.param(
            {"text": "https://a.ru https://b.ru https://c.ru купить"},
            {},
            "many_links",
            id="many-links",
        ),
        pytest.param({"text": "Наш сайт www.acme.ru"}, {}, "link_heavy", id="link-heavy"),
        pytest.param({"sender": Sender()}, {}, "no_contact", id="no-contact"),
        pytest.param(
            {"sender": Sender(email="asdf@asdf", phone="+70000000000")},
            {},
            "no_contact",
            id="invalid-contacts",
        ),
        pytest.param({}, {"recent_from_sender": 4}, "sender_rate", id="sender-rate"),
        pytest.param({}, {"recent_from_ip": 11}, "ip_rate", id="ip-rate"),
        pytest.param({"text": "test test"}, {}, "test_submission", id="test-test"),
        pytest.param({"text": "тест"}, {}, "test_submission", id="test-ru"),
        pytest.param({"text": "asdf"}, {}, "test_submission", id="asdf"),
        pytest.param(
            {"text": "Test message, please ignore"}, {}, "test_submission", id="test-message"
        ),
        pytest.param({"text": "sdfkjh sdkjfh sdkjfhskdjf"}, {}, "gibberish", id="gibberish"),
        pytest.param({"text": "фывапролдж"}, {}, "gibberish", id="gibberish-ru"),
        pytest.param({}, {"junk_probability": 0.97}, "classifier", id="classifier"),
    ],
)
def test_signal_fires(
    inquiry_overrides: dict[str, Any], context_overrides: dict[str, Any], signal: str
) -> None:
    assert signal in signals(inquiry(**inquiry_overrides), context(**context_overrides))


@pytest.mark.parametrize(
    ("inquiry_overrides", "context_overrides"),
    [
        pytest.param({}, {}, id="plain-genuine"),
        pytest.param({"text": "Перезвоните, пожалуйста"}, {}, id="short-callback"),
        pytest.param({"sender": Sender(phone="+79123456789")}, {}, id="phone-only"),
        pytest.param({"sender": Sender(messenger_ids={"telegram": "1"})}, {}, id="telegram-only"),
        pytest.param(
            {"text": "Наш сайт https://acme.ru, нужен расчёт на 300 позиций"}, {}, id="1-link"
        ),
        pytest.param({"channel": Channel.EMAIL}, {"render_token": None}, id="email-no-token"),
        pytest.param({}, {"secret": None, "render_token": None}, id="timing-off"),
        pytest.param({}, {"recent_from_sender": 3, "recent_from_ip": 10}, id="rates-at-limit"),
        pytest.param({}, {"junk_probability": 0.4}, id="classifier-leans-genuine"),
        pytest.param({}, {"junk_probability": 0.51}, id="classifier-barely"),
        pytest.param({"text": "Hello, please send the price list for 20 units"}, {}, id="en"),
    ],
)
def test_genuine_is_clean(
    inquiry_overrides: dict[str, Any], context_overrides: dict[str, Any]
) -> None:
    verdict = score(inquiry(**inquiry_overrides), context(**context_overrides), LIMITS)
    assert verdict.band == "clean"
    assert verdict.score == 0
    assert verdict.explanation == "clean: no spam signal"


# --- gibberish heuristic ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Перезвоните, пожалуйста", id="callback"),
        pytest.param("Здравствуйте", id="hello-ru"),
        pytest.param("Прошу прислать контрпредложение", id="contr"),
        pytest.param("Взгляд со стороны: нужен аудит", id="vzglyad"),
        pytest.param("Strengths and rhythms of twelfth", id="consonant-heavy-en"),
        pytest.param("Need 20 licenses", id="short-en"),
        pytest.param("CRM", id="too-short"),
        pytest.param("Кабель ВВГнг 3х2,5, 5 км", id="abbreviations"),
        pytest.param("Schwarzschild", id="german-name"),
        pytest.param("Мы интегратор, хотим стать партнёром", id="business-ru"),
    ],
)
def test_gibberish_spares_language(text: str) -> None:
    assert gibberish_reason(text) is None


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("asdfgh", id="row-en"),
        pytest.param("qwerty qwerty", id="qwerty"),
        pytest.param("фывапролдж", id="row-ru"),
        pytest.param("йцукен", id="ycuken"),
        pytest.param("sdfkjh sdkjfh", id="mash"),
        pytest.param("gggggggggggggg", id="one-letter"),
        pytest.param("zxcvbnm", id="zxcv"),
        pytest.param("ааааааааааааа", id="vowels-only"),
        pytest.param("bcdfghjkl", id="no-vowels"),
    ],
)
def test_gibberish_catches_mashing(text: str) -> None:
    assert gibberish_reason(text) is not None


# --- bands and explanation --------------------------------------------------------


@pytest.mark.parametrize(
    ("inquiry_overrides", "context_overrides", "band"),
    [
        pytest.param({}, {}, "clean", id="clean"),
        pytest.param({}, {"render_token": None}, "clean", id="token-missing-alone"),
        pytest.param({"sender": Sender()}, {}, "suspicious", id="no-contact-alone"),
        pytest.param({}, {"render_token": token(1)}, "suspicious", id="fast-alone"),
        pytest.param({"honeypot": True}, {}, "junk", id="honeypot-alone"),
        pytest.param(
            {"sender": Sender(email="x@yopmail.com")},
            {"render_token": token(1)},
            "junk",
            id="disposable-and-fast",
        ),
        pytest.param({}, {"junk_probability": 0.99}, "junk", id="confident-classifier"),
        pytest.param({}, {"junk_probability": 0.75}, "suspicious", id="unsure-classifier"),
    ],
)
def test_bands(
    inquiry_overrides: dict[str, Any], context_overrides: dict[str, Any], band: str
) -> None:
    assert score(inquiry(**inquiry_overrides), context(**context_overrides), LIMITS).band == band


def test_thresholds_are_tunable() -> None:
    strict = SpamThresholds(suspicious=0.2, junk=0.3)
    assert score(inquiry(), context(render_token=None), strict).band == "junk"


def test_explanation_lists_reasons_with_weights() -> None:
    verdict = score(inquiry(honeypot=True, sender=Sender()), context(), LIMITS)
    assert verdict.score == 1.5
    assert verdict.explanation == (
        "junk (1.5): the hidden honeypot field was filled in (+1); "
        "no valid email, phone or messenger to reply to (+0.5)"
    )


# --- corpus and benchmark ---------------------------------------------------------


def corpus() -> list[dict[str, Any]]:
    text = resources.files("ingest").joinpath("data", "spam_corpus.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_corpus_shape() -> None:
    rows = corpus()
    assert len(rows) >= 2500
    fields = {"name", "email", "phone", "text", "honeypot", "seconds_to_submit", "label"}
    assert all(set(row) == fields | {"category", "lang", "family"} for row in rows)
    assert {row["label"] for row in rows} == {"genuine", "spam"}
    assert len({row["text"] for row in rows}) == len(rows)
    cyrillic = [r for r in rows if any("а" <= ch <= "я" for ch in r["text"].lower())]
    assert 0.3 < len(cyrillic) / len(rows) < 0.8
    families = {row["family"] for row in rows if not row["family"].startswith("seed-")}
    assert len(families) >= 100
    spam_kinds = {row["category"] for row in rows if row["label"] == "spam"}
    assert {
        "seo",
        "shortlink",
        "crypto",
        "phishing",
        "homoglyph",
        "injection",
        "test",
    } <= spam_kinds


@pytest.mark.parametrize(
    ("text", "pitch"),
    [
        pytest.param("We offer SEO services to rank your site", True, id="seo-offer"),
        pytest.param("Would you be open to a quick call next week?", True, id="quick-call"),
        pytest.param("Мы провели анализ вашего сайта и нашли ошибки", True, id="ru-audit"),
        pytest.param("Купите франшизу кофейни", True, id="ru-franchise"),
        pytest.param(
            "We are interested in wholesale prices for 200 units", False, id="buyer-we-are"
        ),
        pytest.param("Please send a quote for 40 seats", False, id="quote"),
        pytest.param("Перезвоните, пожалуйста, по поводу доставки", False, id="ru-callback"),
        pytest.param("We supply OEM products at factory price", True, id="supplier-en"),
        pytest.param("Хотим предложить партнёрство: вы нам заказы", True, id="partner-ru"),
        pytest.param("Мы производитель мебели, нужны петли Blum 500 шт", False, id="maker-buys"),
        pytest.param("Хотим стать вашим дилером в Казани", False, id="dealer-asks"),
    ],
)
def test_sales_pitch_signal(text: str, pitch: bool) -> None:
    from ingest.spam import _pitch

    assert bool(list(_pitch(text))) is pitch


# --- links without a scheme -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hosts"),
    [
        pytest.param("Смотри тут: clck.ru/3AbCd", ["clck.ru"], id="shortener-no-scheme"),
        pytest.param("bit.ly/x1 и tinyurl.com/y2", ["bit.ly", "tinyurl.com"], id="two-shorteners"),
        pytest.param("пиши t.me/cash_pro", ["t.me"], id="telegram"),
        pytest.param("Наш сайт stroymontazh.ru, реквизиты там", ["stroymontazh.ru"], id="bare"),
        pytest.param("Закажите на www.Ozon.ru.", ["ozon.ru"], id="www-and-final-dot"),
        pytest.param("https://bit.ly/abc", ["bit.ly"], id="with-scheme-once"),
        pytest.param("сайт.рф", ["сайт.рф"], id="cyrillic-domain"),
        pytest.param("Пишите на info@stroymontazh.ru", [], id="email-address"),
        pytest.param("ТЗ во вложении: spec.pdf и plan.docx", [], id="file-names"),
        pytest.param("см. readme.md и setup.py, архив data.zip", [], id="tld-like-extensions"),
        pytest.param("т.е. к 5.12 успеем", [], id="abbreviation-and-date"),
        pytest.param("прошивка v1.2.3, версия 8.3", [], id="versions"),
        pytest.param("опыт ASP.NET и Node.js", [], id="product-names"),
        pytest.param("на Яндекс.Диске", [], id="cyrillic-brand"),
    ],
)
def test_link_hosts(text: str, hosts: list[str]) -> None:
    assert link_hosts(text) == hosts


def test_shortener_without_scheme_fires() -> None:
    text = "Заработок от 5000 в день, подробнее clck.ru/3AbCd"
    assert "url_shortener" in signals(inquiry(text=text), context())


def test_bare_links_count_as_links() -> None:
    text = "bonus-777.club win-big.top casino-x.xyz"
    assert "many_links" in signals(inquiry(text=text), context())


def test_own_site_in_a_real_request_stays_clean() -> None:
    text = "Наш сайт stroymontazh.ru, нужен счёт на 20 лицензий и доставка до склада в Казани"
    assert score(inquiry(text=text), context(), LIMITS).band == "clean"


# --- homoglyphs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param("Зapaбoтoк oт 5000 в дeнь", ["Зapaбoтoк", "дeнь"], id="latin-in-russian"),
        pytest.param("Саsino bоnus for you", ["Саsino", "bоnus"], id="cyrillic-in-english"),
        pytest.param("iPhone 15 Pro, 3 шт", [], id="latin-product"),
        pytest.param("XR-200 и SAP-система", [], id="hyphenated"),
        pytest.param("Кабель ВВГнг-LS 3х2,5", [], id="cable-grade"),
        pytest.param("Windows Server для 1С:Предприятие", [], id="two-scripts-apart"),
        pytest.param("iPhoneы", [], id="real-letters-both-sides"),
    ],
)
def test_homoglyph_words(text: str, words: list[str]) -> None:
    assert homoglyph_words(text) == words


def test_two_mixed_words_are_junk_on_their_own() -> None:
    verdict = score(inquiry(text="Быcтpый зapaбoтoк в интepнeтe"), context(), LIMITS)
    assert "homoglyphs" in {r.signal for r in verdict.reasons}
    assert verdict.band == "junk"


def test_one_mixed_word_is_a_hint_only() -> None:
    verdict = score(inquiry(text="Нужна cмета на ремонт офиса"), context(), LIMITS)
    assert [r.signal for r in verdict.reasons] == ["homoglyphs"]
    assert verdict.band == "clean"


# --- test submissions ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("тест", id="test-ru"),
        pytest.param("Тестовая заявка, не звонить", id="test-do-not-call"),
        pytest.param("Проверка формы обратной связи", id="form-check"),
        pytest.param("This is a test, please ignore", id="test-en"),
        pytest.param("testing 1 2 3", id="testing-123"),
    ],
)
def test_test_submissions_fire(text: str) -> None:
    assert "test_submission" in signals(inquiry(text=text), context())


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("hi", id="hi"),
        pytest.param("Hello", id="hello"),
        pytest.param("Заявка", id="zayavka"),
        pytest.param("Здравствуйте", id="greeting-ru"),
        pytest.param("Позвоните мне", id="call-me"),
        pytest.param("Проверка счёта: пришлите акт сверки", id="real-check"),
        pytest.param("Нужен тестовый доступ к API на 10 пользователей", id="trial-request"),
    ],
)
def test_greetings_and_real_requests_are_not_tests(text: str) -> None:
    assert "test_submission" not in signals(inquiry(text=text), context())


# --- payment fraud -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fraud"),
    [
        pytest.param("Please buy 5 Apple gift cards for a client today", True, id="gift-cards"),
        pytest.param("I need you to handle an urgent wire transfer", True, id="wire"),
        pytest.param("Реквизиты изменились, оплатите по новым", True, id="changed-details-ru"),
        pytest.param("Оплатили счёт №4512, подтвердите получение", False, id="paid-invoice"),
        pytest.param("Can you send an invoice with your bank details?", False, id="asks-details"),
        pytest.param("Я на совещании, напишите вечером", False, id="busy-buyer"),
    ],
)
def test_fraud_signal(text: str, fraud: bool) -> None:
    assert ("fraud" in signals(inquiry(text=text), context())) is fraud
