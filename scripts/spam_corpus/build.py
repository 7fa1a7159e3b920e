# ruff: noqa: RUF001  (Cyrillic names and look-alike letters are the data)
"""Builds `ingest/data/spam_corpus.jsonl` from the templates beside this script.

Each family in `spam.txt` / `genuine.txt` is one idea written in one to four
phrasings, with `{a|b}` choices and `[[slot]]` fillers from `pools.txt`; its rows
share the family id, so `bench.spam_eval` can hold out whole families. The rows
already in the corpus that came before the templates (family `seed-*`, one family
per row; their category and language were added once by keyword, and seven fictional
phone numbers no phone library accepts were made valid) are kept as they are. Rows
of category `metadata` are spam only because of how they were sent (honeypot, no
contact, 1 s): `ingest.train_spam` does not learn from their text. Deterministic: a
fixed seed, so a rerun writes the same bytes. Then retrain: `python -m ingest.train_spam`.

Run: `.venv/bin/python scripts/spam_corpus/build.py`
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "ingest" / "data" / "spam_corpus.jsonl"
SEED = 20261202
ROWS_PER_FAMILY = 18
_CHOICE = re.compile(r"\{([^{}]*\|[^{}]*)\}")
_SLOT = re.compile(r"\[\[(\w+)\]\]")
# Cyrillic letter -> Latin look-alike (spammers swap these to dodge word filters).
_TO_LATIN = dict(zip("аеокрсхуАЕОКРСХМТВН", "aeokpcxyAEOKPCXMTBH", strict=True))
_TO_CYRILLIC = {v: k for k, v in _TO_LATIN.items()}
_KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "йцукенгшщзх", "фывапролджэ", "ячсмитьбю")


@dataclass(frozen=True, slots=True)
class Family:
    id: str
    label: str
    category: str
    lang: str
    profile: str
    templates: tuple[str, ...]
    raw: bool
    homoglyph: bool
    rows: int


def read_pools() -> dict[str, list[str]]:
    pools: dict[str, list[str]] = {}
    for line in (HERE / "pools.txt").read_text("utf-8").splitlines():
        if line.startswith("@"):
            name, _, values = line[1:].partition(":")
            pools[name.strip()] = [v.strip() for v in values.split("|")]
    return pools


def read_families(path: Path) -> list[Family]:
    families: list[Family] = []
    head: list[str] | None = None
    lines: list[str] = []
    for line in [*path.read_text("utf-8").splitlines(), "== end"]:
        if line.startswith("== "):
            if head is not None:
                families.append(_family(head, lines))
            head, lines = line[3:].split(), []
        elif head is not None and line.strip():
            lines.append(line.strip())
    return families


def _family(head: list[str], lines: list[str]) -> Family:
    family_id, label, category, lang, *flags = head
    profile = next((f for f in flags if f in {"outreach", "bot", "test"}), "")
    if not profile:
        profile = "genuine" if label == "genuine" else "bot"
    rows = next((int(f[2:]) for f in flags if f.startswith("n=")), ROWS_PER_FAMILY)
    return Family(
        family_id,
        label,
        category,
        lang,
        profile,
        tuple(lines),
        "raw" in flags,
        "homoglyph" in flags,
        rows,
    )


class Filler:
    def __init__(self, pools: dict[str, list[str]], rng: random.Random) -> None:
        self.pools = pools
        self.rng = rng

    def expand(self, template: str, raw: bool) -> str:
        text = template
        if not raw:
            while _CHOICE.search(text):
                text = _CHOICE.sub(lambda m: self.rng.choice(m.group(1).split("|")), text, 1)
        for _ in range(5):
            text = _SLOT.sub(lambda m: self.slot(m.group(1)), text)
        return re.sub(r"\s+([,.!?])", r"\1", re.sub(r" {2,}", " ", text)).strip()

    def slot(self, name: str) -> str:
        rng = self.rng
        if name == "code":
            alphabet = string.ascii_letters + string.digits
            return "".join(rng.choice(alphabet) for _ in range(rng.randint(4, 8)))
        if name == "num":
            return str(rng.randint(10_000, 99_999_999))
        if name == "handle":
            stem = rng.choice(
                [
                    "cash",
                    "profit",
                    "invest",
                    "bonus",
                    "seo",
                    "smm",
                    "vip",
                    "work",
                    "crypto",
                    "lucky",
                    "promo",
                    "leads",
                    "money",
                ]
            )
            return f"{stem}_{rng.choice(['pro', 'club', 'team', 'top', '24', 'ru', 'hub'])}"
        if name == "mash":
            return mash(rng)
        if name == "randword":
            return random_word(rng)
        return rng.choice(self.pools[name])


def mash(rng: random.Random) -> str:
    row = rng.choice(_KEYBOARD)
    start = rng.randint(0, len(row) - 4)
    run = row[start : start + rng.randint(4, len(row) - start)]
    tail = "".join(rng.choice(row) for _ in range(rng.randint(0, 5)))
    return run + tail if rng.random() < 0.7 else (run + tail)[::-1]


def random_word(rng: random.Random) -> str:
    alphabet = rng.choice([string.ascii_lowercase, "абвгдежзийклмнопрстуфхцчшщыьэюя"])
    word = "".join(rng.choice(alphabet) for _ in range(rng.randint(5, 12)))
    return word.capitalize() if rng.random() < 0.3 else word


def mix_letters(text: str, rng: random.Random) -> str:
    """Swap look-alike letters inside words between alphabets, as filter dodgers do."""
    swaps = (
        _TO_LATIN if sum("а" <= c.lower() <= "я" for c in text) > len(text) / 4 else _TO_CYRILLIC
    )
    share = rng.uniform(0.3, 0.8)
    return "".join(swaps[c] if c in swaps and rng.random() < share else c for c in text)


# --- senders ------------------------------------------------------------------------

_RU_NAMES = [
    "Ирина",
    "Алексей Смирнов",
    "Марина",
    "Дмитрий Козлов",
    "Ольга Петрова",
    "Сергей",
    "Наталья Иванова",
    "Андрей",
    "Елена Васильевна",
    "Павел Орлов",
    "Татьяна",
    "Игорь",
    "Светлана Морозова",
    "Николай",
    "Юлия",
    "Виктор Павлович",
    "Анна",
    "Максим",
]
_EN_NAMES = [
    "John Carter",
    "Sarah Miller",
    "Michael",
    "Emma Brown",
    "David Wilson",
    "Laura",
    "James",
    "Olivia Smith",
    "Robert King",
    "Sophie",
]
_BIZ_DOMAINS = [
    "stroymontazh.ru",
    "ural-metall.ru",
    "logistika-plus.ru",
    "teplo-service.ru",
    "okna-nsk.ru",
    "mebel-fabrika.ru",
    "autoparts24.ru",
    "greenfarm.kz",
    "acme-tools.com",
    "northwind.co.uk",
    "bauteile.de",
    "medclinic-spb.ru",
]
_FREE = ["gmail.com", "yandex.ru", "mail.ru", "outlook.com", "bk.ru", "inbox.ru"]
_SPAM_NAMES = [
    "Alex",
    "SEO Team",
    "Мария, менеджер",
    "Robert",
    "Kate from Growth",
    "Анна",
    "HenryKnike",
    "Crytobot",
    "JamesVoise",
    "Support",
    "Admin",
    "Victoria",
    "Ivanxxx",
    "DavidFuh",
    "Менеджер Ольга",
    "Webmaster",
    "Lily",
    "Kevin Wang",
]
_SPAM_DOMAINS = [
    "gmail.com",
    "outlook.com",
    "yandex.ru",
    "mail.ru",
    "hotmail.com",
    "seo-agency.pro",
    "mailinator.com",
    "yopmail.com",
    "web-studio.online",
]
_TEST_NAMES = ["test", "Тест", "Тест Тестович", "asdf", "Test User", "тест", "qwe", "Иван"]
_TEST_EMAILS = [
    "test@test.ru",
    "test@example.com",
    "a@a.ru",
    "qwe@qwe.com",
    "test@mail.ru",
    "dev@localhost.test",
    None,
]
_TEST_PHONES = ["+79999999999", "+79000000000", "+79111111111", "+71234567890", None]


def sender(profile: str, lang: str, rng: random.Random) -> dict[str, object]:
    if profile == "test":
        return {
            "name": rng.choice(_TEST_NAMES),
            "email": rng.choice(_TEST_EMAILS),
            "phone": rng.choice(_TEST_PHONES),
        }
    if profile == "genuine":
        name = rng.choice(_EN_NAMES if lang == "en" else _RU_NAMES)
        user = rng.choice(
            [
                "info",
                "sales",
                "a.petrov",
                "olga.k",
                "zakupki",
                "snab",
                "director",
                "j.carter",
                "m.ivanova",
                "office",
                "buh",
                "ivan77",
            ]
        )
        domain = rng.choice(_BIZ_DOMAINS if rng.random() < 0.6 else _FREE)
        email = f"{user}@{domain}" if rng.random() < 0.8 else None
        phone = _phone(rng, lang) if email is None or rng.random() < 0.6 else None
        return {"name": name if rng.random() < 0.9 else None, "email": email, "phone": phone}
    user = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 9)))
    email = f"{user}{rng.randint(1, 999)}@{rng.choice(_SPAM_DOMAINS)}"
    phone = _phone(rng, lang) if rng.random() < 0.2 else None
    return {"name": rng.choice(_SPAM_NAMES), "email": email, "phone": phone}


def _phone(rng: random.Random, lang: str) -> str:
    if lang == "en" and rng.random() < 0.6:
        return f"+44{rng.choice(['7400', '7412', '7450', '7500'])}{rng.randint(100000, 999999)}"
    code = rng.choice(["903", "905", "909", "910", "915", "916", "921", "925", "926", "977"])
    return f"+7{code}{rng.randint(1000000, 9999999)}"


def timing(profile: str, rng: random.Random) -> tuple[int | None, bool]:
    """(seconds from render to submit, honeypot filled): most spam is not fast."""
    roll = rng.random()
    if profile == "genuine":
        return (None if roll < 0.06 else rng.randint(6, 900)), False
    if profile in {"outreach", "test"}:
        return (None if roll < 0.1 else rng.randint(4, 240)), False
    seconds = None if roll < 0.2 else rng.randint(0, 2) if roll < 0.45 else rng.randint(3, 300)
    return seconds, rng.random() < 0.12


def generate(
    families: list[Family], pools: dict[str, list[str]], seen: set[str]
) -> Iterator[dict[str, object]]:
    """Rows per family; `seen` (texts already written) keeps every text unique."""
    rng = random.Random(SEED)
    filler = Filler(pools, rng)
    for family in families:
        written = 0
        for attempt in range(family.rows * 4):
            if written >= family.rows:
                break
            text = filler.expand(family.templates[attempt % len(family.templates)], family.raw)
            if family.homoglyph:
                text = mix_letters(text, rng)
            if text in seen:
                continue
            seen.add(text)
            written += 1
            seconds, honeypot = timing(family.profile, rng)
            yield {
                **sender(family.profile, family.lang, rng),
                "text": text,
                "honeypot": honeypot,
                "seconds_to_submit": seconds,
                "label": family.label,
                "category": family.category,
                "lang": family.lang,
                "family": family.id,
            }


def seed_rows() -> list[dict[str, object]]:
    rows = [json.loads(line) for line in CORPUS.read_text("utf-8").splitlines() if line.strip()]
    return [r for r in rows if str(r.get("family", "seed-")).startswith("seed-")]


def main() -> None:
    pools = read_pools()
    families = read_families(HERE / "spam.txt") + read_families(HERE / "genuine.txt")
    ids = [f.id for f in families]
    assert len(ids) == len(set(ids)), "family ids must be unique"
    seeds = seed_rows()
    rows = seeds + list(generate(families, pools, {str(r["text"]) for r in seeds}))
    with CORPUS.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} rows, {len(families)} template families -> {CORPUS}")


if __name__ == "__main__":
    main()
