"""Tables as files a spreadsheet opens right: CSV for Excel in any locale, and XLSX.

CSV starts with a UTF-8 byte-order mark (without it Excel reads UTF-8 as the ANSI
code page, and Cyrillic turns to mojibake) and takes its delimiter as an argument:
Excel splits on the list separator of the machine's region, which is `;` wherever
the decimal mark is a comma (Russia, most of Europe). A cell that a spreadsheet
would run as a formula is prefixed with an apostrophe, in both formats. Pure:
rows in, bytes out. Imports nothing of ours.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from openpyxl.cell import WriteOnlyCell


BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
Delimiter = Literal[";", ","]
Cell = str | int | float | datetime | None
# Regions whose decimal mark is a comma, so Excel there splits CSV on ";".
COMMA_DECIMAL_REGIONS = frozenset(
    [
        "RU",
        "BY",
        "KZ",
        "UA",
        "DE",
        "FR",
        "IT",
        "ES",
        "PT",
        "NL",
        "BE",
        "AT",
        "CH",
        "PL",
        "CZ",
        "SK",
        "HU",
        "RO",
        "BG",
        "HR",
        "SI",
        "RS",
        "FI",
        "SE",
        "NO",
        "DK",
        "TR",
        "GR",
        "LT",
        "LV",
        "EE",
        "BR",
        "AR",
        "CL",
        "CO",
        "ID",
        "VN",
    ]
)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def default_delimiter(region: str) -> Delimiter:
    return ";" if region.upper() in COMMA_DECIMAL_REGIONS else ","


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def csv_bytes(rows: Iterable[Sequence[Cell]], delimiter: Delimiter = ";") -> bytes:
    """The rows as UTF-8 CSV with a BOM; datetimes as `YYYY-MM-DD HH:MM:SS`."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(_text(cell)) for cell in row])
    return (BOM + out.getvalue()).encode("utf-8")


def xlsx_bytes(title: str, rows: Iterable[Sequence[Cell]]) -> bytes:
    """The rows as one XLSX sheet; datetimes stay dates (naive, as already localised)."""
    # openpyxl is imported on the first export, not when the console starts: it is a
    # sixth of a second of every process start (issue 11: a restart answers sooner).
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    for row in rows:
        sheet.append([_xlsx_cell(sheet, cell) for cell in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return cell.strftime("%Y-%m-%d %H:%M:%S")
    return str(cell)


def _xlsx_cell(sheet: object, cell: Cell) -> WriteOnlyCell:
    from openpyxl.cell import WriteOnlyCell  # see `xlsx_bytes`

    if isinstance(cell, datetime):
        made = WriteOnlyCell(sheet, value=cell.replace(tzinfo=None))
        made.number_format = "yyyy-mm-dd hh:mm"
        return made
    if isinstance(cell, str):
        made = WriteOnlyCell(sheet, value=safe_cell(cell))
        # openpyxl stores any text starting with "=" as a formula unless told otherwise.
        made.data_type = "s"
        return made
    return WriteOnlyCell(sheet, value=cell)
