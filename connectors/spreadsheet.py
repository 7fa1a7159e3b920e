"""The spreadsheet import channel's core: CSV/XLSX rows in, one `Inquiry` per row out.

Readers turn a file into a header and numbered rows (CSV in UTF-8, UTF-8 with BOM or
cp1251, comma or semicolon separated; XLSX through openpyxl, first sheet), numbered as
the user sees them in a spreadsheet application (the header is row 1). `detect_mapping`
guesses which column is the name, phone, email ... from English and Russian headers,
and `normalize_row` is pure: one row to an Inquiry, or a `RejectedRow` whose reason
names the column to fix. Only the readers and `file_sha256` touch the file system;
imports only `ingest.contract` of ours, never the store.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import NamedTuple

import openpyxl

from ingest.contract import (
    Channel,
    Inquiry,
    InvalidIdentity,
    Routing,
    Sender,
    Source,
    limits,
    normalize_email,
    read_phone_field,
)

FIELDS = ("name", "phone", "email", "company", "comment", "source", "subject")
IGNORE = "ignore"
# Several columns may feed these (Фамилия + Имя); every other field takes one column.
_JOINED_FIELDS = {"name": " ", "comment": "\n"}
# Each field's limit in the contract; a value past it rejects the row, naming the column.
_LIMITS = {
    "name": limits.NAME_MAX,
    "email": limits.EMAIL_MAX,
    "phone": limits.NAME_MAX,  # a cell may carry words beside the number: its note
    "company": limits.COMPANY_MAX,
    "comment": limits.MESSAGE_MAX,
    "subject": limits.SUBJECT_MAX,
    "source": limits.UTM_MAX,
}
_EXTRA_LIMIT = limits.FIELD_VALUE_MAX

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": (
        "name", "full name", "fullname", "contact", "contact name", "client", "customer",
        "first name", "имя", "фио", "полное имя", "контакт", "контактное лицо", "клиент",
        "имя клиента",
    ),
    "phone": (
        "phone", "phone number", "telephone", "tel", "mobile", "mobile phone", "cell",
        "телефон", "тел", "номер телефона", "мобильный", "мобильный телефон", "сотовый",
        "контактный телефон",
    ),
    "email": (
        "email", "email address", "mail", "почта", "эл почта", "электронная почта",
        "емейл", "имейл", "адрес электронной почты",
    ),
    "company": (
        "company", "company name", "organization", "organisation", "компания",
        "организация", "название компании", "фирма",
    ),
    "comment": (
        "comment", "comments", "note", "notes", "message", "description", "комментарий",
        "примечание", "примечания", "сообщение", "описание",
    ),
    "source": ("source", "utm source", "lead source", "источник", "источник лида"),
    "subject": ("subject", "topic", "тема", "тема обращения"),
}  # fmt: skip
_HEADER_TO_FIELD = {header: f for f, headers in _SYNONYMS.items() for header in headers}
# When no header matches exactly, these words still betray an identity column
# ("Рабочий телефон", "Email клиента"); only for phone and email, where it is safe.
_KEYWORDS = (("phone", ("телефон", "phone", "mobile")), ("email", ("email", "почта")))
_DELIMITERS = ",;\t"


class SheetRow(NamedTuple):
    """One non-empty data row; `number` is its row number in the spreadsheet."""

    number: int
    values: dict[str, str]


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that cannot become an inquiry; `reason` tells the user what to fix."""

    row_number: int
    reason: str


# --- Reading ---------------------------------------------------------------------------


