"""Translations: the language picked for a request, and catalogs that match the code."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po

from ingest.contract.i18n import LANGUAGES, LOCALES, Catalogs, accepted_languages, format_moment

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.mark.parametrize(
    ("header", "ranges"),
    [
        pytest.param(
            "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", ["ru-RU", "ru", "en-US", "en"], id="chrome-ru"
        ),
        pytest.param("en;q=0.5, de", ["de", "en"], id="q-orders"),
        pytest.param("ru;q=0, en", ["en"], id="q0-is-refused"),
        pytest.param("*", [], id="any"),
        pytest.param("en;q=abc,ru", ["ru"], id="bad-q"),
        pytest.param("", [], id="empty"),
        pytest.param(None, [], id="absent"),
    ],
)
def test_accepted_languages(header: str | None, ranges: list[str]) -> None:
    assert accepted_languages(header) == ranges


@pytest.mark.parametrize(
    ("setting", "header", "language"),
    [
        pytest.param("ru", "en-US,en;q=0.9", "ru", id="the-form-setting-wins"),
        pytest.param(None, "ru-RU,ru;q=0.9", "ru", id="browser-ru"),
        pytest.param(None, "de-DE,de;q=0.9,ru;q=0.5", "ru", id="first-we-have"),
        pytest.param(None, "en-GB", "en", id="region-falls-back"),
        pytest.param(None, "de", "en", id="none-we-have"),
        pytest.param(None, None, "en", id="no-header"),
        pytest.param("xx", "ru", "ru", id="unknown-setting"),
    ],
)
def test_choose(setting: str | None, header: str | None, language: str) -> None:
    assert Catalogs.load().choose(setting, header) == language


def test_russian_is_translated_and_english_is_the_source() -> None:
    catalogs = Catalogs.load()
    assert catalogs.get("ru").gettext("Send") == "Отправить"
    assert catalogs.get("en").gettext("Send") == "Send"


def test_the_template_is_extracted_from_the_current_code(tmp_path: Path) -> None:
    """`make messages` was run after the last change to translatable text."""
    fresh = tmp_path / "messages.pot"
    # The same command as `make messages`.
    options = ["--no-location", "--sort-output", "--omit-header", "-o", str(fresh)]
    extract = [sys.executable, "-m", "babel.messages.frontend", "-q", "extract"]
    subprocess.run(
        [*extract, "-F", str(LOCALES / "babel.cfg"), *options, "."], cwd=ROOT, check=True
    )
    assert fresh.read_text() == (LOCALES / "messages.pot").read_text(), "run `make messages`"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_message(language: str) -> None:
    with (LOCALES / "messages.pot").open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f, locale=language)
    have = {m.id: m for m in catalog if m.id}
    assert set(have) == wanted, "run `make messages`"
    for message in have.values():
        assert not message.fuzzy, message.id
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if language != "en":
            # A plural has one form per the language's rule (Russian: three), each written.
            assert forms and all(forms), f"{language} has no translation of {message.id!r}"
        if "{limit}" in str(message.id) and message.string:
            assert "{limit}" in str(message.string), message.id
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted_names = set(PLACEHOLDER.findall(str(ids[-1])))
        for form in forms:
            if form:
                assert set(PLACEHOLDER.findall(str(form))) == wanted_names, (language, message.id)


def test_every_catalog_directory_is_a_language() -> None:
    assert sorted(p.name for p in LOCALES.iterdir() if p.is_dir()) == sorted(LANGUAGES)


@pytest.mark.parametrize(
    ("count", "text"),
    [
        pytest.param(1, "1 лид", id="one"),
        pytest.param(3, "3 лида", id="few"),
        pytest.param(11, "11 лидов", id="eleven-is-many"),
        pytest.param(21, "21 лид", id="twenty-one-is-one"),
    ],
)
def test_russian_counts_take_the_right_plural_form(count: int, text: str) -> None:
    russian = Catalogs.load().get("ru")
    assert russian.ngettext("%(num)s lead", "%(num)s leads", count) % {"num": count} == text


def test_a_moment_is_shown_to_its_minute_in_each_zone_across_a_dst_change() -> None:
    """Formatting is cached by minute, zone and language: every one of them counts."""
    new_york, moscow = ZoneInfo("America/New_York"), ZoneInfo("Europe/Moscow")
    before = datetime(2026, 3, 8, 6, 59, 30, tzinfo=UTC)  # 01:59:30 EST
    after = datetime(2026, 3, 8, 7, 0, 10, tzinfo=UTC)  # 03:00:10 EDT
    nbsp = "\u202f"
    assert format_moment(before, new_york, "en") == f"Mar 8, 2026, 1:59{nbsp}AM EST"
    assert format_moment(after, new_york, "en") == f"Mar 8, 2026, 3:00{nbsp}AM EDT"
    assert format_moment(after.replace(second=50), new_york, "en") == (
        f"Mar 8, 2026, 3:00{nbsp}AM EDT"
    )
    assert format_moment(after, moscow, "en") == f"Mar 8, 2026, 10:00{nbsp}AM MSK"
    assert format_moment(after, moscow, "ru") == f"8 мар. 2026{nbsp}г., 10:00 MSK"  # noqa: RUF001
