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

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        pytest.param("Europe/Moscow", "2026-12-02 13:00 MSK", id="moscow"),
        pytest.param("America/New_York", "2026-12-02 05:00 EST", id="new-york"),
        pytest.param("UTC", "2026-12-02 10:00 UTC", id="utc"),
        pytest.param("Mars/Olympus", "2026-12-02 10:00 UTC", id="unknown-zone-is-utc"),
        pytest.param("", "2026-12-02 10:00 UTC", id="no-zone-is-utc"),
    ],
)
def test_a_time_shows_in_the_viewers_zone(zone: str, shown: str) -> None:
    assert display.when(NOW, display.zone(zone)) == shown


def test_the_prefilled_next_activity_is_wall_time_in_the_viewers_zone() -> None:
    assert display.local_input(NOW + timedelta(hours=1), display.zone("Europe/Moscow")) == (
        "2026-12-02T14:00"
    )


@pytest.mark.parametrize(
    ("due", "text"),
    [
        pytest.param(NOW + timedelta(minutes=12, seconds=30), "in 12 min", id="minutes"),
        pytest.param(NOW + timedelta(seconds=20), "now", id="now"),
        pytest.param(NOW + timedelta(hours=3, minutes=5), "in 3 h", id="hours"),
        pytest.param(NOW + timedelta(days=3), "in 3 d", id="days"),
        pytest.param(NOW - timedelta(hours=2, minutes=1), "overdue 2 h", id="overdue-hours"),
        pytest.param(NOW - timedelta(seconds=10), "overdue 1 min", id="just-overdue"),
    ],
)
def test_a_deadline_reads_relative_to_now(due: datetime, text: str) -> None:
    assert display.relative(due, NOW) == text


@pytest.mark.parametrize(
    ("amount", "region", "text"),
    [
        pytest.param(150000.0, "RU", "150\u00a0000,00\u00a0₽", id="ru-float"),
        pytest.param(1234567.891, "RU", "1\u00a0234\u00a0567,89\u00a0₽", id="ru-rounds"),
        pytest.param(0.1 + 0.2, "RU", "0,30\u00a0₽", id="no-float-noise"),
        pytest.param(150000.0, "US", "150,000.00", id="elsewhere"),
        pytest.param(None, "RU", "—", id="none"),
    ],
)
def test_money_is_written_as_the_region_writes_it(
    amount: float | None, region: str, text: str
) -> None:
    assert display.money(amount, region) == text


def test_codes_have_human_labels_and_unknown_codes_stay() -> None:
    assert display.label("web_form") == "Web form"
    assert display.label("in_progress") == "In progress"
    assert display.label("carrier_pigeon") == "carrier_pigeon"


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