def read_rows(path: Path) -> tuple[list[str], Iterator[SheetRow]]:
    """The header and the data rows of a `.csv` or `.xlsx` file, by its extension."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return read_csv(path)
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path)
    raise ValueError(f"{path.name}: only .csv and .xlsx files can be imported.")


def read_csv(path: Path) -> tuple[list[str], Iterator[SheetRow]]:
    """Read a CSV whose encoding and delimiter are detected, not configured."""
    text = _decode(path.read_bytes(), path.name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    # A record is a spreadsheet row even when a quoted cell spans several lines.
    return _with_header(enumerate(reader, start=1))


def read_xlsx(path: Path) -> tuple[list[str], Iterator[SheetRow]]:
    """Read the first worksheet; the workbook stays open until the rows are consumed."""
    return _with_header(_xlsx_rows(path))


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    with warnings.catch_warnings():
        # Files saved by other programs make openpyxl warn about styles it cannot read.
        warnings.simplefilter("ignore", UserWarning)
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        for number, cells in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
            yield number, [_cell_text(value) for value in cells]
    finally:
        workbook.close()


def _with_header(
    rows: Iterable[tuple[int, list[str]]],
) -> tuple[list[str], Iterator[SheetRow]]:
    iterator = iter(rows)
    for _number, cells in iterator:
        if any(cell.strip() for cell in cells):
            headers = _unique_headers(cells)
            return headers, _data_rows(headers, iterator)
    return [], iter(())


def _data_rows(headers: list[str], rows: Iterator[tuple[int, list[str]]]) -> Iterator[SheetRow]:
    for number, cells in rows:
        if any(cell.strip() for cell in cells):
            # Ragged rows are normal in CSV: missing cells are empty, extra ones unnamed.
            pairs = zip(headers, cells, strict=False)
            yield SheetRow(number, {h: cell.strip() for h, cell in pairs})


def _unique_headers(cells: list[str]) -> list[str]:
    headers: list[str] = []
    for index, cell in enumerate(cells, start=1):
        base = cell.strip() or f"column_{index}"
        header, n = base, 1
        while header in headers:
            n += 1
            header = f"{base} ({n})"
        headers.append(header)
    return headers


def _decode(data: bytes, name: str) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        # Excel on Russian Windows saves "CSV" in cp1251 without saying so.
        return data.decode("cp1251")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: the file is neither UTF-8 nor Windows-1251 text.") from exc


def _delimiter(text: str) -> str:
    sample = text[:65_536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    header = next((line for line in sample.splitlines() if line.strip()), "")
    try:
        sniffed: str | None = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    # The sniffer can be fooled by commas inside comments; the header line cannot.
    if sniffed and (sniffed in header or not any(d in header for d in _DELIMITERS)):
        return sniffed
    return max(_DELIMITERS, key=header.count) if any(d in header for d in _DELIMITERS) else ","


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # A phone typed into Excel is a number: 79123456789.0 must not keep its ".0".
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file: the import's identity in idempotency keys."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


# --- Mapping ---------------------------------------------------------------------------


def _normalized_header(header: str) -> str:
    text = header.casefold().replace("ё", "\N{CYRILLIC SMALL LETTER IE}").replace("_", " ")
    text = re.sub(r"[-.]", "", text)
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def detect_mapping(headers: list[str]) -> dict[str, str]:
    """Guess `{column header: field}` from header names; each field takes one column."""
    mapping: dict[str, str] = {}
    for header in headers:
        field = _HEADER_TO_FIELD.get(_normalized_header(header))
        if field and field not in mapping.values():
            mapping[header] = field
    for field, words in _KEYWORDS:
        if field in mapping.values():
            continue
        for header in headers:
            words_in_header = _normalized_header(header).split()
            if header not in mapping and any(w in words_in_header for w in words):
                mapping[header] = field
                break
    return mapping


def parse_mapping_option(option: str) -> dict[str, str]:
    """Parse `"Телефон=phone,Name=name"` (a CLI or form option) into `{header: field}`.

    The field `ignore` drops a column that was detected wrongly.
    """
    mapping: dict[str, str] = {}
    for item in option.split(","):
        if not item.strip():
            continue
        header, separator, field = item.rpartition("=")
        field = field.strip().lower()
        if not separator or not header.strip():
            raise ValueError(f"{item.strip()!r} is not of the form Column=field.")
        if field not in (*FIELDS, IGNORE):
            raise ValueError(
                f"{field!r} is not a field; use one of {', '.join(FIELDS)} or {IGNORE}."
            )
        mapping[header.strip()] = field
    return mapping


def resolve_mapping(
    headers: list[str], overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Detected mapping with the user's overrides on top; headers matched loosely.

    Raises `ValueError` with a sentence when an override names no column, when two
    columns claim one single-column field, or when nothing maps to phone or email.
    """
    mapping = detect_mapping(headers)
    by_key = {_normalized_header(h): h for h in headers}
    claimed: dict[str, str] = {}
    for wanted, field in (overrides or {}).items():
        header = by_key.get(_normalized_header(wanted))
        if header is None:
            raise ValueError(f"There is no column {wanted!r}; the columns are {headers}.")
        if field not in _JOINED_FIELDS and field != IGNORE and field in claimed:
            raise ValueError(f"Both {claimed[field]!r} and {header!r} are mapped to {field}.")
        claimed[field] = header
        if field not in _JOINED_FIELDS:
            # The user's choice displaces the column that was guessed for this field.
            mapping = {h: f for h, f in mapping.items() if f != field}
        mapping[header] = field
    # In sheet order, so joined fields read as the columns do (Фамилия, then Имя).
    mapping = {h: mapping[h] for h in headers if mapping.get(h, IGNORE) != IGNORE}
    if not {"phone", "email"} & set(mapping.values()):
        raise ValueError("No column is a phone or an email; name one, e.g. --map 'Column=phone'.")
    return mapping


