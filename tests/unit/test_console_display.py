# ruff: noqa: RUF001  (Russian text: Cyrillic letters are intended)
"""What a person reads in the console: times in their zone, relative deadlines,
money in the region's format, labels for codes; and the export files Excel opens."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from console import display
from console.spreadsheet import csv_bytes, default_delimiter, xlsx_bytes
from ingest.contract.i18n import Catalogs

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


NNBSP = "\u202f"  # CLDR's narrow no-break space before AM/PM
RU_CATALOG = Catalogs.load().get("ru").gettext


@pytest.mark.parametrize(
    ("zone", "language", "shown"),
    [
        pytest.param("Europe/Moscow", "ru", f"2 дек. 2026{NNBSP}г., 13:00 MSK", id="moscow-ru"),
        pytest.param("Europe/Moscow", "en", f"Dec 2, 2026, 1:00{NNBSP}PM MSK", id="moscow-en"),
        pytest.param("America/New_York", "en", f"Dec 2, 2026, 5:00{NNBSP}AM EST", id="new-york"),
        pytest.param(
            "America/New_York", "ru", f"2 дек. 2026{NNBSP}г., 05:00 EST", id="new-york-ru"
        ),
        pytest.param("UTC", "en", f"Dec 2, 2026, 10:00{NNBSP}AM UTC", id="utc"),
        pytest.param(
            "Mars/Olympus", "ru", f"2 дек. 2026{NNBSP}г., 10:00 UTC", id="unknown-zone-is-utc"
        ),
        pytest.param("", "ru", f"2 дек. 2026{NNBSP}г., 10:00 UTC", id="no-zone-is-utc"),
        pytest.param("UTC", "xx", f"Dec 2, 2026, 10:00{NNBSP}AM UTC", id="unknown-language"),
    ],
)
def test_a_time_shows_in_the_viewers_zone_and_language(
    zone: str, language: str, shown: str
) -> None:
    assert display.when(NOW, display.zone(zone), language) == shown


def test_a_missing_time_is_a_dash() -> None:
    assert display.when(None, UTC, "ru") == "—"


def test_the_prefilled_next_activity_is_wall_time_in_the_viewers_zone() -> None:
    assert display.local_input(NOW + timedelta(hours=1), display.zone("Europe/Moscow")) == (
        "2026-12-02T14:00"
    )


@pytest.mark.parametrize(
    ("due", "english", "russian"),
    [
        pytest.param(
            NOW + timedelta(minutes=12, seconds=30), "in 12 min", "через 12 мин", id="min"
        ),
        pytest.param(NOW + timedelta(seconds=20), "now", "сейчас", id="now"),
        pytest.param(NOW + timedelta(minutes=100), "in 100 min", "через 100 мин", id="under-2h"),
        pytest.param(NOW + timedelta(hours=3, minutes=55), "in 3 hr", "через 3 ч", id="hours-down"),
        pytest.param(NOW + timedelta(days=3), "in 3 days", "через 3 дн.", id="days"),
        pytest.param(
            NOW - timedelta(hours=2, minutes=1), "overdue 2 hr", "просрочено 2 ч", id="overdue-h"
        ),
        pytest.param(
            NOW - timedelta(seconds=10), "overdue 1 min", "просрочено 1 мин", id="just-overdue"
        ),
    ],
)
def test_a_deadline_reads_relative_to_now_in_each_language(
    due: datetime, english: str, russian: str
) -> None:
    assert display.relative(due, NOW) == english
    assert display.relative(due, NOW, "ru", RU_CATALOG) == russian


@pytest.mark.parametrize(
    ("amount", "region", "language", "text"),
    [
        pytest.param(150000.0, "RU", "ru", "150\u00a0000,00\u00a0₽", id="ru-float"),
        pytest.param(1234567.891, "RU", "ru", "1\u00a0234\u00a0567,89\u00a0₽", id="ru-rounds"),
        pytest.param(0.1 + 0.2, "RU", "ru", "0,30\u00a0₽", id="no-float-noise"),
        pytest.param(150000.0, "RU", "en", "RUB\u00a0150,000.00", id="roubles-in-english"),
        pytest.param(150000.0, "US", "en", "$150,000.00", id="dollars"),
        pytest.param(150000.0, "ZZ", "en", "150,000.00", id="no-currency"),
        pytest.param(None, "RU", "ru", "—", id="none"),
    ],
)
def test_money_is_written_in_the_regions_currency_as_the_language_writes_it(
    amount: float | None, region: str, language: str, text: str
) -> None:
    assert display.money(amount, region, language) == text


def test_numbers_and_days_follow_the_language() -> None:
    assert display.number(1234567.5, "ru") == "1\u00a0234\u00a0567,5"
    assert display.number(1234567.5, "en") == "1,234,567.5"
    assert display.day(NOW.date(), "ru") == f"2 дек. 2026{NNBSP}г."
    assert display.day_month(NOW.date(), "ru") == "02.12"
    assert display.day_month(NOW.date(), "en") == "12/2"


def test_codes_have_human_labels_in_each_language_and_unknown_codes_stay() -> None:
    assert display.label("web_form") == "Web form"
    assert display.label("in_progress") == "In progress"
    assert display.label("web_form", RU_CATALOG) == "Веб-форма"
    assert display.label("in_progress", RU_CATALOG) == "В работе"
    assert display.label("carrier_pigeon", RU_CATALOG) == "carrier_pigeon"


def test_the_pipelines_activity_subjects_read_in_the_language_and_typed_ones_stay() -> None:
    assert display.subject("First contact", RU_CATALOG) == "Первый контакт"
    assert display.subject("Reply in Telegram", RU_CATALOG) == "Ответить в Telegram"
    assert display.subject("Demo call", RU_CATALOG) == "Demo call"
    assert display.subject("First contact") == "First contact"


def test_csv_has_a_bom_and_the_chosen_delimiter_and_defuses_formulas() -> None:
    rows = [["имя", "сумма"], ["Иван; Петров", "=1+1"]]
    data = csv_bytes(rows, ";")
    assert data.startswith(b"\xef\xbb\xbf")
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert parsed == [["имя", "сумма"], ["Иван; Петров", "'=1+1"]]
    comma = list(csv.reader(io.StringIO(csv_bytes(rows, ",").decode("utf-8-sig"))))
    assert comma == parsed
    assert default_delimiter("RU") == ";" and default_delimiter("US") == ","


def test_xlsx_keeps_dates_and_text_and_never_a_formula() -> None:
    when = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
    book = load_workbook(io.BytesIO(xlsx_bytes("Leads", [["created", "title"], [when, "=2*3"]])))
    sheet = book["Leads"]
    assert sheet["A2"].value == when.replace(tzinfo=None)
    assert sheet["B2"].value == "'=2*3" and sheet["B2"].data_type == "s"
