"""Spreadsheet import: files written into tmp_path, read back, mapped and normalized."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pytest

from connectors.spreadsheet import (
    RejectedRow,
    SheetRow,
    detect_mapping,
    file_sha256,
    normalize_row,
    parse_mapping_option,
    read_rows,
    resolve_mapping,
)
from ingest.contract import Channel, Inquiry

AT = datetime(2024, 6, 20, 9, 0, tzinfo=UTC)

RU_CSV = (
    "ФИО;Телефон;Эл. почта;Компания;Примечание;Город\n"
    "Иванов Иван;8 (916) 123-45-67;;Торговый дом Ромашка;Перезвонить после обеда, до 18:00;Москва\n"
    "\n"
    "Петрова Анна;;Anna.Petrova@Example.RU;;;Казань\n"
    "Сидоров Пётр;12345;;;;\n"
    "Без контактов;;;;Просто строка;\n"
    "Ольга;+7 903 555 12 34;olga@@mail;;;\n"
)
EN_CSV = (
    "Full name,Phone,E-mail,Notes\n"
    'John Smith,+1 415 555 2671,john@example.com,"Call me,\nplease"\n'
    "Jane Doe,,jane@example.com,\n"
)


def write(tmp_path: Path, name: str, text: str, encoding: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def read_all(path: Path) -> tuple[list[str], list[SheetRow]]:
    headers, rows = read_rows(path)
    return headers, list(rows)


def normalize_all(path: Path) -> dict[int, Inquiry | RejectedRow]:
    headers, rows = read_rows(path)
    mapping = resolve_mapping(headers)
    digest = file_sha256(path)
    return {
        row.number: normalize_row(
            row.values,
            mapping=mapping,
            file_hash=digest,
            row_number=row.number,
            received_at=AT,
            team="import",
            default_region="RU",
        )
        for row in rows
    }


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        pytest.param(RU_CSV, "cp1251", id="cp1251-semicolon"),
        pytest.param(RU_CSV, "utf-8-sig", id="utf8-bom-semicolon"),
        pytest.param(RU_CSV, "utf-8", id="utf8-semicolon"),
    ],
)
def test_russian_csv_in_any_encoding_reads_the_same(
    text: str, encoding: str, tmp_path: Path
) -> None:
    headers, rows = read_all(write(tmp_path, "leads.csv", text, encoding))

    assert headers == ["ФИО", "Телефон", "Эл. почта", "Компания", "Примечание", "Город"]
    assert [row.number for row in rows] == [2, 4, 5, 6, 7], "blank line 3 still counts"
    assert rows[0].values["Примечание"] == "Перезвонить после обеда, до 18:00"


def test_russian_csv_rows_become_inquiries_or_named_rejections(tmp_path: Path) -> None:
    path = write(tmp_path, "leads.csv", RU_CSV, "cp1251")

    results = normalize_all(path)

    ivan = results[2]
    assert isinstance(ivan, Inquiry)
    assert ivan.channel is Channel.IMPORT
    assert ivan.sender.phone == "+79161234567"
    assert ivan.sender.name == "Иванов Иван"
    assert ivan.sender.company == "Торговый дом Ромашка"
    assert ivan.text == "Перезвонить после обеда, до 18:00"
    assert ivan.fields == {"Город": "Москва"}
    assert ivan.idempotency_key == f"import:{file_sha256(path)}:2"
    assert ivan.routing.team == "import"
    anna = results[4]
    assert isinstance(anna, Inquiry)
    assert anna.sender.email == "anna.petrova@example.ru"

    bad_phone, no_contact, bad_email = results[5], results[6], results[7]
    assert isinstance(bad_phone, RejectedRow)
    assert bad_phone.row_number == 5
    assert bad_phone.reason.startswith("Column 'Телефон': '12345'")
    assert isinstance(no_contact, RejectedRow)
    assert "neither a phone number nor an email" in no_contact.reason
    assert isinstance(bad_email, RejectedRow)
    assert bad_email.reason.startswith("Column 'Эл. почта':")


def test_english_csv_with_comma_and_multiline_cell(tmp_path: Path) -> None:
    path = write(tmp_path, "export.csv", EN_CSV, "utf-8")

    results = normalize_all(path)

    john, jane = results[2], results[3]
    assert isinstance(john, Inquiry)
    assert john.sender.phone == "+14155552671"
    assert john.text == "Call me,\nplease"
    assert isinstance(jane, Inquiry), "the multi-line cell is one spreadsheet row"
    assert jane.sender.email == "jane@example.com"


def test_xlsx_with_numeric_phones_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "leads.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Имя", "Мобильный телефон", "Email", "Источник", "Дата"])
    sheet.append(["Мария", 79161234567, None, "Выставка", date(2024, 6, 1)])
    sheet.append(["Пётр", 9035551234.0, "petr@example.com", None, None])
    sheet.append([None, None, None, None, None])
    sheet.append(["Спам", "не звонить", None, None, None])
    workbook.save(path)

    results = normalize_all(path)

    assert sorted(results) == [2, 3, 5]
    maria, petr, spam = results[2], results[3], results[5]
    assert isinstance(maria, Inquiry)
    assert maria.sender.phone == "+79161234567"
    assert maria.source.utm_source == "Выставка"
    assert maria.fields == {"Дата": "2024-06-01T00:00:00"}
    assert isinstance(petr, Inquiry)
    assert petr.sender.phone == "+79035551234"
    assert isinstance(spam, RejectedRow)
    assert spam.reason.startswith("Column 'Мобильный телефон':")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            ["Имя", "Телефон", "Почта", "Организация", "Комментарий", "Источник"],
            {
                "Имя": "name",
                "Телефон": "phone",
                "Почта": "email",
                "Организация": "company",
                "Комментарий": "comment",
                "Источник": "source",
            },
            id="russian",
        ),
        pytest.param(
            ["  FULL NAME ", "Mobile", "E-mail", "Company", "Comment", "Subject"],
            {
                "  FULL NAME ": "name",
                "Mobile": "phone",
                "E-mail": "email",
                "Company": "company",
                "Comment": "comment",
                "Subject": "subject",
            },
            id="english-case-and-spaces",
        ),
        pytest.param(
            ["Контактное лицо", "Тел.", "Эл. почта", "Примечание:"],
            {
                "Контактное лицо": "name",
                "Тел.": "phone",
                "Эл. почта": "email",
                "Примечание:": "comment",
            },
            id="abbreviations",
        ),
        pytest.param(
            ["Телефон клиента", "Рабочий email", "Город"],
            {"Телефон клиента": "phone", "Рабочий email": "email"},
            id="keyword-fallback",
        ),
        pytest.param(["Телефон", "Phone"], {"Телефон": "phone"}, id="first-column-wins-a-field"),
        pytest.param(["Город", "Сумма"], {}, id="nothing-known"),
    ],
)
def test_detect_mapping(headers: list[str], expected: dict[str, str]) -> None:
    assert detect_mapping(headers) == expected


def test_overrides_merge_on_top_of_detection() -> None:
    headers = ["Имя", "Телефон", "Доп. телефон", "Город"]
    overrides = parse_mapping_option("доп. ТЕЛЕФОН=phone, Город=comment")

    mapping = resolve_mapping(headers, overrides)

    assert mapping == {"Имя": "name", "Доп. телефон": "phone", "Город": "comment"}


def test_override_can_ignore_a_detected_column() -> None:
    mapping = resolve_mapping(["Name", "Phone", "Notes"], parse_mapping_option("Notes=ignore"))

    assert mapping == {"Name": "name", "Phone": "phone"}


@pytest.mark.parametrize(
    ("headers", "option", "message"),
    [
        pytest.param(["Phone"], "Fax=phone", "no column 'Fax'", id="unknown-column"),
        pytest.param(["A", "B"], "A=phone,B=phone", "Both 'A' and 'B'", id="two-phones"),
        pytest.param(["Name", "City"], "", "No column is a phone or an email", id="no-identity"),
    ],
)
def test_resolve_mapping_refuses(headers: list[str], option: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_mapping(headers, parse_mapping_option(option))


def test_several_columns_can_make_the_name() -> None:
    headers = ["Фамилия", "Имя", "Телефон"]
    mapping = resolve_mapping(headers, parse_mapping_option("Фамилия=name,Имя=name"))

    result = normalize_row(
        {"Фамилия": "Иванова", "Имя": "Мария", "Телефон": "89161234567"},
        mapping=mapping,
        file_hash="f" * 64,
        row_number=2,
        received_at=AT,
        team=None,
    )

    assert isinstance(result, Inquiry)
    assert result.sender.name == "Иванова Мария"


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        pytest.param("Телефон=phone,Name=name", {"Телефон": "phone", "Name": "name"}, id="two"),
        pytest.param(" Эл. почта = EMAIL ,", {"Эл. почта": "email"}, id="spaces-and-case"),
        pytest.param("a=b=phone", {"a=b": "phone"}, id="equals-in-header"),
    ],
)
def test_parse_mapping_option(option: str, expected: dict[str, str]) -> None:
    assert parse_mapping_option(option) == expected


@pytest.mark.parametrize(
    ("option", "message"),
    [
        pytest.param("Телефон", "Column=field", id="no-equals"),
        pytest.param("Телефон=fax", "'fax' is not a field", id="unknown-field"),
    ],
)
def test_parse_mapping_option_refuses(option: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_mapping_option(option)


def test_too_long_name_is_rejected_with_its_column() -> None:
    result = normalize_row(
        {"Имя": "x" * 501, "Телефон": "+79161234567"},
        mapping={"Имя": "name", "Телефон": "phone"},
        file_hash="f" * 64,
        row_number=9,
        received_at=AT,
        team=None,
    )

    assert result == RejectedRow(9, "Column 'Имя' is longer than 500 characters.")


def test_file_sha256_and_unsupported_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "leads.csv", EN_CSV, "utf-8")

    assert file_sha256(path) == hashlib.sha256(EN_CSV.encode()).hexdigest()
    with pytest.raises(ValueError, match=r"only \.csv and \.xlsx"):
        read_rows(tmp_path / "leads.ods")


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    assert read_all(write(tmp_path, "empty.csv", "", "utf-8")) == ([], [])
    assert read_all(write(tmp_path, "head.csv", "Name;Phone\n", "utf-8")) == (["Name", "Phone"], [])


def test_blank_and_duplicate_headers_get_unique_names(tmp_path: Path) -> None:
    headers, rows = read_all(write(tmp_path, "dup.csv", "Phone,,Phone\n1,2,3\n", "utf-8"))

    assert headers == ["Phone", "column_2", "Phone (2)"]
    assert rows == [SheetRow(2, {"Phone": "1", "column_2": "2", "Phone (2)": "3"})]


@pytest.mark.parametrize(
    ("cell", "phone", "fields"),
    [
        pytest.param(
            "8 916 123-45-67 (моб.), Ольга",
            "+79161234567",
            {"phone_note": "(моб.), Ольга"},
            id="words",
        ),
        pytest.param(
            "+7 495 123-45-67 доб. 204", "+74951234567", {"phone_ext": "204"}, id="extension"
        ),
        pytest.param("79161234567", "+79161234567", {}, id="excel-number"),
    ],
)
def test_a_phone_cell_with_words_keeps_them_as_a_note(
    cell: str, phone: str, fields: dict[str, str]
) -> None:
    result = normalize_row(
        {"Имя": "Ольга", "Телефон": cell},
        mapping={"Имя": "name", "Телефон": "phone"},
        file_hash="f" * 64,
        row_number=2,
        received_at=AT,
        team=None,
    )
    assert isinstance(result, Inquiry)
    assert (result.sender.phone, result.fields) == (phone, fields)


def test_a_phone_cell_with_no_number_names_the_column() -> None:
    result = normalize_row(
        {"Телефон": "спросить Ольгу"},
        mapping={"Телефон": "phone"},
        file_hash="f" * 64,
        row_number=3,
        received_at=AT,
        team=None,
    )
    assert isinstance(result, RejectedRow)
    assert result.reason.startswith("Column 'Телефон':")