# --- Normalizing -----------------------------------------------------------------------


def normalize_row(
    row: Mapping[str, str],
    *,
    mapping: Mapping[str, str],
    file_hash: str,
    row_number: int,
    received_at: datetime,
    team: str | None,
    default_region: str = "RU",
) -> Inquiry | RejectedRow:
    """One row to an Inquiry; a row needs a valid email or phone, and nothing invalid."""
    values: dict[str, str] = {}
    columns: dict[str, str] = {}
    for header, field in mapping.items():
        value = (row.get(header) or "").strip()
        if not value:
            continue
        limit = _LIMITS.get(field, limits.FIELD_VALUE_MAX)
        joiner = _JOINED_FIELDS.get(field)
        joined = values[field] + joiner + value if joiner and field in values else value
        if len(joined) > limit:
            return RejectedRow(row_number, f"Column {header!r} is longer than {limit} characters.")
        values[field] = joined
        columns.setdefault(field, header)

    identities: dict[str, str] = {}
    phone_extras: dict[str, str] = {}
    if "email" in values:
        try:
            identities["email"] = normalize_email(values["email"])
        except InvalidIdentity as exc:
            return RejectedRow(row_number, f"Column {columns['email']!r}: {exc}")
    if "phone" in values:
        try:
            # "8 903 555-12-34 (моб.), Ольга": the number, and the words as its note.
            phone = read_phone_field(values["phone"], default_region)
        except InvalidIdentity as exc:
            return RejectedRow(row_number, f"Column {columns['phone']!r}: {exc}")
        identities["phone"], phone_extras = phone.phone, phone.fields()
    if not identities:
        return RejectedRow(row_number, _missing_identity_reason(mapping))

    extras = phone_extras | {
        header: value.strip()
        for header, value in row.items()
        if header not in mapping and value.strip()
    }
    too_long = next((h for h, v in extras.items() if len(v) > _EXTRA_LIMIT), None)
    if too_long:
        reason = f"Column {too_long!r} is longer than {_EXTRA_LIMIT} characters."
        return RejectedRow(row_number, reason)
    if len(extras) > limits.FIELDS_MAX:
        return RejectedRow(row_number, f"The row has more than {limits.FIELDS_MAX} extra columns.")
    long_name = next((h for h in extras if len(h) > limits.FIELD_NAME_MAX), None)
    if long_name:
        reason = f"A column name is longer than {limits.FIELD_NAME_MAX} characters."
        return RejectedRow(row_number, reason)
    return Inquiry(
        idempotency_key=f"import:{file_hash}:{row_number}",
        channel=Channel.IMPORT,
        received_at=received_at,
        sender=Sender(
            name=values.get("name"),
            email=identities.get("email"),
            phone=identities.get("phone"),
            company=values.get("company"),
        ),
        subject=values.get("subject"),
        text=values.get("comment"),
        source=Source(utm_source=values.get("source")),
        routing=Routing(team=team),
        channel_ids={"file_sha256": file_hash, "row": str(row_number)},
        fields=extras,
    )


def _missing_identity_reason(mapping: Mapping[str, str]) -> str:
    columns = [repr(h) for h, f in mapping.items() if f in ("phone", "email")]
    where = f" (columns {', '.join(columns)} are empty)" if columns else ""
    return f"The row has neither a phone number nor an email address{where}."
