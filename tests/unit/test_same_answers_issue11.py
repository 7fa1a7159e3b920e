"""Pure helpers made cheaper for issue 11 answer exactly as the code they replaced.

Each test keeps the former implementation as its reference and compares the two
over seeded sweeps of generated inputs, including the awkward ones (lone
surrogates, control characters, odd hours, messy reference headers, numbers of
every multi-region calling code).
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from ingest.contract.identity import (
    _PLAIN_EMAIL,
    _RESERVED_DOMAINS,
    _already_normal,
)
from ingest.decision_parts import thread_ids_of
from ingest.outbox import payload_text
from ingest.routing import detect_language
from ingest.worktime import MINUTES_PER_DAY, DayHours, WeeklyHours

from ..factories import make_inquiry

# Letters of both scripts, their neighbours, digits, controls and lone surrogates.
_ALPHABET = (
    "abcxyzABCXYZ019 .,!\n\t\x00\x1f\x7f@[`{"
    "абвгдеёжяАБВЯЁ\u0400\u04ff\u0500\u03ff\u0450ґєї"
    "éüßñçÆ\u00a0\u200b中文😀\ud800\udfff"
)


def _texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(_ALPHABET) for _ in range(rng.choice((0, 1, 3, 20, 200))))
        for _ in range(count)
    ]


def _detect_language_before(text: str) -> str | None:
    cyrillic = sum(1 for ch in text if "\u0400" <= ch <= "\u04ff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    if cyrillic == latin == 0:
        return None
    return "ru" if cyrillic >= latin else "en"


def test_detect_language_answers_as_the_character_loop() -> None:
    texts = [*_texts(1, 5_000), *(chr(c) for c in range(0x110000))]
    answers = {detect_language(t) for t in texts}
    assert answers == {"ru", "en", None}
    for text in texts:
        assert detect_language(text) == _detect_language_before(text), repr(text)


def _payloads(seed: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    texts = _texts(seed, 50)

    def value(depth: int) -> Any:
        kinds = ["text", "int", "float", "bool", "none"] + (["list", "dict"] if depth < 3 else [])
        match rng.choice(kinds):
            case "text":
                return rng.choice(texts)
            case "int":
                return rng.randint(-(10**20), 10**20)
            case "float":
                return rng.choice((0.1, -2.5e300, 1e-7, float(rng.randint(0, 99))))
            case "bool":
                return rng.random() < 0.5
            case "none":
                return None
            case "list":
                return [value(depth + 1) for _ in range(rng.randint(0, 4))]
            case _:
                return {rng.choice(texts): value(depth + 1) for _ in range(rng.randint(0, 4))}

    return [
        {"lead_id": str(uuid.UUID(int=rng.getrandbits(128)))}
        | {rng.choice(texts): value(0) for _ in range(rng.randint(0, 8))}
        for _ in range(count)
    ]


def test_payload_text_reads_back_as_the_payload() -> None:
    """Any reader (the notifier, the dispatcher, a peer in another language) gets the
    same data as `json.dumps` would have given it: texts in any script, big integers,
    floats to the last bit, nesting."""
    for payload in _payloads(3, 3_000):
        text = payload_text(payload)
        assert json.loads(text) == payload == json.loads(json.dumps(payload))


def _is_always_before(hours: WeeklyHours) -> bool:
    return all(day == ((0, MINUTES_PER_DAY),) for day in hours.days)


def _random_day(rng: random.Random) -> DayHours:
    if rng.random() < 0.6:
        return ((0, MINUTES_PER_DAY),)
    cuts = sorted(rng.sample(range(MINUTES_PER_DAY + 1), rng.choice((2, 2, 4))))
    return tuple((cuts[i], cuts[i + 1]) for i in range(0, len(cuts), 2))


def test_is_always_answers_as_before_and_leaves_equality_alone() -> None:
    rng = random.Random(4)
    seen = set()
    for _ in range(3_000):
        days = tuple(_random_day(rng) for _ in range(7))
        hours = WeeklyHours(days)  # type: ignore[arg-type]
        seen.add(hours.is_always)
        assert hours.is_always == _is_always_before(hours)
        assert hours == WeeklyHours(days)  # type: ignore[arg-type]
        assert hash(hours) == hash(WeeklyHours(days))  # type: ignore[arg-type]
    assert seen == {True, False}
    assert WeeklyHours.always().is_always
    assert not WeeklyHours.weekdays().is_always
    assert "is_always" not in repr(WeeklyHours.always())


def _thread_ids_before(ids: dict[str, str]) -> tuple[str, ...]:
    refs = [ids.get("in_reply_to", ""), *ids.get("references", "").split()]
    bare = (r.strip().removeprefix("<").removesuffix(">").strip() for r in refs)
    return tuple(dict.fromkeys(r for r in bare if r))


def test_thread_ids_of_answers_as_before() -> None:
    rng = random.Random(5)
    parts = ["<a@x>", "a@x", "<b@y>", "<>", "<", ">", " ", "", "c@z", "< d@w >"]
    for _ in range(2_000):
        ids = {
            key: " ".join(rng.choice(parts) for _ in range(rng.randint(0, 4)))
            for key in ("in_reply_to", "references", "message_id", "chat_id")
            if rng.random() < 0.4
        }
        inquiry = make_inquiry(channel_ids=ids)
        assert thread_ids_of(inquiry) == _thread_ids_before(inquiry.channel_ids), ids


def _already_normal_before(address: str) -> bool:
    found = _PLAIN_EMAIL.fullmatch(address)
    if found is None or len(address) > 254 or len(found["local"]) > 64:
        return False
    domain = found["domain"]
    return "--" not in domain and not any(
        domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS
    )


def test_already_normal_answers_as_the_loop_over_reserved_domains() -> None:
    rng = random.Random(7)
    labels = ["a", "example", "x-y", "a--b", "localhost", "local", "onion", "arpa", "invalid"]
    labels += ["test", "ru", "com", "xlocal", "onionx", "in-addr", "UPPER", "1"]
    normal = 0
    for _ in range(10_000):
        local = rng.choice(["ivan", "a.b", "x_y+z", "Ivan", "a..b", "-"])
        domain = ".".join(rng.choice(labels) for _ in range(rng.randint(1, 4)))
        address = f"{local}@{domain}"
        assert _already_normal(address) == _already_normal_before(address), address
        normal += _already_normal(address)
    assert 1_000 < normal < 9_000, "the sweep reads both answers"
